"""A multi-frame source image as highdicom's Segmentation needs it for one stack of its frames.

highdicom derives a SEG from a multi-frame source only when the source's
orientation and pixel measures sit in its shared functional groups. An object
holding several stacks (tilted blocks, several planes) has them per frame, so
the SEG is built against a view of the header: the same UIDs, frame count and
per-frame positions, with this stack's orientation and pixel measures shared.
The plane positions passed for the SEG frames are the stack frames' own, so
highdicom matches each SEG frame to its source frame by position and writes
the source's real Referenced Frame Numbers. The view is used only while
building; nothing of it is written but those references.
"""
from __future__ import annotations

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from lumbarqi.dicom.multiframe import MULTIFRAME_MR_CLASSES, frame_headers

_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)  # float, double float and integer pixel data
_STACK_MACROS = ("PlaneOrientationSequence", "PixelMeasuresSequence")


def _copy(item: Dataset, drop: tuple[str, ...] = ()) -> Dataset:
    """A new dataset holding ``item``'s elements (shared objects), less ``drop`` and pixel data; nothing deferred is read."""
    out = Dataset()
    dropped = set(drop)
    for tag in list(item.keys()):
        if int(tag) in _PIXEL_TAGS:
            continue
        elem = item[tag]
        if elem.keyword in dropped:
            continue
        out[tag] = elem
    return out


def _macro(ds: Dataset, frame_number: int, macro: str) -> Dataset | None:
    """The ``macro`` item of a frame: per-frame groups first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    for groups in ([per_frame[frame_number - 1]] if frame_number <= len(per_frame) else [], shared[:1]):
        for group in groups:
            seq = group.get(macro)
            if seq:
                return seq[0]
    return None


def stack_source(ds: Dataset, frame_numbers: list[int]) -> tuple[Dataset, list[hd.PlanePositionSequence]]:
    """(header view of ``ds`` for highdicom, plane position of each stack frame in slice order)."""
    first = frame_numbers[0]
    view = _copy(ds)
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta
    shared = _copy((ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0], _STACK_MACROS)
    for macro in _STACK_MACROS:
        item = _macro(ds, first, macro)
        if item is None:
            raise ValueError(f"multi-frame source has no {macro} for frame {first}")
        setattr(shared, macro, DicomSequence([item]))
    view.SharedFunctionalGroupsSequence = DicomSequence([shared])
    view.PerFrameFunctionalGroupsSequence = DicomSequence(
        [_copy(item, _STACK_MACROS) for item in ds.get("PerFrameFunctionalGroupsSequence") or []])
    positions = []
    for number in frame_numbers:
        item = _macro(ds, number, "PlanePositionSequence")
        if item is None or "ImagePositionPatient" not in item:
            raise ValueError(f"multi-frame source has no plane position for frame {number}")
        positions.append(hd.PlanePositionSequence(hd.CoordinateSystemNames.PATIENT,
                                                  [float(v) for v in item.ImagePositionPatient]))
    return view, positions


_LIBRARY_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "Modality", "FrameOfReferenceUID", "Rows", "Columns",
                       "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness")


def library_entry_source(ds: Dataset) -> Dataset:
    """The header highdicom's TID 1602 descriptors read, for a single- or multi-frame source.

    A multi-frame MR object keeps its geometry in functional groups, not at the top
    level where TID 1604 descriptors are read: the view carries the first frame's
    pixel spacing, orientation, thickness and position (LPS mm) at the top level.
    Single-frame sources are returned unchanged.
    """
    if str(ds.get("SOPClassUID", "")) not in MULTIFRAME_MR_CLASSES:
        return ds
    first = frame_headers(ds, _LIBRARY_ATTRIBUTES)[0]
    view = Dataset()
    for keyword in _LIBRARY_ATTRIBUTES:
        value = ds.get(keyword) if keyword in ds else first.get(keyword)
        if value is not None:
            setattr(view, keyword, value)
    return view
