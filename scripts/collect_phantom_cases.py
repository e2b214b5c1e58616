"""Gather the training cases of many phantom studies into one folder per plane (symlinks).

    python scripts/collect_phantom_cases.py PHANTOM_ROOT OUT_ROOT

PHANTOM_ROOT holds phantom_<seed>/cases/<series>/ written by ``lumbarqi phantom --cases``;
OUT_ROOT gets sagittal/<seed>_<series> and axial/<seed>_<series>, each a case folder
in the ``../shared/data`` layout that ``lumbarqi train --data`` reads.
"""
import json
import sys
from pathlib import Path


def main(root: Path, out: Path) -> None:
    n = {"sagittal": 0, "axial": 0}
    for case in sorted(root.glob("phantom_*/cases/*")):
        meta = case / "meta.json"
        if not meta.exists():
            continue
        plane = json.loads(meta.read_text())["plane"]
        link = out / plane / f"{case.parent.parent.name}_{case.name}"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(case.resolve())
        n[plane] += 1
    print(n)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
