"""Image formation: tissue planes -> MR magnitude images.

Each slice is sampled on ``sub_planes`` parallel planes spread through its
thickness (partial volume), mapped to signal by a per-series tissue table
with texture, blurred by a small in-plane point-spread function, multiplied by
a coil bias field (posterior brighter: the spine coil lies under the patient's
back), scaled like a scanner would, optionally ghosted along the phase-encode
direction, and given Rician noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from lumbarqi.geometry import StackGeometry
from lumbarqi.phantom.anatomy import PhantomModel, PlaneGrid
from lumbarqi.phantom.tissues import N_TISSUES, Tissue, signal_table

# Relative texture amplitude per tissue (fraction of its signal).
_TEXTURE = np.zeros(N_TISSUES, np.float32)
_TEXTURE[[Tissue.MARROW, Tissue.VISCERA, Tissue.BOWEL, Tissue.KIDNEY]] = (0.08, 0.15, 0.25, 0.06)
_TEXTURE[[Tissue.MUSCLE, Tissue.FAT, Tissue.POSTERIOR_BONE]] = (0.03, 0.02, 0.08)


@dataclass
class SampledStack:
    """Tissue and texture on every sub-plane of every slice; truth labels at slice centres."""

    geometry: StackGeometry
    tissue: np.ndarray  # (slices, sub_planes, rows, cols) uint8
    texture: np.ndarray  # same shape, float16
    label: np.ndarray  # (slices, rows, cols) uint8


def sample_stack(model: PhantomModel, geom: StackGeometry, sub_planes: int) -> SampledStack:
    """Evaluate the phantom on each slice's sub-planes (uniform through the thickness)."""
    offsets = (np.arange(sub_planes) + 0.5) / sub_planes - 0.5
    centre_index = int(np.argmin(np.abs(offsets))) if sub_planes % 2 else None
    shape = (geom.n_slices, sub_planes, geom.rows, geom.cols)
    tissue = np.zeros(shape, np.uint8)
    texture = np.zeros(shape, np.float16)
    label = np.zeros((geom.n_slices, geom.rows, geom.cols), np.uint8)
    a = np.asarray(geom.row_dir) * geom.col_spacing_mm
    b = np.asarray(geom.col_dir) * geom.row_spacing_mm
    for k in range(geom.n_slices):
        for q, off in enumerate(offsets):
            origin = geom.slice_origin(k) + off * geom.slice_thickness_mm * geom.normal
            t, lab, tex = model.render_plane(PlaneGrid(origin, a, b, geom.rows, geom.cols))
            tissue[k, q], texture[k, q] = t, tex
            if q == centre_index:
                label[k] = lab
        if centre_index is None:
            label[k] = model.render_plane(PlaneGrid(geom.slice_origin(k), a, b, geom.rows, geom.cols))[1]
    return SampledStack(geom, tissue, texture, label)


@dataclass
class ScannerLook:
    """Per-series appearance parameters drawn from the study's random stream."""

    table: np.ndarray
    scale: float
    snr: float
    bias_strength: float
    bias_tilt: np.ndarray
    ghost: float

    @classmethod
    def draw(cls, contrast: str, rng: np.random.Generator, ghosting: bool) -> ScannerLook:
        tilt = rng.normal(0, 1, 3)
        return cls(
            table=signal_table(contrast, rng),
            scale=float(rng.uniform(500, 1800)),
            snr=float(rng.uniform(14, 35)),
            bias_strength=float(rng.uniform(0.4, 0.9)),
            bias_tilt=tilt / np.linalg.norm(tilt),
            ghost=float(rng.uniform(0.04, 0.1)) if ghosting else 0.0,
        )


def form_images(stack: SampledStack, look: ScannerLook, rng: np.random.Generator, body_centre: np.ndarray) -> np.ndarray:
    """(slices, rows, cols) uint16 magnitude images of a sampled stack."""
    g = stack.geometry
    tex_amp = _TEXTURE[stack.tissue]
    signal = look.table[stack.tissue] * (1.0 + tex_amp * stack.texture.astype(np.float32))
    image = signal.mean(axis=1)  # partial volume through the slice
    image = gaussian_filter(image, sigma=(0, 0.45, 0.45))
    # coil sensitivity: brighter posteriorly (y grows posterior), slow random drift
    rows, cols = np.meshgrid(np.arange(g.rows), np.arange(g.cols), indexing="ij")
    out = np.empty(image.shape, np.uint16)
    for k in range(g.n_slices):
        p = g.slice_origin(k)[:, None, None] + np.asarray(g.row_dir)[:, None, None] * cols * g.col_spacing_mm + np.asarray(g.col_dir)[:, None, None] * rows * g.row_spacing_mm
        rel = (p - np.asarray(body_centre)[:, None, None]) / 200.0
        bias = np.exp(look.bias_strength * rel[1] + 0.25 * np.tensordot(look.bias_tilt, rel, axes=1))
        img = image[k] * bias * look.scale
        if look.ghost:
            img = img + look.ghost * np.roll(img, g.rows // 3, axis=0) + 0.5 * look.ghost * np.roll(img, -g.rows // 3, axis=0)
        sigma = look.scale / look.snr * 0.6
        noisy = np.hypot(img + rng.normal(0, sigma, img.shape), rng.normal(0, sigma, img.shape))
        out[k] = np.clip(np.rint(noisy), 0, 4095).astype(np.uint16)
    return out
