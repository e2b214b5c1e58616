"""A stack of one series as voxels with its patient geometry and provenance.

Everything downstream of DICOM loading (segmentation, morphometry, writers)
passes these around; voxel arrays are ``[slice, row, col]`` in the geometry of
:class:`lumbarqi.geometry.StackGeometry` (LPS mm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumbarqi.geometry import StackGeometry


@dataclass
class SeriesVolume:
    """One geometric stack of one series (a series with tilted blocks gives several)."""

    array: np.ndarray  # [slice, row, col], float32 signal
    geometry: StackGeometry
    series_instance_uid: str
    series_description: str
    stack_index: int = 0  # 0.. within the series
    sop_instance_uids: list[str] = field(default_factory=list)  # per slice, slice order
    source_paths: list[Path] = field(default_factory=list)  # per slice, slice order
    weighting: str = ""  # T1, T2, ... as the series selection classified it ("" unknown)

    @property
    def key(self) -> str:
        """Stable name for files: '<series uid>_<stack>'."""
        return f"{self.series_instance_uid}_{self.stack_index}"


@dataclass
class LabelledVolume:
    """A label map (``lumbarqi.labels`` numbering) on the grid of ``volume``."""

    volume: SeriesVolume
    label: np.ndarray  # [slice, row, col] uint8
    confidence: dict[str, float] = field(default_factory=dict)  # structure -> mean max-softmax
