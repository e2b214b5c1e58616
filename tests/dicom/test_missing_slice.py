"""A sagittal T1 that lost one middle instance is used (not refused for the T2), with the gap flagged and
nothing written for, or measured on, the missing slice (issue 19, item 7)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_runs import Run, run_pipeline  # noqa: E402

from lumbarqi.dicom.scan import scan_folder  # noqa: E402
from lumbarqi.dicom.selection import load_rules, select_series  # noqa: E402

BIN = Path(sys.executable).parent
DCIODVFY, SEGIMAGE2ITK, TID1500READER = (BIN / t for t in ("dciodvfy", "segimage2itkimage", "tid1500reader"))


def _drop_middle_instance(study: Path, truth: dict, dest: Path) -> tuple[Path, dict]:
    """A copy of the study without the middle instance of its sagittal T1: (folder, what was removed)."""
    shutil.copytree(study / "DICOM", dest / "DICOM")
    files = sorted((dest / "DICOM" / f"S{truth['series']['sagittal_t1']['series_number']:03d}").glob("*.dcm"))
    by_position = sorted(files, key=lambda p: int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber))
    victim = by_position[len(by_position) // 2]
    ds = pydicom.dcmread(victim, stop_before_pixels=True)
    removed = {"sop_instance_uid": str(ds.SOPInstanceUID), "n_slices": len(files),
               "kept": [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files if p != victim]}
    victim.unlink()
    return dest, removed


@pytest.fixture(scope="module")
def gap_study(small_study, small_truth, tmp_path_factory) -> tuple[Path, dict]:
    return _drop_middle_instance(small_study, small_truth, tmp_path_factory.mktemp("gap") / "study")


@pytest.fixture(scope="module")
def gap_run(gap_study, tmp_path_factory) -> Run:
    return run_pipeline(gap_study[0], tmp_path_factory.mktemp("gap_run") / "out")


def _referenced_uids(item) -> set[str]:
    """Every Referenced SOP Instance UID anywhere below a dataset (sequences walked depth first)."""
    out: set[str] = set()
    for element in item:
        if element.VR == "SQ":
            for child in element.value:
                out |= _referenced_uids(child)
        elif element.keyword == "ReferencedSOPInstanceUID":
            out.add(str(element.value))
    return out


def _errors(path: Path) -> list[str]:
    proc = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def test_selection_keeps_the_sagittal_t1_as_one_stack(gap_study, small_truth):
    inp, removed = gap_study
    sel = select_series(next(iter(scan_folder(inp).studies.values())), load_rules())
    assert sel.sagittal_t1.series.series_instance_uid == small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    (stack,) = sel.sagittal_t1.stacks
    n = removed["n_slices"]
    assert stack.geometry.n_slices == n and stack.missing_slices == (n // 2,)
    assert removed["sop_instance_uid"] not in {str(ds.SOPInstanceUID) for _, ds in stack.instances}


@pytest.mark.slow
def test_run_uses_the_t1_with_the_gap_flagged(gap_run, gap_study, small_truth):
    assert gap_run.returncode in (0, 3), gap_run.stderr
    r = gap_run.results
    used = r["series"]["sagittal_t1"]
    assert used["series_instance_uid"] == small_truth["series"]["sagittal_t1"]["series_instance_uid"] and used["weighting"] == "T1"
    codes = [f["code"] for f in r["flags"]]
    assert not any(c.startswith("contrast_substitution:sagittal") for c in codes)
    (gap,) = [f for f in r["flags"] if f["code"] == "missing_slices"]
    n = gap_study[1]["n_slices"]
    assert f"slice {n // 2 + 1} of {n} missing (lost instance)" in gap["message"] and "t1_tse_sag" in gap["message"]
    assert len(r["discs"]) >= 5 and len(r["vertebrae"]) >= 5 and "lordosis_deg" in r
    for level, disc in r["discs"].items():  # measured on real slices: near the truth as on the complete series
        truth = small_truth["discs"].get(level)
        if truth and "height_anterior_mm" in disc:
            assert abs(disc["height_anterior_mm"] - truth["height_anterior_mm"]) < 3.0, level
    where = [e["slice_index"] for section in ("discs", "vertebrae") for e in r["geometry"][section].values()]
    assert where and n // 2 not in where and r["geometry"]["lordosis"]["slice_index"] != n // 2
    assert "missing slices: sagittal T1 series" in (gap_run.out / "lumbarqi.log").read_text()
    report = subprocess.run(["pdftotext", "-layout", str(gap_run.out / "report.pdf"), "-"], capture_output=True, text=True,
                            check=True).stdout
    assert "Input images: missing slices" in " ".join(report.split())


@pytest.mark.slow
def test_seg_has_no_frame_for_the_missing_slice(gap_run, gap_study, small_truth, tmp_path):
    _, removed = gap_study
    sag_uid = small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    segs = [p for p in sorted((gap_run.out / "dicom").glob("seg_*.dcm"))
            if pydicom.dcmread(p, stop_before_pixels=True).ReferencedSeriesSequence[0].SeriesInstanceUID == sag_uid]
    assert len(segs) == 1
    seg = pydicom.dcmread(segs[0])
    referenced = _referenced_uids(seg)
    assert removed["sop_instance_uid"] not in referenced
    assert referenced <= set(removed["kept"]) and len(referenced) > 1
    listed = {str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert listed == set(removed["kept"])
    if DCIODVFY.exists():
        assert _errors(segs[0]) == []
    if SEGIMAGE2ITK.exists():  # dcmqi rebuilds the complete, evenly spaced grid: the missing slice is empty
        proc = subprocess.run([str(SEGIMAGE2ITK), "-t", "nii", "--inputDICOM", str(segs[0]), "--outputDirectory", str(tmp_path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
        import nibabel as nib

        image = np.asarray(nib.load(str(tmp_path / "1.nii.gz")).dataobj)
        assert image.shape[2] == removed["n_slices"]


@pytest.mark.slow
def test_sr_references_no_missing_slice(gap_run, gap_study, tmp_path):
    _, removed = gap_study
    path = gap_run.out / "dicom" / "sr_measurements.dcm"
    sr = pydicom.dcmread(path)
    assert removed["sop_instance_uid"] not in _referenced_uids(sr)
    scoords = [item for item in _walk(sr) if item.ValueType == "SCOORD"]
    assert scoords and all(removed["sop_instance_uid"] not in _referenced_uids(s) for s in scoords)
    flags = [c.ConceptCodeSequence[0].CodeValue for c in _walk(sr) if c.ValueType == "CODE"]
    assert "MISSING-SLICES" in flags
    if DCIODVFY.exists():
        assert _errors(path) == []
    if TID1500READER.exists():
        proc = subprocess.run([str(TID1500READER), "--inputDICOM", str(path), "--outputMetadata", str(tmp_path / "sr.json")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
        groups = json.loads((tmp_path / "sr.json").read_text())["Measurements"]
        assert len(groups) > 10


def _walk(item):
    for child in getattr(item, "ContentSequence", []) or []:
        yield child
        yield from _walk(child)


@pytest.mark.slow
def test_enhanced_mr_with_a_lost_frame_position(gap_study, small_truth, tmp_path):
    """The same study as Enhanced MR objects (the sagittal T1's 10 frames leave a gap of two spacings): the SEG
    references every frame that exists, once, and stays dciodvfy clean."""
    from multiframe_inputs import convert_study

    inp = convert_study(gap_study[0], tmp_path / "enhanced", "enhanced")
    run = run_pipeline(inp, tmp_path / "out")
    assert run.returncode in (0, 3), run.stderr
    r = run.results
    assert r["series"]["sagittal_t1"]["weighting"] == "T1" and "missing_slices" in {f["code"] for f in r["flags"]}
    assert len(r["discs"]) >= 5 and len(r["vertebrae"]) >= 5
    sag_uid = small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    (path,) = [p for p in sorted((run.out / "dicom").glob("seg_*.dcm"))
               if pydicom.dcmread(p, stop_before_pixels=True).ReferencedSeriesSequence[0].SeriesInstanceUID == sag_uid]
    seg = pydicom.dcmread(path)
    frames = {int(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber) for f in seg.PerFrameFunctionalGroupsSequence}
    assert frames == set(range(1, gap_study[1]["n_slices"]))  # the object holds n - 1 frames
    if DCIODVFY.exists():
        assert _errors(path) == [] and _errors(run.out / "dicom" / "sr_measurements.dcm") == []
