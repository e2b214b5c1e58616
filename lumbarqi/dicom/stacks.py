"""Split a series into geometric stacks and read a stack into a :class:`SeriesVolume`.

A stack is a run of parallel, equally spaced slices. A series of tilted axial
blocks holds several; a 3-plane localizer holds one per orientation. Slices
are ordered along the DICOM normal (row x column), so stack geometry is a
:class:`~lumbarqi.geometry.StackGeometry` with positive slice spacing.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from lumbarqi.errors import LumbarqiError
from lumbarqi.geometry import StackGeometry
from lumbarqi.volume import SeriesVolume


@dataclass
class Stack:
    """Instances of one geometric stack (headers), in slice order."""

    geometry: StackGeometry
    instances: list[tuple[Path, Dataset]]


def _orientation(ds: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return None
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    if not (np.isfinite(row).all() and np.isfinite(col).all()) or np.linalg.norm(row) < 0.5 or np.linalg.norm(col) < 0.5:
        return None
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def split_stacks(instances: list[tuple[Path, Dataset]]) -> list[Stack]:
    """Group by orientation and matrix, then split each group where the slice spacing jumps."""
    groups: dict[tuple, list[tuple[float, Path, Dataset]]] = defaultdict(list)
    for path, ds in instances:
        orient = _orientation(ds)
        ipp = ds.get("ImagePositionPatient")
        spacing = ds.get("PixelSpacing")
        if orient is None or ipp is None or len(ipp) != 3 or spacing is None or len(spacing) != 2:
            continue
        row, col = orient
        normal = np.cross(row, col)
        key = (tuple(np.round(row, 3)), tuple(np.round(col, 3)), int(ds.Rows), int(ds.Columns), tuple(round(float(v), 4) for v in spacing))
        groups[key].append((float(np.asarray(ipp, float) @ normal), path, ds))
    stacks: list[Stack] = []
    for key, members in groups.items():
        members.sort(key=lambda m: m[0])
        unique = [members[0]]
        for m in members[1:]:
            if abs(m[0] - unique[-1][0]) > 1e-3:  # drop repeated positions (keep the first)
                unique.append(m)
        runs: list[list] = [[unique[0]]]
        gaps = np.diff([m[0] for m in unique])
        typical = float(np.median(gaps)) if gaps.size else 0.0
        for gap, m in zip(gaps, unique[1:]):
            if typical and abs(gap - typical) > 0.5 * typical:
                runs.append([m])
            else:
                runs[-1].append(m)
        for run in runs:
            stacks.append(_make_stack(key, run))
    stacks.sort(key=lambda s: min(int(ds.get("InstanceNumber", 0) or 0) for _, ds in s.instances))
    return stacks


def _make_stack(key, run) -> Stack:
    row, col = np.asarray(key[0]), np.asarray(key[1])
    first = run[0][2]
    positions = [m[0] for m in run]
    spacing = float(np.median(np.diff(positions))) if len(run) > 1 else float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
    thickness = float(first.get("SliceThickness") or spacing)
    row_spacing, col_spacing = (float(v) for v in first.PixelSpacing)
    geometry = StackGeometry(
        origin=tuple(float(v) for v in first.ImagePositionPatient),
        row_dir=tuple(float(v) for v in row),
        col_dir=tuple(float(v) for v in col),
        rows=int(first.Rows),
        cols=int(first.Columns),
        n_slices=len(run),
        row_spacing_mm=row_spacing,
        col_spacing_mm=col_spacing,
        slice_spacing_mm=abs(spacing) or thickness,
        slice_thickness_mm=thickness,
    )
    return Stack(geometry, [(m[1], m[2]) for m in run])


def read_volume(stack: Stack, series_uid: str, description: str, stack_index: int) -> SeriesVolume:
    """Read the pixels of ``stack`` (rescaled to float32) into a SeriesVolume."""
    g = stack.geometry
    array = np.empty((g.n_slices, g.rows, g.cols), np.float32)
    uids: list[str] = []
    for k, (path, _) in enumerate(stack.instances):
        try:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array.astype(np.float32)
        except Exception as exc:
            raise LumbarqiError(f"cannot read the pixels of an image in series {description!r}: {type(exc).__name__}") from None
        if pixels.shape != (g.rows, g.cols):
            raise LumbarqiError(f"an image of series {description!r} is not {g.rows}x{g.cols}")
        slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
        array[k] = pixels * slope + intercept
        uids.append(str(ds.SOPInstanceUID))
    return SeriesVolume(array, g, series_uid, description, stack_index, uids, [p for p, _ in stack.instances])
