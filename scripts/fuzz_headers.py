#!/usr/bin/env python
"""Fuzz the DICOM headers lumbarqi's input side reads (hypothesis), thousands of examples.

    .venv/bin/python scripts/fuzz_headers.py --examples 5000 [--seed N] [--work DIR]

Each example mutates headers of a small phantom study (see
tests/reliability/header_fuzz.py) and runs scan, selection, subject and volume
reading in-process. Prints how many inputs ran, how they ended, and exits 1
with the (shrunk) failing input if anything but a one-line LumbarqiError was
raised.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "reliability"))
sys.path.insert(0, str(REPO))

import header_fuzz  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=5000)
    p.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")  # mutated headers make pydicom warn on every read and write
    work = args.work or Path(tempfile.mkdtemp(prefix="lumbarqi-fuzz-"))
    study = header_fuzz.make_fuzz_study(work)
    outcomes: collections.Counter = collections.Counter()
    t0 = time.perf_counter()

    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(muts=header_fuzz.mutations)
    def fuzz(muts):
        study.write(muts)
        outcome = header_fuzz.run_input_side(study.work)
        outcomes[outcome] += 1
        n = sum(outcomes.values())
        if n % 500 == 0:
            print(f"  {n} inputs, {time.perf_counter() - t0:.0f} s", flush=True)

    if args.seed is not None:
        fuzz = seed(args.seed)(fuzz)
    try:
        fuzz()
    except Exception:
        traceback.print_exc()
        print(f"FAILED after {sum(outcomes.values())} inputs", file=sys.stderr)
        return 1
    total = sum(outcomes.values())
    print(f"{total} inputs in {time.perf_counter() - t0:.0f} s, no unhandled exception; outcomes:")
    for outcome, count in outcomes.most_common():
        print(f"  {count:6d}  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
