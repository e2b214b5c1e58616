"""The run's state (lumbarqi.run.state) and the one flag type (lumbarqi.results)."""
import json
from pathlib import Path

from lumbarqi.errors import EXIT_INTERNAL, EXIT_NO_INPUT, EXIT_OK, EXIT_PARTIAL
from lumbarqi.results import flag, make_flag
from lumbarqi.run.state import RunOptions, RunState


def _state(tmp_path: Path) -> RunState:
    return RunState(RunOptions(input_dir=tmp_path, output_dir=tmp_path / "out", models_dir=tmp_path))


def test_exit_status_from_fields(tmp_path):
    state = _state(tmp_path)
    assert state.exit_code() == EXIT_PARTIAL  # no series selected
    state.results["series"] = {"sagittal_t1": {"series_instance_uid": "1"}, "axial_t1": [{"series_instance_uid": "2"}], "rejected": []}
    assert state.exit_code() == EXIT_OK
    flag(state.results, "stage_failed:biomech", "spinal load computation failed: x")
    assert state.exit_code() == EXIT_PARTIAL
    state.fatal = "no MR images found; nothing written"
    assert state.exit_code() == EXIT_NO_INPUT
    state.fatal_exit = EXIT_INTERNAL  # the graph itself could not run: the field says so, not the message
    assert state.exit_code() == EXIT_INTERNAL


def test_a_flag_serialises_with_its_keys_in_contract_order():
    f = make_flag("disc_missing", "no disc found", level="L4/L5", structure="disc")
    assert json.dumps(f) == '{"code": "disc_missing", "level": "L4/L5", "structure": "disc", "message": "no disc found"}'
    assert list(make_flag("x", "y")) == ["code", "level", "structure", "message"]
