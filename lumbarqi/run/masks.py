"""Run the shipped networks on a study's volumes and return masks in lumbarqi terms.

Sagittal: generic classes (``segmentation.postprocess.SAGITTAL_CLASSES``) before
levels are named. Axial: muscle labels with laterality from patient coordinates.
The post-processing itself is in :mod:`lumbarqi.segmentation.postprocess`.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from lumbarqi.errors import LumbarqiError
from lumbarqi.run.state import RunState
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


def segment_vertebrae(state: RunState, sag: SeriesVolume) -> tuple[np.ndarray, dict]:
    """Generic sagittal classes (vertebral body, disc, sacrum) and per-class confidence."""
    t = time.perf_counter()
    seg = load_engine(str(Path(state.options.models_dir) / "vertebrae")).segment(sag.array, sag.geometry.affine())
    classes = np.zeros(sag.array.shape, np.uint8)
    for name, value in SAGITTAL_CLASSES.items():
        if name in seg.classes:
            classes[seg.mask(name)] = value
    classes = caudal_sacrum(classes, sag)
    state.stage("vertebrae", time.perf_counter() - t, f"vertebral bodies: {int((classes == 1).sum())} voxels, sacrum: {int((classes == 3).sum())}")
    return classes, seg.confidence


def segment_discs(state: RunState, sag: SeriesVolume) -> tuple[np.ndarray, dict]:
    """Disc mask from the disc network."""
    t = time.perf_counter()
    seg = load_engine(str(Path(state.options.models_dir) / "discs")).segment(sag.array, sag.geometry.affine())
    mask = seg.mask("disc")
    state.stage("discs", time.perf_counter() - t, f"discs: {int(mask.sum())} voxels")
    return mask, seg.confidence


def segment_muscles(state: RunState, axial: list[SeriesVolume]) -> list[LabelledVolume]:
    """Muscle labels (lumbarqi numbering, sided) for every axial stack."""
    t = time.perf_counter()
    engine = load_engine(str(Path(state.options.models_dir) / "muscles"))
    out = []
    for vol in axial:
        seg = engine.segment(vol.array, vol.geometry.affine())
        label = lateralise_muscles(vol, seg.labels, seg.classes, None)
        out.append(LabelledVolume(vol, label, seg.confidence))
    state.stage("muscles", time.perf_counter() - t, f"{len(out)} axial stacks segmented")
    return out
