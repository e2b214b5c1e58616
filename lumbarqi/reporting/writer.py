"""Entry point: every standard output of one run, written atomically.

``out_dir/dicom/``: one SEG per source stack, the TID 1500 SR and the
Encapsulated PDF; ``out_dir/report.pdf``; ``out_dir/overlays/*.png``. All DICOM
objects join the source study with UIDs derived from the inputs, so a re-run
overwrites the same files and a PACS replaces rather than duplicates.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from lumbarqi.concurrency import in_child
from lumbarqi.reporting.encapsulated import EncapsulatedPDF, pdf_uids
from lumbarqi.reporting.pdf import render_report
from lumbarqi.reporting.seg import SegInfo, build_segmentation, stack_plane
from lumbarqi.reporting.sr import build_sr, locate_level_slice, sagittal_seg
from lumbarqi.volume import LabelledVolume


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Save a dataset as a DICOM file (with file meta) via a temporary name + os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _seg_name(info: SegInfo) -> str:
    src = info.source_images[0]
    number = src.get("SeriesNumber")
    stem = f"S{int(number):03d}" if number is not None else info.labelled.volume.series_instance_uid
    return f"seg_{stem}_stack{info.labelled.volume.stack_index + 1}.dcm"


def write_outputs(out_dir: Path, results: dict, labelled: list[LabelledVolume],
                  source_datasets: dict[str, list[pydicom.Dataset]], binary: bool = False,
                  models_dir: Path | None = None) -> list[Path]:
    """Write SEGs, SR, PDF (+ Encapsulated PDF) and overlay PNGs; return every path written.

    ``source_datasets`` is keyed by ``LabelledVolume.volume.key`` and holds that
    stack's images (pixel data not needed); ``binary`` writes BINARY instead of
    LABELMAP segmentations; ``models_dir`` holds ``<task>/config.json`` for the
    algorithm name and version (default: the repository's ``models/``).
    """
    segs, written = write_segmentations(out_dir, labelled, source_datasets, binary, models_dir)
    return written + write_reports(out_dir, results, labelled, segs, source_datasets, models_dir)


def write_segmentations(out_dir: Path, labelled: list[LabelledVolume], source_datasets: dict[str, list[pydicom.Dataset]],
                        binary: bool = False, models_dir: Path | None = None) -> tuple[list[SegInfo], list[Path]]:
    """The first half of :func:`write_outputs`: one SEG per stack (needs no loads); (SEGs, paths)."""
    dicom_dir = Path(out_dir) / "dicom"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    segs: list[SegInfo] = []
    written: list[Path] = []
    for lv in labelled:
        if lv.volume.key not in source_datasets:
            raise ValueError(f"no source datasets for stack {lv.volume.key}")
        info = build_segmentation(lv, source_datasets[lv.volume.key], binary=binary, models_dir=models_dir)
        if info is not None:
            segs.append(info)
            written.append(write_dataset(info.dataset, dicom_dir / _seg_name(info)))
    return segs, written


def write_reports(out_dir: Path, results: dict, labelled: list[LabelledVolume], segs: list[SegInfo],
                  source_datasets: dict[str, list[pydicom.Dataset]], models_dir: Path | None = None) -> list[Path]:
    """The second half: SR (referencing ``segs``), PDF, overlays, Encapsulated PDF; the paths written.

    The report's figures are drawn in a forked child (lumbarqi.concurrency) while
    this process builds and encodes the SR: both are GIL-bound Python work.
    """
    out_dir = Path(out_dir)
    dicom_dir = out_dir / "dicom"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    sagittal = sagittal_seg(segs, results)
    axial = []
    for level in results.get("muscles") or {}:
        entry: dict = next((e for sides in results["muscles"][level].values() for e in sides.values()), {})
        where = locate_level_slice(level, entry, segs, sagittal)
        if where is not None:
            axial.append((level, where[0].labelled, where[1]))
    sag_lv = sagittal.labelled if sagittal else next(
        (lv for lv in labelled if stack_plane(lv) == "sagittal"), None)
    pdf_path = out_dir / "report.pdf"
    report = in_child(render_report, pdf_path, results, sag_lv, axial, out_dir / "overlays")
    written: list[Path] = []
    try:
        if segs:
            written.append(write_dataset(build_sr(results, segs, models_dir), dicom_dir / "sr_measurements.dcm"))
    finally:
        pngs = report.result()  # waits for the child even when the SR failed
    written += pngs
    written.append(pdf_path)

    sources = [ds for lv in labelled for ds in source_datasets.get(lv.volume.key, [])]
    if sources:
        series_uid, sop_uid = pdf_uids([str(ds.SOPInstanceUID) for ds in sources])
        enc = EncapsulatedPDF(pdf_path.read_bytes(), sources[0], series_uid, sop_uid)
        written.append(write_dataset(enc, dicom_dir / "report_pdf.dcm"))
    return written
