"""Loads from network measurements vs loads from truth measurements, across phantom subjects.

Usage: python scripts/biomech_network_check.py RUNS_DIR PHANTOMS_DIR [--json OUT]

RUNS_DIR/phantom_N/results.json come from ``lumbarqi run`` on PHANTOMS_DIR/phantom_N (network
masks); PHANTOMS_DIR/phantom_N/truth.json holds the geometric truth. Both go through the same
``compute_loads`` (muscle personalisation); prints Pearson R of compression per task and level
across subjects, and how many subjects each task solved in each arm.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

from lumbarqi.biomech.anatomy import LEVELS
from lumbarqi.biomech.api import compute_loads
from lumbarqi.biomech.tasks import TASKS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("phantoms", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    pairs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    solved = {t: [0, 0] for t in TASKS}
    subjects = 0
    for run in sorted(args.runs.glob("phantom_*/results.json")):
        truth_file = args.phantoms / run.parent.name / "truth.json"
        if not truth_file.exists():
            continue
        subjects += 1
        net, _ = compute_loads(json.loads(run.read_text()), "muscle")
        ref, _ = compute_loads(json.loads(truth_file.read_text()), "muscle")
        print(f"{run.parent.name}: network solved {len(net)}/6, truth solved {len(ref)}/6", flush=True)
        for task in TASKS:
            solved[task][0] += task in net
            solved[task][1] += task in ref
            if task in net and task in ref:
                for level in LEVELS:
                    pairs.setdefault((task, level), []).append((net[task][level]["compression_n"], ref[task][level]["compression_n"]))
    table = {}
    for task in TASKS:
        row = {}
        for level in LEVELS:
            v = np.array(pairs.get((task, level), []))
            row[level] = {"n": len(v), "r": float(pearsonr(v[:, 0], v[:, 1])[0]) if len(v) >= 3 else None,
                          "median_abs_diff_pct": float(np.median(np.abs(v[:, 0] - v[:, 1]) / v[:, 1]) * 100) if len(v) else None}
        table[task] = {"solved_network": solved[task][0], "solved_truth": solved[task][1], "levels": row}
        rs = [x["r"] for x in row.values() if x["r"] is not None]
        print(f"{task:16s} solved net {solved[task][0]}/{subjects} truth {solved[task][1]}/{subjects}  "
              f"R min {min(rs) if rs else float('nan'):.3f} median {np.median(rs) if rs else float('nan'):.3f}  "
              + " ".join(f"{lvl}:{row[lvl]['r']:.2f}" for lvl in LEVELS if row[lvl]["r"] is not None))
    if args.json:
        args.json.write_text(json.dumps({"subjects": subjects, "tasks": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
