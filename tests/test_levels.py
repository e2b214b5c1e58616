"""Level naming on generic sagittal masks (truth maps of a small phantom with the levels removed)."""
from __future__ import annotations

import numpy as np
import pytest

from lumbarqi import labels as L
from lumbarqi.levels import generic_masks, name_levels
from lumbarqi.morphometry.io import read_label_nifti
from lumbarqi.morphometry.truthcheck import naming_accuracy


@pytest.fixture(scope="module")
def sagittal(small_study, small_truth):
    uid = small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    return read_label_nifti(small_study / small_truth["phantom"]["truth_label_maps"][uid][0])


def test_names_every_level_exactly(sagittal):
    label, geom = sagittal
    result = name_levels(*generic_masks(label), geom)
    accuracy, wrong = naming_accuracy(label, result.label)
    assert result.anchored
    assert wrong == [] and accuracy == 1.0
    assert not [f for f in result.flags if f["code"] in ("disc_missing", "level_missing", "sacrum_not_in_fov")]
    for name in L.REPORTED_VERTEBRAE + L.REPORTED_DISCS:
        value = L.DISC_LABEL[name] if "/" in name else L.VERTEBRA_LABEL[name]
        assert (result.label == value).sum() == (label == value).sum()


def test_no_sacrum_is_flagged_and_left_unnamed(sagittal):
    label, geom = sagittal
    body, disc, _ = generic_masks(label)
    result = name_levels(body, disc, None, geom)
    assert [f["code"] for f in result.flags] == ["sacrum_not_in_fov"]
    assert not result.label.any() and not result.anchored


def test_missing_disc_is_flagged_and_count_kept(sagittal):
    label, geom = sagittal
    body, disc, sacrum = generic_masks(label)
    disc = disc & (label != L.DISC_LABEL["L2/L3"])
    result = name_levels(body, disc, sacrum, geom)
    assert {"code": "disc_missing", "level": "L2/L3"}.items() <= next(f for f in result.flags if f["code"] == "disc_missing").items()
    for name in ("L1", "L2", "L3", "L4", "L5", "L1/L2", "L3/L4"):
        value = L.DISC_LABEL[name] if "/" in name else L.VERTEBRA_LABEL[name]
        assert np.all(result.label[label == value] == value), name


def test_fused_bodies_are_split(sagittal):
    label, geom = sagittal
    body, disc, sacrum = generic_masks(label)
    body = body | (label == L.DISC_LABEL["L3/L4"])  # the disc segmented as bone: L3 and L4 fuse
    disc = disc & (label != L.DISC_LABEL["L3/L4"])
    result = name_levels(body, disc, sacrum, geom)
    codes = [f["code"] for f in result.flags]
    assert "bodies_split" in codes and "disc_missing" in codes
    for name in ("L3", "L4"):
        truth = label == L.VERTEBRA_LABEL[name]
        assert (result.label[truth] == L.VERTEBRA_LABEL[name]).mean() > 0.85, name  # planar cut
    for name in ("L1", "L2", "L5", "T12", "L4/L5", "L2/L3"):
        value = L.DISC_LABEL[name] if "/" in name else L.VERTEBRA_LABEL[name]
        assert np.all(result.label[label == value] == value), name


def test_fragment_is_merged_not_counted(sagittal):
    label, geom = sagittal
    body, disc, sacrum = generic_masks(label)
    l3 = np.argwhere(label == L.VERTEBRA_LABEL["L3"])
    cut = l3[:, 2].min() + 3  # a thin strip of L3 separated from the rest (posterior columns)
    body[:, :, cut] &= ~(label[:, :, cut] == L.VERTEBRA_LABEL["L3"])
    result = name_levels(body, disc, sacrum, geom)
    accuracy, wrong = naming_accuracy(label, np.where(body | disc | sacrum, result.label, label))
    assert wrong == []


def test_many_specks_do_not_become_levels(sagittal):
    """Dozens of one-voxel disc specks (segmentation noise) must not lower the fragment
    reference and turn into discs of their own."""
    label, geom = sagittal
    body, disc, sacrum = generic_masks(label)
    rng = np.random.default_rng(0)
    before = int(disc.sum())
    idx = np.argwhere(body)
    for i, r, c in idx[rng.choice(len(idx), 40, replace=False)]:
        for dc in (-12, 12):  # a few mm in front of / behind the body, in soft tissue
            near = (body | disc | sacrum)[i, max(r - 1, 0):r + 2, max(c + dc - 1, 0):c + dc + 2]
            if 0 <= c + dc < label.shape[2] and not near.any():
                disc[i, r, c + dc] = True
    assert int(disc.sum()) - before >= 20
    result = name_levels(body, disc, sacrum, geom)
    truth_only = np.where(label > 0, result.label, 0)
    accuracy, wrong = naming_accuracy(label, truth_only)
    assert wrong == [] and accuracy == 1.0
