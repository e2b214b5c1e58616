"""``lumbarqi phantom`` from the command line."""
import subprocess
import sys

import pytest


def _run(*args):
    return subprocess.run([sys.executable, "-m", "lumbarqi", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["phantom", "--out", "X", "--seed", "abc"], "invalid int value"),
        (["phantom", "--out", "X", "--preset", "huge"], "invalid choice"),
        (["phantom", "--out", "X", "--degeneration", "2"], "between 0 and 1"),
        (["phantom"], "--out"),
        (["phantom", "--out", "X", "--count", "0"], "--count"),
    ],
)
def test_bad_arguments_give_one_line_error(args, fragment, tmp_path):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    out = _run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_refuses_non_empty_output_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    out = _run("phantom", "--out", str(tmp_path), "--preset", "small")
    assert out.returncode == 2 and "not empty" in out.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine" and len(list(tmp_path.iterdir())) == 1


def test_writes_study_with_preview_and_cases(tmp_path):
    out = _run("phantom", "--out", str(tmp_path / "s"), "--seed", "4", "--preset", "small", "--preview", "--cases")
    assert out.returncode == 0, out.stderr
    study = tmp_path / "s"
    assert (study / "truth.json").exists() and (study / "preview.png").stat().st_size > 10_000
    cases = sorted((study / "cases").iterdir())
    assert cases and all((c / "image.nii.gz").exists() and (c / "meta.json").exists() for c in cases)
    assert not list(study.rglob("*.part"))
