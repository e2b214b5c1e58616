"""Fuzzing the DICOM headers the input side reads: no exception but a one-line LumbarqiError.

~500 examples here (derandomised, so CI is repeatable); scripts/fuzz_headers.py
runs thousands with fresh randomness.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import header_fuzz  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]  # mutated headers make pydicom warn
EXAMPLES = 500


@pytest.fixture(scope="module")
def fuzz_study(tmp_path_factory):
    return header_fuzz.make_fuzz_study(tmp_path_factory.mktemp("fuzz"))


def test_clean_fuzz_study_reads(fuzz_study):
    fuzz_study.write([])
    assert header_fuzz.run_input_side(fuzz_study.work) == "ok: sag + 2 axial"  # two tilted axial blocks


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(muts=header_fuzz.mutations)
@example(muts=[("all", "BitsAllocated", "retype:UL", b"0\x00")])  # found by fuzzing: lazy conversion raised in the scan
@example(muts=[("one_sag", "RescaleIntercept", "retype:UL", b"0")])  # found by fuzzing: ... and when pixels were read
@example(muts=[("all_sag", "ImageOrientationPatient", "value:DS", b"1\\0\\0\\1\\0\\0")])  # rows parallel to columns
def test_mutated_headers_never_crash_the_input_side(fuzz_study, muts):
    fuzz_study.write(muts)
    header_fuzz.run_input_side(fuzz_study.work)
