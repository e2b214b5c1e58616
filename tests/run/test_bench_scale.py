"""lumbarqi.run.bench_scale: the exponent fit and the UID-renamed cohort copies."""
from __future__ import annotations

import pydicom

from lumbarqi.run.bench_scale import copy_with_new_uids, fit_exponent, scaling_summary


def test_fit_exponent_recovers_power_laws():
    xs = [7, 11, 17, 23]
    assert abs(fit_exponent(xs, [3.0 * x for x in xs]) - 1.0) < 1e-9
    assert abs(fit_exponent(xs, [0.5 * x ** 1.5 for x in xs]) - 1.5) < 1e-9


def test_scaling_summary_uses_stage_sums():
    cases = [{"sag_slices": n, "matrix": None, "wall_s": 2.0 + n, "stages_s": {"vertebrae": 0.1 * n, "discs": 0.1 * n, "write": 1.0}}
             for n in (8, 16, 32)]
    summary = scaling_summary(cases)
    assert summary["slices"]["sagittal_segmentation_exponent"] == 1.0
    assert summary["slices"]["compute_exponent"] < 1.0  # the fixed writer time flattens it
    assert "pixels_per_slice" not in summary


def test_copies_are_distinct_studies(tmp_path):
    from lumbarqi.phantom.generate import generate_study

    src = tmp_path / "src"
    generate_study(src, 3, preset="small")
    copy_with_new_uids(src, tmp_path / "copy", 1)
    a = sorted((src / "DICOM").rglob("*.dcm"))
    b = sorted((tmp_path / "copy" / "DICOM").rglob("*.dcm"))
    assert len(a) == len(b) > 0
    da, db = pydicom.dcmread(a[0]), pydicom.dcmread(b[0])
    assert da.StudyInstanceUID != db.StudyInstanceUID and da.SOPInstanceUID != db.SOPInstanceUID
    assert db.file_meta.MediaStorageSOPInstanceUID == db.SOPInstanceUID
    assert (da.pixel_array == db.pixel_array).all()
    assert len({pydicom.dcmread(p).StudyInstanceUID for p in b}) == 1


def test_linear_fit_separates_fixed_cost():
    from lumbarqi.run.bench_scale import fit_linear

    a, b = fit_linear([7, 11, 17, 23], [4.0 + 0.25 * x for x in (7, 11, 17, 23)])
    assert abs(a - 4.0) < 1e-9 and abs(b - 0.25) < 1e-9
