"""A selected series whose pixels cannot be decoded gives way to the next candidate (input side, no networks)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from lumbarqi.run.stages import find_study, read_volumes
from lumbarqi.run.state import RunOptions, RunState


def _input_side(folder: Path) -> tuple[RunState, object, list]:
    state = RunState(RunOptions(input_dir=folder, output_dir=folder.parent / "_out", models_dir=Path("/nonexistent")))
    _, selection, _ = find_study(state)
    sag, axial = read_volumes(state, selection)
    return state, sag, axial


def test_undecodable_preferred_sagittal_falls_back_to_the_next_candidate(broken_repeat_study, small_truth):
    folder, broken_uid = broken_repeat_study
    state, sag, axial = _input_side(folder)
    good_uid = small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    assert sag is not None and sag.series_instance_uid == good_uid and len(axial) == 2
    series = state.results["series"]
    assert series["sagittal_t1"]["series_instance_uid"] == good_uid
    rejected = {r["series_instance_uid"]: r["reason"] for r in series["rejected"]}
    assert good_uid not in rejected
    assert rejected[broken_uid].startswith("pixels could not be read: cannot read the pixels") and "RLE Lossless" in rejected[broken_uid]
    flags = [f for f in state.results["flags"] if f["code"] == "series_fallback"]
    assert len(flags) == 1 and "next sagittal candidate" in flags[0]["message"]
    assert not [f for f in state.results["flags"] if f["code"].startswith("stage_failed")]
    assert state.exit_code() == 0 or any(f["code"] == "no_axial_t1" for f in state.results["flags"])


def _without(folder: Path, target: Path, uids: set[str]) -> Path:
    shutil.copytree(folder, target)
    for p in (target / "DICOM").rglob("*.dcm"):
        if str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID) in uids:
            p.unlink()
    return target


def test_undecodable_only_sagittal_t1_falls_back_to_the_sagittal_t2(broken_repeat_study, small_truth, tmp_path):
    folder, broken_uid = broken_repeat_study
    study = _without(folder, tmp_path / "study", {small_truth["series"]["sagittal_t1"]["series_instance_uid"]})
    state, sag, axial = _input_side(study)
    assert sag is not None and sag.weighting == "T2" and len(axial) == 2
    codes = [f["code"] for f in state.results["flags"]]
    assert "series_fallback" in codes and "contrast_substitution:sagittal_t2" in codes and "stage_failed:volumes" not in codes
    assert state.results["series"]["sagittal_t1"]["weighting"] == "T2"


def test_undecodable_sagittal_without_candidate_is_still_flagged(broken_repeat_study, small_truth, tmp_path):
    folder, broken_uid = broken_repeat_study
    sagittal_t2 = [r["series_instance_uid"] for r in small_truth["series"]["rejected"] if r["description"] == "t2_tse_sag"]
    study = _without(folder, tmp_path / "study", {small_truth["series"]["sagittal_t1"]["series_instance_uid"], *sagittal_t2})
    state, sag, axial = _input_side(study)
    assert sag is None and len(axial) == 2
    codes = [f["code"] for f in state.results["flags"]]
    assert "stage_failed:volumes" in codes and "series_fallback" not in codes
    assert state.results["series"]["sagittal_t1"]["series_instance_uid"] == broken_uid
