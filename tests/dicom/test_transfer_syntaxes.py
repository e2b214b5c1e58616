"""Compressed studies as PACS send them give the same measurements as the uncompressed study.

The phantom study is re-encoded with tools other than the decoders under test
(see ``encoders.py``) and run end to end. Lossless syntaxes must give identical
measurements; lossy ones must stay within the tolerances below (stated in the
docs, docs/inputs.md).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from encoders import FORMATS, encode_folder

pytestmark = pytest.mark.slow

#: Lossy syntaxes: largest allowed |difference| to the uncompressed study's measurement.
LOSSY_TOLERANCE = {"mm": 0.5, "deg": 1.0, "relative": 0.05}  # heights/centroids mm, angles deg, areas/loads/indices relative


def _run(inp: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "-i", str(inp), "-o", str(out), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads((out / "results.json").read_text())


def measurements(results: dict) -> dict[str, float]:
    """Every numeric measurement of results.json as 'section|key|...' -> value."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}|{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}|{i}", v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[prefix] = float(value)

    for section in ("discs", "vertebrae", "muscles", "loads"):
        walk(section, results.get(section, {}))
    if "lordosis_deg" in results:
        flat["lordosis_deg"] = float(results["lordosis_deg"])
    return flat


def _within(key: str, a: float, b: float) -> bool:
    if key.endswith("_deg"):
        return abs(a - b) <= LOSSY_TOLERANCE["deg"]
    if key.endswith("_mm") or "|centroid_mm|" in key or "slice_offset" in key:
        return abs(a - b) <= LOSSY_TOLERANCE["mm"]
    return abs(a - b) <= LOSSY_TOLERANCE["relative"] * max(abs(a), abs(b), 1e-6)


@pytest.fixture(scope="module")
def uncompressed(small_study, tmp_path_factory) -> dict:
    return _run(small_study / "DICOM", tmp_path_factory.mktemp("plain") / "out", "--no-dicom")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_compressed_study_gives_the_uncompressed_measurements(fmt, small_study, uncompressed, tmp_path):
    syntax, lossless, _ = FORMATS[fmt]
    inp = tmp_path / "in"
    assert encode_folder(small_study / "DICOM", inp, fmt) > 30
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in inp.rglob("*.dcm")} == {syntax}
    full = fmt == "jpeg_lossless_sv1"  # one syntax runs with every DICOM output too
    results = _run(inp, tmp_path / "out", *([] if full else ["--no-dicom"]))
    assert results["series"]["sagittal_t1"] is not None and results["series"]["axial_t1"]
    assert results["discs"] and results["muscles"]
    assert not [f for f in results["flags"] if f["code"].startswith("stage_failed")], results["flags"]
    got, want = measurements(results), measurements(uncompressed)
    if lossless:
        assert got == want
    else:
        assert set(got) == set(want)
        off = {k: (got[k], want[k]) for k in want if not _within(k, got[k], want[k])}
        assert not off, off
    if full:
        assert (tmp_path / "out" / "report.pdf").is_file() and any(n.endswith(".dcm") for n in results["outputs"])


def test_lossy_tolerance_is_tight_enough_to_catch_a_wrong_decode(uncompressed):
    """A decoder that returned noise would not pass: a 10 % change is outside every tolerance."""
    want = measurements(uncompressed)
    worse = {k: v * 1.1 + 1.0 for k, v in want.items()}
    assert all(not _within(k, worse[k], want[k]) for k in want if abs(want[k]) > 20)
    assert np.isfinite(list(want.values())).all()
