"""The three segmenters: vertebral bodies (+sacrum), discs (sagittal) and paraspinal muscles (axial)."""
from __future__ import annotations

from monai.deploy.core import OperatorSpec

from lumbarqi.masks import segment_discs, segment_muscles, segment_vertebrae
from operators.base import StageOperator


class VertebraSegmenterOperator(StageOperator):
    """Receives ``sagittal``; emits ``vertebrae``: (generic class map or None, confidence)."""

    stage_name = "vertebrae"

    def setup(self, spec: OperatorSpec):
        spec.input("sagittal")
        spec.output("vertebrae")

    def compute(self, op_input, op_output, context):
        (sag,) = op_input.receive("sagittal")
        result = self.guarded(lambda: segment_vertebrae(self.state, sag), (None, {}), "vertebra segmentation") if sag is not None else (None, {})
        op_output.emit(result, "vertebrae")


class DiscSegmenterOperator(StageOperator):
    """Receives ``sagittal``; emits ``discs``: (disc mask or None, confidence)."""

    stage_name = "discs"

    def setup(self, spec: OperatorSpec):
        spec.input("sagittal")
        spec.output("discs")

    def compute(self, op_input, op_output, context):
        (sag,) = op_input.receive("sagittal")
        result = self.guarded(lambda: segment_discs(self.state, sag), (None, {}), "disc segmentation") if sag is not None else (None, {})
        op_output.emit(result, "discs")


class MuscleSegmenterOperator(StageOperator):
    """Receives ``axial``; emits ``muscles``: list of LabelledVolume."""

    stage_name = "muscles"

    def setup(self, spec: OperatorSpec):
        spec.input("axial")
        spec.output("muscles")

    def compute(self, op_input, op_output, context):
        axial = op_input.receive("axial")
        result = self.guarded(lambda: segment_muscles(self.state, axial), [], "muscle segmentation") if axial else []
        op_output.emit(result, "muscles")
