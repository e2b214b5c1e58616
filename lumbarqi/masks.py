"""Run the shipped networks on a study's volumes and return masks in lumbarqi terms.

Sagittal: generic classes (``pipeline.SAGITTAL_CLASSES``) before levels are
named. Axial: muscle labels with laterality from patient coordinates.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from lumbarqi.errors import LumbarqiError
from lumbarqi.pipeline import SAGITTAL_CLASSES, RunState, lateralise_muscles
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


def caudal_sacrum(classes: np.ndarray, sag: SeriesVolume) -> np.ndarray:
    """Keep only sacrum voxels caudal to the lowest disc along the spine axis (largest such piece).

    The sacrum anchors the level count, so a false sacrum along the canal or the
    posterior elements (seen on T1 from a network that learnt the class mostly
    from the phantom) would shift every level name. The spine axis is the main
    axis of the vertebral body and disc voxels (patient mm), pointing cranially.
    """
    from scipy import ndimage

    body_disc = np.argwhere((classes == SAGITTAL_CLASSES["vertebral_body"]) | (classes == SAGITTAL_CLASSES["disc"]))
    sacrum = classes == SAGITTAL_CLASSES["sacrum"]
    disc = classes == SAGITTAL_CLASSES["disc"]
    if len(body_disc) < 100 or not sacrum.any() or not disc.any():
        return classes
    xyz = sag.geometry.voxel_to_lps(body_disc)
    centre = xyz.mean(axis=0)
    axis = np.linalg.svd(xyz - centre, full_matrices=False)[2][0]
    axis *= np.sign(axis[2] or 1.0)
    comps, n = ndimage.label(disc)
    sizes = ndimage.sum(disc, comps, range(1, n + 1))
    lowest = None
    for i in np.nonzero(sizes >= 0.2 * sizes.max())[0]:
        p = float((sag.geometry.voxel_to_lps(np.argwhere(comps == i + 1)).mean(axis=0) - centre) @ axis)
        lowest = p if lowest is None else min(lowest, p)
    idx = np.argwhere(sacrum)
    proj = (sag.geometry.voxel_to_lps(idx) - centre) @ axis
    drop = idx[proj > lowest]
    out = classes.copy()
    out[tuple(drop.T)] = 0
    comps, n = ndimage.label(out == SAGITTAL_CLASSES["sacrum"])
    if n > 1:  # the largest caudal piece is the sacrum (the network may keep several candidates)
        sizes = ndimage.sum(comps > 0, comps, range(1, n + 1))
        out[(comps > 0) & (comps != int(np.argmax(sizes)) + 1)] = 0
    return out


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
