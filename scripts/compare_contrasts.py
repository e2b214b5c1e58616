"""T1 vs T2 results on phantom studies that have both (issue: contrast fallback).

For each seed: a phantom study is analysed as sent (sagittal and axial T1
used) and again without its T1 series (sagittal and axial T2 used). Disc and
vertebral body heights (mm) and muscle CSA (mm2) of both runs are compared with
the phantom's truth and with each other. Prints a table and writes JSON.

    python scripts/compare_contrasts.py --seeds 300-309 --preset small --json contrasts.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lumbarqi.phantom.generate import generate_study

MEASURES = {"discs": ("height_anterior_mm", "height_middle_mm", "height_posterior_mm"),
            "vertebrae": ("height_anterior_mm", "height_middle_mm", "height_posterior_mm")}


def _run(inp: Path, out: Path) -> dict:
    subprocess.run([sys.executable, "-m", "lumbarqi", "run", "-i", str(inp), "-o", str(out), "--no-dicom"],
                   capture_output=True, text=True, timeout=900)
    path = out / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _values(results: dict) -> dict[str, float]:
    out = {}
    for section, names in MEASURES.items():
        for level, values in results.get(section, {}).items():
            for name in names:
                if isinstance(values.get(name), (int, float)):
                    out[f"{section}|{level}|{name}"] = float(values[name])
    for level, muscles in results.get("muscles", {}).items():
        for muscle, sides in muscles.items():
            for side, values in sides.items():
                if "csa_mm2" in values:
                    out[f"muscles|{level}|{muscle}|{side}|csa_mm2"] = float(values["csa_mm2"])
    return out


def compare(seed: int, preset: str, work: Path) -> dict:
    study = work / f"s{seed}"
    generate_study(study, seed, preset=preset)
    truth = json.loads((study / "truth.json").read_text())
    t2_only = work / f"s{seed}_t2"
    shutil.copytree(study / "DICOM", t2_only)
    for entry in [truth["series"]["sagittal_t1"], *truth["series"]["axial_t1"]]:
        shutil.rmtree(t2_only / f"S{entry['series_number']:03d}")
    t1, t2, ref = _values(_run(study / "DICOM", work / f"o{seed}_t1")), _values(_run(t2_only, work / f"o{seed}_t2")), _values(truth)
    return {"seed": seed, "t1": t1, "t2": t2, "truth": ref}


def summarise(rows: list[dict]) -> dict:
    """Per kind (disc/vertebra heights, CSA): median |error| of T1 and T2, median |T2 - T1|, counts."""
    kinds = {"disc heights (mm)": "discs|", "vertebral body heights (mm)": "vertebrae|", "muscle CSA (mm2)": "muscles|"}
    summary = {}
    for kind, prefix in kinds.items():
        e1, e2, d, n1, n2, nt = [], [], [], 0, 0, 0
        for r in rows:
            keys = [k for k in r["truth"] if k.startswith(prefix)]
            nt += len(keys)
            n1 += sum(k in r["t1"] for k in keys)
            n2 += sum(k in r["t2"] for k in keys)
            e1 += [abs(r["t1"][k] - r["truth"][k]) for k in keys if k in r["t1"]]
            e2 += [abs(r["t2"][k] - r["truth"][k]) for k in keys if k in r["t2"]]
            d += [r["t2"][k] - r["t1"][k] for k in keys if k in r["t1"] and k in r["t2"]]
        summary[kind] = {"truth_values": nt, "measured_t1": n1, "measured_t2": n2,
                         "median_abs_error_t1": round(float(np.median(e1)), 3) if e1 else None,
                         "median_abs_error_t2": round(float(np.median(e2)), 3) if e2 else None,
                         "median_t2_minus_t1": round(float(np.median(d)), 3) if d else None,
                         "median_abs_t2_minus_t1": round(float(np.median(np.abs(d))), 3) if d else None}
    return summary


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="300-309", help="seed range A-B or list A,B,C (default 300-309)")
    p.add_argument("--preset", choices=("small", "clinical"), default="small")
    p.add_argument("--json", type=Path, default=None, help="write per-study values and the summary here")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lumbarqi-contrasts-") as tmp:
        for seed in _seeds(args.seeds):
            rows.append(compare(seed, args.preset, Path(tmp)))
            print(f"seed {seed}: T1 {len(rows[-1]['t1'])} values, T2 {len(rows[-1]['t2'])} values", flush=True)
    summary = summarise(rows)
    print(f"{'measure':30s} {'n truth':>8s} {'n T1':>6s} {'n T2':>6s} {'|err| T1':>9s} {'|err| T2':>9s} {'T2-T1':>7s} {'|T2-T1|':>8s}")
    for kind, s in summary.items():
        print(f"{kind:30s} {s['truth_values']:8d} {s['measured_t1']:6d} {s['measured_t2']:6d} {s['median_abs_error_t1']!s:>9s} "
              f"{s['median_abs_error_t2']!s:>9s} {s['median_t2_minus_t1']!s:>7s} {s['median_abs_t2_minus_t1']!s:>8s}")
    if args.json:
        args.json.write_text(json.dumps({"preset": args.preset, "summary": summary, "studies": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
