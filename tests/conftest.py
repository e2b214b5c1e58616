"""Shared fixtures: one small phantom study per test session."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> Path:
    """A small phantom study (seed 11) with tilted axial blocks and distractors."""
    from lumbarqi.phantom.generate import generate_study

    out = tmp_path_factory.mktemp("phantom") / "study"
    generate_study(out, 11, preset="small", axial="tilted")
    return out


@pytest.fixture(scope="session")
def small_truth(small_study) -> dict:
    return json.loads((small_study / "truth.json").read_text())
