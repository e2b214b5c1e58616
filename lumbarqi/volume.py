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
    #: The per-image lists below hold one entry per slice that has an image, in slice order:
    #: every slice but ``missing_slices`` (see :meth:`image_index`).
    sop_instance_uids: list[str] = field(default_factory=list)
    source_paths: list[Path] = field(default_factory=list)
    source_frames: list[int] = field(default_factory=list)  # 1-based frame of a multi-frame source (else empty)
    weighting: str = ""  # T1, T2, ... as the series selection classified it ("" unknown)
    #: Slice indices without a source image (lost instances), filled by interpolation for the
    #: networks: nothing is measured on them, and no SEG frame or SR reference points at them.
    missing_slices: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """Stable name for files: '<series uid>_<stack>'."""
        return f"{self.series_instance_uid}_{self.stack_index}"

    def has_image(self, k: int) -> bool:
        """Whether slice ``k`` has a source image (is inside the stack and not missing)."""
        return 0 <= k < self.geometry.n_slices and k not in self.missing_slices

    def image_index(self, k: int) -> int | None:
        """Position of slice ``k`` in the per-image lists; None for a missing slice or one outside the stack."""
        if not self.has_image(k):
            return None
        return k - sum(1 for m in self.missing_slices if m < k)

    def with_images(self, slices) -> list[int]:
        """``slices`` (slice indices) without those that have no source image, order kept."""
        return [int(k) for k in slices if self.has_image(int(k))]

    def nearest_with_image(self, k: float) -> int:
        """The slice nearest ``k`` that has a source image (the lower one on a tie)."""
        present = [j for j in range(self.geometry.n_slices) if j not in self.missing_slices]
        return min(present, key=lambda j: (abs(j - k), j)) if present else int(round(k))


def fill_missing(array: np.ndarray, missing: tuple[int, ...] | list[int]) -> None:
    """Fill the slices ``missing`` of ``array`` [slice, row, col] in place by linear interpolation between the
    nearest slices on either side that are not missing (the nearest one alone at an end)."""
    gone = set(missing)
    present = [k for k in range(array.shape[0]) if k not in gone]
    for k in sorted(gone):
        below = max((j for j in present if j < k), default=None)
        above = min((j for j in present if j > k), default=None)
        if below is None or above is None:
            array[k] = array[above if below is None else below]
            continue
        w = (k - below) / (above - below)
        array[k] = (1 - w) * array[below] + w * array[above]


@dataclass
class LabelledVolume:
    """A label map (``lumbarqi.labels`` numbering) on the grid of ``volume``."""

    volume: SeriesVolume
    label: np.ndarray  # [slice, row, col] uint8
    confidence: dict[str, float] = field(default_factory=dict)  # structure -> mean max-softmax
