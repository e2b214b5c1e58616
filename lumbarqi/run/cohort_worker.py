"""One study at a time in a long-lived worker: imports and models stay loaded between studies.

:func:`execute` runs a study exactly as ``lumbarqi run -i IN -o OUT --study UID ...`` would
(same options, same graph, same exit status), with the study's console output in its log.
It runs in a local worker process (``python -m lumbarqi.run.cohort_worker``, one JSON request a
line on stdin, one JSON answer a line on stdout; :class:`LocalWorkers` starts them) or in a
Dask worker (:mod:`lumbarqi.run.cohort_dask`). Either way the first study pays the start-up
(Python, torch, holoscan, the three networks: about 2 s) and the others do not.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from lumbarqi.errors import EXIT_INTERNAL, EXIT_OK

_RUN_LOCK = threading.Lock()  # one study at a time per process: the graph logs through one logger


def warm_up(models: str | None, threads: int | None = None) -> None:
    """Import the graph and load the three networks now, so the first study does not pay for it."""
    import torch

    from lumbarqi.run.launch import graph_runner

    if threads:
        torch.set_num_threads(threads)
    graph_runner().warm_up()  # holoscan, operators
    import lumbarqi.biomech.api  # noqa: F401  (OpenSim)
    import lumbarqi.reporting.writer  # noqa: F401  (highdicom, matplotlib)
    from lumbarqi.run.cli import DEFAULT_MODELS
    from lumbarqi.run.masks import load_engine

    for task in ("vertebrae", "discs", "muscles"):
        folder = Path(models or DEFAULT_MODELS) / task
        if (folder / "config.json").exists():
            load_engine(str(folder))


def _run(argv: list[str]) -> int:
    from lumbarqi.cli import _Parser
    from lumbarqi.errors import LumbarqiError
    from lumbarqi.run.cli import _add_run_arguments, _options
    from lumbarqi.run.launch import graph_runner

    parser = _Parser(prog="lumbarqi run")
    _add_run_arguments(parser)
    try:
        args = parser.parse_args(argv)
        return graph_runner().run_app(_options(args), verbose=args.verbose)
    except SystemExit as exc:  # a usage error, already stated on one line
        return int(exc.code or 0)
    except LumbarqiError as exc:
        sys.stderr.write(f"lumbarqi run: error: {exc}\n")
        return exc.exit_code
    except Exception as exc:  # last resort: one line, as the command line does
        sys.stderr.write(f"lumbarqi run: internal error: {type(exc).__name__}: {exc} (please report)\n")
        return EXIT_INTERNAL


def execute(request: dict) -> dict:
    """Run one study. ``request``: ``input``, ``output``, ``study_uid``, ``run_args`` (list), ``log`` (path).

    Returns ``exit_code``, ``seconds``, ``host`` and ``pid`` (which worker ran it).
    """
    argv = ["-i", request["input"], "-o", request["output"], "--study", request["study_uid"], *request.get("run_args", [])]
    with _RUN_LOCK:
        t = time.perf_counter()
        Path(request["log"]).parent.mkdir(parents=True, exist_ok=True)
        with open(request["log"], "w") as log, redirect_stdout(log), redirect_stderr(log):
            code = _run(argv)
        seconds = time.perf_counter() - t
        from lumbarqi.concurrency import return_freed_memory

        return_freed_memory()  # what the study freed goes back, so a worker's memory stays flat
    return {"exit_code": code, "seconds": round(seconds, 2), "host": socket.gethostname(), "pid": os.getpid()}


# --- local worker processes ---------------------------------------------------------------

class _Worker:
    """One ``python -m lumbarqi.run.cohort_worker`` process (our own child, in its own session)."""

    def __init__(self, models: str | None, threads: int):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, str(threads))
        cmd = [sys.executable, "-m", "lumbarqi.run.cohort_worker", "--threads", str(threads)] + (["--models", models] if models else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True, text=True, bufsize=1)
        self.ready = False
        assert self.proc.stdin is not None and self.proc.stdout is not None  # PIPE on both
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def call(self, request: dict, timeout_s: float | None) -> dict | None:
        """The worker's answer, or None when it died or ran past ``timeout_s`` (then it is killed).

        The clock starts once the worker has warmed up (its first line says so).
        """
        if not self.ready:
            self.ready = bool(self.stdout.readline())
            if not self.ready:
                self.kill()
                return None
        try:
            self.stdin.write(json.dumps(request) + "\n")
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        ready, _, _ = select.select([self.stdout], [], [], timeout_s)
        line = self.stdout.readline() if ready else ""
        if not line:
            self.kill()
            return None
        return json.loads(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class LocalWorkers:
    """``n`` warm worker processes on this machine; :meth:`run` hands a study to an idle one."""

    def __init__(self, n: int, models: str | None, threads: int):
        self.models, self.threads = models, threads
        self._lock = threading.Lock()
        self._idle = [_Worker(models, threads) for _ in range(n)]
        self._busy: set[_Worker] = set()
        self._free = threading.Semaphore(n)
        self._closed = False

    def run(self, request: dict, timeout_s: float | None = None) -> dict:
        """``execute(request)`` in a worker; a worker that dies or times out is replaced."""
        self._free.acquire()
        with self._lock:
            worker = self._idle.pop()
            self._busy.add(worker)
        replacement = None
        try:
            answer = worker.call(request, timeout_s)
            if answer is None:
                code = worker.proc.poll()
                timed_out = timeout_s is not None and code == -9 and not self._closed
                answer = {"exit_code": None, "message": f"stopped after {timeout_s:g} s (study timeout)" if timed_out
                          else f"the worker process ended (exit status {code})"}
                if not self._closed:
                    replacement = _Worker(self.models, self.threads)
            return answer
        finally:
            with self._lock:
                self._busy.discard(worker)
                self._idle.append(replacement or worker)
            self._free.release()

    def close(self) -> None:
        """Stop every worker (only the processes this object started)."""
        with self._lock:
            self._closed = True
            workers = list(self._idle) + list(self._busy)
        for w in workers:
            if w.proc.poll() is None:
                try:
                    w.stdin.close()
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for w in workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()

    def terminate(self) -> None:
        """Kill every worker now (an interrupted cohort)."""
        with self._lock:
            self._closed = True
            workers = list(self._idle) + list(self._busy)
        for w in workers:
            w.kill()


def main(argv: list[str] | None = None) -> int:
    """The worker loop: warm up, then one JSON request a line until stdin closes."""
    p = argparse.ArgumentParser(prog="python -m lumbarqi.run.cohort_worker")
    p.add_argument("--models", default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # library output at the C level goes nowhere; each study logs to its file
    warm_up(args.models, args.threads)
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(execute(json.loads(line))) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
