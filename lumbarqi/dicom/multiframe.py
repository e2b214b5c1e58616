"""Multi-frame MR (Enhanced MR, Legacy Converted Enhanced MR) as single-frame headers, one per frame.

Each frame becomes a :class:`FrameHeader`: the attributes the input side reads
(:data:`lumbarqi.dicom.scan.USED_ATTRIBUTES`) at the top level, taken from the
frame's per-frame functional groups first, then the shared ones, then the
top level. Geometry comes from PlanePosition/PlaneOrientation/PixelMeasures
(LPS mm), weighting from MRTimingAndRelatedParameters (TR, flip angle),
MREcho (effective TE), MRModifier (inversion times) and the MR pulse sequence
(echo pulse sequence, inversion recovery); Legacy Converted objects keep
single-frame attributes in the Unassigned (Shared/Per-Frame) Converted
Attributes sequences, which are read too. The stacks, selection and volume
code then treat the frames like the instances of a classic series.

One object holding several planes or contrasts is split into parts (each
classified like a series of its own), unless every plane holds only a few
frames: a multi-plane localiser stays whole and is refused as such.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
LEGACY_CONVERTED_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.4"
#: Multi-frame MR SOP classes read frame by frame.
MULTIFRAME_MR_CLASSES = {ENHANCED_MR: "Enhanced MR", LEGACY_CONVERTED_ENHANCED_MR: "Legacy Converted Enhanced MR"}
#: A multi-plane object whose largest plane holds fewer frames than this is a localiser (kept whole).
LOCALISER_MAX_FRAMES_PER_PLANE = 6

#: keyword -> (functional group macro, attribute in its item)
_MACRO_ATTRIBUTES = {
    "ImageOrientationPatient": ("PlaneOrientationSequence", "ImageOrientationPatient"),
    "ImagePositionPatient": ("PlanePositionSequence", "ImagePositionPatient"),
    "PixelSpacing": ("PixelMeasuresSequence", "PixelSpacing"),
    "SliceThickness": ("PixelMeasuresSequence", "SliceThickness"),
    "SpacingBetweenSlices": ("PixelMeasuresSequence", "SpacingBetweenSlices"),
    "RepetitionTime": ("MRTimingAndRelatedParametersSequence", "RepetitionTime"),
    "FlipAngle": ("MRTimingAndRelatedParametersSequence", "FlipAngle"),
    "EchoTime": ("MREchoSequence", "EffectiveEchoTime"),
    "RescaleSlope": ("PixelValueTransformationSequence", "RescaleSlope"),
    "RescaleIntercept": ("PixelValueTransformationSequence", "RescaleIntercept"),
}
_UNASSIGNED = ("UnassignedPerFrameConvertedAttributesSequence", "UnassignedSharedConvertedAttributesSequence")
#: Attributes that never come from a frame's groups (identity of the object).
_TOP_LEVEL_ONLY = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "Rows", "Columns",
                   "BitsAllocated", "SamplesPerPixel", "SpecificCharacterSet")


class FrameHeader(Dataset):
    """One frame of a multi-frame image as a single-frame header.

    ``frame_number`` is 1-based (as DICOM's Referenced Frame Number);
    ``NumberOfFrames`` is 1, so code that checks for single frames accepts it.
    """

    frame_number: int


def _first_item(holder: Dataset | None, keyword: str) -> Dataset | None:
    try:
        seq = holder.get(keyword) if holder is not None else None
        return seq[0] if seq else None
    except Exception:  # a sequence pydicom cannot convert: treated as absent
        return None


def _groups(ds: Dataset) -> tuple[Dataset | None, list[Dataset | None]]:
    """(shared functional groups item, per-frame items padded to NumberOfFrames)."""
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    try:
        per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
        n = int(ds.get("NumberOfFrames") or len(per_frame) or 1)
    except Exception:
        per_frame, n = [], 1
    return shared, (per_frame + [None] * n)[:n]


def _value(keyword: str, ds: Dataset, shared: Dataset | None, frame: Dataset | None):
    """The frame's value of a single-frame ``keyword``: per-frame groups, shared groups, top level."""
    if keyword in _TOP_LEVEL_ONLY:
        return ds.get(keyword)
    macro = _MACRO_ATTRIBUTES.get(keyword)
    for group in (frame, shared):
        if macro is not None:
            item = _first_item(group, macro[0])
            if item is not None and item.get(macro[1]) not in (None, ""):
                return item.get(macro[1])
    for group in (frame, shared):
        for unassigned in _UNASSIGNED:
            item = _first_item(group, unassigned)
            if item is not None and keyword in item:
                return item.get(keyword)
    return ds.get(keyword)


def _multi(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(v) for v in value]


def _pulse_sequence(ds: Dataset, shared: Dataset | None, frame: Dataset | None) -> tuple[str | None, float | None]:
    """(ScanningSequence-like code string, inversion time ms) from the MR pulse sequence attributes."""
    echo_pulse = str(_value("EchoPulseSequence", ds, shared, frame) or "").upper()
    codes = {"SPIN": ["SE"], "GRADIENT": ["GR"], "BOTH": ["SE", "GR"]}.get(echo_pulse, [])
    ti = None
    if str(_value("InversionRecovery", ds, shared, frame) or "").upper() == "YES":
        codes.append("IR")
        for group in (frame, shared):
            item = _first_item(group, "MRModifierSequence")
            times = item.get("InversionTimes") if item is not None else None
            if times:
                try:
                    ti = float(times[0] if hasattr(times, "__len__") and not isinstance(times, str) else times)
                except (TypeError, ValueError):
                    ti = None
                break
    return ("\\".join(codes) or None), ti


def _fat_suppression(ds: Dataset, shared: Dataset | None, frame: Dataset | None) -> str | None:
    """ScanOptions 'FS' when the enhanced header names fat suppression."""
    value = str(_value("SpectrallySelectedSuppression", ds, shared, frame) or "").upper()
    return "FS" if value.startswith("FAT") else None


def frame_headers(ds: Dataset, used_attributes: tuple[str, ...]) -> list[FrameHeader]:
    """One single-frame header per frame of the multi-frame image ``ds`` (frame order)."""
    shared, per_frame = _groups(ds)
    out: list[FrameHeader] = []
    for number, frame in enumerate(per_frame, start=1):
        header = FrameHeader()
        header.frame_number = number
        if hasattr(ds, "file_meta"):
            header.file_meta = ds.file_meta
        for keyword in used_attributes:
            try:
                value = _value(keyword, ds, shared, frame)
            except Exception:  # unconvertible: absent, as in the scan
                continue
            if value is not None and value != "":
                setattr(header, keyword, value)
        if "ScanningSequence" not in header or "InversionTime" not in header:
            seq, ti = _pulse_sequence(ds, shared, frame)
            if seq and "ScanningSequence" not in header:
                header.ScanningSequence = seq
            if ti is not None and "InversionTime" not in header:
                header.InversionTime = ti
        frame_type = _first_item(frame, "MRImageFrameTypeSequence") or _first_item(shared, "MRImageFrameTypeSequence")
        if frame_type is not None and frame_type.get("FrameType"):  # the object's ImageType and the frame's, both refuse
            values = list(_multi(header.get("ImageType")))
            header.ImageType = values + [v for v in _multi(frame_type.FrameType) if v not in values]
        if "ScanOptions" not in header and (fs := _fat_suppression(ds, shared, frame)):
            header.ScanOptions = fs
        header.NumberOfFrames = 1
        header.InstanceNumber = number  # frame order breaks position ties, like InstanceNumber in a series
        out.append(header)
    return out


def _plane(header: Dataset) -> str | None:
    try:
        iop = np.asarray([float(v) for v in header.ImageOrientationPatient], float)
        normal = np.abs(np.cross(iop[:3], iop[3:]))
    except Exception:
        return None
    return ("sagittal", "coronal", "axial")[int(np.argmax(normal))] if normal.any() else None


def _timing(header: Dataset) -> tuple:
    out = []
    for keyword in ("RepetitionTime", "EchoTime", "InversionTime", "ScanningSequence"):
        value = header.get(keyword)
        try:
            out.append(round(float(value), 2) if keyword != "ScanningSequence" else str(value))
        except (TypeError, ValueError):
            out.append("" if value is None else str(value))
    return tuple(out)


def split_parts(headers: list[FrameHeader]) -> list[list[FrameHeader]]:
    """The frames of one object grouped by plane and contrast (TR/TE/TI/sequence).

    A multi-plane object whose largest plane group has at most
    :data:`LOCALISER_MAX_FRAMES_PER_PLANE` frames stays one part (a localiser).
    """
    groups: dict[tuple, list[FrameHeader]] = defaultdict(list)
    for h in headers:
        groups[(_plane(h), _timing(h))].append(h)
    if len(groups) <= 1:
        return [headers]
    planes: dict[str | None, int] = defaultdict(int)
    for (plane, _), members in groups.items():
        planes[plane] += len(members)
    if len(planes) > 1 and max(planes.values()) <= LOCALISER_MAX_FRAMES_PER_PLANE:
        return [headers]
    return sorted(groups.values(), key=lambda g: g[0].frame_number)


def read_frames(path: Path, frame_numbers: list[int]) -> list[np.ndarray]:
    """Pixels of the given frames (1-based) of a multi-frame file, read frame by frame (not the whole object)."""
    from pydicom.pixels import iter_pixels

    return list(iter_pixels(path, indices=[n - 1 for n in frame_numbers]))
