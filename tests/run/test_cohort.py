"""Cohort runs: parallel worker processes, one table, resume after being killed half way."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lumbarqi.run.cohort import completed, find_studies

ROOT = Path(__file__).resolve().parents[2]
FINISHED = ("done", "partial")


@pytest.fixture(scope="module")
def three_studies(tmp_path_factory) -> Path:
    from lumbarqi.phantom.generate import generate_study

    root = tmp_path_factory.mktemp("cohort") / "studies"
    for seed in (21, 22, 23):
        generate_study(root / f"patient{seed}", seed, preset="small")
    return root


def _uids(root: Path) -> dict[str, str]:
    return {p.name: json.loads((p / "truth.json").read_text())["study_instance_uid"] for p in root.iterdir()}


def test_find_studies_by_folder(three_studies, tmp_path):
    studies = find_studies(three_studies, tmp_path / "work")
    assert [s.name for s in studies] == ["patient21", "patient22", "patient23"]
    uids = _uids(three_studies)
    assert {s.name: s.study_instance_uid for s in studies} == uids
    assert all(s.input_dir == three_studies / s.name for s in studies)


def test_find_studies_in_flat_tree(three_studies, tmp_path):
    """Files of several studies mixed in one folder are grouped by StudyInstanceUID."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for study in sorted(three_studies.iterdir()):
        for f in (study / "DICOM").rglob("*.dcm"):
            shutil.copy(f, flat / f"{study.name}_{f.parent.name}_{f.name}")
    (flat / "notes.txt").write_text("not DICOM")
    studies = find_studies(flat, tmp_path / "work")
    assert sorted(s.study_instance_uid for s in studies) == sorted(_uids(three_studies).values())
    for s in studies:
        links = list(s.input_dir.iterdir())
        assert len(links) == s.n_files and all(p.is_symlink() for p in links)


def _cohort_cmd(inp: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "lumbarqi", "run", "--cohort", "-i", str(inp), "-o", str(out), "--workers", str(workers), "--no-dicom"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _finished(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and completed(p) is not None)


@pytest.mark.slow
def test_cohort_killed_half_way_resumes(three_studies, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cohort_cmd(three_studies, out, 1), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and _finished(out):
                break
            time.sleep(0.5)
        assert proc.poll() is None, f"cohort ended before it could be interrupted:\n{proc.stdout.read()}"
        proc.send_signal(signal.SIGTERM)  # killed half way (only our own child process)
        first_log = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, first_log
    done_first = _finished(out)
    assert 1 <= len(done_first) < 3, first_log
    assert not list((out / ".cohort").glob("partial/*")), "half-written study left in place"
    stamp = {name: (out / name / "results.json").stat().st_mtime_ns for name in done_first}
    summary = json.loads((out / "cohort.json").read_text())
    assert sum(summary["counts"].get(k, 0) for k in FINISHED) == len(done_first)

    # run the same command again: finished studies are kept, the rest is run
    second = subprocess.run(_cohort_cmd(three_studies, out, 2), env=_env(), capture_output=True, text=True, timeout=900)
    assert second.returncode in (0, 3), second.stdout + second.stderr
    assert _finished(out) == ["patient21", "patient22", "patient23"]
    for name, mtime in stamp.items():
        assert (out / name / "results.json").stat().st_mtime_ns == mtime, f"{name} was run again"
    summary = json.loads((out / "cohort.json").read_text())
    assert summary["n_studies"] == 3 and summary["finished"]
    by_name = {s["name"]: s for s in summary["studies"]}
    assert all(by_name[n]["resumed"] for n in done_first)
    assert all(by_name[n]["status"] in FINISHED for n in by_name)
    assert (second.returncode == 0) == all(s["status"] == "done" for s in summary["studies"])

    # one cohort table: every study's results.csv rows, with the study and its UID in front
    uids = _uids(three_studies)
    with open(out / "cohort.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["study"] for r in rows} == set(uids)
    assert all(r["study_instance_uid"] == uids[r["study"]] for r in rows)
    for name in uids:
        with open(out / name / "results.csv", newline="") as f:
            assert len([r for r in rows if r["study"] == name]) == len(list(csv.DictReader(f)))
    assert {"section", "level", "structure", "side", "measure", "value", "unit"} <= set(rows[0])

    # the QC page: one row per study (details in tests/reporting/test_cohort_qc.py)
    page = (out / "index.html").read_text()
    assert sorted(re.findall(r'<tr class="study[^"]*"[^>]*><td class="txt" data-v="([^"]+)"', page)) == sorted(uids)


def test_cohort_usage_errors(three_studies, tmp_path):
    bad = subprocess.run(_cohort_cmd(three_studies, three_studies / "out", 1), env=_env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "inside the cohort folder" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run(_cohort_cmd(empty, tmp_path / "o", 1), env=_env(), capture_output=True, text=True, timeout=120)
    assert none.returncode == 4 and "no DICOM studies" in none.stderr
    workers = subprocess.run(_cohort_cmd(empty, tmp_path / "o", 0), env=_env(), capture_output=True, text=True, timeout=120)
    assert workers.returncode == 2
