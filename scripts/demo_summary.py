"""Print a run's key numbers next to the phantom's truth (used by ``make demo``).

    python scripts/demo_summary.py PHANTOM_DIR RUN_DIR
"""
import json
import sys
from pathlib import Path


def main(phantom: Path, run: Path) -> None:
    truth = json.loads((phantom / "truth.json").read_text())
    res = json.loads((run / "results.json").read_text())
    ok = (res["series"]["sagittal_t1"] or {}).get("series_instance_uid") == truth["series"]["sagittal_t1"]["series_instance_uid"]
    print(f"series: sagittal T1 {'right' if ok else 'WRONG'}: {res['series']['sagittal_t1']['description'] if res['series']['sagittal_t1'] else '-'}; "
          f"axial T1: {len(res['series']['axial_t1'])} series; rejected: {len(res['series']['rejected'])}")
    print(f"\n{'disc':8s} {'mean height mm (run / truth)':>30s} {'height index':>16s}")
    for level, t in truth["discs"].items():
        r = res["discs"].get(level, {})
        print(f"{level:8s} {r.get('height_mean_mm', float('nan')):14.2f} / {t['height_mean_mm']:6.2f}       {r.get('height_index', float('nan')):6.3f} / {t['height_index']:.3f}")
    lordosis = res.get("lordosis_deg")
    print(f"\nlordosis L1-S1: {lordosis if lordosis is None else round(lordosis, 1)} deg (truth {truth['lordosis_deg']:.1f})")
    for level in ("L4/L5", "L3/L4", "L5/S1"):
        if level in res["muscles"] and level in truth["muscles"]:
            print(f"\nmuscle CSA at {level}, cm2 (run / truth), left | right")
            for m, sides in res["muscles"][level].items():
                t = truth["muscles"][level].get(m, {})
                cells = [f"{sides[s]['csa_cm2']:5.1f} / {t[s]['csa_cm2']:5.1f}" if s in sides and s in t else "      -      " for s in ("left", "right")]
                print(f"  {m:20s} {cells[0]} | {cells[1]}")
            break
    loads = res.get("loads", {})
    if loads:
        print("\nL4/L5 compression (N): " + ", ".join(f"{task} {lv['L4/L5']['compression_n']:.0f}" for task, lv in loads.items() if "L4/L5" in lv))
    print(f"\n{len(res['flags'])} flags; outputs in {run}: results.json, results.csv, report.pdf, dicom/ (SEG, SR, PDF), labels/, overlays/")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
