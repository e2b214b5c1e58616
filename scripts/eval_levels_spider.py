"""Level naming on real spines (SPIDER label maps), every condition, per level and per spine.

    PYTHONPATH=$PWD .venv/bin/python scripts/eval_levels_spider.py \\
        --spider ../shared/data/spider_masks_sagittal --json levels_spider.json \\
        [--conditions sacrum,no_sacrum,...] [--cases spider_100_t2,...]

Runs the product's naming (:func:`lumbarqi.levels_eval.product_naming`) on
each case under each condition (:data:`lumbarqi.levels_eval.CONDITIONS`),
prints a per-condition summary and a per-level table (markdown), and writes
every spine's result to ``--json``. See docs/levels.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lumbarqi.levels_eval import CONDITIONS, SCORED, evaluate_spine, summarise
from lumbarqi.levels_real import read_spider


def _table(summary: dict) -> str:
    conds = list(summary)
    lines = ["| level | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
    for name in SCORED:
        cells = []
        for c in conds:
            row = summary[c]["per_level"].get(name)
            wrong = f" ({row['wrong']} wrong)" if row and row["wrong"] else ""
            cells.append("-" if row is None else f"{row['right']}/{row['n']}{wrong}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| spines right | " + " | ".join(f"{summary[c]['right_pct']} %" for c in conds) + " |")
    lines.append("| spines flagged | " + " | ".join(f"{summary[c]['flagged_pct']} %" for c in conds) + " |")
    lines.append("| transitional_anatomy flag | " + " | ".join(
        f"{summary[c]['transitional_flagged_pct']} %" if "transitional_flagged_pct" in summary[c] else "-" for c in conds) + " |")
    lines.append("| right or flagged | " + " | ".join(f"{summary[c]['right_or_flagged_pct']} %" for c in conds) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spider", required=True, type=Path, help="folder of SPIDER case folders (label.nii.gz + meta.json)")
    ap.add_argument("--json", type=Path, help="write every spine's result and the summary here")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated, default all")
    ap.add_argument("--cases", default="", help="comma-separated case folder names, default all")
    args = ap.parse_args(argv)
    conditions = tuple(c for c in args.conditions.split(",") if c)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        print(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}", file=sys.stderr)
        return 2
    if not args.spider.is_dir():
        print(f"not a folder: {args.spider}", file=sys.stderr)
        return 2
    cases = sorted(p for p in args.spider.iterdir() if (p / "label.nii.gz").is_file() and (p / "meta.json").is_file())
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [p for p in cases if p.name in wanted]
    if not cases:
        print(f"no case folders (label.nii.gz + meta.json) in {args.spider}", file=sys.stderr)
        return 2
    entries = []
    t0 = time.perf_counter()
    for case in cases:
        entry = evaluate_spine(read_spider(case), conditions)
        entries.append(entry)
        print(f"{case.name}: " + ", ".join(f"{c} {r['outcome']}" for c, r in entry["conditions"].items()), flush=True)
    summary = summarise(entries)
    print(f"\n{len(entries)} spines in {time.perf_counter() - t0:.0f} s\n")
    for c, s in summary.items():
        print(f"{c}: right {s['right_pct']} %, flagged {s['flagged_pct']} %, right or flagged {s['right_or_flagged_pct']} %; "
              f"silently wrong: {', '.join(s['silently_wrong']) or 'none'}"
              + (f"; transitional flag {s['transitional_flagged_pct']} %, not flagged: {len(s['not_flagged'])}"
                 if "not_flagged" in s else ""))
    print("\n" + _table(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "spines": entries}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
