"""Truth: geometry consistent across series, plausible values, reproducible."""
import filecmp
import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from lumbarqi import labels as L
from lumbarqi.geometry import LPS_TO_RAS
from lumbarqi.phantom.generate import generate_study


def _label_map(study, rel):
    img = nib.load(study / rel)
    return np.asarray(img.dataobj), img.affine


def test_axial_points_land_in_the_same_structure_on_the_sagittal(small_study, small_truth):
    maps = small_truth["phantom"]["truth_label_maps"]
    sag, sag_aff = _label_map(small_study, maps[small_truth["series"]["sagittal_t1"]["series_instance_uid"]][0])
    to_sag = np.linalg.inv(sag_aff)
    checked = 0
    for entry in small_truth["series"]["axial_t1"]:
        for rel in maps[entry["series_instance_uid"]]:
            ax, ax_aff = _label_map(small_study, rel)
            for value in (L.DISC_LABEL["L4/L5"], L.VERTEBRA_LABEL["L5"], L.DISC_LABEL["L5/S1"]):
                voxels = np.argwhere(ax == value)
                if len(voxels) < 50:
                    continue
                # points deep inside the structure: the voxels nearest its centroid
                centre = voxels.mean(axis=0)
                inner = voxels[np.argsort(np.linalg.norm(voxels - centre, axis=1))[:10]]
                world = nib.affines.apply_affine(ax_aff, inner)
                idx = np.rint(nib.affines.apply_affine(to_sag, world)).astype(int)
                inside = np.all((idx >= 0) & (idx < sag.shape), axis=1)
                hits = sag[tuple(idx[inside].T)]
                assert inside.any()
                assert np.mean(hits == value) >= 0.8, (rel, value, hits)
                checked += 1
    assert checked >= 2


def test_truth_label_map_geometry_matches_dicom(small_study, small_truth):
    entry = small_truth["series"]["sagittal_t1"]
    rel = small_truth["phantom"]["truth_label_maps"][entry["series_instance_uid"]][0]
    _, affine = _label_map(small_study, rel)
    first = sorted((small_study / "DICOM" / f"S{entry['series_number']:03d}").glob("*.dcm"))[0]
    ds = pydicom.dcmread(first, stop_before_pixels=True)
    ras_origin = (LPS_TO_RAS @ np.r_[np.array(ds.ImagePositionPatient, float), 1.0])[:3]
    assert np.allclose(affine[:3, 3], ras_origin, atol=1e-3)


def test_mid_sagittal_label_map_agrees_with_geometric_disc_height(small_study, small_truth):
    """Disc height read off the truth map (in-plane pixels) is within a pixel of the model's."""
    entry = small_truth["series"]["sagittal_t1"]
    lab, aff = _label_map(small_study, small_truth["phantom"]["truth_label_maps"][entry["series_instance_uid"]][0])
    mid = lab[:, :, lab.shape[2] // 2]
    pixel = float(np.linalg.norm(aff[:3, 0]))
    for disc in ("L2/L3", "L3/L4", "L4/L5"):
        area = np.count_nonzero(mid == L.DISC_LABEL[disc]) * pixel * float(np.linalg.norm(aff[:3, 1]))
        t = small_truth["discs"][disc]
        # the slice may sit a little off the midline, where the footprint is slightly shallower
        assert area / t["depth_mm"] == pytest.approx(t["height_mean_mm"], abs=1.5 * pixel + 0.5)


def test_truth_values_sit_in_published_ranges(small_truth):
    discs = small_truth["discs"]
    for level, (lo, hi) in {"L1/L2": (5, 11), "L3/L4": (7, 15), "L4/L5": (7, 16), "L5/S1": (6, 16)}.items():
        d = discs[level]
        low = lo * 0.55 if d["degenerated"] else lo
        assert low <= d["height_mean_mm"] <= hi, (level, d)
        assert d["height_anterior_mm"] > d["height_posterior_mm"]
    assert 20 <= small_truth["lordosis_deg"] <= 75
    for v in small_truth["vertebrae"].values():
        assert 18 <= v["height_mean_mm"] <= 32 and 25 <= v["depth_mm"] <= 42
    muscles = small_truth["muscles"]
    assert muscles, "axial blocks must cover at least one disc level"
    for level, groups in muscles.items():
        for side in ("left", "right"):
            if level == "L4/L5":
                assert 2.5 <= groups["multifidus"][side]["csa_cm2"] <= 12
                assert 3 <= groups["psoas"][side]["csa_cm2"] <= 25
            if level == "L3/L4" and "erector_spinae" in groups:
                assert 7 <= groups["erector_spinae"][side]["csa_cm2"] <= 25
            for m in groups.values():
                if side in m:
                    assert 0 <= m[side]["fat_index"] <= 0.6
                    assert abs(m[side]["slice_offset_mm"]) <= 6
    assert 40 <= small_truth["subject"]["mass_kg"] <= 160


def test_same_seed_gives_identical_study(small_study, tmp_path):
    again = tmp_path / "again"
    generate_study(again, 11, preset="small", axial="tilted")
    files = [p.relative_to(small_study) for p in small_study.rglob("*") if p.is_file()]
    assert files
    match, mismatch, errors = filecmp.cmpfiles(small_study, again, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors
    other = tmp_path / "other"
    generate_study(other, 12, preset="small", axial="tilted")
    assert json.loads((other / "truth.json").read_text())["discs"] != json.loads((small_study / "truth.json").read_text())["discs"]
