"""Write phantom series as MR Image Storage files (pydicom), one file per slice.

Identities are synthetic (``PHANTOM^<seed>``). UIDs derive from the seed, so the
same seed writes identical files. Each file is written to a temporary name and
renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from lumbarqi.geometry import StackGeometry
from lumbarqi.phantom.protocol import VENDORS, SeriesPlan


def phantom_uid(seed: int, *parts: object) -> str:
    """Deterministic UID for a phantom object."""
    return generate_uid(entropy_srcs=["lumbarqi-phantom", str(seed), *map(str, parts)])


@dataclass
class StudyIdentity:
    """Patient and study attributes shared by every series of one phantom study."""

    seed: int
    sex: str
    age_years: int
    height_m: float
    mass_kg: float
    vendor: str
    field_strength_t: float
    study_date: str

    @property
    def study_uid(self) -> str:
        return phantom_uid(self.seed, "study")

    @property
    def frame_of_reference_uid(self) -> str:
        return phantom_uid(self.seed, "frame")


def _ds(v: float) -> str:
    """Decimal string of at most 16 characters."""
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return text if len(text) <= 16 else f"{v:.4g}"


def _base_dataset(study: StudyIdentity, plan: SeriesPlan, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.study_date
    ds.StudyTime = "083000"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = f"08{30 + plan.number:02d}00"
    ds.AccessionNumber = f"PH{study.seed:08d}"
    ds.Modality = "MR"
    ds.Manufacturer = study.vendor
    ds.ManufacturerModelName = VENDORS[study.vendor]["model"]
    ds.InstitutionName = "lumbarqi synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "MRI LUMBAR SPINE WITHOUT CONTRAST"
    ds.SeriesDescription = plan.description
    ds.ProtocolName = plan.description
    ds.PatientName = f"PHANTOM^{study.seed:04d}"
    ds.PatientID = f"LQI-PH-{study.seed:04d}"
    ds.PatientBirthDate = f"{int(study.study_date[:4]) - study.age_years}0101"
    ds.PatientSex = study.sex
    ds.PatientAge = f"{study.age_years:03d}Y"
    ds.PatientSize = _ds(study.height_m)
    ds.PatientWeight = _ds(study.mass_kg)
    ds.BodyPartExamined = "LSPINE"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = plan.number
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    t = plan.timing
    ds.ScanningSequence = t["seq"]
    ds.SequenceVariant = t["variant"]
    ds.ScanOptions = t["options"]
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = {"T1": "*tse2d1_3", "T2": "*tse2d1_17", "STIR": "*tir2d1_13", "GRE": "*fl2d1"}[plan.contrast]
    ds.RepetitionTime = _ds(t["TR"])
    ds.EchoTime = _ds(t["TE"])
    if "TI" in t:
        ds.InversionTime = _ds(t["TI"])
    ds.EchoTrainLength = t["ETL"]
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = _ds(42.577 * study.field_strength_t)
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = _ds(study.field_strength_t)
    ds.FlipAngle = _ds(t["flip"])
    ds.ReceiveCoilName = "Spine"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"] if plan.key != "localizer" else ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    return ds


def write_series(out_dir: Path, study: StudyIdentity, plan: SeriesPlan, images: list[np.ndarray]) -> list[Path]:
    """Write one file per slice of every stack of ``plan``; returns the paths.

    images: one (slices, rows, cols) uint16 array per stack in ``plan.stacks``.
    """
    series_uid = phantom_uid(study.seed, "series", plan.number)
    folder = out_dir / f"S{plan.number:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    base = _base_dataset(study, plan, series_uid)
    paths: list[Path] = []
    instance = 0
    for geom, stack_images in zip(plan.stacks, images, strict=False):
        for k in range(geom.n_slices):
            instance += 1
            paths.append(_write_slice(folder, base, geom, k, instance, stack_images[k], study.seed, plan.number))
    return paths


def _write_slice(folder: Path, base: Dataset, geom: StackGeometry, k: int, instance: int, pixels: np.ndarray, seed: int, number: int) -> Path:
    ds = base.copy()
    sop_uid = phantom_uid(seed, "image", number, instance)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [_ds(v) for v in geom.slice_origin(k)]
    ds.ImageOrientationPatient = [_ds(v) for v in (*geom.row_dir, *geom.col_dir)]
    ds.PixelSpacing = [_ds(geom.row_spacing_mm), _ds(geom.col_spacing_mm)]
    ds.SliceThickness = _ds(geom.slice_thickness_mm)
    ds.SpacingBetweenSlices = _ds(geom.slice_spacing_mm)
    ds.SliceLocation = _ds(float(geom.slice_centre(k) @ geom.normal))
    ds.Rows, ds.Columns = pixels.shape
    ds.WindowCenter, ds.WindowWidth = _ds(float(np.percentile(pixels, 99) / 2)), _ds(float(np.percentile(pixels, 99)))
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    path = folder / f"IM{instance:04d}.dcm"
    tmp = path.with_suffix(".dcm.part")
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)
    return path
