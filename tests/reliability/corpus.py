"""A bad-input corpus built from one small phantom study, and what lumbarqi must do with each case.

Every case starts from a copy of the phantom's ``DICOM/`` folder (the phantom
itself is never edited) and changes it the way hospital data goes wrong:
broken files, other objects, missing series, odd geometry, compressed pixels,
odd matrices and patient names. Each case declares its expected behaviour:

- ``exit_codes``: the documented exit status(es) of ``lumbarqi run``;
- ``flags``: flag codes that must be in ``results.json``;
- ``stderr``: text that must be in the one error line (lower case);
- ``sagittal`` / ``axial``: whether a sagittal / axial series must be selected
  (the T1, or a T2 substituted for it: then a ``contrast_substitution`` flag;
  None: not checked); ``reason``: text required in a rejection reason.

``build_corpus(root)`` writes every case to ``root/<case>/`` and returns the
cases; ``python tests/reliability/corpus.py OUT`` does the same from a shell.
Patient identifiers are set to the sentinels in ``PHI`` so that logs can be
scanned for them.
"""
from __future__ import annotations

import io
import json
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless, generate_uid

#: Patient identifiers written into the corpus; none may appear in any log.
PHI = {"name": "Müller^Zoë", "id": "PID-PHI-4711", "birth": "19530219"}
SECOND_PATIENT = {"name": "Ünal^Ayşe", "id": "PID-PHI-0815", "birth": "19710605"}
PATH_PATIENT = {"name": "../../etc^passwd", "id": "../../etc", "birth": "19440101"}
#: Strings that must never appear in lumbarqi.log, stdout or stderr.
LEAK_TOKENS = ("Müller", "Zoë", "MÃ¼ller", "ller^Zo", "PID-PHI", "19530219", "1953-02-19", "Ünal", "Ayşe",
               "19710605", "../../etc", "passwd", "19440101", "PHANTOM^")

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    build: Callable[[Ctx], None]
    exit_codes: frozenset
    flags: tuple = ()
    stderr: tuple = ()
    sagittal: bool | None = None
    axial: bool | None = None
    reason: str | None = None
    graph: str | None = None  # None: in-process only; "fast": graph without models; "models": graph with models
    dicom: bool = False  # graph run writes DICOM (SEG/SR/PDF)
    start_empty: bool = False

    @property
    def expected(self) -> str:
        parts = ["exit " + "/".join(str(c) for c in sorted(self.exit_codes))]
        if self.flags:
            parts.append("flags " + ", ".join(self.flags))
        if self.stderr:
            parts.append("stderr: " + ", ".join(repr(s) for s in self.stderr))
        if self.sagittal is not None:
            parts.append("sag T1 " + ("used" if self.sagittal else "not used"))
        if self.axial is not None:
            parts.append("ax T1 " + ("used" if self.axial else "not used"))
        if self.reason:
            parts.append(f"reason ~ {self.reason!r}")
        return "; ".join(parts)


@dataclass
class Ctx:
    """What a builder works on: the case's input folder and the phantom's facts."""

    inp: Path
    base: Path  # the phantom's DICOM folder (read only)
    sag: str  # series folder of the sagittal T1
    axial: list[str]
    others: list[str]
    rng: random.Random
    name: str

    def files(self, series: str) -> list[Path]:
        return sorted((self.inp / series).glob("*.dcm"))

    def uid(self, *parts) -> str:
        return generate_uid(entropy_srcs=[self.name, *map(str, parts)])

    def edit(self, series: str, fn: Callable[[pydicom.Dataset, int], object], only: list[int] | None = None) -> None:
        """Apply ``fn(ds, index)`` to the files of ``series`` and save them (return False to delete the file)."""
        for k, path in enumerate(self.files(series)):
            if only is not None and k not in only:
                continue
            ds = pydicom.dcmread(path)
            if fn(ds, k) is False:
                path.unlink()
            else:
                ds.save_as(path)

    def copy_series(self, series: str, new_folder: str, number: int, **changes) -> None:
        """Copy ``series`` as a new series (new UIDs), with header ``changes``."""
        uid = self.uid("series", new_folder)
        (self.inp / new_folder).mkdir(parents=True)
        for k, path in enumerate(self.files(series)):
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID, ds.SeriesNumber = uid, number
            _new_sop(ds, self.uid("sop", new_folder, k))
            for key, value in changes.items():
                setattr(ds, key, value)
            ds.save_as(self.inp / new_folder / path.name)


def _new_sop(ds: pydicom.Dataset, uid: str, sop_class: str | None = None) -> None:
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    if sop_class:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class


def _set_patient(ds: pydicom.Dataset, who: dict) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = who["name"], who["id"], who["birth"]


def _truncate(path: Path, keep: float | int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])


# ---------------------------------------------------------------- geometry helpers

def _geometry(ds):
    iop = np.asarray(ds.ImageOrientationPatient, float)
    return np.asarray(ds.ImagePositionPatient, float), iop[:3], iop[3:]


def _rotate_series(ctx: Ctx, series: str, degrees: float, axis=(0.0, 0.0, 1.0)) -> None:
    """Rotate a whole stack rigidly about its centre (an oblique acquisition)."""
    a = np.radians(degrees)
    u = np.asarray(axis) / np.linalg.norm(axis)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k
    centre = np.mean([_geometry(pydicom.dcmread(p, stop_before_pixels=True))[0] for p in ctx.files(series)], axis=0)

    def fn(ds, _):
        ipp, row, col = _geometry(ds)
        ds.ImagePositionPatient = [round(float(v), 4) for v in centre + rot @ (ipp - centre)]
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (*rot @ row, *rot @ col)]
    ctx.edit(series, fn)


def _resample(ds: pydicom.Dataset, rows: int, cols: int) -> None:
    """Same field of view on a rows x cols matrix (pixel spacing and first-pixel position adjusted)."""
    from scipy.ndimage import zoom

    a = ds.pixel_array.astype(np.float32)
    b = zoom(a, (rows / a.shape[0], cols / a.shape[1]), order=1)[:rows, :cols]
    rs, cs = (float(v) for v in ds.PixelSpacing)
    rs2, cs2 = rs * ds.Rows / rows, cs * ds.Columns / cols
    ipp, row, col = _geometry(ds)
    ds.ImagePositionPatient = [round(float(v), 4) for v in ipp + 0.5 * (cs2 - cs) * row + 0.5 * (rs2 - rs) * col]
    ds.PixelSpacing = [round(rs2, 6), round(cs2, 6)]
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = np.clip(b, 0, 4095).astype(np.uint16).tobytes()


def _pillow_encode(ds: pydicom.Dataset, fmt: str) -> None:
    from PIL import Image

    a = ds.pixel_array
    buf = io.BytesIO()
    if fmt == "JPEG":
        a8 = (a.astype(np.float32) / max(1, int(a.max())) * 255).astype(np.uint8)
        Image.fromarray(a8).save(buf, format="JPEG", quality=95)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ts = JPEGBaseline8Bit
    else:
        Image.fromarray(a.astype(np.uint16)).save(buf, format="JPEG2000", irreversible=False, no_jp2=True)
        ts = JPEG2000Lossless
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts


def _undecodable(ds: pydicom.Dataset, ts) -> None:
    """Declare a compressed transfer syntax over data no decoder can read."""
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + bytes(range(256)) * 4])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts


# ---------------------------------------------------------------- builders

def b_clean(ctx: Ctx) -> None:
    """The phantom as it is: the reference case, nothing changed."""


def b_junk(ctx: Ctx) -> None:
    r = ctx.inp
    (r / "README.txt").write_text("exported by PACS\n")
    (r / "empty.dcm").write_bytes(b"")
    (r / "random.bin").write_bytes(bytes(ctx.rng.randrange(256) for _ in range(4096)))
    (r / "fake.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(ctx.rng.randrange(256) for _ in range(2000)))
    (r / "archive.zip").write_bytes(b"PK\x03\x04" + b"\0" * 200)
    (r / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    (r / "nested" / "deeper").mkdir(parents=True)
    (r / "nested" / "deeper" / "notes.xml").write_text("<a>b</a>")
    (r / "nested" / "loop").symlink_to("..")  # a symlink loop must not hang the scan
    ds = pydicom.dcmread(ctx.files(ctx.others[0])[0])  # a DICOMDIR-like object
    del ds.PixelData
    _new_sop(ds, ctx.uid("dicomdir"), "1.2.840.10008.1.3.10")
    ds.save_as(r / "DICOMDIR")


def b_only_junk(ctx: Ctx) -> None:
    b_junk(ctx)
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        shutil.rmtree(ctx.inp / d)


def b_empty(ctx: Ctx) -> None:
    """An input folder left empty on purpose."""


def b_truncated(ctx: Ctx) -> None:
    _truncate(ctx.files(ctx.sag)[-1], 0.6)  # edge slice of the sagittal T1, inside the pixel data
    _truncate(ctx.files(ctx.others[1])[0], 100)  # inside the header
    _truncate(ctx.files(ctx.others[0])[0], 0.9)


def b_truncated_all_t1(ctx: Ctx) -> None:
    for d in [ctx.sag, *ctx.axial]:
        for p in ctx.files(d):
            _truncate(p, 0.5)


def b_truncated_all(ctx: Ctx) -> None:
    for d in [ctx.sag, *ctx.axial, *_series(ctx, "others")]:
        for p in ctx.files(d):
            _truncate(p, 0.5)


def b_corrupt(ctx: Ctx) -> None:
    for d in ctx.others:
        for p in ctx.files(d)[:3]:
            data = bytearray(p.read_bytes())
            start = ctx.rng.randrange(132, 600)
            data[start:start + 64] = bytes(ctx.rng.randrange(256) for _ in range(64))
            p.write_bytes(bytes(data))
    last = ctx.files(ctx.sag)[-1]
    data = bytearray(last.read_bytes())
    data[128:132] = b"XXXX"  # no DICM magic: not a DICOM file any more
    data[132:140] = b"\xff" * 8
    last.write_bytes(bytes(data))


def b_no_pixels(ctx: Ctx) -> None:
    def fn(ds, _):
        del ds.PixelData
    ctx.edit(ctx.sag, fn)


def b_pixel_length(ctx: Ctx) -> None:
    def fn(ds, _):
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ctx.edit(ctx.sag, fn, only=[0])


def _as_ct(ctx: Ctx, folder: str) -> None:
    ctx.copy_series(ctx.sag, folder, 90, Modality="CT", SeriesDescription="CT L-SPINE SAG")
    def fn(ds, k):
        _new_sop(ds, ctx.uid("ct", k), CT_IMAGE)
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ctx.edit(folder, fn)


def _sr(ctx: Ctx, path: Path) -> None:
    ds = pydicom.dcmread(ctx.files(ctx.sag)[0])
    for key in ("PixelData", "Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        if key in ds:
            delattr(ds, key)
    _new_sop(ds, ctx.uid("sr"), BASIC_TEXT_SR)
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "SR", ctx.uid("sr-series"), 99
    ds.SeriesDescription = "Radiology report"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)


def b_ct_sr_only(ctx: Ctx) -> None:
    _as_ct(ctx, "CT")
    _sr(ctx, ctx.inp / "SR" / "report.dcm")
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        shutil.rmtree(ctx.inp / d)


def b_mr_ct_sr(ctx: Ctx) -> None:
    _as_ct(ctx, "CT")
    _sr(ctx, ctx.inp / "SR" / "report.dcm")


def _remove(*folders):
    """Remove series: ``sag``/``axial`` the T1s, ``sag_t2``/``axial_t2`` the T2s, ``others`` every series but the T1s
    and the localizer."""
    def build(ctx: Ctx) -> None:
        for f in folders:
            for d in _series(ctx, f):
                if (ctx.inp / d).exists():
                    shutil.rmtree(ctx.inp / d)
    return build


def _series(ctx: Ctx, which: str) -> list[str]:
    if which in ("sag", "axial"):
        return [ctx.sag] if which == "sag" else list(ctx.axial)
    want = {"sag_t2": ("SAG T2",), "axial_t2": ("AX T2",), "others": ("SAG T2", "AX T2")}[which]
    out = []
    for d in ctx.others:
        first = ctx.files(d)[0]
        if str(pydicom.dcmread(first, stop_before_pixels=True).get("SeriesDescription", "")).upper().startswith(want):
            out.append(d)
    return out


def b_two_studies(ctx: Ctx) -> None:
    study, frame = ctx.uid("study2"), ctx.uid("frame2")
    for d in [ctx.sag, *ctx.axial]:
        folder = f"other_patient/{d}"
        ctx.copy_series(d, folder, 100 + int(d[1:]), StudyInstanceUID=study, FrameOfReferenceUID=frame)
        ctx.edit(folder, lambda ds, _: _set_patient(ds, SECOND_PATIENT))


def b_two_sagittal(ctx: Ctx) -> None:
    ctx.copy_series(ctx.sag, "S061", 61, SeriesDescription="SAG T1 FSE")


def b_two_sagittal_undecodable(ctx: Ctx) -> None:
    """A repeat of the sagittal T1 (preferred: later series number) whose pixels no decoder can read."""
    ctx.copy_series(ctx.sag, "S061", 61, SeriesDescription="SAG T1 FSE")
    ctx.edit("S061", lambda ds, _: _undecodable(ds, RLELossless))


def b_sagittal_contrast(ctx: Ctx) -> None:
    ctx.copy_series(ctx.sag, "S062", 62, SeriesDescription="SAG T1 FSE +C", ContrastBolusAgent="GADOVIST")


def _enhanced(ctx: Ctx, series: str) -> None:
    files = ctx.files(series)
    ds = pydicom.dcmread(files[0])
    ds.PixelData = b"".join(pydicom.dcmread(p).PixelData for p in files)
    ds.NumberOfFrames = len(files)
    _new_sop(ds, ctx.uid("enhanced", series), ENHANCED_MR)
    del ds.ImagePositionPatient, ds.ImageOrientationPatient  # these live in the functional groups
    for p in files:
        p.unlink()
    ds.save_as(ctx.inp / series / "ENHANCED.dcm")


def b_enhanced(ctx: Ctx) -> None:
    _enhanced(ctx, ctx.sag)


def b_enhanced_only(ctx: Ctx) -> None:
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        _enhanced(ctx, d)


def _compress(ts):
    def build(ctx: Ctx) -> None:
        for d in [ctx.sag, *ctx.axial]:
            ctx.edit(d, lambda ds, _: ds.compress(ts, generate_instance_uid=False))
    return build


def _pillow(fmt):
    def build(ctx: Ctx) -> None:
        for d in [ctx.sag, *ctx.axial]:
            ctx.edit(d, lambda ds, _: _pillow_encode(ds, fmt))
    return build


def b_undecodable_sag(ctx: Ctx) -> None:
    ctx.edit(ctx.sag, lambda ds, _: _undecodable(ds, JPEGLosslessSV1))


def b_undecodable_all(ctx: Ctx) -> None:
    for d in [ctx.sag, *ctx.axial]:
        ctx.edit(d, lambda ds, _: _undecodable(ds, JPEG2000Lossless))


def b_no_ipp(ctx: Ctx) -> None:
    def fn(ds, _):
        del ds.ImagePositionPatient
    ctx.edit(ctx.sag, fn)


def b_duplicates(ctx: Ctx) -> None:
    files = ctx.files(ctx.sag)
    for k in (3, 7):
        ds = pydicom.dcmread(files[k])
        _new_sop(ds, ctx.uid("dup", k))
        ds.InstanceNumber = 50 + k
        ds.save_as(files[k].with_name(f"DUP{k:04d}.dcm"))


def b_uneven(ctx: Ctx) -> None:
    jitter = [0, 0.0, 0.6, -0.5, 0.0, 0.7, -0.6, 0.5, 0, -0.55, 0.0, 0.6]

    def fn(ds, k):
        ipp, row, col = _geometry(ds)
        ds.ImagePositionPatient = [round(float(v), 4) for v in ipp + jitter[k % len(jitter)] * np.cross(row, col)]
    ctx.edit(ctx.sag, fn)


def b_missing_slice(ctx: Ctx) -> None:
    files = ctx.files(ctx.sag)
    files[len(files) // 2].unlink()


def b_missing_slices_apart(ctx: Ctx) -> None:
    """Two sagittal T1 slices lost apart from each other: more than a small stack may miss."""
    files = ctx.files(ctx.sag)
    for k in (len(files) // 4, 3 * len(files) // 4):
        files[k].unlink()


def b_sheared(ctx: Ctx) -> None:
    def fn(ds, k):  # each slice shifted 2 mm further along the column direction: a tilted (sheared) stack
        ipp, row, col = _geometry(ds)
        ds.ImagePositionPatient = [round(float(v), 4) for v in ipp + 2.0 * k * col]
    ctx.edit(ctx.sag, fn)


def b_iso3d(ctx: Ctx) -> None:
    """The sagittal T1 as a 3D acquisition: 1 mm slices, ~1 mm pixels over the same volume."""
    from scipy.ndimage import zoom

    files = ctx.files(ctx.sag)
    sets = [pydicom.dcmread(p) for p in files]
    vol = np.stack([d.pixel_array.astype(np.float32) for d in sets])
    ipp0, row, col = _geometry(sets[0])
    normal = np.cross(row, col)
    spacing = float(np.dot(_geometry(sets[-1])[0] - ipp0, normal)) / (len(sets) - 1)
    n = int(round((len(sets) - 1) * spacing)) + 1
    rs, cs = (float(v) for v in sets[0].PixelSpacing)
    rows, cols = int(round(sets[0].Rows * rs)), int(round(sets[0].Columns * cs))
    new = zoom(vol, ((n - 1) / (len(sets) - 1) if len(sets) > 1 else 1, rows / vol.shape[1], cols / vol.shape[2]), order=1)
    for p in files:
        p.unlink()
    uid = ctx.uid("iso-series")
    for k in range(new.shape[0]):
        ds = sets[0].copy()
        ds.Rows, ds.Columns = new.shape[1], new.shape[2]
        rs2, cs2 = rs * sets[0].Rows / ds.Rows, cs * sets[0].Columns / ds.Columns
        ds.PixelSpacing = [round(rs2, 6), round(cs2, 6)]
        ipp = ipp0 + k * 1.0 * normal + 0.5 * (cs2 - cs) * row + 0.5 * (rs2 - rs) * col
        ds.ImagePositionPatient = [round(float(v), 4) for v in ipp]
        ds.SliceThickness, ds.SpacingBetweenSlices, ds.MRAcquisitionType = 1.0, 1.0, "3D"
        ds.SeriesInstanceUID, ds.SeriesDescription, ds.InstanceNumber = uid, "SAG T1 CUBE 3D", k + 1
        ds.RepetitionTime, ds.EchoTime = 600, 14
        _new_sop(ds, ctx.uid("iso", k))
        ds.PixelData = np.clip(new[k], 0, 4095).astype(np.uint16).tobytes()
        ds.save_as(ctx.inp / ctx.sag / f"IM{k + 1:04d}.dcm")


def b_no_weight(ctx: Ctx) -> None:
    def fn(ds, _):
        for key in ("PatientWeight", "PatientSize"):
            if key in ds:
                delattr(ds, key)
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        ctx.edit(d, fn)


def _matrix(n: int, series: str):
    def build(ctx: Ctx) -> None:
        for d in ([ctx.sag, *ctx.axial] if series == "t1" else [ctx.sag]):
            ctx.edit(d, lambda ds, _: _resample(ds, n, n))
    return build


def b_path_names(ctx: Ctx) -> None:
    """Path-like patient name and ID; the files sit under a folder named after the patient."""
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        ctx.edit(d, lambda ds, _: (_set_patient(ds, PATH_PATIENT), setattr(ds, "OtherPatientIDs", "../../../tmp/x")))
    target = ctx.inp / "Müller^Zoë 19530219"
    target.mkdir()
    for d in [ctx.sag, *ctx.axial, *ctx.others]:
        shutil.move(str(ctx.inp / d), str(target / d))


# ---------------------------------------------------------------- the corpus

def _c(name, description, build, exit_codes, **kw) -> Case:
    return Case(name, description, build, frozenset(exit_codes), **kw)


OK = (0, 3)  # segmentation models may still be missing: a clean study gives 0 or 3
CASES: list[Case] = [
    _c("clean", "the phantom study, identifiers replaced by sentinels", b_clean, OK, sagittal=True, axial=True),
    _c("junk_files", "study plus text, empty, random, fake-DICM, zip, DICOMDIR, hidden files and a symlink loop",
       b_junk, OK, sagittal=True, axial=True, graph="fast"),
    _c("only_junk", "no DICOM image at all, only junk files", b_only_junk, (4,), stderr=("no mr images",), graph="fast"),
    _c("empty_folder", "an empty input folder", b_empty, (4,), stderr=("no mr images",), start_empty=True),
    _c("truncated", "sagittal T1 edge slice cut inside the pixels, other files cut inside the header",
       b_truncated, OK, flags=("unreadable_images",), sagittal=True, axial=True),
    _c("truncated_all_t1", "every T1 file cut in half", b_truncated_all_t1, OK, flags=("unreadable_images", "contrast_substitution:sagittal_t2", "contrast_substitution:axial_t2"), sagittal=True, axial=True),
    _c("truncated_all", "every T1 and T2 file cut in half", b_truncated_all, (4,),
       stderr=("no usable sagittal or axial t1/t2", "unreadable pixel data")),
    _c("corrupt_header", "random bytes inside headers of distractor series; one sagittal file without DICM magic",
       b_corrupt, OK, sagittal=True, axial=True, graph="fast"),
    _c("no_pixel_data", "sagittal T1 files without PixelData", b_no_pixels, OK, flags=("contrast_substitution:sagittal_t2",),
       sagittal=True, axial=True),
    _c("pixel_length", "one sagittal T1 file whose PixelData is half as long as Rows x Columns says",
       b_pixel_length, OK, flags=("unreadable_images",), sagittal=True, axial=True),
    _c("ct_sr_only", "a CT series and a text SR, no MR", b_ct_sr_only, (4,), stderr=("no mr images",)),
    _c("mr_with_ct_sr", "the study plus a CT series and an SR in the same study", b_mr_ct_sr, OK, sagittal=True, axial=True),
    _c("no_sagittal_t1", "the sagittal T1 series removed", _remove("sag"), OK, flags=("contrast_substitution:sagittal_t2",),
       sagittal=True, axial=True, graph="fast"),
    _c("no_sagittal", "the sagittal T1 and T2 series removed", _remove("sag", "sag_t2"), (3,), flags=("no_sagittal_t1",),
       stderr=("no usable sagittal t1 or t2",), sagittal=False, axial=True, graph="fast"),
    _c("no_axial_t1", "the axial T1 series removed", _remove("axial"), OK, flags=("contrast_substitution:axial_t2",),
       sagittal=True, axial=True),
    _c("no_axial", "the axial T1 and T2 series removed", _remove("axial", "axial_t2"), (3,), flags=("no_axial_t1",),
       sagittal=True, axial=False),
    _c("no_t1", "both T1 series removed (only localizer and T2 left)", _remove("sag", "axial"), OK,
       flags=("contrast_substitution:sagittal_t2", "contrast_substitution:axial_t2"), sagittal=True, axial=True),
    _c("no_t1_no_t2", "T1 and T2 series removed (only the localizer left)", _remove("sag", "axial", "others"), (4,),
       stderr=("no usable sagittal or axial t1/t2",)),
    _c("two_studies", "a second study of another patient in a subfolder", b_two_studies, OK,
       flags=("other_studies_ignored",), sagittal=True, axial=True, graph="fast"),
    _c("two_sagittal_t1", "a repeated sagittal T1 series", b_two_sagittal, OK, sagittal=True, axial=True,
       reason="another sagittal series scored higher"),
    _c("sagittal_t1_contrast", "an extra contrast-enhanced sagittal T1", b_sagittal_contrast, OK, sagittal=True,
       axial=True, reason="another sagittal series scored higher"),
    _c("enhanced_mr", "the sagittal T1 as one Enhanced MR object without functional groups (no frame geometry)",
       b_enhanced, OK, flags=("contrast_substitution:sagittal_t2",), sagittal=True, axial=True, reason="no usable image geometry",
       graph="fast"),
    _c("enhanced_only", "every series as Enhanced MR without functional groups", b_enhanced_only, (4,),
       stderr=("no usable sagittal or axial",)),
    _c("two_sagittal_undecodable", "a repeated sagittal T1, preferred, whose pixel data cannot be decoded",
       b_two_sagittal_undecodable, OK, flags=("series_fallback",), sagittal=True, axial=True, reason="pixels could not be read"),
    _c("rle", "T1 series RLE Lossless (pydicom encoder)", _compress(RLELossless), OK, sagittal=True, axial=True,
       graph="models", dicom=True),
    _c("jpeg_ls", "T1 series JPEG-LS lossless (pyjpegls)", _compress(JPEGLSLossless), OK, sagittal=True, axial=True),
    _c("jpeg_baseline", "T1 series 8-bit JPEG baseline (Pillow)", _pillow("JPEG"), OK, sagittal=True, axial=True),
    _c("jpeg2000", "T1 series JPEG 2000 lossless (Pillow/OpenJPEG)", _pillow("J2K"), OK, sagittal=True, axial=True),
    _c("undecodable_sagittal", "sagittal T1 declares JPEG Lossless SV1 over undecodable data: the sagittal T2 is used",
       b_undecodable_sag, OK, flags=("series_fallback", "contrast_substitution:sagittal_t2"), sagittal=True, axial=True,
       reason="jpeg lossless", graph="fast"),
    _c("undecodable_all", "every T1 declares JPEG 2000 over undecodable data: the T2 series are used", b_undecodable_all, OK,
       flags=("series_fallback", "contrast_substitution:sagittal_t2", "contrast_substitution:axial_t2"),
       sagittal=True, axial=True, reason="jpeg 2000", graph="fast"),
    _c("no_ipp", "sagittal T1 without ImagePositionPatient", b_no_ipp, OK, flags=("contrast_substitution:sagittal_t2",), sagittal=True,
       axial=True, reason="no usable image geometry"),
    _c("duplicate_positions", "two sagittal slices repeated at the same position", b_duplicates, OK,
       flags=("duplicate_slices",), sagittal=True, axial=True),
    _c("uneven_spacing", "sagittal slice positions jittered by up to 0.7 mm", b_uneven, OK,
       flags=("uneven_slice_spacing",), sagittal=True, axial=True),
    _c("missing_slice", "the middle sagittal T1 slice missing: the T1 is used, the gap interpolated and flagged", b_missing_slice,
       OK, flags=("missing_slices",), sagittal=True, axial=True),
    _c("missing_slices_apart", "two sagittal T1 slices missing apart: split, the sagittal T2 is used", b_missing_slices_apart, OK,
       flags=("contrast_substitution:sagittal_t2",), sagittal=True, axial=True, reason="slices missing"),
    _c("sheared_stack", "sagittal T1 slices shifted 2 mm each along the columns (gantry tilt)", b_sheared, OK,
       flags=("contrast_substitution:sagittal_t2",), sagittal=True, axial=True, reason="sheared"),
    _c("oblique_20", "sagittal T1 rotated 20 degrees about the body axis", lambda c: _rotate_series(c, c.sag, 20), OK,
       sagittal=True, axial=True),
    _c("oblique_40", "sagittal T1 rotated 40 degrees about the body axis", lambda c: _rotate_series(c, c.sag, 40), OK,
       flags=("contrast_substitution:sagittal_t2",), sagittal=True, axial=True, reason="oblique"),
    _c("iso3d_sagittal", "the sagittal T1 as a 3D acquisition (1 mm slices and pixels)", b_iso3d, OK, sagittal=True,
       axial=True),
    _c("no_weight_height", "PatientWeight and PatientSize removed", b_no_weight, OK, flags=("biomech_default_subject",),
       sagittal=True, axial=True, graph="fast"),
    _c("tiny_32", "T1 series on a 32x32 matrix (same field of view)", _matrix(32, "t1"), OK, sagittal=True, axial=True,
       graph="fast"),
    _c("huge_1024", "sagittal T1 on a 1024x1024 matrix", _matrix(1024, "sag"), OK, sagittal=True, axial=True,
       graph="models"),
    _c("path_names", "patient name/ID '../../etc', files under a folder named after the patient",
       b_path_names, OK, sagittal=True, axial=True, graph="models", dicom=True),
]


def phantom_facts(phantom: Path) -> dict:
    truth = json.loads((phantom / "truth.json").read_text())["series"]
    sag = f"S{truth['sagittal_t1']['series_number']:03d}"
    axial = [f"S{a['series_number']:03d}" for a in truth["axial_t1"]]
    others = [f"S{a['series_number']:03d}" for a in truth["rejected"]]
    return {"sag": sag, "axial": axial, "others": others}


def make_phantom(root: Path, seed: int = 1) -> Path:
    """The small phantom every case starts from, identifiers replaced by the sentinels in PHI."""
    from lumbarqi.phantom.generate import generate_study

    phantom = root / "_phantom"
    if not (phantom / "truth.json").exists():
        generate_study(phantom, seed, preset="small", axial="tilted")
        for path in sorted((phantom / "DICOM").rglob("*.dcm")):
            ds = pydicom.dcmread(path)
            _set_patient(ds, PHI)
            ds.save_as(path)
    return phantom


def build_case(case: Case, phantom: Path, root: Path) -> Path:
    inp = root / case.name
    if inp.exists():
        shutil.rmtree(inp)
    if case.start_empty:
        inp.mkdir(parents=True)
    else:
        shutil.copytree(phantom / "DICOM", inp, symlinks=True)
    f = phantom_facts(phantom)
    case.build(Ctx(inp, phantom / "DICOM", f["sag"], f["axial"], f["others"], random.Random(case.name), case.name))
    return inp


def build_corpus(root: Path, names: list[str] | None = None) -> dict[str, tuple[Case, Path]]:
    """Write the cases (all, or ``names``) under ``root``; returns name -> (case, input folder)."""
    root = Path(root)
    phantom = make_phantom(root)
    return {c.name: (c, build_case(c, phantom, root)) for c in CASES if names is None or c.name in names}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for name, (case, path) in build_corpus(out).items():
        print(f"{name:22s} {path}  expected: {case.expected}")


def observe(inp: Path) -> dict:
    """Run the input side in-process (scan, select, read volumes) and say what happened.

    ``exit`` is the exit status the input side implies (the graph may add 3 for a
    failed later stage); ``error`` the one-line LumbarqiError, if any.
    """
    from lumbarqi.errors import LumbarqiError
    from lumbarqi.run.stages import find_study, read_volumes
    from lumbarqi.run.state import RunOptions, RunState

    state = RunState(RunOptions(input_dir=Path(inp), output_dir=Path(inp).parent / "_never_written", models_dir=Path("/nonexistent")))
    obs: dict = {"exit": None, "error": None, "sagittal": None, "axial": None, "reasons": [], "volumes": None}
    try:
        _, selection, _ = find_study(state)
        sag, axial = read_volumes(state, selection)
        obs["volumes"] = ([list(sag.array.shape)] if sag is not None else []) + [list(a.array.shape) for a in axial]
        obs["exit"] = state.exit_code()
    except LumbarqiError as exc:
        obs["error"], obs["exit"] = str(exc), exc.exit_code
    series = state.results["series"]
    obs["sagittal"] = series["sagittal_t1"] is not None
    obs["axial"] = bool(series["axial_t1"])
    obs["reasons"] = [r["reason"] for r in series["rejected"]]
    obs["flags"] = [f["code"] for f in state.results["flags"]]
    obs["flag_messages"] = [f["message"] for f in state.results["flags"]]
    obs["subject_source"] = state.results["subject"].get("source")
    return obs
