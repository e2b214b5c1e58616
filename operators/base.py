"""What every lumbarqi operator shares: the run state, stage timing and logging, and failure capture.

The rule "a failed stage leaves a flag and the rest go on" lives here, once: :meth:`StageOperator.guarded`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from holoscan.core import Fragment, Operator, OperatorSpec

from lumbarqi.errors import LumbarqiError
from lumbarqi.results import flag
from lumbarqi.run.state import RunState

log = logging.getLogger("lumbarqi")


class StageOperator(Operator):
    """An operator that runs one stage and never lets an exception stop the graph silently."""

    stage_name = "stage"
    inputs: tuple[str, ...] = ()  # port names this operator receives (the data it uses)
    outputs: tuple[str, ...] = ()  # port names it emits (the data it makes)

    def __init__(self, fragment: Fragment, *args, state: RunState, **kwargs):
        self.state = state
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec):
        """Declare the ports named by ``inputs`` and ``outputs``."""
        for name in self.inputs:
            spec.input(name)
        for name in self.outputs:
            spec.output(name)

    def guarded(self, fn: Callable[[], Any], fallback: Any, what: str,
                done: Callable[[Any], str] | None = None, stage: str | None = None) -> Any:
        """Run ``fn``; on failure flag ``stage_failed:<stage>`` with one line and return ``fallback``.

        With ``done``, the stage is also timed and logged here: one progress line, ``done(result)``,
        under ``stage`` (default this operator's stage name). Without it ``fn`` logs its own time
        (the stage functions of lumbarqi.run do).
        """
        t = time.perf_counter()
        try:
            result = fn()
            if done is not None:
                self.state.stage(stage or self.stage_name, time.perf_counter() - t, done(result))
            return result
        except LumbarqiError as exc:
            message = str(exc)
        except Exception as exc:  # a bug or an input we did not foresee: one line, the run goes on
            log.debug("stage %s failed", self.stage_name, exc_info=True)
            message = f"{type(exc).__name__}: {exc}"
        flag(self.state.results, f"stage_failed:{self.stage_name}", f"{what} failed: {message}")
        self.state.stage(self.stage_name, time.perf_counter() - t, f"FAILED ({message})")
        return fallback
