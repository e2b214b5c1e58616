"""What every lumbarqi operator shares: the run state and failure capture."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from holoscan.core import Fragment, Operator

from lumbarqi.errors import LumbarqiError
from lumbarqi.results import flag
from lumbarqi.run.state import RunState

log = logging.getLogger("lumbarqi")


class StageOperator(Operator):
    """An operator that runs one stage and never lets an exception stop the graph silently."""

    stage_name = "stage"

    def __init__(self, fragment: Fragment, *args, state: RunState, **kwargs):
        self.state = state
        super().__init__(fragment, *args, **kwargs)

    def guarded(self, fn: Callable[[], Any], fallback: Any, what: str) -> Any:
        """Run ``fn``; on failure flag ``stage_failed:<stage>`` with one line and return ``fallback``."""
        t = time.perf_counter()
        try:
            return fn()
        except LumbarqiError as exc:
            message = str(exc)
        except Exception as exc:  # a bug or an input we did not foresee: one line, the run goes on
            log.debug("stage %s failed", self.stage_name, exc_info=True)
            message = f"{type(exc).__name__}: {exc}"
        flag(self.state.results, f"stage_failed:{self.stage_name}", f"{what} failed: {message}")
        self.state.stage(self.stage_name, time.perf_counter() - t, f"FAILED ({message})")
        return fallback
