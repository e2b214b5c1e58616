"""The small phantom study as multi-frame MR and with a broken preferred series, and pipeline runs on them (shared)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broken_inputs import add_broken_sagittal_repeat  # noqa: E402
from multiframe_inputs import convert_study  # noqa: E402
from pipeline_runs import Run, run_pipeline  # noqa: E402


@pytest.fixture(scope="session")
def legacy_study(small_study, tmp_path_factory) -> Path:
    """Every series of the small study as one Legacy Converted Enhanced MR object."""
    return convert_study(small_study, tmp_path_factory.mktemp("legacy") / "study", "legacy")


@pytest.fixture(scope="session")
def enhanced_study(small_study, tmp_path_factory) -> Path:
    """Every series of the small study as one Enhanced MR Image object."""
    return convert_study(small_study, tmp_path_factory.mktemp("enhanced") / "study", "enhanced")


@pytest.fixture(scope="session")
def broken_repeat_study(small_study, small_truth, tmp_path_factory) -> tuple[Path, str]:
    """The small study plus a preferred repeat of its sagittal T1 with undecodable pixel data: (folder, broken UID)."""
    return add_broken_sagittal_repeat(small_study, tmp_path_factory.mktemp("broken") / "study",
                                      small_truth["series"]["sagittal_t1"]["series_instance_uid"])


@pytest.fixture(scope="session")
def single_frame_run(small_study, tmp_path_factory) -> Run:
    return run_pipeline(small_study, tmp_path_factory.mktemp("run_single") / "out")


@pytest.fixture(scope="session")
def multiframe_runs(legacy_study, enhanced_study, tmp_path_factory) -> dict[str, Run]:
    return {kind: run_pipeline(study, tmp_path_factory.mktemp(f"run_{kind}") / "out")
            for kind, study in (("legacy", legacy_study), ("enhanced", enhanced_study))}
