"""``lumbarqi validate``: agreement of automatic measurements with reference ones (JSON + figure)."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lumbarqi.errors import EXIT_OK, LumbarqiError


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="compare automatic measurements (results.json) with reference ones (results.json / truth.json)",
        description="Compare the measurements of runs with reference measurements of the same studies (a phantom's "
        "truth.json or a run on manual masks): Pearson R, ICC(2,1), Bland-Altman bias and limits of agreement per "
        "measurement family, Dice per structure where both sides list label maps. Writes validation.json, "
        "validation.png and validation.pdf.",
    )
    p.add_argument("--auto", nargs="+", type=Path, metavar="RUN_DIR", help="run folders (results.json) or JSON files")
    p.add_argument("--reference", nargs="+", type=Path, metavar="REF_DIR", help="reference folders (results.json or truth.json) or JSON files, "
                   "paired with --auto by study_instance_uid (or by position)")
    p.add_argument("--pairs", type=Path, metavar="CSV", help="CSV with columns auto,reference (instead of --auto/--reference)")
    p.add_argument("--out", type=Path, default=Path("validation"), help="output folder (default ./validation)")
    p.add_argument("--no-figure", action="store_true", help="write only validation.json")
    p.set_defaults(func=run)


def _load(path: Path) -> tuple[dict, Path]:
    if path.is_dir():
        for name in ("results.json", "truth.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise LumbarqiError(f"{path} holds neither results.json nor truth.json")
    if not path.is_file():
        raise LumbarqiError(f"{path} does not exist")
    try:
        return json.loads(path.read_text()), path.parent
    except (OSError, ValueError) as exc:
        raise LumbarqiError(f"cannot read {path}: {exc}") from None


def _pairs_from_csv(path: Path) -> list[tuple[Path, Path]]:
    if not path.is_file():
        raise LumbarqiError(f"--pairs {path} does not exist")
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and not r[0].startswith("#")]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["auto", "reference"]:
        rows = rows[1:]
    if not rows or any(len(r) < 2 for r in rows):
        raise LumbarqiError(f"--pairs {path}: expected two columns auto,reference on every line")
    return [((path.parent / r[0].strip()), (path.parent / r[1].strip())) for r in rows]


def _match(auto: list[Path], ref: list[Path]) -> list[tuple[Path, Path]]:
    loaded_ref = {p: _load(p)[0].get("study_instance_uid") for p in ref}
    by_uid = {uid: p for p, uid in loaded_ref.items() if uid}
    out = []
    for p in auto:
        uid = _load(p)[0].get("study_instance_uid")
        if uid and uid in by_uid:
            out.append((p, by_uid[uid]))
    if len(out) == len(auto):
        return out
    if len(auto) != len(ref):
        raise LumbarqiError(f"{len(auto)} --auto and {len(ref)} --reference entries, and study uids do not pair them all")
    return list(zip(auto, ref, strict=False))


def run(args: argparse.Namespace) -> int:
    from .compare import compare, paired_values

    if args.pairs:
        if args.auto or args.reference:
            raise LumbarqiError("give either --pairs or --auto/--reference, not both")
        path_pairs = _pairs_from_csv(args.pairs)
    else:
        if not args.auto or not args.reference:
            raise LumbarqiError("give --auto RUN_DIR... and --reference REF_DIR... (or --pairs CSV)")
        path_pairs = _match(args.auto, args.reference)
    pairs, dirs = [], []
    for a, r in path_pairs:
        (ja, da), (jr, dr) = _load(a), _load(r)
        pairs.append((ja, jr))
        dirs.append((da, dr))
    report = compare(pairs, dirs)
    report["inputs"] = [{"auto": str(a), "reference": str(r)} for a, r in path_pairs]
    if not report["measures"]:
        raise LumbarqiError("no measurement is present on both sides of any pair")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "validation.json").write_text(json.dumps(report, indent=1))
    written = [args.out / "validation.json"]
    if not args.no_figure:
        from .figure import write_figure

        figs = [args.out / "validation.png", args.out / "validation.pdf"]
        write_figure(paired_values(pairs), report["measures"], figs)
        written += figs
    print(f"validate: {len(pairs)} pairs, {len(report['measures'])} measurement families -> " + ", ".join(str(p) for p in written))
    for name, s in report["measures"].items():
        r_text = "n/a" if s.get("pearson_r") is None else f"{s['pearson_r']:.3f}"
        icc_text = "n/a" if s.get("icc_2_1") is None else f"{s['icc_2_1']:.3f}"
        print(f"  {name:44s} n={s['n']:4d} R={r_text:>6s} ICC={icc_text:>6s} bias={s.get('bias', 0):+.3f} "
              f"LoA=[{s.get('loa_low', 0):+.3f}, {s.get('loa_high', 0):+.3f}]")
    for s, v in report.get("dice", {}).get("mean", {}).items():
        print(f"  Dice {s:38s} {v:.4f}")
    return EXIT_OK
