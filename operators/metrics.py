"""Metrics: name levels, then disc heights, vertebral bodies, lordosis and muscle areas."""
from __future__ import annotations

from lumbarqi.concurrency import return_freed_memory
from lumbarqi.run.measurements import measure_all, measurements_for_loads, sagittal_levels
from operators.base import StageOperator


class MetricsOperator(StageOperator):
    """Receives ``sagittal``, ``vertebrae``, ``discs``, ``muscles``; emits ``labelled`` (all LabelledVolumes)
    and ``measurements`` (what the load stage reads)."""

    stage_name = "metrics"
    inputs, outputs = ("sagittal", "vertebrae", "discs", "muscles"), ("labelled", "measurements")

    def compute(self, op_input, op_output, context):
        (sag,) = op_input.receive("sagittal")
        classes, confidence = op_input.receive("vertebrae")
        disc_mask, disc_conf = op_input.receive("discs")
        muscles = op_input.receive("muscles")
        return_freed_memory()  # the three segmenters are done: their buffers go back before the writers start
        sagittal = None
        if sag is not None and classes is not None:
            sagittal = self.guarded(lambda: sagittal_levels(self.state, sag, classes, disc_mask, {**confidence, **disc_conf}), None, "level naming")
        self.guarded(lambda: measure_all(self.state, sagittal, muscles), None, "measurement")
        op_output.emit(([sagittal] if sagittal is not None else []) + list(muscles), "labelled")
        op_output.emit(measurements_for_loads(self.state.results), "measurements")
