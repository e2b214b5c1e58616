"""Muscle CSA, centroids and slice placement against phantom truth (truth masks as input)."""
from __future__ import annotations

import numpy as np
import pytest

from lumbarqi.morphometry.muscles import SpineAxis, fat_normalised, fat_threshold
from lumbarqi.morphometry.truthcheck import check_study


@pytest.fixture(scope="module")
def result(small_study):
    return check_study(small_study)


def test_levels_and_slices_as_truth(result, small_truth):
    assert result["morphometry"]["naming_accuracy"] == 1.0
    assert set(result["muscles"]) == set(small_truth["muscles"])
    for lev, info in small_truth["phantom"]["muscle_slices"].items():
        mine = result["morphometry"]["muscle_slices"][lev]
        assert (mine["series_instance_uid"], mine["stack"], mine["slice_index"]) == (info["series_instance_uid"], info["stack"], info["slice_index"])
        assert mine["offset_mm"] == pytest.approx(info["offset_mm"], abs=0.5)
        assert mine["tilt_deg"] == pytest.approx(info["tilt_deg"], abs=2.0)


def test_csa_and_centroids_match_truth(result, small_truth):
    errors, centroid = [], []
    for lev, muscles in small_truth["muscles"].items():
        for m, sides in muscles.items():
            for side, t in sides.items():
                if t["csa_mm2"] < 100:
                    continue
                r = result["muscles"][lev][m][side]
                errors.append(r["csa_mm2"] / t["csa_mm2"] - 1)
                centroid.append(np.subtract(r["centroid_mm"], t["centroid_mm"]))
                assert r["csa_cm2"] == pytest.approx(r["csa_mm2"] / 100, abs=0.001)
                assert r["slice_offset_mm"] == pytest.approx(t["slice_offset_mm"], abs=0.5)
    assert len(errors) >= 12
    assert np.median(np.abs(errors)) <= 0.03
    assert np.median(np.abs(centroid)) <= 1.0


def test_fat_index_tracks_truth(result, small_truth):
    diffs = [result["muscles"][lev][m][s]["fat_index"] - t["fat_index"]
             for lev, ms in small_truth["muscles"].items() for m, ss in ms.items() for s, t in ss.items()
             if "fat_index" in result["muscles"][lev].get(m, {}).get(s, {})]
    assert len(diffs) >= 12
    assert np.median(np.abs(diffs)) <= 0.08  # small preset: coarse pixels; clinical median ~0.02


def test_fat_calibration_removes_a_coil_gradient():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:200, 0:200]
    body = (rows - 100) ** 2 / 90**2 + (cols - 100) ** 2 / 95**2 <= 1
    inner = (rows - 100) ** 2 / 70**2 + (cols - 100) ** 2 / 75**2 <= 1
    label = np.zeros((200, 200), np.uint8)
    muscle = ((rows - 150) ** 2 + (cols - 100) ** 2) <= 20**2
    label[muscle] = 21
    tissue = np.where(body, 1.0, 0.0)
    tissue[inner] = 0.4
    fat_spots = muscle & (rng.random((200, 200)) < 0.2)
    tissue[muscle] = np.where(fat_spots[muscle], 1.0, 0.3)
    image = tissue * np.exp(0.8 * (rows - 100) / 100) * 1000 + rng.normal(0, 5, tissue.shape)
    norm = fat_normalised(np.abs(image), label, 1.0, 1.0)
    thr = fat_threshold(norm, label)
    assert thr == pytest.approx(0.65, abs=0.05)
    assert (norm[muscle] > thr).mean() == pytest.approx(fat_spots[muscle].mean(), abs=0.02)


def test_spine_axis_tangent_on_a_circle():
    s = np.linspace(0, np.pi / 3, 8)
    pts = np.column_stack([np.zeros_like(s), 200 * (1 - np.cos(s)), 200 * np.sin(s)])
    axis = SpineAxis(pts)
    mid = pts[4]
    point, tangent = axis.crossing(mid, np.array([0.0, np.sin(s[4]), np.cos(s[4])]) * -1 + 0, mid)
    expected = np.array([0.0, np.sin(s[4]), np.cos(s[4])])
    assert abs(tangent @ expected) > 0.999
    assert np.linalg.norm(point - mid) < 0.5


def test_a_missing_axial_slice_is_never_the_measured_one(small_study, small_truth, result):
    """Mark each level's chosen axial slice missing: the level moves to a slice with an image (within one
    spacing) or is flagged as not reached; it is never measured on the missing slice."""
    import dataclasses

    from lumbarqi.levels import generic_masks, name_levels
    from lumbarqi.morphometry.io import read_label_nifti
    from lumbarqi.morphometry.muscles import measure_muscles_detailed
    from lumbarqi.morphometry.spine import analyse_spine
    from lumbarqi.morphometry.truthcheck import load_axial
    from lumbarqi.volume import LabelledVolume

    uid = small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    sag_label, sag_geom = read_label_nifti(small_study / small_truth["phantom"]["truth_label_maps"][uid][0])
    named = name_levels(*generic_masks(sag_label), sag_geom).label
    analysis = analyse_spine(named, sag_geom)
    axial = load_axial(small_study, small_truth)
    chosen = result["morphometry"]["muscle_slices"]
    gone: dict[int, set[int]] = {}
    for info in chosen.values():
        i = next(j for j, lv in enumerate(axial) if (lv.volume.series_instance_uid, lv.volume.stack_index)
                 == (info["series_instance_uid"], info["stack"]))
        gone.setdefault(i, set()).add(info["slice_index"])
    for i, ks in gone.items():
        ks -= {0, axial[i].label.shape[0] - 1}  # only inner slices can be missing
        axial[i] = LabelledVolume(dataclasses.replace(axial[i].volume, missing_slices=tuple(sorted(ks))), axial[i].label)
    muscles, flags, slices = measure_muscles_detailed(axial, named, sag_geom, analysis)
    moved = [d for d, info in slices.items() if info["slice_index"] != chosen[d]["slice_index"]]
    assert moved, (slices.keys(), [f["code"] for f in flags])
    for d in set(chosen) - set(slices):  # not moved: no slice with an image within one spacing
        assert any(f["code"] == "axial_not_reaching_level" and f["level"] == d for f in flags), d
    for info in slices.values():
        lv = next(lv for lv in axial if (lv.volume.series_instance_uid, lv.volume.stack_index) == (info["series_instance_uid"], info["stack"]))
        assert info["slice_index"] not in lv.volume.missing_slices
