"""Real spines for level naming: SPIDER label maps -> generic body, disc and sacrum masks.

The SPIDER reference maps (``../shared/data/spider_masks_sagittal``) name every
vertebra (whole vertebra: body and posterior elements) and disc, and label the
spinal canal; they label no sacrum (the lowest vertebra is L5, the disc below
it L5/S1). This module turns one such map into what the sagittal networks give
the product: a vertebral-body mask (the part of each vertebra anterior to the
canal), a disc mask and, where asked, a sacrum region caudal to the L5/S1 disc.

Arrays are ``[slice, row, col]`` on an LPS :class:`StackGeometry` (slices
along left-right), cropped to the labelled structures plus a margin.

Vertebral body (per vertebra): the local spine axis ``u`` runs from the
centroid of the structure below to the one above it in the named chain
(disc below -> disc above); the anterior direction ``a`` is patient anterior
made perpendicular to ``u``. In 2 mm bins along ``u``, the anterior wall of
the canal is the 98th percentile of the canal voxels' ``a`` coordinate; a
straight line fitted through the bins gives the wall at every height, and the
body is the part of the vertebra anterior to that line and no wider (left-right)
than the discs above and below it + 2 mm (which drops transverse processes
reaching anterior to the canal, large at L5), largest connected piece. The
rest is kept as posterior elements.

Synthetic sacrum: the L5/S1 disc footprint swept caudally along the disc's
normal (its thinnest principal axis, pointing away from L5) for 1.5 times the
L5 body's height (S1 and part of S2), minus anything labelled, clipped by the
field of view.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from lumbarqi import labels as L
from lumbarqi.geometry import LPS_TO_RAS, StackGeometry, vec3
from lumbarqi.morphometry.io import geometry_from_nifti_affine

#: Label for structures above T10 (T9, T9/T10): segmented like any other, never scored.
ABOVE_T10_BODY = 40
ABOVE_T10_DISC = 41
#: SPIDER's spinal canal label.
SPIDER_CANAL = 100
#: Margin kept around the labelled structures when cropping (mm in-plane): room for the sacrum.
CROP_MARGIN_MM = 60.0
#: In-plane grids finer than this are subsampled by an integer factor (memory; naming works in mm).
MIN_PIXEL_MM = 0.8
#: The body may reach this far (mm) beyond the left-right extent of the discs above and below it.
LATERAL_MARGIN_MM = 2.0
#: Synthetic sacrum height, in L5 body heights.
SACRUM_HEIGHTS = 1.5

_CHAIN = ("T9", "T9/T10") + tuple(n for pair in zip(L.VERTEBRAE[:-1], L.DISCS, strict=False) for n in pair)  # T9..L5, L5/S1


@dataclass
class RealSpine:
    """One real spine in lumbarqi numbering (bodies, discs, canal, posterior elements)."""

    name: str
    label: np.ndarray  # uint8 [slice, row, col]
    geometry: StackGeometry
    sequence: str = ""
    notes: list[str] = field(default_factory=list)  # how the body was derived where not the usual way

    def body(self) -> np.ndarray:
        values = [L.VERTEBRA_LABEL[n] for n in L.VERTEBRAE[:-1]] + [ABOVE_T10_BODY]
        return np.isin(self.label, values)

    def disc(self) -> np.ndarray:
        return np.isin(self.label, list(L.DISC_LABEL.values()) + [ABOVE_T10_DISC])

    def sacrum(self) -> np.ndarray:
        return self.label == L.VERTEBRA_LABEL["S1"]


def _value(name: str) -> int | None:
    if name in L.DISC_LABEL:
        return L.DISC_LABEL[name]
    if name in L.VERTEBRA_LABEL and name != "S1":
        return L.VERTEBRA_LABEL[name]
    if name == "T9":
        return ABOVE_T10_BODY
    if name == "T9/T10":
        return ABOVE_T10_DISC
    return None


def _sagittal_layout(img) -> tuple[np.ndarray, np.ndarray]:
    """Array ``[col, row, slice]`` with slices along left-right and a right-handed RAS affine."""
    import nibabel as nib

    img = nib.as_closest_canonical(img)
    perm = (1, 2, 0)  # (R, A, S) -> (A, S, R): slices along x
    data = np.asarray(img.dataobj).transpose(perm)
    aff = img.affine[:, list(perm) + [3]].copy()
    lps = np.linalg.inv(LPS_TO_RAS) @ aff
    if np.dot(np.cross(lps[:3, 0], lps[:3, 1]), lps[:3, 2]) < 0:
        data = data[:, :, ::-1]
        aff[:3, 3] = aff[:3, 3] + aff[:3, 2] * (data.shape[2] - 1)
        aff[:3, 2] = -aff[:3, 2]
    return data, aff


def crop(label: np.ndarray, geometry: StackGeometry, box: tuple[slice, ...]) -> tuple[np.ndarray, StackGeometry]:
    """Sub-array ``label[box]`` and its geometry (same directions, shifted origin)."""
    from dataclasses import replace

    start = np.array([s.start or 0 for s in box], float)
    sub = label[box]
    origin = geometry.voxel_to_lps(start[None])[0]
    return np.ascontiguousarray(sub), replace(geometry, origin=vec3(origin),
                                              n_slices=sub.shape[0], rows=sub.shape[1], cols=sub.shape[2])


def subsample(label: np.ndarray, geometry: StackGeometry, min_pixel_mm: float = MIN_PIXEL_MM) -> tuple[np.ndarray, StackGeometry]:
    """Every f-th row/column (nearest neighbour) so that in-plane pixels are about ``min_pixel_mm`` or more."""
    from dataclasses import replace

    fr = max(1, int(round(min_pixel_mm / geometry.row_spacing_mm)))
    fc = max(1, int(round(min_pixel_mm / geometry.col_spacing_mm)))
    if fr == fc == 1:
        return label, geometry
    sub = np.ascontiguousarray(label[:, ::fr, ::fc])
    return sub, replace(geometry, rows=sub.shape[1], cols=sub.shape[2],
                        row_spacing_mm=geometry.row_spacing_mm * fr, col_spacing_mm=geometry.col_spacing_mm * fc)


def read_spider(case: Path) -> RealSpine:
    """One SPIDER case folder -> :class:`RealSpine` (bodies derived, cropped to the spine)."""
    import nibabel as nib

    case = Path(case)
    meta = json.loads((case / "meta.json").read_text())
    data, aff = _sagittal_layout(nib.load(str(case / "label.nii.gz")))
    raw = np.ascontiguousarray(data.transpose(2, 1, 0)).astype(np.int32)
    geom = geometry_from_nifti_affine(aff, raw.shape)
    box = ndimage.find_objects((raw > 0).astype(np.int8))[0]
    margin = (0, int(CROP_MARGIN_MM / geom.row_spacing_mm), int(CROP_MARGIN_MM / geom.col_spacing_mm))
    box = tuple(slice(max(b.start - m, 0), min(b.stop + m, n)) for b, m, n in zip(box, margin, raw.shape, strict=False))
    raw, geom = crop(raw, geom, box)
    raw, geom = subsample(raw, geom)
    whole = np.zeros(raw.shape, np.uint8)  # whole vertebrae and discs, lumbarqi numbering
    for key, name in meta["labels"].items():
        value = _value(str(name))
        if value is not None:
            whole[raw == int(key)] = value
    canal = raw == SPIDER_CANAL
    label, notes = separate_bodies(whole, canal, geom)
    label[canal & (label == 0)] = L.CANAL_LABEL
    return RealSpine(case.name, label, geom, str(meta.get("sequence", "")), notes)


def _centroid(mask: np.ndarray, geom: StackGeometry) -> np.ndarray:
    return geom.voxel_to_lps(np.argwhere(mask).mean(axis=0)[None])[0]


def _chain_values() -> list[int]:
    return [v for v in (_value(n) for n in _CHAIN) if v is not None]


def separate_bodies(whole: np.ndarray, canal: np.ndarray, geom: StackGeometry) -> tuple[np.ndarray, list[str]]:
    """Vertebral bodies (anterior to the canal) and posterior elements from whole-vertebra labels."""
    present = [v for v in _chain_values() if (whole == v).any()]
    cents = {v: _centroid(whole == v, geom) for v in present}
    body_values = {L.VERTEBRA_LABEL[n] for n in L.VERTEBRAE[:-1]} | {ABOVE_T10_BODY}
    out = whole.copy()
    notes = []
    canal_idx = np.argwhere(canal)
    canal_xyz = geom.voxel_to_lps(canal_idx) if len(canal_idx) else np.zeros((0, 3))
    anterior = np.array([0.0, -1.0, 0.0])  # LPS: anterior is -y
    for i, v in enumerate(present):
        if v not in body_values:
            continue
        above = cents[present[i - 1]] if i > 0 else cents[v]
        below = cents[present[i + 1]] if i + 1 < len(present) else cents[v]
        u = above - below
        if np.linalg.norm(u) < 1e-6:
            u = np.array([0.0, 0.0, 1.0])
        u = u / np.linalg.norm(u)
        a = anterior - (anterior @ u) * u
        a /= np.linalg.norm(a)
        idx = np.argwhere(whole == v)
        xyz = geom.voxel_to_lps(idx)
        s = (xyz - cents[v]) @ u
        wall = _canal_wall(canal_xyz, cents[v], u, a, s.min(), s.max())
        name = L.label_names().get(v, "T9")
        if wall is None:
            notes.append(f"{name}: no canal alongside, whole vertebra kept as body")
            continue
        ap = (xyz - cents[v]) @ a
        keep = ap > np.polyval(wall, np.clip(s, s.min(), s.max()))
        w = np.cross(u, a)  # left-right in the vertebra's frame
        lateral = [geom.voxel_to_lps(np.argwhere(whole == d)) @ w for d in
                   (present[j] for j in (i - 1, i + 1) if 0 <= j < len(present)) if d not in body_values]
        if lateral:  # no wider than the adjacent discs: transverse processes and sacral alae are not body
            lo, hi = min(x.min() for x in lateral), max(x.max() for x in lateral)
            keep &= (xyz @ w >= lo - LATERAL_MARGIN_MM) & (xyz @ w <= hi + LATERAL_MARGIN_MM)
        m = np.zeros(whole.shape, bool)
        m[tuple(idx[keep].T)] = True
        comp, n = ndimage.label(m)
        if n > 1:
            m = comp == (np.argmax(ndimage.sum(m, comp, range(1, n + 1))) + 1)
        out[(whole == v) & ~m] = L.POSTERIOR_ELEMENTS_LABEL
    return out, notes


def _canal_wall(canal_xyz: np.ndarray, centre: np.ndarray, u: np.ndarray, a: np.ndarray,
                s_min: float, s_max: float) -> np.ndarray | None:
    """Line ``ap = p[0] * s + p[1]`` of the canal's anterior wall along a vertebra (mm, local frame)."""
    if not len(canal_xyz):
        return None
    rel = canal_xyz - centre
    s, ap = rel @ u, rel @ a
    near = (s >= s_min) & (s <= s_max)
    if near.sum() < 20:
        return None
    edges = np.arange(s_min, s_max + 2.0, 2.0)
    bins = np.digitize(s[near], edges)
    ss, walls = [], []
    for b in np.unique(bins):
        sel = bins == b
        if sel.sum() >= 5:
            ss.append(float(s[near][sel].mean()))
            walls.append(float(np.percentile(ap[near][sel], 98)))
    if len(ss) < 3:
        return None
    return np.polyfit(ss, walls, 1)


def synthetic_sacrum(spine: RealSpine, heights: float = SACRUM_HEIGHTS) -> np.ndarray:
    """Sacrum region caudal to the L5/S1 disc (boolean, on the spine's grid); empty if no L5/S1."""
    geom = spine.geometry
    disc = spine.label == L.DISC_LABEL["L5/S1"]
    l5 = spine.label == L.VERTEBRA_LABEL["L5"]
    out = np.zeros(spine.label.shape, bool)
    if not disc.any() or not l5.any():
        return out
    idx = np.argwhere(disc)
    xyz = geom.voxel_to_lps(idx)
    c_disc, c_l5 = xyz.mean(axis=0), _centroid(l5, geom)
    n = np.linalg.svd(xyz - c_disc, full_matrices=False)[2][2]  # thinnest axis: the disc's normal
    n = n if n @ (c_disc - c_l5) > 0 else -n
    l5_s = (geom.voxel_to_lps(np.argwhere(l5)) - c_l5) @ n
    height = heights * float(np.ptp(l5_s))
    inv = np.linalg.inv(geom.affine())
    step = 0.5 * min(geom.row_spacing_mm, geom.col_spacing_mm)
    shape: np.ndarray = np.array(out.shape)
    for k in np.arange(step, height + step, step):
        ijk = np.rint((np.c_[xyz + k * n, np.ones(len(xyz))] @ inv.T)[:, :3]).astype(int)
        ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
        out[tuple(ijk[ok].T)] = True
    out &= spine.label == 0
    return ndimage.binary_closing(out, iterations=1) & (spine.label == 0)
