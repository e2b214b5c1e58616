"""Run the application graph once: staging, logging, exit status.

Shared by ``python app`` (MONAI Deploy convention), ``lumbarqi run`` and the
container entry point. The application registers this module as its runner (entry-point
group ``lumbarqi.graph``, see lumbarqi.run.launch), so lumbarqi never imports app/.

Files are written into a staging folder beside the output and moved into place at the
end, so a run that finds nothing usable leaves no partial files, and a reader never sees
half a file.
"""
from __future__ import annotations

import logging
import os
import resource
import shutil
import sys
import time
import warnings
from pathlib import Path

from lumbarqi.errors import EXIT_INTERNAL
from lumbarqi.run.state import RunOptions, RunState, publish, staging_dir

log = logging.getLogger("lumbarqi")


def _quiet_holoscan() -> None:
    """Keep holoscan's own INFO chatter off the user's terminal (errors still show)."""
    os.environ.setdefault("HOLOSCAN_LOG_LEVEL", "ERROR")
    try:  # holoscan wants a large stack; raise the soft limit when allowed
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        want = 32 * 1024 * 1024
        if soft != resource.RLIM_INFINITY and soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
            resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
    except (ValueError, OSError):
        pass


def _withhold_warning_text() -> None:
    """Library warnings quote header values (patient names, IDs): log only their kind and origin."""
    def show(message, category, filename, lineno, file=None, line=None):
        log.debug("%s from %s:%s (text withheld: it may quote patient data)", category.__name__, Path(filename).name, lineno)

    warnings.showwarning = show


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_app(options: RunOptions, verbose: bool = False) -> int:
    """Run the graph on ``options``; return the exit status (see lumbarqi.errors)."""
    _quiet_holoscan()
    _withhold_warning_text()
    state = RunState(options)
    staging = staging_dir(state)
    handler = logging.FileHandler(staging / "lumbarqi.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.addHandler(console)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    t0 = time.perf_counter()
    try:
        from app.graph import LumbarQIApp

        app = LumbarQIApp(state, argv=[sys.argv[0] if sys.argv else "lumbarqi"])
        app.run()
    except Exception as exc:  # holoscan itself failed: one line, nothing published
        state.fatal = f"the application graph could not run: {type(exc).__name__}: {exc}"
        state.fatal_exit = EXIT_INTERNAL
        log.debug("graph failure", exc_info=True)
    finally:
        log.removeHandler(handler)
        handler.close()
        log.removeHandler(console)
    if state.fatal:
        shutil.rmtree(staging, ignore_errors=True)
        sys.stderr.write(f"lumbarqi: error: {_one_line(state.fatal)}\n")
        return state.exit_code()
    publish(state)
    code = state.exit_code()
    total = time.perf_counter() - t0
    print(f"lumbarqi: done in {total:.1f} s -> {options.output_dir} (results.json, {len(state.results['outputs'])} files)")
    if code:
        gaps = "; ".join(f["message"] for f in state.results["flags"] if f["code"].startswith(("no_", "stage_failed")))
        sys.stderr.write(_one_line(f"lumbarqi: partial results: {gaps}; everything else was written to {options.output_dir}") + "\n")
    return code


def warm_up() -> None:
    """Import the graph now (holoscan, the operators), so a worker's first study does not pay for it."""
    import app.graph  # noqa: F401


def main(argv: list[str]) -> int:
    """``python app`` and the container's entry point: the run options of ``lumbarqi run``, this graph."""
    from lumbarqi.run.cli import main_app
    from lumbarqi.run.launch import use_runner

    use_runner(sys.modules[__name__])  # type: ignore[arg-type]  # a module is the runner
    return main_app(argv)
