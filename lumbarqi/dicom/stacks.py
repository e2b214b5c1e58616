"""Split a series into geometric stacks and read a stack into a :class:`SeriesVolume`.

A stack is a run of parallel, equally spaced slices. A series of tilted axial
blocks holds several; a 3-plane localizer holds one per orientation. Slices
are ordered along the DICOM normal (row x column), so stack geometry is a
:class:`~lumbarqi.geometry.StackGeometry` with positive slice spacing.

A lost instance leaves a gap of two (or three) slice spacings inside a stack.
Such a gap is bridged rather than split (at most :data:`MAX_MISSING_RUN` slices
in a row and :func:`max_missing` in all): the stack keeps the geometry of the
complete, evenly spaced stack, and the positions without an image are its
``missing_slices``. :func:`read_volume` fills them by linear interpolation of
their neighbours, for the networks only; nothing is measured on them or
written for them (see docs/inputs.md, "Archive realities").
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from lumbarqi.dicom.multiframe import FrameHeader, read_frames
from lumbarqi.dicom.scan import drop_unconvertible, quiet_pydicom
from lumbarqi.errors import LumbarqiError
from lumbarqi.geometry import StackGeometry, vec3
from lumbarqi.volume import SeriesVolume, fill_missing


@dataclass
class Stack:
    """Instances of one geometric stack (headers), in slice order, and what was odd about them."""

    geometry: StackGeometry
    instances: list[tuple[Path, Dataset]]
    duplicates: int = 0  # instances dropped because another slice sat at the same position
    spacing_deviation: float = 0.0  # largest |gap - median gap| / median gap
    shear_deg: float = 0.0  # angle between the slice normal and the line through the slice positions
    missing_slices: tuple[int, ...] = ()  # slice indices (of the complete stack) without an image: lost instances

    @property
    def slice_indices(self) -> list[int]:
        """The slice index of each of ``instances`` in the complete stack."""
        missing = set(self.missing_slices)
        return [k for k in range(self.geometry.n_slices) if k not in missing]


#: Most slices lost in a row that a gap inside a stack may stand for and still be bridged.
MAX_MISSING_RUN = 2
#: A gap bridged is within this fraction of the typical spacing of a whole multiple of it.
GAP_TOLERANCE = 0.2


def max_missing(n_slices: int) -> int:
    """Most slices a complete stack of ``n_slices`` may miss in all: 10 %, at least one."""
    return max(1, n_slices // 10)


def missing_slices_message(stack: Stack, what: str) -> str:
    """One line for the ``missing_slices`` flag, e.g. "sagittal T1 series 't1': slice 6 of 11 missing (lost instance); ..."."""
    ks = [k + 1 for k in stack.missing_slices]
    which = f"slice {ks[0]}" if len(ks) == 1 else "slices " + ", ".join(map(str, ks))
    lost = "lost instance" if len(ks) == 1 else "lost instances"
    return (f"{what}: {which} of {stack.geometry.n_slices} missing ({lost}); interpolated from the neighbouring slices "
            "for segmentation only: not measured on, no SEG frame, no SR reference")


def _floats(value, n: int) -> np.ndarray | None:
    """``n`` finite floats from a DICOM multi-value, or None."""
    try:
        if value is None or isinstance(value, (str, bytes)) or len(value) != n:
            return None
        out = np.asarray([float(v) for v in value], float)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if np.isfinite(out).all() else None


def _float(value, default: float | None = None) -> float | None:
    try:
        out = float(value) if value not in (None, "") else default
    except (TypeError, ValueError, OverflowError):
        return default
    return out if out is None or np.isfinite(out) else default


def _orientation(ds: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    if iop is None:
        return None
    row, col = iop[:3], iop[3:]
    if np.linalg.norm(row) < 0.5 or np.linalg.norm(col) < 0.5:
        return None
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(float(row @ col)) > 0.05:  # rows and columns must be (nearly) perpendicular
        return None
    return row, col


def _matrix(ds: Dataset) -> tuple[int, int] | None:
    try:
        rows, cols = int(ds.get("Rows")), int(ds.get("Columns"))
    except (TypeError, ValueError, OverflowError):
        return None
    return (rows, cols) if rows > 0 and cols > 0 else None


def _instance_number(ds: Dataset) -> float:
    return _float(ds.get("InstanceNumber"), 0.0) or 0.0


def split_stacks(instances: list[tuple[Path, Dataset]]) -> list[Stack]:
    """Group by orientation and matrix, then split each group where the slice spacing jumps.

    Instances without a usable geometry (orientation, position, pixel spacing,
    matrix) are left out.
    """
    groups: dict[tuple, list[tuple[float, np.ndarray, Path, Dataset]]] = defaultdict(list)
    for path, ds in instances:
        orient = _orientation(ds)
        ipp = _floats(ds.get("ImagePositionPatient"), 3)
        spacing = _floats(ds.get("PixelSpacing"), 2)
        matrix = _matrix(ds)
        if orient is None or ipp is None or spacing is None or matrix is None or (spacing <= 0).any():
            continue
        row, col = orient
        normal = np.cross(row, col)
        key = (tuple(np.round(row, 3)), tuple(np.round(col, 3)), *matrix, tuple(round(float(v), 4) for v in spacing))
        groups[key].append((float(ipp @ normal), ipp, path, ds))
    stacks: list[Stack] = []
    for key, members in groups.items():
        members.sort(key=lambda m: (m[0], _instance_number(m[3])))
        unique, dropped = [members[0]], [0]
        for m in members[1:]:
            if abs(m[0] - unique[-1][0]) > 1e-3:
                unique.append(m)
                dropped.append(0)
            else:  # a repeated position: keep the first (lowest InstanceNumber), count the rest
                dropped[-1] += 1
        for run, steps in _runs([m[0] for m in unique]):
            stacks.append(_make_stack(key, [unique[i] for i in run], sum(dropped[i] for i in run), steps))
    stacks.sort(key=lambda s: min(_instance_number(ds) for _, ds in s.instances))
    return stacks


def _runs(positions: list[float]) -> list[tuple[list[int], list[int]]]:
    """Split sorted slice positions where the spacing jumps: (indices into ``positions``, slice steps between them).

    A gap of k typical spacings (2 <= k <= MAX_MISSING_RUN + 1, within GAP_TOLERANCE) is k - 1 lost
    slices: bridged (step k) while the run misses no more than :func:`max_missing` slices in all;
    every other jump starts a new run.
    """
    gaps = np.diff(positions)
    typical = float(np.median(gaps)) if gaps.size else 0.0
    runs: list[tuple[list[int], list[int]]] = [([0], [])]
    for i, gap in enumerate(gaps, start=1):
        ratio = gap / typical if typical else 1.0
        k = int(round(ratio))
        if abs(ratio - 1) <= 0.5:
            step = 1
        elif 2 <= k <= MAX_MISSING_RUN + 1 and abs(ratio - k) <= GAP_TOLERANCE:
            step = k
        else:
            runs.append(([i], []))
            continue
        runs[-1][0].append(i)
        runs[-1][1].append(step)
    out: list[tuple[list[int], list[int]]] = []
    for members, steps in runs:  # a run missing too many slices is split at each of its gaps, as before
        if sum(steps) - len(steps) <= max_missing(sum(steps) + 1):
            out.append((members, steps))
            continue
        out.append(([members[0]], []))
        for member, step in zip(members[1:], steps, strict=True):
            if step > 1:
                out.append(([member], []))
            else:
                out[-1][0].append(member)
                out[-1][1].append(1)
    return out


def _make_stack(key, run, duplicates: int = 0, steps: list[int] | None = None) -> Stack:
    """A stack of the instances ``run``; ``steps``: slice steps between them (>1 where slices are missing)."""
    row, col = np.asarray(key[0]), np.asarray(key[1])
    normal = np.cross(row, col)
    first = run[0][3]
    steps = steps or [1] * (len(run) - 1)
    index = np.concatenate([[0], np.cumsum(steps)]).astype(int)  # slice index of each instance in the complete stack
    n_slices = int(index[-1]) + 1
    missing = tuple(sorted(set(range(n_slices)) - {int(k) for k in index}))
    positions = np.asarray([m[0] for m in run])
    gaps = np.diff(positions) / np.asarray(steps, float)  # per slice step
    thickness_hdr = _float(first.get("SliceThickness"))
    if len(run) > 1:
        spacing = float(np.median(gaps))
    else:
        spacing = _float(first.get("SpacingBetweenSlices")) or thickness_hdr or 1.0
    thickness = thickness_hdr if thickness_hdr and thickness_hdr > 0 else abs(spacing)
    deviation = float(np.max(np.abs(gaps - spacing)) / spacing) if len(run) > 2 and spacing else 0.0
    shear = 0.0
    if len(run) > 1:  # slices must follow their normal; a sideways drift is a tilted (sheared) stack
        step = (run[-1][1] - run[0][1]) / (n_slices - 1)
        along = float(step @ normal)
        sideways = float(np.linalg.norm(step - along * normal))
        shear = float(np.degrees(np.arctan2(sideways, abs(along)))) if sideways > 0.05 else 0.0
    row_spacing, col_spacing = (float(v) for v in key[4])
    geometry = StackGeometry(
        origin=vec3(run[0][1]),
        row_dir=vec3(row),
        col_dir=vec3(col),
        rows=int(key[2]),
        cols=int(key[3]),
        n_slices=n_slices,
        row_spacing_mm=row_spacing,
        col_spacing_mm=col_spacing,
        slice_spacing_mm=abs(spacing) or thickness,
        slice_thickness_mm=thickness,
    )
    return Stack(geometry, [(m[2], m[3]) for m in run], duplicates, deviation, shear, missing)


#: Largest volume read into memory (float32 voxels): far above any clinical series.
MAX_VOXELS = 512 * 1024 * 1024  # 2 GiB of float32


def _pixel_problem(exc: Exception, ds: Dataset | None) -> str:
    """One line saying why pixels could not be read (no header values quoted)."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None) if ds is not None else None
    name = getattr(ts, "name", None) or (str(ts) if ts else "unknown transfer syntax")
    if isinstance(exc, (RuntimeError, NotImplementedError)) and "missing dependencies" in str(exc):
        return f"no decoder for {name} is installed"
    return f"{name} data could not be decoded ({type(exc).__name__})"


def read_volume(stack: Stack, series_uid: str, description: str, stack_index: int) -> SeriesVolume:
    """Read the pixels of ``stack`` (rescaled to float32) into a SeriesVolume.

    Its missing slices (lost instances) are filled by linear interpolation of the nearest
    slices on either side and listed in ``SeriesVolume.missing_slices``; the per-image lists
    (SOP instance UIDs, paths, frames) hold the slices that have an image.
    """
    g = stack.geometry
    if g.n_slices * g.rows * g.cols > MAX_VOXELS:
        raise LumbarqiError(f"series {description!r} is too large to read ({g.n_slices} x {g.rows} x {g.cols})")
    array = np.empty((g.n_slices, g.rows, g.cols), np.float32)
    uids: list[str] = []
    frames = _multiframe_pixels(stack, description)
    for k, (path, header) in zip(stack.slice_indices, stack.instances, strict=True):
        ds: Dataset = header
        try:
            with quiet_pydicom():
                if isinstance(header, FrameHeader):  # a frame of a multi-frame object: its header has its rescale
                    pixels = frames[(path, header.frame_number)]
                else:
                    ds = pydicom.dcmread(path)
                    drop_unconvertible(ds)  # the header read again here: same treatment as in the scan
                    pixels = ds.pixel_array
        except Exception as exc:
            raise LumbarqiError(f"cannot read the pixels of series {description!r}: {_pixel_problem(exc, ds)}") from None
        if pixels.shape != (g.rows, g.cols):
            raise LumbarqiError(f"an image of series {description!r} is not {g.rows}x{g.cols} (shape {'x'.join(map(str, pixels.shape))})")
        slope, intercept = _float(ds.get("RescaleSlope"), 1.0) or 1.0, _float(ds.get("RescaleIntercept"), 0.0) or 0.0
        array[k] = pixels.astype(np.float32) * slope + intercept
        uids.append(str(ds.get("SOPInstanceUID", "") or ""))
    fill_missing(array, stack.missing_slices)
    if not np.isfinite(array).all():
        raise LumbarqiError(f"series {description!r} holds non-finite pixel values")
    frame_numbers = [getattr(h, "frame_number", 0) if isinstance(h, FrameHeader) else 0 for _, h in stack.instances]
    return SeriesVolume(array, g, series_uid, description, stack_index, uids, [p for p, _ in stack.instances],
                        frame_numbers if any(frame_numbers) else [], missing_slices=tuple(stack.missing_slices))


def _multiframe_pixels(stack: Stack, description: str) -> dict[tuple[Path, int], np.ndarray]:
    """(file, frame number) -> pixels for the multi-frame members of ``stack``, each file opened once."""
    wanted: dict[Path, list[int]] = defaultdict(list)
    for path, header in stack.instances:
        if isinstance(header, FrameHeader):
            wanted[path].append(header.frame_number)
    out: dict[tuple[Path, int], np.ndarray] = {}
    for path, numbers in wanted.items():
        try:
            with quiet_pydicom():
                out.update(zip(((path, n) for n in numbers), read_frames(path, numbers), strict=False))
        except Exception as exc:
            header = next(h for p, h in stack.instances if p == path)
            raise LumbarqiError(f"cannot read the pixels of series {description!r}: {_pixel_problem(exc, header)}") from None
    return out
