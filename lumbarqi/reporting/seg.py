"""DICOM Segmentation, one per source stack, built with highdicom.

Each label number present in a :class:`~lumbarqi.volume.LabelledVolume` becomes
one segment (numbered 1..N in label order), coded with SNOMED CT (or the local
scheme, see :mod:`lumbarqi.reporting.codes`), its level as anatomic region, its
side as a property type modifier, a fixed colour and the algorithm (model name
and version from ``models/<task>/config.json``). UIDs are derived from the
source SOP Instance UIDs, so a re-run replaces the earlier object.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

import lumbarqi
from lumbarqi import labels as lb
from lumbarqi.reporting import codes
from lumbarqi.reporting.multiframe_source import stack_source
from lumbarqi.volume import LabelledVolume

MANUFACTURER = "lumbarqi"
MODEL_NAME = "lumbarqi"
#: Default model folder: ``models/`` at the repository (or MAP application) root.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@dataclass
class SegInfo:
    """A written Segmentation and what the SR needs to reference it."""

    dataset: hd.seg.Segmentation
    labelled: LabelledVolume
    source_images: list[Dataset]  # per slice with an image (all but the volume's missing slices), slice order
    segment_of_label: dict[int, int]  # label number -> segment number
    slices_of_label: dict[int, list[int]] = field(default_factory=dict)  # label -> slice indices (with an image)
    source_frames: list[int] = field(default_factory=list)  # as source_images: 1-based frame of a multi-frame source (else empty)

    def image(self, k: int) -> Dataset:
        """The source image of slice ``k`` (ValueError for a missing slice: it has none)."""
        i = self.labelled.volume.image_index(k)
        if i is None:
            raise ValueError(f"stack {self.key}: slice {k} has no source image")
        return self.source_images[i]

    def frames_of(self, slices: list[int]) -> list[int] | None:
        """Referenced Frame Numbers of the given slices (None for single-frame sources; missing slices left out)."""
        if not self.source_frames:
            return None
        index = (self.labelled.volume.image_index(k) for k in slices)
        return sorted({self.source_frames[i] for i in index if i is not None})

    def middle(self) -> int:
        """The middle slice of the stack, or the nearest one with a source image."""
        return self.labelled.volume.nearest_with_image(self.labelled.label.shape[0] // 2)

    @property
    def key(self) -> str:
        return self.labelled.volume.key


def model_identity(task: str, models_dir: Path | None = None) -> tuple[str, str]:
    """(name, version) of a task's model from ``<models_dir>/<task>/config.json``.

    Falls back to ``lumbarqi-<task>`` and the package version when no config exists.
    """
    folder = Path(models_dir or DEFAULT_MODELS_DIR) / task
    name, version = f"lumbarqi-{task}", f"lumbarqi {lumbarqi.__version__} (no model config)"
    cfg_path = folder / "config.json"
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text())
        except (OSError, ValueError):
            return name, version
        name = str(cfg.get("name") or f"lumbarqi-{cfg.get('task', task)}")
        version = str(cfg.get("version") or version)
    return name[:64], version[:64]


def _task_of(label: int, plane: str, models_dir: Path | None) -> str:
    """Which network task produced a label on a stack of the given plane."""
    structure, _, _ = lb.structure_of(lb.label_names().get(label, ""))
    if structure == "disc" and (Path(models_dir or DEFAULT_MODELS_DIR) / "discs" / "config.json").is_file():
        return "discs"
    if structure in lb.MUSCLES:
        return "muscles"
    if structure in ("vertebral_body", "disc"):
        return "vertebrae"
    return "muscles" if plane == "axial" else "vertebrae"


def stack_plane(labelled: LabelledVolume) -> str:
    """'sagittal', 'axial' or 'coronal' from the slice normal (LPS)."""
    n = np.abs(labelled.volume.geometry.normal)
    return ("sagittal", "coronal", "axial")[int(np.argmax(n))]


def ordered_sources(labelled: LabelledVolume, datasets: list[Dataset]) -> list[Dataset]:
    """The stack's source datasets in slice order (by the volume's SOP UIDs when given)."""
    vol = labelled.volume
    if vol.sop_instance_uids:
        by_uid = {str(ds.SOPInstanceUID): ds for ds in datasets}
        missing = [u for u in vol.sop_instance_uids if u not in by_uid]
        if missing:
            raise ValueError(f"stack {vol.key}: {len(missing)} source images not among the datasets given")
        datasets = [by_uid[u] for u in vol.sop_instance_uids]
    expected = labelled.label.shape[0] - len(vol.missing_slices)
    if len(datasets) != expected:
        raise ValueError(f"stack {vol.key}: {len(datasets)} source images for {expected} label slices with an image "
                         f"({len(vol.missing_slices)} of {labelled.label.shape[0]} missing)")
    return list(datasets)


def seg_uids(source_images: list[Dataset], binary: bool, frames: list[int] | None = None) -> tuple[str, str]:
    """(series UID, SOP instance UID) derived from the source images (and frames of a multi-frame one; deterministic)."""
    srcs = [str(ds.SOPInstanceUID) for ds in source_images] + [f"frame {n}" for n in frames or []]
    series = generate_uid(entropy_srcs=[*srcs, "lumbarqi", "seg", "series"])
    instance = generate_uid(entropy_srcs=[*srcs, "lumbarqi", "seg", "binary" if binary else "labelmap"])
    return series, instance


def seg_series_number(source_images: list[Dataset], stack_index: int) -> int:
    """Series number of a stack's SEG: 1000 + 10 x source series number + stack."""
    try:
        src = int(source_images[0].SeriesNumber)
    except (AttributeError, TypeError, ValueError):
        src = 0
    return 1000 + 10 * src + stack_index


def _segment_description(label: int, number: int, plane: str,
                         models_dir: Path | None) -> hd.seg.SegmentDescription:
    category, prop_type, regions, side, text = codes.segment_concepts(label)
    name, version = model_identity(_task_of(label, plane, models_dir), models_dir)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=name, family=codes.ALGORITHM_FAMILY, version=version, source=MANUFACTURER)
    desc = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=text[:64],
        segmented_property_category=category,
        segmented_property_type=prop_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        tracking_id=text[:64],
        tracking_uid=generate_uid(entropy_srcs=["lumbarqi", "segment", text]),
        anatomic_regions=regions,
        display_color=codes.segment_colour(label),
    )
    if side is not None:  # laterality: modifier nested in the property type item (PS3.3 10.25)
        modifier = hd.sr.CodedConcept.from_code(codes.LATERALITY[side])
        desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = \
            DicomSequence([modifier])
    return desc


def build_segmentation(labelled: LabelledVolume, datasets: list[Dataset], binary: bool = False,
                       models_dir: Path | None = None) -> SegInfo | None:
    """One Segmentation for one stack; ``None`` if its label map holds no coded label."""
    sources = ordered_sources(labelled, datasets)
    names = lb.label_names()
    vol = labelled.volume
    # A missing slice has no source image to derive a frame from: its labels (on interpolated pixels) are left out.
    kept = np.delete(labelled.label, list(vol.missing_slices), axis=0) if vol.missing_slices else labelled.label
    present = [int(v) for v in np.unique(kept) if v != 0 and int(v) in names]
    if not present:
        return None
    lut = np.zeros(max(256, int(labelled.label.max()) + 1), dtype=np.uint8)
    segment_of_label = {}
    for number, label in enumerate(present, start=1):
        lut[label] = number
        segment_of_label[label] = number
    pixels = lut[kept.astype(np.intp)]
    plane = stack_plane(labelled)
    descriptions = [_segment_description(label, n, plane, models_dir) for label, n in segment_of_label.items()]
    series_uid, sop_uid = seg_uids(sources, binary, vol.source_frames)
    hd_sources: list[Dataset] = sources
    spatial: dict[str, Any] = {}
    if vol.source_frames:  # one multi-frame source: a view with this stack's geometry, frames matched by position
        if len({str(ds.SOPInstanceUID) for ds in sources}) != 1:
            raise ValueError(f"stack {vol.key}: frames of several multi-frame objects in one stack")
        view, positions = stack_source(sources[0], vol.source_frames)
        hd_sources, spatial = [view], {"plane_positions": positions}
    desc = f"lumbarqi SEG {vol.series_description}".strip()
    if vol.stack_index:
        desc += f" stack {vol.stack_index + 1}"
    seg = hd.seg.Segmentation(
        source_images=hd_sources,
        pixel_array=pixels,
        segmentation_type=(hd.seg.SegmentationTypeValues.BINARY if binary
                           else hd.seg.SegmentationTypeValues.LABELMAP),
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=seg_series_number(sources, vol.stack_index),
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=lumbarqi.__version__,
        device_serial_number="0",
        content_label="LUMBARQI",
        content_description=f"Automatic segmentation ({plane})"[:64],
        series_description=desc[:64],
        coding_schemes=codes.coding_schemes(),
        omit_empty_frames=True,
        **spatial,
    )
    slices = {label: vol.with_images(np.nonzero((labelled.label == label).any(axis=(1, 2)))[0]) for label in present}
    return SegInfo(seg, labelled, sources, segment_of_label, slices, list(vol.source_frames))


def read_segments(path: Path | str) -> dict[int, tuple[str, str | None]]:
    """Segment number -> (property type meaning, laterality meaning) of a written SEG."""
    seg = hd.seg.segread(str(path))
    out = {}
    for number in seg.segment_numbers:
        d = seg.get_segment_description(number)
        mods = getattr(d.SegmentedPropertyTypeCodeSequence[0],
                       "SegmentedPropertyTypeModifierCodeSequence", None)
        out[number] = (d.segmented_property_type.meaning, str(mods[0].CodeMeaning) if mods else None)
    return out


__all__ = ["SegInfo", "build_segmentation", "model_identity", "read_segments", "seg_uids",
           "stack_plane"]
