"""Scaling and cohort figures for ``lumbarqi bench``: exponents of time vs slices and matrix,
studies per hour vs worker processes, worker memory over a long cohort."""
from __future__ import annotations

import io
import json
import os
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

SAGITTAL_STAGES = ("vertebrae", "discs")
SEGMENTATION_STAGES = ("vertebrae", "discs", "muscles")


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """``b`` of the least-squares fit ``y = a x^b`` (log-log); 1.0 is linear."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line ``y = a + b x``: fixed cost and cost per unit."""
    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def compute_seconds(stages: dict, names: tuple[str, ...] | None = None) -> float:
    """Sum of the per-stage times (s) of a run (all stages, or ``names``)."""
    return float(sum(v for k, v in stages.items() if names is None or k in names))


def scaling_summary(cases: list[dict]) -> dict:
    """Exponents of time vs sagittal slices and vs pixels per slice (matrix²), from the bench cases.

    ``cpu`` is the process's CPU time (the figure least disturbed by other load on the
    machine); ``compute`` the sum of stage times (start-up excluded: it does not grow with
    the study); ``segmentation`` the network stages that see the scaled series.
    """
    out: dict[str, Any] = {}
    sl = [c for c in cases if c.get("sag_slices")]
    mx = [c for c in cases if c.get("matrix")]
    if len(sl) >= 2:
        xs = [c["sag_slices"] for c in sl]
        out["slices"] = {"cpu_exponent": round(fit_exponent(xs, [c["cpu_s"] for c in sl]), 2) if all(c.get("cpu_s") for c in sl) else None,
                         "compute_exponent": round(fit_exponent(xs, [compute_seconds(c["stages_s"]) for c in sl]), 2),
                         "sagittal_segmentation_exponent": round(fit_exponent(xs, [compute_seconds(c["stages_s"], SAGITTAL_STAGES) for c in sl]), 2),
                         "wall_exponent": round(fit_exponent(xs, [c["wall_s"] for c in sl]), 2)}
        if all(c.get("cpu_s") for c in sl):
            a, b = fit_linear(xs, [c["cpu_s"] for c in sl])
            out["slices"]["cpu_linear"] = {"fixed_s": round(a, 2), "per_slice_s": round(b, 3)}
    if len(mx) >= 2:
        xs = [c["matrix"] ** 2 for c in mx]
        out["pixels_per_slice"] = {"cpu_exponent": round(fit_exponent(xs, [c["cpu_s"] for c in mx]), 2) if all(c.get("cpu_s") for c in mx) else None,
                                   "compute_exponent": round(fit_exponent(xs, [compute_seconds(c["stages_s"]) for c in mx]), 2),
                                   "segmentation_exponent": round(fit_exponent(xs, [compute_seconds(c["stages_s"], SEGMENTATION_STAGES) for c in mx]), 2),
                                   "wall_exponent": round(fit_exponent(xs, [c["wall_s"] for c in mx]), 2)}
        if all(c.get("cpu_s") for c in mx):
            a, b = fit_linear([x / 1e6 for x in xs], [c["cpu_s"] for c in mx])
            out["pixels_per_slice"]["cpu_linear"] = {"fixed_s": round(a, 2), "per_megapixel_per_slice_s": round(b, 2)}
    return out


def copy_with_new_uids(src: Path, dest: Path, tag: int) -> None:
    """A copy of a phantom study's DICOM tree under new Study/Series/SOP Instance UIDs (a distinct study)."""
    import pydicom
    from pydicom.uid import generate_uid

    uids: dict[str, str] = {}

    def new(uid: str) -> str:
        return uids.setdefault(uid, generate_uid(entropy_srcs=[uid, "lumbarqi-bench", str(tag)]))

    for path in sorted((src / "DICOM").rglob("*")):
        if not path.is_file():
            continue
        target = dest / "DICOM" / path.relative_to(src / "DICOM")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # not DICOM: copied as it is
            target.write_bytes(path.read_bytes())
            continue
        for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
            if key in ds:
                setattr(ds, key, new(str(getattr(ds, key))))
        if hasattr(ds, "file_meta") and "MediaStorageSOPInstanceUID" in ds.file_meta:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(target)


def make_cohort(root: Path, n: int, preset: str, distinct: int = 4, seed0: int = 500) -> Path:
    """``n`` studies under ``root/studies``: ``distinct`` phantom studies and UID-renamed copies of them."""
    from lumbarqi.phantom.generate import generate_study

    studies = root / "studies"
    originals = []
    for i in range(min(n, distinct)):
        path = studies / f"s{i:04d}"
        generate_study(path, seed0 + i, preset=preset)
        originals.append(path)
    for i in range(len(originals), n):
        copy_with_new_uids(originals[i % len(originals)], studies / f"s{i:04d}", i)
    return studies


def _worker_rss_mb() -> dict[int, float]:
    """Resident memory (MB) of this process's direct children (the cohort's worker processes)."""
    me, out = os.getpid(), {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me:
                out[int(d.name)] = int((d / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            continue
    return out


def run_cohort_measured(studies: Path, out: Path, workers: int, models: Path | None) -> dict:
    """Run ``lumbarqi run --cohort`` (in this process) and record throughput and worker memory."""
    from lumbarqi.run.cohort import CohortOptions, run_cohort

    done: list[tuple[float, int]] = []
    samples: list[dict] = []
    stop = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("["):
            done.append((time.perf_counter(), int(line[1:].split("/")[0])))

    def sample() -> None:
        while not stop.wait(0.5):
            rss = _worker_rss_mb()
            if rss:
                samples.append({"t": time.perf_counter(), "done": done[-1][1] if done else 0, "rss_mb": rss})

    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    sampler.start()
    with redirect_stdout(io.StringIO()):
        code = run_cohort(studies, out, workers, CohortOptions(models=models), progress=progress)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    summary = json.loads((out / "cohort.json").read_text())
    n = summary["n_studies"]
    per_worker = [max(s["rss_mb"].values()) for s in samples]
    result = {"workers": workers, "studies": n, "exit": code, "counts": summary["counts"], "wall_s": round(wall, 1),
              "studies_per_hour": round(3600 * n / wall, 0)}
    if done and len(done) > 1:  # steady state: after the first study of each worker
        k = min(workers, len(done) - 1)
        t_first, t_last = done[k - 1][0], done[-1][0]
        if t_last > t_first:
            result["studies_per_hour_warm"] = round(3600 * (len(done) - k) / (t_last - t_first), 0)
    if per_worker:
        tenth = max(1, len(samples) // 10)
        result["worker_rss_mb"] = {"max": round(max(per_worker)), "first_tenth_median": round(float(np.median(per_worker[:tenth]))),
                                   "last_tenth_median": round(float(np.median(per_worker[-tenth:])))}
        by_done: dict[int, float] = {}
        for s in samples:
            by_done[s["done"]] = max(by_done.get(s["done"], 0.0), max(s["rss_mb"].values()))
        result["worker_rss_mb_by_studies_done"] = {str(k): round(v) for k, v in sorted(by_done.items())}
    return result
