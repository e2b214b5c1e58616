"""Per data set (and per level) mean Dice of one or more ``lumbarqi evaluate --json`` files.

    python scripts/summarise_eval.py baseline.json new.json [--levels]

Data sets are named from the case names' prefix (tum_vb, chu_vb, zukic_vb, reis_ivd,
spider (3D T2 SPACE), phantom); one column per JSON file. Markdown on stdout.
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

import numpy as np

SETS = (("tum_vb", "MyoSegmenTUM (sagittal Dixon)"), ("chu_vb", "Chu (clinical T1/T2)"), ("zukic_vb", "Zukic (T2 TSE)"),
        ("reis_ivd", "Menezes-Reis (T2 FSE)"), ("spider", "SPIDER 3D T2 SPACE"), ("phantom", "phantom T1/T2/STIR"))


def _set_of(case: str) -> str:
    for prefix, name in SETS:
        if case.startswith(prefix):
            return name
    return re.sub(r"_?\d+.*$", "", case)


def table(results: list[dict], per_level: bool) -> list[str]:
    cells: list[dict] = []
    for res in results:
        acc: dict[tuple, list[float]] = defaultdict(list)
        for entry in res["cases"]:
            s = _set_of(entry["case"])
            for structure, d in entry["dice"].items():
                if d is not None and structure != "sacrum":
                    acc[(s, structure, "all")].append(d)
            if per_level:
                for level, d in (entry.get("dice_per_level") or {}).items():  # {level or label name: Dice}
                    if isinstance(d, (int, float)) and re.match(r"^[TL]\d", level):
                        acc[(s, "disc" if "/" in level else "vertebral_body", level)].append(d)
        cells.append(acc)
    keys = sorted({k for c in cells for k in c}, key=lambda k: ([n for _, n in SETS].index(k[0]) if k[0] in [n for _, n in SETS] else 99, k[1], k[2] != "all", k[2]))
    lines = ["| data set | structure | level | " + " | ".join(f"run {i + 1}" for i in range(len(results))) + " |",
             "|---|---|---|" + "---|" * len(results)]
    for k in keys:
        vals = [f"{np.mean(c[k]):.3f} (n={len(c[k])})" if c.get(k) else "-" for c in cells]
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(vals) + " |")
    return lines


if __name__ == "__main__":
    files = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not files:
        sys.exit(__doc__)
    print("\n".join(table([json.loads(open(f).read()) for f in files], "--levels" in sys.argv)))
