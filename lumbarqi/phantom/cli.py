"""``lumbarqi phantom``: write synthetic lumbar MRI studies with known truth."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lumbarqi.errors import EXIT_OK, LumbarqiError


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "phantom",
        help="write a synthetic lumbar MRI study (DICOM) with known truth",
        description="Write a synthetic clinical lumbar MRI study: sagittal T1, axial T1 (straight or "
        "disc-parallel blocks) and distractor series as DICOM, with truth.json (same keys as a run's "
        "results.json) and truth label maps in each series' geometry.",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created; must be empty or absent)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, identical study (default 0)")
    p.add_argument("--preset", choices=("small", "clinical"), default="clinical", help="small: quick test study; clinical: full-size (default)")
    p.add_argument("--axial", choices=("random", "straight", "tilted"), default="random", help="axial T1 planning (default random)")
    p.add_argument("--degeneration", type=_fraction, default=0.5, metavar="0..1", help="how likely and marked disc degeneration is (default 0.5)")
    p.add_argument("--fat-infiltration", type=_fraction, default=0.5, metavar="0..1", help="scale of muscle fat infiltration (default 0.5)")
    p.add_argument("--ghosting", action="store_true", help="add motion ghosts along the phase-encode direction")
    p.add_argument("--cases", action="store_true", help="also write NIfTI training cases (image, label, meta.json) under cases/")
    p.add_argument("--count", type=int, default=1, help="write this many studies, seeds SEED..SEED+COUNT-1, in OUT/phantom_<seed>/")
    p.add_argument("--preview", action="store_true", help="also write preview.png: mid-sagittal and axial T1 with truth contours")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lumbarqi.phantom.generate import generate_study

    if args.count < 1:
        raise LumbarqiError(f"--count must be at least 1, got {args.count}")
    if args.seed < 0:
        raise LumbarqiError(f"--seed must be zero or positive, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        raise LumbarqiError(f"--out {args.out} exists and is not a folder")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        raise LumbarqiError(f"--out {args.out} is not empty (use --overwrite to write into it anyway)")
    for i in range(args.count):
        seed = args.seed + i
        out = args.out if args.count == 1 else args.out / f"phantom_{seed:04d}"
        t0 = time.perf_counter()
        print(f"phantom seed {seed} -> {out}", flush=True)
        generate_study(
            out, seed, preset=args.preset, axial=args.axial, degeneration=args.degeneration,
            fat_infiltration=args.fat_infiltration, ghosting=args.ghosting, cases=args.cases,
            log=lambda msg: print(f"  {msg}", flush=True),
        )
        if args.preview:
            from lumbarqi.phantom.preview import write_preview

            write_preview(out, out / "preview.png")
            print(f"  preview: {out / 'preview.png'}")
        print(f"  done in {time.perf_counter() - t0:.1f} s", file=sys.stdout, flush=True)
    return EXIT_OK
