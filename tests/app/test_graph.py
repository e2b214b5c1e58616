"""The application graph end to end through holoscan, as users run it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lumbarqi import labels as L

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "lumbarqi", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def run_output(small_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    proc = _run(["run", "-i", str(small_study), "-o", str(out)])
    return proc, out


def test_run_writes_results_with_selected_series_and_named_levels(run_output, small_truth):
    proc, out = run_output
    assert proc.returncode in (0, 3), proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["study_instance_uid"] == small_truth["study_instance_uid"]
    assert results["series"]["sagittal_t1"]["series_instance_uid"] == small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    assert sorted(a["series_instance_uid"] for a in results["series"]["axial_t1"]) == sorted(
        a["series_instance_uid"] for a in small_truth["series"]["axial_t1"])
    for name in results["outputs"]:
        assert (out / name).is_file(), name
    assert (out / "lumbarqi.log").read_text().count("[") >= 8  # a progress line per stage
    assert "PHANTOM" not in (out / "lumbarqi.log").read_text() + proc.stdout + proc.stderr  # no patient names in logs
    assert set(results["discs"]) <= set(L.REPORTED_DISCS)


def test_python_app_honours_holoscan_environment(small_study, tmp_path):
    out = tmp_path / "out"
    env = {"HOLOSCAN_INPUT_PATH": str(small_study), "HOLOSCAN_OUTPUT_PATH": str(out), "HOLOSCAN_MODEL_PATH": str(REPO / "models")}
    proc = subprocess.run([sys.executable, str(REPO / "app"), "--no-dicom"], capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert proc.returncode in (0, 3), proc.stderr
    assert json.loads((out / "results.json").read_text())["series"]["sagittal_t1"] is not None


def test_study_without_axial_still_gets_sagittal_results(small_study, small_truth, tmp_path):
    inp = tmp_path / "in"
    shutil.copytree(small_study / "DICOM", inp)
    axial_t2 = [e for e in small_truth["series"]["rejected"] if e["reason"] == "axial T2"]
    for entry in small_truth["series"]["axial_t1"] + axial_t2:  # no axial T1 and no axial T2 to fall back on
        shutil.rmtree(inp / f"S{entry['series_number']:03d}")
    out = tmp_path / "out"
    proc = _run(["run", "-i", str(inp), "-o", str(out), "--no-dicom"])
    assert proc.returncode == 3, proc.stderr
    assert "no usable axial T1 or T2" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    results = json.loads((out / "results.json").read_text())
    assert results["series"]["axial_t1"] == [] and any(f["code"] == "no_axial_t1" for f in results["flags"])


def test_no_usable_series_is_one_line_error_and_no_files(small_study, small_truth, tmp_path):
    inp = tmp_path / "in"
    shutil.copytree(small_study / "DICOM", inp)
    keep = {e["series_number"] for e in small_truth["series"]["rejected"] if "T2" not in e["reason"]}  # T2s would be used
    for d in inp.iterdir():
        if int(d.name[1:]) not in keep:
            shutil.rmtree(d)
    out = tmp_path / "out"
    proc = _run(["run", "-i", str(inp), "-o", str(out)])
    assert proc.returncode == 4
    assert len(proc.stderr.strip().splitlines()) == 1 and "nothing written" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".lumbarqi-*"))


def test_refuses_output_inside_input_and_missing_input(small_study, tmp_path):
    proc = _run(["run", "-i", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert proc.returncode == 4 and "does not exist" in proc.stderr
    inp = tmp_path / "in"
    shutil.copytree(small_study / "DICOM", inp)
    proc = _run(["run", "-i", str(inp), "-o", str(inp / "out")])
    assert proc.returncode == 2 and "inside the input" in proc.stderr
    assert not (inp / "out").exists()
