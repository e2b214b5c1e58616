"""Biomechanics: personalised OpenSim model, loads per lumbar level and task."""
from __future__ import annotations

from operators.base import StageOperator


class BiomechOperator(StageOperator):
    """Receives ``measurements`` (subject, discs, vertebrae, lordosis, muscles); emits ``loads``: (loads, flags)."""

    stage_name = "biomech"
    inputs, outputs = ("measurements",), ("loads",)

    def compute(self, op_input, op_output, context):
        measurements = op_input.receive("measurements")
        loads = self.guarded(lambda: self._loads(measurements), ({}, []), "spinal load computation",
                             done=lambda r: f"{len(r[0])} tasks solved")
        op_output.emit(loads, "loads")

    def _loads(self, measurements: dict) -> tuple[dict, list]:
        from lumbarqi.biomech import compute_loads

        # not forked: the SEG writer runs in another scheduler thread meanwhile, and a fork while
        # another thread enters the interpreter can deadlock the child (CPython 3.11)
        return compute_loads(measurements, personalisation=self.state.options.personalisation)
