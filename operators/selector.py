"""Series selector: build volumes (with full patient geometry) of the chosen series."""
from __future__ import annotations

from lumbarqi.errors import EXIT_NO_INPUT, LumbarqiError
from lumbarqi.run.stages import read_volumes
from operators.base import StageOperator


class SeriesSelectorOperator(StageOperator):
    """Receives ``selection``; emits ``sagittal`` (SeriesVolume or None, in a list) and ``axial`` (list).

    When no selected series can be read at all, the run is fatal (exit 4, nothing
    written) and nothing is emitted, as the loader does for an unusable input.
    """

    stage_name = "volumes"
    inputs, outputs = ("selection",), ("sagittal", "axial")

    def compute(self, op_input, op_output, context):
        selection = op_input.receive("selection")

        def read():
            try:
                return read_volumes(self.state, selection)
            except LumbarqiError as exc:
                if exc.exit_code != EXIT_NO_INPUT:
                    raise
                self.state.fatal = str(exc)
                return None, []

        sag, axial = self.guarded(read, (None, []), "reading the images")
        if self.state.fatal:
            return  # nothing emitted: downstream operators never run
        op_output.emit([sag], "sagittal")
        op_output.emit(axial, "axial")
