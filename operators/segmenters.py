"""The three segmenters: vertebral bodies (+sacrum), discs (sagittal) and paraspinal muscles (axial)."""
from __future__ import annotations

from lumbarqi.run.masks import (
    segment_discs,
    segment_muscles,
    segment_vertebrae,
    summary_discs,
    summary_muscles,
    summary_vertebrae,
)
from operators.base import StageOperator


class _SagittalSegmenter(StageOperator):
    """Receives ``sagittal``; emits ``(mask or None, confidence)`` on ``output_name``."""

    inputs = ("sagittal",)
    output_name = ""
    what = ""

    def segment(self, sag):
        raise NotImplementedError  # each subclass names its core function

    def summary(self, result) -> str:
        raise NotImplementedError  # the progress line of the stage

    def compute(self, op_input, op_output, context):
        (sag,) = op_input.receive("sagittal")
        result = self.guarded(lambda: self.segment(sag), (None, {}), self.what, done=self.summary) if sag is not None else (None, {})
        op_output.emit(result, self.output_name)


class VertebraSegmenterOperator(_SagittalSegmenter):
    """Emits ``vertebrae``: (generic class map or None, confidence)."""

    stage_name, output_name, what = "vertebrae", "vertebrae", "vertebra segmentation"
    outputs = ("vertebrae",)

    def segment(self, sag):
        return segment_vertebrae(self.state.options.models_dir, sag)

    def summary(self, result) -> str:
        return summary_vertebrae(result)


class DiscSegmenterOperator(_SagittalSegmenter):
    """Emits ``discs``: (disc mask or None, confidence)."""

    stage_name, output_name, what = "discs", "discs", "disc segmentation"
    outputs = ("discs",)

    def segment(self, sag):
        return segment_discs(self.state.options.models_dir, sag)

    def summary(self, result) -> str:
        return summary_discs(result)


class MuscleSegmenterOperator(StageOperator):
    """Receives ``axial``; emits ``muscles``: list of LabelledVolume."""

    stage_name = "muscles"
    inputs, outputs = ("axial",), ("muscles",)

    def compute(self, op_input, op_output, context):
        axial = op_input.receive("axial")
        models = self.state.options.models_dir
        result = self.guarded(lambda: segment_muscles(models, axial), [], "muscle segmentation", done=summary_muscles) if axial else []
        op_output.emit(result, "muscles")
