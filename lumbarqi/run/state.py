"""The state a run's stages share, and how its files reach the output folder.

:class:`RunState` holds the options, the results being built (results.json), the stage
timings and, when nothing could be done, why. Files are written into a staging folder
(:func:`staging_dir`) and moved into place at the end (:func:`publish`).
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lumbarqi.errors import EXIT_NO_INPUT, EXIT_OK, EXIT_PARTIAL
from lumbarqi.results import Personalisation, new_results

log = logging.getLogger("lumbarqi")


@dataclass
class RunOptions:
    input_dir: Path
    output_dir: Path
    models_dir: Path
    selection_rules: Path | None = None
    study_uid: str | None = None
    binary_seg: bool = True
    personalisation: Personalisation = "muscle"
    send_to: str | None = None
    stow_to: str | None = None
    write_dicom: bool = True


@dataclass
class RunState:
    """What the stages found and produced; read at the end for the exit status."""

    options: RunOptions
    results: dict = field(default_factory=lambda: new_results(""))
    timings: dict[str, float] = field(default_factory=dict)
    fatal: str | None = None  # one line: why nothing could be done
    fatal_exit: int = EXIT_NO_INPUT  # the exit status when ``fatal``: nothing usable, or the graph itself failed
    staging: Path | None = None  # where files are written before they are moved into place
    t0: float = field(default_factory=time.perf_counter)

    def stage(self, name: str, seconds: float, message: str) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 3)
        log.info("[%6.1f s] %-10s %s (%.2f s)", time.perf_counter() - self.t0, name, message, seconds)

    def exit_code(self) -> int:
        if self.fatal:
            return self.fatal_exit
        missing = self.results["series"]["sagittal_t1"] is None or not self.results["series"]["axial_t1"]
        stage_failed = any(f["code"].startswith("stage_failed") for f in self.results["flags"])
        return EXIT_PARTIAL if (missing or stage_failed) else EXIT_OK


def staging_dir(state: RunState) -> Path:
    """Temporary folder inside the output's parent, so the final move is a rename."""
    if state.staging is None:
        out = Path(state.options.output_dir).resolve()
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            state.staging = Path(tempfile.mkdtemp(prefix=".lumbarqi-", dir=out.parent))
        except OSError:  # parent not writable (e.g. -o /output in a container): stage inside the output
            out.mkdir(parents=True, exist_ok=True)
            state.staging = Path(tempfile.mkdtemp(prefix=".lumbarqi-", dir=out))
    return state.staging


def publish(state: RunState) -> None:
    """Move every staged file into the output folder (replacing older copies of the same names)."""
    if state.staging is None:
        return
    out = Path(state.options.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(state.staging.rglob("*")):
        if path.is_file():
            target = out / path.relative_to(state.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.chmod(0o644)  # readable by the platform's uploader (XNAT, MONAI Deploy) whatever its uid
            path.replace(target)
    shutil.rmtree(state.staging, ignore_errors=True)
    state.staging = None
