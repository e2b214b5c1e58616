"""Warm local cohort workers: a study past --study-timeout is stopped and its worker replaced."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_study_timeout_stops_the_study_and_leaves_no_worker(tmp_path):
    from lumbarqi.phantom.generate import generate_study

    studies = tmp_path / "studies"
    generate_study(studies / "patient51", 51, preset="small")
    out = tmp_path / "out"
    mark = uuid.uuid4().hex  # in the environment of every process this cohort starts
    run = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "--cohort", "-i", str(studies), "-o", str(out), "--no-dicom",
                          "--study-timeout", "0.05"], env=dict(os.environ, PYTHONPATH=str(ROOT), LUMBARQI_TEST_MARK=mark),
                         capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 3, run.stdout + run.stderr
    summary = json.loads((out / "cohort.json").read_text())
    (study,) = summary["studies"]
    assert study["status"] == "failed" and study["message"] == "stopped after 0.05 s (study timeout)"
    assert not (out / "patient51").exists() and not list((out / ".cohort" / "partial").glob("*"))
    assert not _processes_with(mark), "a worker process outlived the cohort"


def _processes_with(mark: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and f"LUMBARQI_TEST_MARK={mark}".encode() in (d / "environ").read_bytes():
                found.append(int(d.name))
        except OSError:
            continue
    return found
