"""Find the DICOM images under a folder tree, headers only, whatever else is there.

Non-DICOM files, unreadable files and non-image objects (SR, SEG without
pixels, presentation states, DICOMDIR) are counted and skipped, never fatal.
Pixel data is read later, only for the series that are used.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

#: SOP classes whose instances are images the pipeline may use.
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage (reported, not used)
}
_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass
class SeriesHeaders:
    """Headers of the image instances of one series."""

    series_instance_uid: str
    instances: list[tuple[Path, Dataset]] = field(default_factory=list)

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
    unsupported: int = 0  # images of a SOP class the pipeline does not read (e.g. enhanced MR)

    def summary(self) -> str:
        n_series = sum(len(s.series) for s in self.studies.values())
        return (
            f"{self.files_seen} files: {len(self.studies)} studies, {n_series} image series; skipped "
            f"{self.not_dicom} non-DICOM, {self.not_image} non-image, {self.unsupported} unsupported"
        )


def _files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def scan_folder(root: Path) -> ScanReport:
    """Read the header of every file under ``root`` and group MR images by study and series."""
    report = ScanReport()
    for path in _files(Path(root)):
        report.files_seen += 1
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=None)
        except Exception:  # anything a hospital folder may hold: text, zip, truncated files
            report.not_dicom += 1
            continue
        sop_class = str(ds.get("SOPClassUID", ""))
        if sop_class not in IMAGE_SOP_CLASSES or "Rows" not in ds:
            report.not_image += 1
            continue
        if sop_class != _MR_IMAGE:
            report.unsupported += 1
            continue
        study_uid = str(ds.get("StudyInstanceUID", "") or "")
        series_uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not study_uid or not series_uid:
            report.not_image += 1
            continue
        study = report.studies.setdefault(study_uid, StudyHeaders(study_uid))
        study.series.setdefault(series_uid, SeriesHeaders(series_uid)).instances.append((path, ds))
    return report
