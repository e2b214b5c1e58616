"""Loader: scan the input folder tree and pick the study and its series."""
from __future__ import annotations

from lumbarqi.errors import LumbarqiError
from lumbarqi.run.stages import find_study
from operators.base import StageOperator


class StudyLoaderOperator(StageOperator):
    """Emits ``selection`` (lumbarqi.dicom.selection.Selection); stops the graph when nothing is usable."""

    stage_name = "load"
    outputs = ("selection",)

    def compute(self, op_input, op_output, context):
        try:
            _, selection, _ = find_study(self.state)
        except LumbarqiError as exc:
            self.state.fatal = str(exc)
            return  # nothing emitted: downstream operators never run
        op_output.emit(selection, "selection")
