"""The #6 acceptance tables: lumbarqi loads vs Wilke et al. 1999 and vs the two reference OpenSim models.

Usage: python scripts/biomech_reference_check.py SUBJECT.json [--models DIR] [--json OUT]

SUBJECT.json is a results.json or a phantom truth.json (e.g. ``lumbarqi phantom --seed 1``).
Wilke: L4/L5 compression in relaxed standing, standing flexed (flexion_30) and holding 20 kg
close to the body (hold_20kg_close) against 0.66 x pressure x this subject's L4/L5 disc area.
Reference models (DIR, default ../shared/data/opensim): every task under the same posture and
load (``--base-model`` path, same balance, solver and disc axes), L4/L5 and L5/S1 compression,
at each personalisation level, the reference models personalised the same way (``anthropometric``:
mass only; ``curvature``: + the subject's segment angles on top of the model's own neutral shape;
``muscle``: + the measured muscle force factors), so both sides always have the same posture and load.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lumbarqi.biomech.anatomy import wilke_force_n
from lumbarqi.biomech.api import solve_tasks
from lumbarqi.biomech.base_model import solve_base_model
from lumbarqi.biomech.subject import personalise
from lumbarqi.biomech.tasks import TASKS, VALIDATION_TASKS

WILKE = {"standing": "standing", "flexion_30": "flexed", "hold_20kg_close": "lift_20kg_close"}
MODELS = ("raabe2016_fbls.osim", "beaucage_gauvreau_pose2sim.osim")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("subject", type=Path)
    ap.add_argument("--models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "opensim")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results = json.loads(args.subject.read_text())
    subj = personalise(results, "muscle")
    tasks = {**TASKS, **VALIDATION_TASKS}
    ours, flags, diag = solve_tasks(subj, tasks)
    depth = subj.discs["L4/L5"].depth
    out: dict = {"wilke": {}, "reference": {}, "flags": flags}
    print(f"subject {subj.height_m:.2f} m {subj.mass_kg:.1f} kg, L4/L5 depth {depth:.1f} mm, "
          f"standing pelvic tilt {diag['standing']['pelvic_tilt_deg']:.1f} deg")
    print("\nWilke et al. 1999, L4/L5 compression (N)")
    for task, key in WILKE.items():
        want = wilke_force_n(key, depth)
        got = ours.get(task, {}).get("L4/L5", {}).get("compression_n")
        out["wilke"][task] = {"wilke_n": round(want, 1), "lumbarqi_n": got,
                              "diff_pct": round((got - want) / want * 100, 1) if got else None}
        print(f"  {task:16s} Wilke {want:6.0f}  lumbarqi {got if got else float('nan'):6.0f}  "
              f"({out['wilke'][task]['diff_pct']:+.0f} %)" if got else f"  {task:16s} unsolved")
    for level_name in ("anthropometric", "curvature", "muscle"):
        level_subj = personalise(results, level_name)
        mine_loads = ours if level_name == "muscle" else solve_tasks(level_subj, tasks)[0]
        refs = {}
        for name in MODELS:
            path = args.models / name
            if path.exists():
                refs[name], ref_flags, _ = solve_base_model(path, None, level_subj, tasks)
                out["flags"] += [f for f in ref_flags if f["code"] != "biomech_base_model_posture"]
        out["reference"][level_name] = {}
        print(f"\nL4/L5 | L5/S1 compression (N) at {level_name} personalisation; lumbarqi vs each reference model "
              f"(difference in % of the reference)")
        for task in tasks:
            row = {}
            cells = []
            for level in ("L4/L5", "L5/S1"):
                mine = mine_loads.get(task, {}).get(level, {}).get("compression_n")
                entry = {"lumbarqi": mine}
                txt = f"{mine if mine else float('nan'):6.0f}"
                for name, loads in refs.items():
                    ref = loads.get(task, {}).get(level, {}).get("compression_n")
                    entry[name] = ref
                    entry[f"{name}_diff_pct"] = round((mine - ref) / ref * 100, 1) if mine and ref else None
                    diff = entry[f"{name}_diff_pct"]
                    txt += f"  {name.split('_')[0]} {ref if ref else float('nan'):6.0f} ({float('nan') if diff is None else diff:+4.0f} %)"
                row[level] = entry
                cells.append(txt)
            out["reference"][level_name][task] = row
            print(f"  {task:16s} " + " | ".join(cells))
        diffs = [abs(e[k]) for r in out["reference"][level_name].values() for e in r.values()
                 for k in e if k.endswith("_diff_pct") and e[k] is not None]
        print(f"  largest difference {max(diffs) if diffs else float('nan'):.0f} %, "
              f"{sum(d <= 30 for d in diffs)}/{len(diffs)} cells within 30 %")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
