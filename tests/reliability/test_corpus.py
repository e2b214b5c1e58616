"""The bad-input corpus through lumbarqi: documented exit codes, one-line errors, no partial files,
input untouched, no patient identifiers or credentials in any log.

Every case runs in-process through the input side (scan, selection, volumes:
fast); the cases marked ``graph`` in corpus.py also run as a user runs them,
``python -m lumbarqi run -i CASE -o OUT`` in a subprocess (``fast``: with an
empty models folder, so the segmenters are skipped and flagged; ``models``:
with the shipped models; ``dicom``: SEG/SR/PDF written too).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

pytestmark = pytest.mark.slow
SECRET = "s3cret-test"
GRAPH_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return corpus.build_corpus(tmp_path_factory.mktemp("corpus"))


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (symlinks recorded by target, never followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _assert_no_leak(text: str, where: str) -> None:
    for token in (*corpus.LEAK_TOKENS, SECRET):
        assert token not in text, f"{token!r} leaked into {where}"


@pytest.mark.parametrize("name", [c.name for c in corpus.CASES])
def test_input_side(built, name):
    case, inp = built[name]
    before = _hashes(inp)
    obs = corpus.observe(inp)
    assert obs["exit"] in case.exit_codes, obs
    text = (obs["error"] or " ".join(obs["flag_messages"])).lower()
    if obs["error"]:
        assert "\n" not in obs["error"]
    for needle in case.stderr:
        assert needle in text, (needle, text)
    for code in case.flags:
        if code.startswith("biomech_"):  # set by the biomechanics stage: in-process, the subject must be the default
            assert obs["subject_source"] == "default"
        else:
            assert code in obs["flags"], (code, obs["flags"])
    if case.sagittal is not None:
        assert obs["sagittal"] == case.sagittal, obs
    if case.axial is not None:
        assert obs["axial"] == case.axial, obs
    if case.reason:
        assert any(case.reason in r.lower() for r in obs["reasons"]), obs["reasons"]
    _assert_no_leak(json.dumps(obs, ensure_ascii=False), "the input side's messages")
    assert _hashes(inp) == before, "the input was modified"


@pytest.mark.parametrize("name", [c.name for c in corpus.CASES if c.graph])
def test_run_as_a_user(built, name, tmp_path):
    case, inp = built[name]
    before = _hashes(inp)
    parent = tmp_path / "runs"
    parent.mkdir()
    out = parent / "out"
    args = [sys.executable, "-m", "lumbarqi", "run", "-i", str(inp), "-o", str(out)]
    if not case.dicom:
        args.append("--no-dicom")
    if case.graph == "fast":
        (tmp_path / "no_models").mkdir()
        args += ["-m", str(tmp_path / "no_models")]
    env = {**os.environ, "XNAT_PASS": SECRET, "XNAT_USER": "lumbarqi-test"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=GRAPH_TIMEOUT_S, env=env, cwd=tmp_path)

    assert proc.returncode in case.exit_codes, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Warning" not in proc.stderr  # library warnings quote header values: they must not reach the terminal
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode:
        assert len(errors) == 1 and errors[0].startswith("lumbarqi: "), proc.stderr
        for needle in case.stderr:
            assert needle in errors[0].lower(), (needle, errors[0])
    # never a partial file: no staging folder or *.part left, nothing written beside the output
    assert not list(parent.glob(".lumbarqi-*")) and not list(parent.rglob("*.part"))
    assert [p.name for p in parent.iterdir()] == ([] if proc.returncode == 4 else ["out"])
    logs = proc.stdout + proc.stderr
    if proc.returncode != 4:
        results = json.loads((out / "results.json").read_text())
        codes = {f["code"] for f in results["flags"]}
        assert set(case.flags) <= codes, (case.flags, codes)
        if case.sagittal is not None and proc.returncode == 0:
            assert (results["series"]["sagittal_t1"] is not None) == case.sagittal
        for rel in results["outputs"]:
            target = (out / rel).resolve()
            assert target.is_file() and out.resolve() in target.parents, rel
        for path in out.rglob("*"):
            assert ".." not in path.relative_to(out).parts
        logs += (out / "lumbarqi.log").read_text() + (out / "results.json").read_text() + (out / "results.csv").read_text()
    _assert_no_leak(logs, "the logs or results")
    assert _hashes(inp) == before, "the input was modified"
