"""Sacrum and level naming of a vertebrae network on real sagittal images (model cards: "why not shipped").

No real set labels the sacrum, yet the product counts levels from it. For each
case (image + labels) this runs the network as the product does, then the
product's naming (:func:`lumbarqi.levels_eval.product_naming`), and reports the
predicted sacrum volume (cm3), whether the naming was anchored on a sacrum, and
for labels that carry level names (T10..L5, discs) how many structures got
their true name.

    python scripts/sacrum_naming_check.py --models models --cases tum_vb_01,zukic_vb_07 \\
        --data ../shared/data/vertebrae_sagittal --json sacrum.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry, unit, vec3
from lumbarqi.levels_eval import product_naming
from lumbarqi.segmentation.cases import find_cases, read_case
from lumbarqi.segmentation.inference import SegmentationEngine


def stack_geometry(affine_lps: np.ndarray, shape: tuple[int, int, int]) -> tuple[StackGeometry, bool]:
    """StackGeometry of an array laid out (slice, row, col) with this LPS affine; True when the
    slice axis had to be reversed to keep the slice normal = row x col (then flip the arrays' axis 0)."""
    a = np.asarray(affine_lps, float)
    row_dir, col_dir = unit(a[:3, 2]), unit(a[:3, 1])
    normal = np.cross(row_dir, col_dir)
    step = a[:3, 0]
    flip = float(step @ normal) < 0
    origin = a[:3, 3] + (shape[0] - 1) * step if flip else a[:3, 3]
    geometry = StackGeometry(origin=vec3(origin), row_dir=vec3(row_dir), col_dir=vec3(col_dir), rows=shape[1],
                             cols=shape[2], n_slices=shape[0], row_spacing_mm=float(np.linalg.norm(a[:3, 1])),
                             col_spacing_mm=float(np.linalg.norm(a[:3, 2])), slice_spacing_mm=float(np.linalg.norm(step)),
                             slice_thickness_mm=float(np.linalg.norm(step)))
    return geometry, flip


def check_case(engine: SegmentationEngine, path: Path, discs: SegmentationEngine | None = None) -> dict:
    """Sacrum volume, anchoring and naming outcome of one case (discs from ``discs`` when given, as the product does)."""
    case = read_case(path)
    seg = engine.segment(case.image, case.affine_lps)
    disc_seg = discs.segment(case.image, case.affine_lps) if discs is not None else seg
    geometry, flip = stack_geometry(case.affine_lps, case.image.shape)

    def laid(m: np.ndarray) -> np.ndarray:
        return m[::-1] if flip else m

    body, sacrum = (laid(seg.mask(s)) for s in ("vertebral_body", "sacrum"))
    disc = laid(disc_seg.mask("disc"))
    naming = product_naming(body, disc, sacrum, geometry)
    voxel_cm3 = geometry.row_spacing_mm * geometry.col_spacing_mm * geometry.slice_spacing_mm / 1000.0
    kept = [c.volume_mm3 for c in naming.components if c.kind == "sacrum"]
    kept_sacrum = sum(kept) / 1000.0 if kept else None
    entry: dict = {"case": case.name, "sacrum_cm3": round(float(sacrum.sum()) * voxel_cm3, 1),
                   "sacrum_kept_cm3": None if kept_sacrum is None else round(kept_sacrum, 1),
                   "anchored": naming.anchored, "flags": sorted({f["code"] for f in naming.flags}), "levels": {}}
    if case.label is not None:
        truth = laid(case.label)
        for value, info in case.labels.items():
            if not info.level or info.structure not in ("vertebral_body", "disc"):
                continue
            true_value = (L.DISC_LABEL if info.structure == "disc" else L.VERTEBRA_LABEL).get(info.level)
            got = naming.label[truth == value]
            if true_value is None or not got.size:
                continue
            top = int(np.bincount(got).argmax())
            entry["levels"][info.level] = "right" if top == true_value else "unnamed" if top == 0 else "wrong"
    return entry


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True, help="models folder holding vertebrae/ (or a vertebrae model folder)")
    p.add_argument("--discs", metavar="MODEL_DIR", help="disc masks from this model (the product's disc segmenter)")
    p.add_argument("--data", action="append", required=True, metavar="DIR")
    p.add_argument("--cases", required=True, help="comma-separated case names")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    model = Path(args.models)
    engine = SegmentationEngine(model / "vertebrae" if (model / "vertebrae").is_dir() else model)
    discs = SegmentationEngine(args.discs) if args.discs else None
    wanted = set(args.cases.split(","))
    paths = [c for d in args.data for c in find_cases(Path(d)) if c.name in wanted]
    entries = []
    for path in sorted(paths, key=lambda q: q.name):
        e = check_case(engine, path, discs)
        entries.append(e)
        right = sum(v == "right" for v in e["levels"].values())
        print(f"{e['case']:22s} sacrum {e['sacrum_cm3']:6.1f} cm3  anchored {str(e['anchored']):5s}  "
              f"named right {right}/{len(e['levels'])}  {' '.join(e['flags'])}", flush=True)
    scored = [v for e in entries for v in e["levels"].values()]
    summary = {"models": str(model), "discs": args.discs, "cases": entries,
               "anchored": sum(e["anchored"] for e in entries), "n": len(entries),
               "levels_right": sum(v == "right" for v in scored), "levels_scored": len(scored),
               "median_sacrum_cm3": float(np.median([e["sacrum_cm3"] for e in entries])) if entries else None}
    print(f"anchored {summary['anchored']}/{summary['n']}, levels named right {summary['levels_right']}/"
          f"{summary['levels_scored']}, median sacrum {summary['median_sacrum_cm3']} cm3")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
