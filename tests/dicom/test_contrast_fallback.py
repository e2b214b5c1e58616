"""Contrast fallback: a study without T1 series is analysed from its T2 series, and says so."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lumbarqi.dicom.scan import scan_folder
from lumbarqi.dicom.selection import load_rules, select_series, substitutions


def _without(study: Path, truth: dict, roles: tuple[str, ...], dest: Path) -> Path:
    """A copy of the phantom study's DICOM folder without the series of ``roles`` (sagittal_t1, axial_t1)."""
    shutil.copytree(study / "DICOM", dest)
    for role in roles:
        entries = truth["series"][role]
        for entry in entries if isinstance(entries, list) else [entries]:
            shutil.rmtree(dest / f"S{entry['series_number']:03d}")
    return dest


def _series_number(truth: dict, reason: str) -> str:
    return next(e["series_instance_uid"] for e in truth["series"]["rejected"] if e["reason"] == reason)


def test_t1_is_preferred_and_t2_rejected_with_the_reason(small_study, small_truth):
    sel = select_series(next(iter(scan_folder(small_study).studies.values())), load_rules())
    assert sel.sagittal_t1.weighting == "T1" and all(c.weighting == "T1" for c in sel.axial_t1)
    reasons = {c.series.series_instance_uid: c.reason for c in sel.rejected}
    assert reasons[_series_number(small_truth, "sagittal T2")].startswith("a sagittal T1 is preferred")
    assert reasons[_series_number(small_truth, "axial T2")].startswith("an axial T1 is preferred")
    assert substitutions(sel, load_rules()) == []


def test_t2_only_study_selects_the_t2_series(small_study, small_truth, tmp_path):
    inp = _without(small_study, small_truth, ("sagittal_t1", "axial_t1"), tmp_path / "in")
    rules = load_rules()
    sel = select_series(next(iter(scan_folder(inp).studies.values())), rules)
    assert sel.sagittal_t1.series.series_instance_uid == _series_number(small_truth, "sagittal T2")
    assert [c.series.series_instance_uid for c in sel.axial_t1] == [_series_number(small_truth, "axial T2")]
    assert substitutions(sel, rules) == [("sagittal_t1", "T1", "T2"), ("axial_t1", "T1", "T2")]


def test_site_rules_can_forbid_the_substitution(small_study, small_truth, tmp_path):
    inp = _without(small_study, small_truth, ("sagittal_t1",), tmp_path / "in")
    rules = load_rules()
    for sel in rules["selections"]:
        sel["conditions"]["weighting"] = ["T1"]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    sel = select_series(next(iter(scan_folder(inp).studies.values())), load_rules(path))
    assert sel.sagittal_t1 is None and sel.axial_t1


@pytest.mark.slow
def test_t2_only_study_gives_full_results_with_its_flags(small_study, small_truth, tmp_path):
    inp = _without(small_study, small_truth, ("sagittal_t1", "axial_t1"), tmp_path / "in")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "-i", str(inp), "-o", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode in (0, 3), proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["series"]["sagittal_t1"]["weighting"] == "T2" and results["series"]["axial_t1"][0]["weighting"] == "T2"
    codes = {f["code"] for f in results["flags"]}
    assert {"contrast_substitution:sagittal_t2", "contrast_substitution:axial_t2"} <= codes
    log = (out / "lumbarqi.log").read_text()
    assert "contrast substitution: no usable sagittal T1" in log and "contrast substitution: no usable axial T1" in log
    assert len(results["discs"]) >= 5 and len(results["vertebrae"]) >= 5 and results["muscles"] and results["loads"]
    for level, disc in results["discs"].items():  # T2 disc heights near the truth (phantom T1 vs T2: see docs)
        truth = small_truth["discs"].get(level)
        if truth and "height_anterior_mm" in disc:
            assert abs(disc["height_anterior_mm"] - truth["height_anterior_mm"]) < 3.0, level
    muscles = [e for sides in results["muscles"].values() for m in sides.values() for e in m.values()]
    assert muscles and all("fat_index" not in e for e in muscles)  # not defined on T2: left out
    report = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "from the sagittal T2" in " ".join(report.split())  # the substitution is a note in the report
