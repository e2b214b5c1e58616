"""A phantom study with a second, preferred sagittal T1 series whose pixel data cannot be decoded."""
from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless, generate_uid


def add_broken_sagittal_repeat(study_dir: Path, out_dir: Path, sagittal_uid: str) -> tuple[Path, str]:
    """Copy the study and add a repeat of its sagittal T1 (later series number, so preferred) with corrupt RLE pixel data.

    Returns (study folder, the broken series' instance UID). The headers are
    intact, so the series passes the scan and the selection; only decoding fails.
    """
    shutil.copytree(study_dir, out_dir)
    files = [p for p in sorted((out_dir / "DICOM").rglob("*.dcm"))
             if str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID) == sagittal_uid]
    broken_uid = generate_uid(entropy_srcs=[sagittal_uid, "broken repeat"])
    folder = out_dir / "DICOM" / "S099"
    folder.mkdir()
    for p in files:
        ds = pydicom.dcmread(p)
        ds.SeriesInstanceUID = broken_uid
        ds.SeriesNumber = int(ds.SeriesNumber) + 90
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), "broken"])
        ds.PixelData = encapsulate([b"\x01\x00\x00\x00" + b"\x00" * 60 + b"\x7f" * 300])  # one RLE segment, far too short
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.save_as(folder / p.name, enforce_file_format=True)
    return out_dir, broken_uid
