"""Confidence thresholds from ``lumbarqi evaluate --json`` files (lumbarqi.segmentation.confidence).

    python scripts/calibrate_confidence.py eval1.json [eval2.json ...]

Per structure: the highest confidence of a case with Dice < 0.80 (bad) and the lowest
of a case with Dice >= 0.90 (good); the threshold is half-way between them when the
two classes separate, else none is proposed. Prints one line per structure.
"""
from __future__ import annotations

import json
import sys

BAD, GOOD = 0.80, 0.90


def calibrate(results: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    pairs: dict[str, list[tuple[float, float]]] = {}
    for res in results:
        for entry in res["cases"]:
            for structure, d in entry["dice"].items():
                c = entry.get("confidence", {}).get(structure)
                if d is not None and c is not None:
                    pairs.setdefault(structure, []).append((float(d), float(c)))
    for structure, values in pairs.items():
        bad = [c for d, c in values if d < BAD]
        good = [c for d, c in values if d >= GOOD]
        row: dict = {"cases": len(values), "bad": len(bad), "good": len(good),
                     "max_bad": max(bad) if bad else None, "min_good": min(good) if good else None}
        if bad and good and max(bad) < min(good):
            row["threshold"] = round((max(bad) + min(good)) / 2, 3)
        out[structure] = row
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for structure, row in calibrate([json.loads(open(f).read()) for f in sys.argv[1:]]).items():
        print(structure, row)
