"""Post-processing of the networks' output, as pure functions (arrays and geometry in, arrays out).

:data:`SAGITTAL_CLASSES` are the generic sagittal classes before levels are named;
:func:`caudal_sacrum` keeps the plausible sacrum, which anchors the level count;
:func:`lateralise_muscles` gives each muscle voxel its side from patient coordinates.
"""
from __future__ import annotations

import numpy as np

from lumbarqi import labels as L
from lumbarqi.volume import SeriesVolume

#: Generic classes of the sagittal segmenters before levels are named.
SAGITTAL_CLASSES = {"vertebral_body": 1, "disc": 2, "sacrum": 3}


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


def lateralise_muscles(volume: SeriesVolume, classes: np.ndarray, class_names: tuple[str, ...], midline_x: float | None) -> np.ndarray:
    """Muscle classes -> lumbarqi labels with side from patient x (LPS: +x is the patient's left)."""
    label = np.zeros(classes.shape, np.uint8)
    k, i, j = np.nonzero(classes)
    if k.size == 0:
        return label
    xyz = volume.geometry.voxel_to_lps(np.stack([k, i, j], axis=1))
    mid = midline_x if midline_x is not None else float(np.median(xyz[:, 0]))
    left = xyz[:, 0] > mid
    for c, name in enumerate(class_names):
        if c == 0 or name not in L.MUSCLES:
            continue
        sel = classes[k, i, j] == c
        label[k[sel & left], i[sel & left], j[sel & left]] = L.MUSCLE_LABEL[(name, "left")]
        label[k[sel & ~left], i[sel & ~left], j[sel & ~left]] = L.MUSCLE_LABEL[(name, "right")]
    return label
