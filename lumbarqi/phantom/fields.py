"""Smooth random fields for texture and fatty marbling, defined at any point."""
from __future__ import annotations

import numpy as np


class RandomWaves:
    """Sum of plane waves with random directions: a smooth, roughly N(0, 1) field.

    Wavelengths between ``min_mm`` and ``max_mm``; evaluable at arbitrary
    patient points (mm), so every series samples the same tissue texture.
    """

    def __init__(self, rng: np.random.Generator, n_waves: int = 12, min_mm: float = 4.0, max_mm: float = 14.0):
        dirs = rng.normal(size=(n_waves, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        lengths = rng.uniform(min_mm, max_mm, size=n_waves)
        self.k = (dirs * (2 * np.pi / lengths)[:, None]).astype(np.float32)
        self.phase = rng.uniform(0, 2 * np.pi, size=n_waves).astype(np.float32)
        self.scale = np.float32(np.sqrt(2.0 / n_waves))

    def __call__(self, px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(px), dtype=np.float32)
        for (kx, ky, kz), ph in zip(self.k, self.phase, strict=False):
            out += np.cos(kx * px + ky * py + kz * pz + ph)
        return out * self.scale
