"""Series selector: build volumes (with full patient geometry) of the chosen series."""
from __future__ import annotations

from monai.deploy.core import OperatorSpec

from lumbarqi.pipeline import read_volumes
from operators.base import StageOperator


class SeriesSelectorOperator(StageOperator):
    """Receives ``selection``; emits ``sagittal`` (SeriesVolume or None, in a list) and ``axial`` (list)."""

    stage_name = "volumes"

    def setup(self, spec: OperatorSpec):
        spec.input("selection")
        spec.output("sagittal")
        spec.output("axial")

    def compute(self, op_input, op_output, context):
        selection = op_input.receive("selection")
        sag, axial = self.guarded(lambda: read_volumes(self.state, selection), (None, []), "reading the images")
        op_output.emit([sag], "sagittal")
        op_output.emit(axial, "axial")
