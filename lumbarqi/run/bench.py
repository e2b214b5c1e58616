"""``lumbarqi bench``: whole-study time, per-stage breakdown, peak memory, throughput, scaling.

Single study: each run is a fresh ``python -m lumbarqi run`` process (as a user or the
container would start it), timed from launch to exit; peak memory is that
process's maximum resident set size (``wait4``). Medians over repeats; the
machine is noisy, so read ratios rather than single figures. Cohorts (``--cohort N``,
``--scaling``) run through ``lumbarqi run --cohort``'s warm worker processes
(lumbarqi.run.bench_scale): studies per hour, and the workers' resident memory sampled
every 0.5 s against the number of studies done.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lumbarqi.errors import EXIT_OK, LumbarqiError


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("bench", help="measure whole-study time, stages, peak memory and scaling",
                              description="Benchmark lumbarqi on phantom studies; prints a table and writes JSON.")
    p.add_argument("--repeats", type=int, default=5, help="runs of the clinical-size study (median reported; default 5)")
    p.add_argument("--seed", type=int, default=1, help="phantom seed of the benchmark study (default 1)")
    p.add_argument("--scaling", action="store_true", help="also time studies with 7/11/17/23 sagittal slices and 256/384/512 matrices "
                   "(exponents fitted) and cohort throughput with 1..cores worker processes")
    p.add_argument("--scaling-repeats", type=int, default=1, metavar="R", help="runs per --scaling case (median; default 1)")
    p.add_argument("--cohort", type=int, default=0, metavar="N", help="also run a cohort of N studies (studies/hour, worker memory over the run)")
    p.add_argument("--cohort-preset", choices=("small", "clinical"), default="small", help="phantom preset of the cohort studies (default small)")
    p.add_argument("--cohort-studies", type=int, default=8, metavar="K", help="studies per cohort in the --scaling throughput runs (default 8)")
    p.add_argument("--workers", type=int, default=None, help="worker processes of the --cohort run (default: the number of cores)")
    p.add_argument("--models", type=Path, default=None, help="models folder (default: the shipped models)")
    p.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    p.set_defaults(func=run)


def _run_once(study: Path, out: Path, models: Path | None) -> dict:
    cmd = [sys.executable, "-m", "lumbarqi", "run", "-i", str(study), "-o", str(out)]
    if models:
        cmd += ["-m", str(models)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # the run and its forked children
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": proc.returncode,
            "stages_s": results.get("timings_s", {}), "stderr": err.splitlines()[-1] if err else ""}


def _study(root: Path, name: str, seed: int, overrides: dict | None = None) -> Path:
    from lumbarqi.phantom.generate import generate_study

    path = root / name
    generate_study(path, seed, preset="clinical", axial="tilted", overrides=overrides)
    return path


def run(args: argparse.Namespace) -> int:
    if args.repeats < 0 or args.cohort < 0 or args.cohort_studies < 1:
        raise LumbarqiError("--repeats and --cohort must be at least 0, --cohort-studies at least 1")
    if args.repeats == 0 and not (args.scaling or args.cohort):
        raise LumbarqiError("nothing to measure: give --repeats N, --scaling or --cohort N")
    report: dict = {"machine": {"cpus": os.cpu_count()}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="lumbarqi-bench-") as tmp:
        root = Path(tmp)
        if args.repeats:
            _single_study(args, root, report)
        if args.scaling:
            _scaling(args, root, report)
        if args.cohort:
            _cohort(args, root, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"written {args.json}")
    return EXIT_OK


def _single_study(args: argparse.Namespace, root: Path, report: dict) -> None:
    print(f"generating the clinical-size phantom study (seed {args.seed}) ...", flush=True)
    study = _study(root, "study", args.seed)
    for i in range(args.repeats):
        r = _run_once(study, root / f"out{i}", args.models)
        report["runs"].append(r)
        print(f"  run {i + 1}/{args.repeats}: {r['wall_s']:6.1f} s, peak {r['peak_rss_mb']:7.0f} MB, exit {r['exit']}", flush=True)
    walls = [r["wall_s"] for r in report["runs"]]
    stages = sorted({k for r in report["runs"] for k in r["stages_s"]})
    report["whole_study"] = {
        "median_s": round(statistics.median(walls), 2), "min_s": min(walls), "max_s": max(walls),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in report["runs"]),
        "stages_median_s": {k: round(statistics.median([r["stages_s"].get(k, 0.0) for r in report["runs"]]), 3) for k in stages},
        "throughput_studies_per_hour_one_worker": round(3600 / statistics.median(walls), 1),
    }
    w = report["whole_study"]
    print(f"\nwhole clinical study: median {w['median_s']} s (min {w['min_s']}, max {w['max_s']}) over {args.repeats} runs; "
          f"peak memory {w['peak_rss_mb']:.0f} MB; {w['throughput_studies_per_hour_one_worker']} studies/hour per worker")
    print(f"{'stage':12s} {'median s':>9s}")
    for k, v in w["stages_median_s"].items():
        print(f"{k:12s} {v:9.2f}")


def _scaling(args: argparse.Namespace, root: Path, report: dict) -> None:
    from lumbarqi.run.bench_scale import make_cohort, run_cohort_measured, scaling_summary

    print(f"\nscaling (clinical preset, median of {max(1, args.scaling_repeats)} run(s) each):", flush=True)
    report["scaling"] = []
    cases = [({"sag_slices": n}, f"{n} sagittal slices") for n in (7, 11, 17, 23)]
    cases += [({"sag_matrix": m, "ax_matrix": m}, f"matrix {m}") for m in (256, 384, 512)]
    for ov, label in cases:
        s = _study(root, label.replace(" ", "_"), args.seed, ov)
        runs = [_run_once(s, root / f"out_{label.replace(' ', '_')}_{i}", args.models) for i in range(max(1, args.scaling_repeats))]
        r = {k: statistics.median(x[k] for x in runs) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
        r["stages_s"] = {k: statistics.median(x["stages_s"].get(k, 0.0) for x in runs) for k in runs[0]["stages_s"]}
        report["scaling"].append({"case": label, "sag_slices": ov.get("sag_slices"), "matrix": ov.get("sag_matrix"), "runs": len(runs), **r})
        print(f"  {label:20s} {r['wall_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU, peak {r['peak_rss_mb']:7.0f} MB", flush=True)
    report["scaling_exponents"] = scaling_summary(report["scaling"])
    for what, e in report["scaling_exponents"].items():
        print(f"  time ~ {what}^b: " + ", ".join(f"{k.replace('_exponent', '')} b = {v}" for k, v in e.items() if k.endswith("exponent")))
        if "cpu_linear" in e:
            print(f"  CPU time = fixed + per unit x {what}: " + ", ".join(f"{k} {v}" for k, v in e["cpu_linear"].items()))
    print(f"\ncohort throughput vs worker processes ({args.cohort_studies} small studies each):", flush=True)
    studies = make_cohort(root / "throughput", args.cohort_studies, "small")
    report["cohort_vs_workers"] = []
    for workers in range(1, (os.cpu_count() or 1) + 1):
        r = run_cohort_measured(studies, root / f"throughput_out_{workers}", workers, args.models)
        report["cohort_vs_workers"].append(r)
        print(f"  {workers} worker(s): {r['studies_per_hour']:.0f} studies/hour ({r.get('studies_per_hour_warm', '-')} once warm), "
              f"{r['counts']}", flush=True)


def _cohort(args: argparse.Namespace, root: Path, report: dict) -> None:
    from lumbarqi.run.bench_scale import make_cohort, run_cohort_measured

    workers = args.workers or os.cpu_count() or 1
    print(f"\ncohort of {args.cohort} {args.cohort_preset} studies, {workers} worker processes ...", flush=True)
    studies = make_cohort(root / "cohort", args.cohort, args.cohort_preset)
    r = run_cohort_measured(studies, root / "cohort_out", workers, args.models)
    r["preset"] = args.cohort_preset
    report["cohort"] = r
    m = r.get("worker_rss_mb", {})
    print(f"  {r['studies']} studies in {r['wall_s']} s: {r['studies_per_hour']:.0f} studies/hour "
          f"({r.get('studies_per_hour_warm', '-')} once warm), {r['counts']}; worker memory: first tenth {m.get('first_tenth_median')} MB, "
          f"last tenth {m.get('last_tenth_median')} MB, max {m.get('max')} MB", flush=True)
