"""Training patches and augmentation (torch, CPU), meant to carry from T2/Dixon to T1.

Spatial: random crop centred on labelled tissue most of the time, rotation,
zoom (in-plane pixel size 0.8-1.25x), neighbour-slice distance jitter, and
flips only where laterality is not learned (reversing the neighbour order of
sagittal slices; left-right in axial slices). Intensity (identical on every
channel of a sample): random smooth transfer curves (monotone, non-monotone and
"inverted" with air kept dark), per-class brightness remapping, gamma,
multiplicative bias field with an anterior-posterior coil fall-off, blur,
noise, contrast and brightness.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .network import ModelConfig
from .slices import SliceCase, neighbour_offset


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the augmentations."""

    fg_slice_p: float = 0.85
    fg_centre_p: float = 0.7
    rotate_deg: float = 15.0
    zoom: tuple[float, float] = (0.8, 1.25)
    context_jitter: float = 0.25
    flip_p: float = 0.5
    curve_p: float = 0.5
    invert_p: float = 0.15
    class_remap_p: float = 0.3
    gamma_p: float = 0.5
    bias_p: float = 0.5
    blur_p: float = 0.2
    noise_p: float = 0.3


def sample_patch(sc: SliceCase, cfg: ModelConfig, aug: AugmentConfig, rng: np.random.Generator,
                 augment: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training sample: (image (Cin, P, P), target (P, P) long, available (C, P, P) bool)."""
    n = sc.image.shape[0]
    use_fg = sc.fg_slices.size and rng.random() < aug.fg_slice_p
    s = int(rng.choice(sc.fg_slices)) if use_fg else int(rng.integers(n))
    off_mm = cfg.context_mm * (1 + rng.uniform(-aug.context_jitter, aug.context_jitter) * augment)
    offset = neighbour_offset(sc.slice_spacing, off_mm)
    img = sc.context(s, cfg.context, offset, rng).astype(np.float32)
    lab = sc.label[s]
    avail = sc.available(s)
    h, w = lab.shape
    fg = np.argwhere(lab > 0)
    if fg.size and rng.random() < aug.fg_centre_p:
        cy, cx = fg[rng.integers(len(fg))]
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ph, pw = cfg.patch_size
    angle = math.radians(rng.uniform(-aug.rotate_deg, aug.rotate_deg)) if augment else 0.0
    zoom = math.exp(rng.uniform(*np.log(aug.zoom))) if augment else 1.0
    sx = sy = 1.0 / zoom  # input pixels per output pixel
    if augment and cfg.plane == "axial" and rng.random() < aug.flip_p:
        sx = -sx  # left-right: laterality is not learned
    if augment and cfg.plane != "axial" and rng.random() < aug.flip_p:
        img = img[::-1].copy()  # reverse neighbour order (left <-> right)
    cos, sin = math.cos(angle), math.sin(angle)
    # output normalised (u, v) -> input pixel offsets -> input normalised coordinates
    a = np.array([[cos * sx, -sin * sy], [sin * sx, cos * sy]]) * np.array([[pw / 2, ph / 2]])
    a = np.diag([2.0 / w, 2.0 / h]) @ a
    b = np.array([(2 * cx + 1) / w - 1, (2 * cy + 1) / h - 1])
    theta = torch.tensor(np.hstack([a, b[:, None]])[None], dtype=torch.float32)
    grid = F.affine_grid(theta, [1, 1, ph, pw], align_corners=False)
    x = F.grid_sample(torch.from_numpy(img)[None], grid, mode="bilinear", align_corners=False)[0]
    masks = torch.from_numpy(np.concatenate([lab[None], avail]).astype(np.float32))[None]
    m = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)[0]
    target = m[0].long()
    available = m[1:] > 0.5
    available[0] = True
    outside = F.grid_sample(torch.ones(1, 1, h, w), grid, mode="nearest", align_corners=False)[0, 0] < 0.5
    available[:, outside] = True  # beyond the field of view: background for every class
    return x, target, available


def _smooth_curve(rng: np.random.Generator, kind: str, knots: int = 6) -> np.ndarray:
    """Values of a random transfer curve at ``knots`` points on [0, 1] (air stays dark)."""
    y = rng.uniform(0, 1, knots)
    if kind == "monotone":
        y = np.sort(y)
    elif kind == "inverted":
        y = np.sort(y)[::-1].copy()
    y[0] = rng.uniform(0, 0.05)
    return y


def _apply_curve(x: torch.Tensor, y: np.ndarray) -> torch.Tensor:
    """Piecewise-linear lookup of ``x`` (clipped to [0, 1]) through knot values ``y``."""
    k = len(y) - 1
    t = x.clamp(0, 1) * k
    i = t.floor().clamp(max=k - 1).long()
    yy = torch.as_tensor(y, dtype=x.dtype)
    frac = t - i
    out = yy[i] * (1 - frac) + yy[i + 1] * frac
    low = x < 0.05  # keep air / zero padding dark even for inverted curves
    return torch.where(low, x.clamp(min=0) * (out / 0.05).clamp(max=20), out)


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (C, H, W) tensor (sigma in pixels)."""
    r = max(1, int(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[0]
    x = F.conv2d(x[None], k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, r), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(r, 0), groups=c)
    return x[0]


def augment_intensity(x: torch.Tensor, target: torch.Tensor, aug: AugmentConfig,
                      rng: np.random.Generator, plane: str) -> torch.Tensor:
    """Random intensity remapping of one (Cin, H, W) sample (same on every channel)."""
    if rng.random() < aug.curve_p:
        kind = "inverted" if rng.random() < aug.invert_p / aug.curve_p else rng.choice(["monotone", "free"])
        x = _apply_curve(x, _smooth_curve(rng, str(kind)))
    if rng.random() < aug.class_remap_p:
        for c in torch.unique(target).tolist():
            if c == 0:
                continue
            m = _gauss_blur((target == c).float()[None], 1.0)
            x = x * (1 + m * float(rng.uniform(-0.5, 0.6)))
    if rng.random() < aug.gamma_p:
        x = x.clamp(min=0) ** float(math.exp(rng.uniform(-0.5, 0.5)))
    if rng.random() < aug.bias_p:
        h, w = x.shape[1:]
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        co = rng.normal(0, 0.25, 6)
        field = co[0] * xx + co[1] * yy + co[2] * xx * yy + co[3] * xx**2 + co[4] * yy**2
        # surface coil: posterior brighter. Sagittal slice (A, S): A is rows; axial (R, A): A is cols.
        ap = yy if plane == "sagittal" else xx
        field = field - abs(co[5]) * ap * 2
        x = x * torch.exp(field.float())[None]
    if rng.random() < aug.blur_p:
        x = _gauss_blur(x, float(rng.uniform(0.4, 1.2)))
    if rng.random() < aug.noise_p:
        x = x + torch.randn_like(x) * float(rng.uniform(0.0, 0.08))
    scale, shift = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
    return (x * float(scale) + float(shift)).clamp(-0.5, 1.8)


def make_batch(cases: list[SliceCase], cfg: ModelConfig, aug: AugmentConfig,
               rng: np.random.Generator, batch_size: int, augment: bool = True,
               weights: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch (x (B, Cin, P, P), target (B, P, P), available (B, C, P, P)) from random cases.

    ``weights``: probability of each case (None: uniform).
    """
    xs, ts, avs = [], [], []
    for _ in range(batch_size):
        pick = rng.integers(len(cases)) if weights is None else rng.choice(len(cases), p=weights)
        sc = cases[int(pick)]
        x, t, a = sample_patch(sc, cfg, aug, rng, augment)
        if augment:
            x = augment_intensity(x, t, aug, rng, cfg.plane)
        xs.append(x)
        ts.append(t)
        avs.append(a)
    return torch.stack(xs), torch.stack(ts), torch.stack(avs)
