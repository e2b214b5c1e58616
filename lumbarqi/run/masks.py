"""Run the shipped networks on a study's volumes and return masks in lumbarqi terms.

Sagittal: generic classes (``segmentation.postprocess.SAGITTAL_CLASSES``) before
levels are named. Axial: muscle labels with laterality from patient coordinates.
The post-processing itself is in :mod:`lumbarqi.segmentation.postprocess`.
Each function receives what it uses (the models folder, the volumes) and returns
what it makes; the segmenter operators time and log them (``summary_*``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from lumbarqi.errors import LumbarqiError
from lumbarqi.segmentation.postprocess import SAGITTAL_CLASSES, caudal_sacrum, lateralise_muscles
from lumbarqi.volume import LabelledVolume, SeriesVolume


@lru_cache(maxsize=8)
def load_engine(model_dir: str):
    """A SegmentationEngine for ``model_dir`` (cached: a model loads once per process)."""
    from lumbarqi.segmentation.inference import SegmentationEngine

    path = Path(model_dir)
    if not (path / "config.json").exists():
        raise LumbarqiError(f"no model in {path} (expected config.json and a TorchScript file)")
    return SegmentationEngine(path)


def segment_vertebrae(models_dir: Path, sag: SeriesVolume) -> tuple[np.ndarray, dict]:
    """Generic sagittal classes (vertebral body, disc, sacrum) and per-class confidence."""
    seg = load_engine(str(Path(models_dir) / "vertebrae")).segment(sag.array, sag.geometry.affine())
    classes = np.zeros(sag.array.shape, np.uint8)
    for name, value in SAGITTAL_CLASSES.items():
        if name in seg.classes:
            classes[seg.mask(name)] = value
    return caudal_sacrum(classes, sag), seg.confidence


def summary_vertebrae(result: tuple[np.ndarray, dict]) -> str:
    classes = result[0]
    return f"vertebral bodies: {int((classes == 1).sum())} voxels, sacrum: {int((classes == 3).sum())}"


def segment_discs(models_dir: Path, sag: SeriesVolume) -> tuple[np.ndarray, dict]:
    """Disc mask and its confidence from the disc network (only its disc class is used: the
    shipped disc network is a joint sagittal network, see ``models/discs/MODEL_CARD.md``)."""
    seg = load_engine(str(Path(models_dir) / "discs")).segment(sag.array, sag.geometry.affine())
    return seg.mask("disc"), {k: v for k, v in seg.confidence.items() if k == "disc"}


def summary_discs(result: tuple[np.ndarray, dict]) -> str:
    return f"discs: {int(result[0].sum())} voxels"


def segment_muscles(models_dir: Path, axial: list[SeriesVolume]) -> list[LabelledVolume]:
    """Muscle labels (lumbarqi numbering, sided) for every axial stack."""
    engine = load_engine(str(Path(models_dir) / "muscles"))
    out = []
    for vol in axial:
        seg = engine.segment(vol.array, vol.geometry.affine())
        label = lateralise_muscles(vol, seg.labels, seg.classes, None)
        out.append(LabelledVolume(vol, label, seg.confidence))
    return out


def summary_muscles(result: list[LabelledVolume]) -> str:
    return f"{len(result)} axial stacks segmented"
