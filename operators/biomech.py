"""Biomechanics: personalised OpenSim model, loads per lumbar level and task."""
from __future__ import annotations

import time

from holoscan.core import OperatorSpec

from operators.base import StageOperator


class BiomechOperator(StageOperator):
    """Receives ``labelled`` (passed through once loads are in the results); emits ``labelled``."""

    stage_name = "biomech"

    def setup(self, spec: OperatorSpec):
        spec.input("labelled")
        spec.output("labelled")

    def compute(self, op_input, op_output, context):
        labelled = op_input.receive("labelled")
        self.guarded(self._loads, None, "spinal load computation")
        op_output.emit(labelled, "labelled")

    def _loads(self) -> None:
        from lumbarqi.biomech import compute_loads

        t = time.perf_counter()
        results = self.state.results
        # not forked: the SEG writer runs in another scheduler thread meanwhile, and a fork while
        # another thread enters the interpreter can deadlock the child (CPython 3.11)
        loads, flags = compute_loads(results, personalisation=self.state.options.personalisation)
        results["loads"] = loads
        results["flags"] += flags
        self.state.stage("biomech", time.perf_counter() - t, f"{len(loads)} tasks solved")
