"""SynthSeg-style images from label maps (Billot et al., Med Image Anal 2023), one per training sample.

A case whose ``meta.json`` says ``"synthesise": true`` has label maps and no
image. For every sample its 2D slices (the centre slice and its neighbours,
:func:`lumbarqi.segmentation.slices.stack_context`) get a new image:

* every tissue label (each vertebra, disc, canal, the posterior elements) a
  random mean and a random within-tissue texture, vertebrae of one spine close
  to each other (marrow looks alike along the spine), discs likewise;
* the background (everything the map does not label: fat, muscle, bowel, air)
  random structures: a smooth random field cut into 3-6 classes, each its own
  intensity;
* then partial volume (a blur across the slice thickness is already in the
  label map's clinical geometry; an in-plane blur of 0.3-1.5 px), a smooth
  multiplicative bias field, Rician-like noise, and a rescale to about [0, 1].

The usual augmentation (:func:`lumbarqi.segmentation.augment.augment_intensity`)
follows, as for real images. Intensities are free of any one contrast, so the
network learns shapes that hold on T1, T2 and STIR alike.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (2D)."""
    small = tuple(max(2, int(s / max(sigma, 1.0))) + 2 for s in shape)
    f = ndimage.zoom(rng.standard_normal(small), [s / m for s, m in zip(shape, small, strict=True)], order=3)
    f = f[: shape[0], : shape[1]]
    return (f - f.mean()) / (f.std() + 1e-6)


def tissue_means(tissues: np.ndarray, rng: np.random.Generator, vertebrae: set[int], discs: set[int]) -> dict[int, float]:
    """A random mean intensity (0..1) per tissue label; vertebrae near one shared mean, discs likewise."""
    bone, disc = rng.uniform(0.05, 1.0), rng.uniform(0.05, 1.0)
    means = {}
    for t in tissues.tolist():
        if t in vertebrae:
            means[t] = float(np.clip(bone + rng.normal(0, 0.05), 0, 1))
        elif t in discs:
            means[t] = float(np.clip(disc + rng.normal(0, 0.12), 0, 1))  # degenerated discs are darker on T2
        else:
            means[t] = float(rng.uniform(0.0, 1.0))
    return means


def synthesise(labels: np.ndarray, rng: np.random.Generator, vertebrae: set[int], discs: set[int]) -> np.ndarray:
    """(C, H, W) float32 image for (C, H, W) tissue label slices (0 = unlabelled background)."""
    c, h, w = labels.shape
    means = tissue_means(np.unique(labels[labels > 0]), rng, vertebrae, discs)
    k = int(rng.integers(3, 7))
    background = _smooth_field((h, w), float(rng.uniform(6, 25)), rng)
    edges = np.quantile(background, np.linspace(0, 1, k + 1)[1:-1])
    classes = np.digitize(background, edges)
    class_means = rng.uniform(0, 1, k)
    if rng.random() < 0.3:  # air outside the body on one side
        cut = _smooth_field((h, w), 40, rng) > rng.uniform(0.8, 1.6)
        class_means = np.append(class_means, 0.0)
        classes = np.where(cut, k, classes)
    out = np.empty((c, h, w), np.float32)
    texture_sigma = float(rng.uniform(0.01, 0.08))
    for i in range(c):
        img = class_means[classes].astype(np.float32)
        for t, m in means.items():
            img[labels[i] == t] = m
        img += (texture_sigma * _smooth_field((h, w), float(rng.uniform(1, 4)), rng)).astype(np.float32)
        out[i] = img
    sigma = float(rng.uniform(0.3, 1.5))
    out = ndimage.gaussian_filter(out, (0, sigma, sigma))
    bias = np.exp(float(rng.uniform(0.1, 0.5)) * _smooth_field((h, w), float(rng.uniform(30, 80)), rng))
    out = out * bias[None].astype(np.float32)
    noise = float(rng.uniform(0.0, 0.06))
    out = np.sqrt((out + noise * rng.standard_normal(out.shape)) ** 2 + (noise * rng.standard_normal(out.shape)) ** 2)
    hi = float(np.percentile(out, 99.5)) or 1.0
    return (out / hi).astype(np.float32)
