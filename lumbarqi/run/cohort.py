"""A cohort run: many studies through the same graph, in parallel worker processes, resumable.

``run_cohort(root, out, workers, options)``:

- finds the studies under ``root``: each sub-folder that holds exactly one study is a study
  (named after the folder); anything else (a flat tree, a folder mixing studies) is grouped
  by StudyInstanceUID into per-study folders of links under ``out/.cohort/inputs``;
- runs every study not yet complete in a warm worker (``lumbarqi.run.cohort_worker``: ``workers``
  local processes that keep imports and models loaded, or, with ``scheduler``, the workers of
  a Dask cluster, ``lumbarqi.run.cohort_dask``) into ``out/.cohort/partial/<study>``, and renames
  that folder to ``out/<study>`` when the run has written its results: a study folder in
  ``out`` is always whole, so a cohort killed half way resumes by skipping studies whose
  ``results.json`` is there and complete;
- writes ``out/cohort.csv`` (one row per study, level, structure, side and measure, from
  every study's results.csv) and ``out/cohort.json`` (status of every study), both via a
  temporary file and a rename;
- at the end writes ``out/index.html``, the cohort QC page (``lumbarqi.reporting.cohort_qc``).
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lumbarqi.errors import EXIT_INTERRUPTED, EXIT_NO_INPUT, EXIT_OK, EXIT_PARTIAL, LumbarqiError
from lumbarqi.results import CohortStatus, Personalisation, atomic_write_text

if TYPE_CHECKING:
    from lumbarqi.run.cohort_dask import DaskBackend
    from lumbarqi.run.cohort_worker import LocalWorkers

COHORT_SCHEMA_VERSION = "1.0"
STATUS_FILE = "cohort_status.json"  # written into each study folder next to results.json
_WORK = ".cohort"


@dataclass
class Study:
    name: str
    input_dir: Path
    study_instance_uid: str
    n_files: int


@dataclass
class StudyResult:
    name: str
    study_instance_uid: str
    input: str
    status: CohortStatus
    exit_code: int | None
    seconds: float | None
    message: str = ""
    resumed: bool = False  # complete from an earlier run, not run again
    worker: str = ""  # host:pid of the worker process that ran it


@dataclass
class CohortOptions:
    """The ``lumbarqi run`` options every study gets (same names as its flags)."""

    models: Path | None = None
    selection_rules: Path | None = None
    personalisation: Personalisation | None = None
    labelmap_seg: bool = False
    no_dicom: bool = False
    send_to: str | None = None
    stow_to: str | None = None
    timeout_s: float | None = None  # per study; None: no limit
    extra_args: list[str] = field(default_factory=list)

    def run_args(self) -> list[str]:
        args: list[str] = []
        if self.models:
            args += ["-m", str(self.models)]
        if self.selection_rules:
            args += ["--selection-rules", str(self.selection_rules)]
        if self.personalisation:
            args += ["--personalisation", self.personalisation]
        if self.labelmap_seg:
            args.append("--labelmap-seg")
        if self.no_dicom:
            args.append("--no-dicom")
        if self.send_to:
            args += ["--send-to", self.send_to]
        if self.stow_to:
            args += ["--stow-to", self.stow_to]
        return args + list(self.extra_args)


# --- finding studies ------------------------------------------------------------------------

def _study_uid(path: Path) -> str | None:
    """StudyInstanceUID of a DICOM file, or None for anything else (read the header only)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID", "SOPClassUID"])
    except Exception:  # not DICOM, truncated, ...
        return None
    uid = str(ds.get("StudyInstanceUID", "") or "")
    return uid or None


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "study"


def find_studies(root: Path, work: Path) -> list[Study]:
    """Studies under ``root`` (see the module docstring); links for grouped ones go under ``work``."""
    root = Path(root)
    by_uid: dict[str, list[Path]] = {}
    for path in _walk(root):
        uid = _study_uid(path)
        if uid:
            by_uid.setdefault(uid, []).append(path)
    if not by_uid:
        return []
    top = lambda p: p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None  # noqa: E731
    folders_of = {uid: {top(p) for p in paths} for uid, paths in by_uid.items()}
    studies_in: dict[str | None, set[str]] = {}
    for uid, folders in folders_of.items():
        for f in folders:
            studies_in.setdefault(f, set()).add(uid)
    folder_mode = all(len(f) == 1 and None not in f for f in folders_of.values()) and all(len(u) == 1 for u in studies_in.values())
    studies: list[Study] = []
    if folder_mode:
        for uid, paths in by_uid.items():
            folder = str(next(iter(folders_of[uid])))  # folder_mode: one top folder per study, never None
            studies.append(Study(_safe_name(folder), root / folder, uid, len(paths)))
    else:  # group by study: a folder of links per study
        links_root = work / "inputs"
        for uid, paths in by_uid.items():
            name = _safe_name(uid)
            dest = links_root / name
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for i, p in enumerate(paths):
                os.symlink(p.resolve(), dest / f"{i:06d}_{_safe_name(p.name)}")
            studies.append(Study(name, dest, uid, len(paths)))
    names = [s.name for s in studies]
    if len(set(names)) != len(names):  # two folders whose names collapse to the same safe name
        for i, s in enumerate(studies):
            s.name = f"{s.name}_{i + 1}"
    return sorted(studies, key=lambda s: s.name)


# --- completeness and status --------------------------------------------------------------

def completed(study_dir: Path) -> dict | None:
    """results.json of a study folder when the run there finished (every listed output present)."""
    path = Path(study_dir) / "results.json"
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict) or "schema_version" not in results or not results.get("study_instance_uid"):
        return None
    if not (Path(study_dir) / "results.csv").is_file():
        return None
    for rel in results.get("outputs") or []:
        if not (Path(study_dir) / rel).exists():
            return None
    return results


# --- running one study --------------------------------------------------------------------

class _Runner:
    """Hands studies to a backend (warm local worker processes, or a Dask cluster) and files the results."""

    def __init__(self, out: Path, options: CohortOptions, backend):
        self.out = out
        self.options = options
        self.backend = backend  # .run(request, timeout_s) -> answer dict; .terminate()
        self.lock = threading.Lock()
        self.stopping = False

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
        self.backend.terminate()

    def run(self, study: Study) -> StudyResult:
        partial = self.out / _WORK / "partial" / study.name
        logs = self.out / _WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if partial.exists():
            shutil.rmtree(partial)
        partial.parent.mkdir(parents=True, exist_ok=True)
        request = {"input": str(Path(study.input_dir).resolve()), "output": str(partial.resolve()), "study_uid": study.study_instance_uid,
                   "run_args": self.options.run_args(), "log": str((logs / f"{study.name}.log").resolve())}
        t0 = time.perf_counter()
        result = StudyResult(study.name, study.study_instance_uid, str(study.input_dir), "failed", None, None)
        if self.stopping:
            result.status, result.message = "interrupted", "not started: cohort interrupted"
            return result
        answer = self.backend.run(request, self.options.timeout_s)
        code = answer.get("exit_code")
        result.message = answer.get("message", "")
        result.worker = f"{answer['host']}:{answer['pid']}" if answer.get("pid") else ""
        result.seconds = round(answer.get("seconds") or (time.perf_counter() - t0), 1)  # on the worker, when it says
        result.exit_code = code
        if self.stopping and code not in (EXIT_OK, EXIT_PARTIAL):
            result.status, result.message = "interrupted", "stopped: cohort interrupted"
            shutil.rmtree(partial, ignore_errors=True)
            return result
        if code in (EXIT_OK, EXIT_PARTIAL) and completed(partial) is not None:
            result.status = "done" if code == EXIT_OK else "partial"
            if code == EXIT_PARTIAL:
                result.message = _last_error(logs / f"{study.name}.log")
            atomic_write_text(partial / STATUS_FILE, json.dumps(asdict(result), indent=1))
            final = self.out / study.name
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)  # the whole study appears at once
        else:
            if code == EXIT_NO_INPUT:
                result.status = "no_input"
            result.message = result.message or _last_error(logs / f"{study.name}.log") or f"exit status {code}"
            shutil.rmtree(partial, ignore_errors=True)
        return result


def _last_error(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                 if ln.startswith("lumbarqi") and ("error" in ln.lower() or "partial results" in ln)]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


# --- cohort table -------------------------------------------------------------------------

COHORT_COLUMNS = ("study", "study_instance_uid", "section", "task", "level", "structure", "side", "measure", "value", "unit")


def cohort_table(out: Path, studies: list[StudyResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COHORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in sorted(studies, key=lambda r: r.name):
        if r.status not in ("done", "partial"):
            continue
        with open(Path(out) / r.name / "results.csv", newline="") as f:
            for row in csv.DictReader(f):
                writer.writerow({"study": r.name, "study_instance_uid": r.study_instance_uid,
                                 **{k: row.get(k, "") for k in COHORT_COLUMNS[2:]}})
    return buf.getvalue()


# --- the cohort -----------------------------------------------------------------------------

def run_cohort(root: Path, out: Path, workers: int = 1, options: CohortOptions | None = None,
               progress=print, scheduler: str | None = None) -> int:
    """Run every study under ``root`` into ``out/<study>``; return the exit status.

    0: every study done; 3: some study partial, failed or interrupted (see cohort.json);
    4: no DICOM study under ``root``.
    """
    options = options or CohortOptions()
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise LumbarqiError(f"cohort folder {root} does not exist or is not a folder; nothing written", EXIT_NO_INPUT)
    if workers < 1:
        raise LumbarqiError("--workers must be at least 1")
    root_r, out_r = root.resolve(), out.resolve()
    if out_r == root_r or root_r in out_r.parents:
        raise LumbarqiError(f"output folder {out} is inside the cohort folder; lumbarqi never writes into its input")
    out.mkdir(parents=True, exist_ok=True)
    work = out / _WORK
    work.mkdir(exist_ok=True)
    lock_file = open(work / "lock", "w")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise LumbarqiError(f"another cohort run is writing into {out}") from None
    try:
        return _run_locked(root, out, work, workers, options, progress, scheduler)
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        lock_file.close()


def _run_locked(root: Path, out: Path, work: Path, workers: int, options: CohortOptions, progress, scheduler: str | None) -> int:
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    shutil.rmtree(work / "partial", ignore_errors=True)  # what a killed run left half written
    for stale in out.glob(".lumbarqi-*"):
        shutil.rmtree(stale, ignore_errors=True)
    studies = find_studies(root, work)
    if not studies:
        raise LumbarqiError(f"no DICOM studies under {root}; nothing written", EXIT_NO_INPUT)
    results: dict[str, StudyResult] = {}
    todo: list[Study] = []
    for s in studies:
        done = completed(out / s.name)
        if done is not None and done.get("study_instance_uid") == s.study_instance_uid:
            try:
                prev = json.loads((out / s.name / STATUS_FILE).read_text())
            except (OSError, ValueError):
                prev = {}
            results[s.name] = StudyResult(s.name, s.study_instance_uid, str(s.input_dir), prev.get("status", "done"),
                                          prev.get("exit_code"), prev.get("seconds"), prev.get("message", ""), resumed=True)
        else:
            todo.append(s)
    if scheduler:
        from lumbarqi.run.cohort_dask import DaskBackend

        dask = DaskBackend(scheduler)
        workers = dask.slots
        progress(f"cohort: Dask scheduler {scheduler}: {dask.describe()}")
        backend: DaskBackend | LocalWorkers = dask
    else:
        from lumbarqi.run.cohort_worker import LocalWorkers

        backend = LocalWorkers(min(workers, len(todo)), str(options.models) if options.models else None,
                               max(1, (os.cpu_count() or 1) // workers))
    progress(f"cohort: {len(studies)} studies under {root}; {len(studies) - len(todo)} already complete, "
             f"{len(todo)} to run {'on the Dask cluster' if scheduler else f'with {workers} worker process(es)'}")
    runner = _Runner(out, options, backend)
    interrupted = False
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None

    def _on_term(signum, frame):  # a SIGTERM stops the cohort like Ctrl-C does
        raise KeyboardInterrupt

    if previous is not None:
        signal.signal(signal.SIGTERM, _on_term)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cohort")
    try:
        futures = {pool.submit(runner.run, s): s for s in todo}
        for n, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            results[r.name] = r
            progress(f"[{n}/{len(todo)}] {r.name}: {r.status} ({r.seconds} s){' - ' + r.message if r.message and r.status != 'done' else ''}")
            _write_summary(out, root, studies, results, workers, started, t0, final=False)
    except KeyboardInterrupt:
        interrupted = True
        runner.stop()
        progress("cohort: interrupted; finished studies are kept, run the same command again to resume")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        backend.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for s in studies:
        results.setdefault(s.name, StudyResult(s.name, s.study_instance_uid, str(s.input_dir), "interrupted" if interrupted else "failed",
                                               None, None, "not run"))
    summary = _write_summary(out, root, studies, results, workers, started, t0, final=True)
    page = _write_qc_page(out, progress)
    progress(f"cohort: {summary['counts']} in {summary['seconds']:.0f} s -> {out / 'cohort.csv'}, {out / 'cohort.json'}"
             + (f", {page}" if page else ""))
    shutil.rmtree(out / _WORK / "partial", ignore_errors=True)  # what killed studies or lost workers left half written
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.status == "done" for r in results.values()) else EXIT_PARTIAL


def _write_qc_page(out: Path, progress) -> Path | None:
    """``out/index.html`` (lumbarqi.reporting.cohort_qc); a failure here costs the page, not the cohort."""
    try:
        from lumbarqi.reporting.cohort_qc import write_qc_page

        return write_qc_page(out)
    except Exception as exc:  # noqa: BLE001 - the cohort's results are written already
        progress(f"cohort: QC page not written ({type(exc).__name__}: {exc})")
        return None


def _write_summary(out: Path, root: Path, studies: list[Study], results: dict[str, StudyResult], workers: int,
                   started: str, t0: float, final: bool) -> dict:
    rows = [results[s.name] for s in studies if s.name in results]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = {
        "schema_version": COHORT_SCHEMA_VERSION,
        "root": str(root),
        "output": str(out),
        "workers": workers,
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z") if final else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "n_studies": len(studies),
        "counts": counts,
        "table": "cohort.csv",
        "studies": [asdict(r) for r in rows],
    }
    atomic_write_text(out / "cohort.csv", cohort_table(out, rows))
    atomic_write_text(out / "cohort.json", json.dumps(summary, indent=1))
    return summary
