"""``lumbarqi biomech``: spinal loads per task and level from a results.json or truth.json."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lumbarqi.errors import EXIT_OK, LumbarqiError
from lumbarqi.results import PERSONALISATIONS


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "biomech",
        help="compressive and shear loads at T12/L1..L5/S1 for six static tasks (OpenSim)",
        description="Build the subject's lumbar spine model in OpenSim from a results.json (or the phantom's "
        "truth.json), solve relaxed standing, 30/60 deg flexion, 20 deg extension, 20 deg lateral bend and "
        "holding 10 kg by static optimisation, and print the joint reactions per level (N and body weights).",
    )
    p.add_argument("--results", required=True, type=Path, help="results.json or truth.json with subject, discs, vertebrae, lordosis_deg, muscles")
    p.add_argument("--personalisation", choices=PERSONALISATIONS, default="muscle",
                   help="anthropometric: height/mass only; curvature: + spine geometry; muscle: + muscle CSA and centroids (default)")
    p.add_argument("--base-model", type=Path, help="run the tasks on this OpenSim model (.osim) instead of the lumbarqi model")
    p.add_argument("--muscle-map", type=Path, help="JSON map of the base model's level joints and muscle groups (see lumbarqi/biomech/data/maps)")
    p.add_argument("--compare-personalisation", action="store_true",
                   help="solve at all three personalisation levels and print L4/L5 and L5/S1 compression side by side "
                   "(what curvature and muscle morphology add, as in Bruno et al. 2017)")
    p.add_argument("--json", type=Path, help="write {loads, flags, seconds} here as JSON (default: print a table); "
                   "with --compare-personalisation {personalisation: {level: {loads, flags, seconds}}}")
    p.set_defaults(func=run)


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LumbarqiError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise LumbarqiError(f"{what} {path} is not readable JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise LumbarqiError(f"{what} {path} does not hold a JSON object")
    return data


def run(args: argparse.Namespace) -> int:
    from lumbarqi.biomech.api import compute_loads

    results = _read_json(args.results, "--results")
    mmap = _read_json(args.muscle_map, "--muscle-map") if args.muscle_map else None
    if args.muscle_map and not args.base_model:
        raise LumbarqiError("--muscle-map needs --base-model")
    if args.base_model:
        if not args.base_model.is_file():
            raise LumbarqiError(f"--base-model {args.base_model} does not exist")
        from lumbarqi.biomech.base_model import shipped_map

        if mmap is None and shipped_map(args.base_model) is None:
            raise LumbarqiError(f"--base-model {args.base_model.name} has no shipped muscle map: pass --muscle-map MAP.json")
    if args.compare_personalisation:
        return _compare(results, args.base_model, mmap, args.json)
    t0 = time.perf_counter()
    loads, flags = compute_loads(results, args.personalisation, args.base_model, mmap)
    seconds = time.perf_counter() - t0
    if args.json:
        _write_json(args.json, {"loads": loads, "flags": flags, "seconds": round(seconds, 2)})
        print(f"loads for {len(loads)} tasks -> {args.json} ({seconds:.1f} s)")
    else:
        for task, levels in loads.items():
            print(task)
            for level, v in levels.items():
                print(f"  {level:7s} compression {v['compression_n']:7.0f} N ({v['compression_bw']:.2f} BW)  "
                      f"AP shear {v['shear_ap_n']:6.0f} N  lateral shear {v['shear_lateral_n']:6.0f} N")
        for f in flags:
            print(f"flag {f['code']}: {f['message']}", file=sys.stderr)
        print(f"{len(loads)} tasks in {seconds:.1f} s")
    return EXIT_OK


def _write_json(path: Path, data: dict) -> None:
    from lumbarqi.results import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1))


def _compare(results: dict, base_model: Path | None, mmap: dict | None, json_path: Path | None) -> int:
    """All three personalisation levels: a table of L4/L5 and L5/S1 compression (N) per task."""
    from lumbarqi.biomech.api import compute_loads
    from lumbarqi.biomech.tasks import TASKS

    out: dict[str, dict] = {}
    for level in PERSONALISATIONS:
        t0 = time.perf_counter()
        loads, flags = compute_loads(results, level, base_model, mmap)
        out[level] = {"loads": loads, "flags": flags, "seconds": round(time.perf_counter() - t0, 2)}
        print(f"{level}: {len(loads)} tasks in {out[level]['seconds']:.1f} s", file=sys.stderr)
    print("compression (N) at L4/L5 | L5/S1 by personalisation level")
    print(f"  {'task':16s}" + "".join(f"{lvl:>19s}  " for lvl in PERSONALISATIONS))
    for task in TASKS:
        cells = []
        for level in PERSONALISATIONS:
            row = out[level]["loads"].get(task)
            cells.append(f"{row['L4/L5']['compression_n']:10.0f} | {row['L5/S1']['compression_n']:6.0f}  " if row else f"{'unsolved':>22s}  ")
        print(f"  {task:16s}" + "".join(cells))
    if json_path:
        _write_json(json_path, {"personalisation": out})
    return EXIT_OK
