#!/usr/bin/env python3
"""Morphometry with the phantom's truth masks as input, against the phantom's geometric truth.

Usage: .venv/bin/python scripts/morphometry_truth_check.py STUDY_DIR... [--json OUT.json] [--results-dir DIR]

STUDY_DIR: phantom studies (``lumbarqi phantom``), e.g. /tmp/m20/phantom_*.
Prints, per level, the median absolute error of disc heights (mm), per muscle
the median absolute CSA error (%), fat index and centroid errors, and the
level naming accuracy; ``--results-dir`` also writes DIR/<study>/results.json
for ``lumbarqi validate --auto DIR/* --reference STUDY_DIR...``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from lumbarqi import labels as L
from lumbarqi.morphometry.truthcheck import check_study

HEIGHTS = ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "height_mean_mm")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--results-dir", type=Path)
    args = ap.parse_args(argv)
    disc_err: dict = {}
    vert_err: dict = {}
    csa_err: dict = {}
    fat_err, cen_err, lordosis_err, naming, same_slice = [], [], [], [], []
    t0 = time.perf_counter()
    for study in args.studies:
        truth = json.loads((study / "truth.json").read_text())
        res = check_study(study)
        if args.results_dir:
            out = args.results_dir / study.name
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(res, indent=1))
        naming.append(res["morphometry"]["naming_accuracy"])
        for lev, t in truth["discs"].items():
            for k in HEIGHTS + ("height_index", "depth_mm"):
                if lev in res["discs"] and k in res["discs"][lev]:
                    disc_err.setdefault((lev, k), []).append(res["discs"][lev][k] - t[k])
        for lev, t in truth["vertebrae"].items():
            for k in HEIGHTS + ("depth_mm", "wedge_deg"):
                if lev in res["vertebrae"] and k in res["vertebrae"][lev]:
                    vert_err.setdefault(k, []).append(res["vertebrae"][lev][k] - t[k])
        if res["lordosis_deg"] is not None:
            lordosis_err.append(res["lordosis_deg"] - truth["lordosis_deg"])
        ts, ms = truth["phantom"]["muscle_slices"], res["morphometry"]["muscle_slices"]
        for lev, muscles in truth["muscles"].items():
            if lev in ms:
                same_slice.append(ts[lev]["stack"] == ms[lev]["stack"] and ts[lev]["slice_index"] == ms[lev]["slice_index"]
                                  and ts[lev]["series_instance_uid"] == ms[lev]["series_instance_uid"])
            for m, sides in muscles.items():
                for side, t in sides.items():
                    r = res["muscles"].get(lev, {}).get(m, {}).get(side)
                    if r is None:
                        csa_err.setdefault(m, []).append(np.nan)
                        continue
                    if t["csa_mm2"] >= 100:  # slivers of a muscle ending at this level are not CSA
                        csa_err.setdefault(m, []).append(100 * (r["csa_mm2"] / t["csa_mm2"] - 1))
                        cen_err.append(np.subtract(r["centroid_mm"], t["centroid_mm"]))
                    if "fat_index" in r:
                        fat_err.append(r["fat_index"] - t["fat_index"])
        print(f"{study.name}: naming {res['morphometry']['naming_accuracy']:.3f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    def stat(v):
        v = np.asarray(v, float)
        ok = v[np.isfinite(v)]
        return {"n": int(ok.size), "missing": int((~np.isfinite(v)).sum()), "median_abs": round(float(np.median(np.abs(ok))), 3) if ok.size else None,
                "p90_abs": round(float(np.percentile(np.abs(ok), 90)), 3) if ok.size else None, "bias": round(float(ok.mean()), 3) if ok.size else None}

    report = {
        "studies": len(args.studies),
        "naming_accuracy_mean": round(float(np.mean(naming)), 4), "studies_named_exactly": int(sum(a == 1.0 for a in naming)),
        "disc_error_mm": {f"{lev} {k}": stat(v) for (lev, k), v in sorted(disc_err.items(), key=lambda kv: (L.REPORTED_DISCS.index(kv[0][0]), kv[0][1]))},
        "vertebra_error": {k: stat(v) for k, v in vert_err.items()},
        "lordosis_error_deg": stat(lordosis_err),
        "csa_error_percent": {m: stat(v) for m, v in csa_err.items()},
        "csa_error_percent_all": stat(np.concatenate([np.asarray(v, float) for v in csa_err.values()])),
        "fat_index_error": stat(fat_err),
        "centroid_error_mm": {"lateral": stat([c[0] for c in cen_err]), "anterior": stat([c[1] for c in cen_err])},
        "same_slice_as_truth": round(float(np.mean(same_slice)), 3) if same_slice else None,
    }
    print(f"{'disc level / measure':34s} {'n':>3s} {'median|err|':>11s} {'p90|err|':>9s} {'bias':>7s}")
    for key, s in report["disc_error_mm"].items():
        print(f"{key:34s} {s['n']:3d} {s['median_abs']:11.3f} {s['p90_abs']:9.3f} {s['bias']:+7.3f}")
    for key, s in report["vertebra_error"].items():
        print(f"{'vertebra ' + key:34s} {s['n']:3d} {s['median_abs']:11.3f} {s['p90_abs']:9.3f} {s['bias']:+7.3f}")
    s = report["lordosis_error_deg"]
    print(f"{'lordosis_deg':34s} {s['n']:3d} {s['median_abs']:11.3f} {s['p90_abs']:9.3f} {s['bias']:+7.3f}")
    for key, s in list(report["csa_error_percent"].items()) + [("all muscles", report["csa_error_percent_all"])]:
        print(f"{'CSA % ' + key:34s} {s['n']:3d} {s['median_abs']:11.3f} {s['p90_abs']:9.3f} {s['bias']:+7.3f}  (missing {s['missing']})")
    for key, s in [("fat_index", report["fat_index_error"]), ("centroid lateral mm", report["centroid_error_mm"]["lateral"]),
                   ("centroid anterior mm", report["centroid_error_mm"]["anterior"])]:
        print(f"{key:34s} {s['n']:3d} {s['median_abs']:11.3f} {s['p90_abs']:9.3f} {s['bias']:+7.3f}")
    print(f"level naming: mean accuracy {report['naming_accuracy_mean']:.4f}, {report['studies_named_exactly']}/{len(naming)} studies exact; "
          f"axial slice as truth: {report['same_slice_as_truth']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
