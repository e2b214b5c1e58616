"""Find the DICOM images under a folder tree, headers only, whatever else is there.

Non-DICOM files, unreadable files and non-image objects (SR, SEG without
pixels, presentation states, DICOMDIR) are counted and skipped, never fatal.
Images whose pixel data is missing, cut short or shorter than the header says
are counted as unreadable and skipped here, so one broken file cannot sink a
series later. Pixel data is read later, only for the series that are used. Multi-frame MR
(Enhanced and Legacy Converted Enhanced MR) joins its series frame by frame
(see :mod:`lumbarqi.dicom.multiframe`).
pydicom's warnings are kept off the terminal: they quote header values
(patient names included).
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from lumbarqi.dicom.multiframe import MULTIFRAME_MR_CLASSES, frame_headers, split_parts

log = logging.getLogger(__name__)

#: SOP classes whose instances are images the pipeline may use.
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage (frame by frame)
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage (frame by frame)
}
_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

#: Every attribute the input side reads from a header (selection, stacks, subject).
USED_ATTRIBUTES = (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
    "Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "NumberOfFrames", "ImageOrientationPatient",
    "ImagePositionPatient", "PixelSpacing", "SliceThickness", "SpacingBetweenSlices", "InstanceNumber", "SeriesNumber",
    "SeriesDescription", "ImageType", "ScanningSequence", "ScanOptions", "RepetitionTime", "EchoTime", "InversionTime",
    "ContrastBolusAgent", "PatientSize", "PatientWeight", "PatientSex", "RescaleSlope", "RescaleIntercept",
    "LossyImageCompression", "DerivationCodeSequence",
)


@dataclass
class SeriesHeaders:
    """Headers of the image instances of one series."""

    series_instance_uid: str
    instances: list[tuple[Path, Dataset]] = field(default_factory=list)  # (file, header); a frame's header for multi-frame
    stack_offset: int = 0  # added to stack indices: parts of one multi-frame object never share one

    @property
    def first(self) -> Dataset:
        return self.instances[0][1]

    @property
    def description(self) -> str:
        return str(self.first.get("SeriesDescription", "") or "")


@dataclass
class StudyHeaders:
    """All image series of one study found under the input folder."""

    study_instance_uid: str
    series: dict[str, SeriesHeaders] = field(default_factory=dict)


@dataclass
class ScanReport:
    """What a folder scan found: studies, and counts of what it skipped."""

    studies: dict[str, StudyHeaders] = field(default_factory=dict)
    files_seen: int = 0
    not_dicom: int = 0
    not_image: int = 0
    unsupported: int = 0  # images of a SOP class the pipeline does not read (multi-frame classic MR)
    multiframe: int = 0  # multi-frame MR objects read frame by frame
    unreadable: int = 0  # images whose pixel data is missing, truncated or too short

    def summary(self) -> str:
        n_series = sum(len(s.series) for s in self.studies.values())
        frames = f" ({self.multiframe} multi-frame objects)" if self.multiframe else ""
        return (
            f"{self.files_seen} files: {len(self.studies)} studies, {n_series} image series{frames}; skipped "
            f"{self.not_dicom} non-DICOM, {self.not_image} non-image, {self.unsupported} unsupported "
            f"(multi-frame classic MR), {self.unreadable} with missing or truncated pixel data"
        )


@contextlib.contextmanager
def quiet_pydicom():
    """Silence pydicom's warnings: their text quotes header values, patient identifiers included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def drop_unconvertible(ds: Dataset) -> None:
    """Convert the attributes the input side reads now; one that cannot be converted is treated as absent.

    pydicom converts header values lazily and raises (wrong byte length for the
    VR, undecodable text) at first access, which could be anywhere downstream.
    """
    for name in USED_ATTRIBUTES:
        try:
            ds.get(name)
        except Exception:
            try:
                del ds[name]
            except Exception:
                pass


def _int(ds: Dataset, name: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(name)
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError, OverflowError):
        return None


def pixel_data_ok(ds: Dataset, path: Path) -> bool:
    """PixelData present, inside the file and (native) at least as long as Rows x Columns x frames says.

    ``ds`` must be read with ``defer_size`` so that PixelData is a deferred raw element.
    """
    try:
        elem = ds.get_item(0x7FE00010, keep_deferred=True)
    except Exception:
        return False
    if elem is None:
        return False
    length, tell = getattr(elem, "length", None), getattr(elem, "value_tell", None)
    if length is None:  # already read (small): its length is the value's
        length, tell = len(ds.PixelData or b""), None
    if length == 0xFFFFFFFF:  # encapsulated (compressed): decodability is checked when the pixels are read
        return True
    meta = getattr(ds, "file_meta", None)
    deflated = meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    if tell is not None and not deflated and tell + length > path.stat().st_size:
        return False  # the file was cut inside the pixel data (deflated: offsets are in the inflated stream)
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    bits, samples, frames = _int(ds, "BitsAllocated"), _int(ds, "SamplesPerPixel", 1), _int(ds, "NumberOfFrames", 1)
    if not rows or not cols or not bits or not samples or not frames or rows < 0 or cols < 0 or bits not in (1, 8, 16, 32, 64):
        return False
    expected = (rows * cols * samples * frames * bits + 7) // 8
    return length >= expected


def scan_folder(root: Path) -> ScanReport:
    """Read the header of every file under ``root`` and group MR images by study and series."""
    report = ScanReport()
    with quiet_pydicom():  # header values converted here may warn, quoting them
        for path in _files(Path(root)):
            report.files_seen += 1
            try:
                ds = pydicom.dcmread(path, defer_size=1024)  # pixel data deferred: only its length and place are read
            except Exception:  # anything a hospital folder may hold: text, zip, truncated files
                report.not_dicom += 1
                continue
            try:
                drop_unconvertible(ds)
                sop_class = str(ds.get("SOPClassUID", "") or "")
                has_rows = "Rows" in ds
                study_uid = str(ds.get("StudyInstanceUID", "") or "")
                series_uid = str(ds.get("SeriesInstanceUID", "") or "")
                sop_uid = str(ds.get("SOPInstanceUID", "") or "")
            except Exception:  # a header pydicom can list but not convert
                report.not_dicom += 1
                continue
            if sop_class not in IMAGE_SOP_CLASSES or not has_rows:
                report.not_image += 1
                continue
            multiframe = sop_class in MULTIFRAME_MR_CLASSES
            if not multiframe and (sop_class != _MR_IMAGE or (_int(ds, "NumberOfFrames", 1) or 1) > 1):
                report.unsupported += 1
                continue
            if not study_uid or not series_uid or not sop_uid:
                report.not_image += 1
                continue
            if not pixel_data_ok(ds, path):
                report.unreadable += 1
                continue
            study = report.studies.setdefault(study_uid, StudyHeaders(study_uid))
            if multiframe:
                _add_multiframe(study, series_uid, path, ds)
                report.multiframe += 1
            else:
                study.series.setdefault(series_uid, SeriesHeaders(series_uid)).instances.append((path, ds))
    return report


def _add_multiframe(study: StudyHeaders, series_uid: str, path: Path, ds: Dataset) -> None:
    """The frames of one multi-frame object into its series (or, one part per plane/contrast, several entries)."""
    parts = split_parts(frame_headers(ds, USED_ATTRIBUTES))
    if len(parts) == 1:
        study.series.setdefault(series_uid, SeriesHeaders(series_uid)).instances += [(path, h) for h in parts[0]]
        return
    offset = 0
    for k, part in enumerate(parts):
        key = f"{series_uid}#{ds.get('SOPInstanceUID')}#{k}"
        study.series.setdefault(key, SeriesHeaders(series_uid, stack_offset=offset)).instances += [(path, h) for h in part]
        offset += len(part)
