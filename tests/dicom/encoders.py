"""Re-encode a DICOM folder the way PACS archives do, with tools other than lumbarqi's decoders.

DCMTK (dcmcjpeg, dcmcjpls, dcmcrle, dcmconv), GDCM (gdcmconv, JPEG 2000
lossless), OpenJPEG's opj_compress (JPEG 2000 lossy) and OpenJPH's
ojph_compress (HTJ2K). The decoders under test are pydicom's pixel plugins
(pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls, pylibjpeg-rle).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import UID

#: name -> (transfer syntax UID written, lossless?, how)
FORMATS: dict[str, tuple[str, bool, list[str] | str]] = {
    "jpeg_baseline": ("1.2.840.10008.1.2.4.50", False, ["dcmcjpeg", "+eb"]),
    "jpeg_extended": ("1.2.840.10008.1.2.4.51", False, ["dcmcjpeg", "+ee"]),
    "jpeg_lossless_sv1": ("1.2.840.10008.1.2.4.70", True, ["dcmcjpeg", "+e1"]),
    "jpeg_lossless_sv6": ("1.2.840.10008.1.2.4.57", True, ["dcmcjpeg", "+el", "+sv", "6"]),
    "jpeg_ls_lossless": ("1.2.840.10008.1.2.4.80", True, ["dcmcjpls", "+el"]),
    "jpeg_ls_near_lossless": ("1.2.840.10008.1.2.4.81", False, ["dcmcjpls", "+en", "+md", "2"]),
    "rle": ("1.2.840.10008.1.2.5", True, ["dcmcrle"]),
    "deflated": ("1.2.840.10008.1.2.1.99", True, ["dcmconv", "+td"]),
    "jpeg2000_lossless": ("1.2.840.10008.1.2.4.90", True, ["gdcmconv", "--j2k"]),
    "jpeg2000_lossy": ("1.2.840.10008.1.2.4.91", False, "opj_compress"),
    "htj2k_lossless": ("1.2.840.10008.1.2.4.201", True, "ojph_lossless"),
    "htj2k_lossy": ("1.2.840.10008.1.2.4.203", False, "ojph_lossy"),
}


def _pgm(ds: pydicom.Dataset, path: Path) -> None:
    """The (single-frame, unsigned, grey) pixels as a 16-bit binary PGM for the JPEG 2000 command-line encoders."""
    a = ds.pixel_array
    maxval = (1 << int(ds.BitsStored)) - 1
    path.write_bytes(f"P5\n{a.shape[1]} {a.shape[0]}\n{maxval}\n".encode() + a.astype(">u2").tobytes())


def _codestream(how: str, src: Path, tmp: Path) -> bytes:
    ds = pydicom.dcmread(src)
    _pgm(ds, tmp / "in.pgm")
    if how == "opj_compress":  # JPEG 2000 (irreversible 9/7 wavelet), compression ratio 5 (of the 16-bit container)
        cmd = ["opj_compress", "-i", str(tmp / "in.pgm"), "-o", str(tmp / "out.j2k"), "-r", "5", "-I"]
        out = tmp / "out.j2k"
    else:
        out = tmp / "out.j2c"
        extra = ["-reversible", "true"] if how == "ojph_lossless" else ["-qstep", "0.002"]
        cmd = ["ojph_compress", "-i", str(tmp / "in.pgm"), "-o", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return out.read_bytes()


def _wrap(src: Path, dst: Path, codestream: bytes, syntax: str, lossless: bool) -> None:
    """``src`` with its pixel data replaced by one encapsulated codestream in transfer syntax ``syntax``."""
    ds = pydicom.dcmread(src)
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    if not lossless:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_15444_1" if syntax.endswith(".91") else "ISO_15444_15"
    ds.save_as(dst, enforce_file_format=True)


def encode_folder(src: Path, dst: Path, fmt: str) -> int:
    """Every DICOM image under ``src`` re-encoded in ``fmt`` into the same tree under ``dst``; returns the count."""
    syntax, lossless, how = FORMATS[fmt]
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not path.suffix == ".dcm":
                shutil.copy2(path, target)
                continue
            if isinstance(how, list):
                subprocess.run([*how, str(path), str(target)], check=True, capture_output=True)
            else:
                _wrap(path, target, _codestream(how, path, Path(tmp)), syntax, lossless)
            n += 1
    return n
