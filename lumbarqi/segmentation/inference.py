"""Run a task's network on a 3D volume in patient coordinates.

Input: a 3D array and its 4x4 voxel -> patient LPS (mm) affine. The volume is
reoriented to canonical RAS+, cut into slices of the task's plane, each slice
(with its neighbours at ``context_mm``) resampled to the model's in-plane
spacing, segmented in batches (CPU or GPU), the class probabilities resampled
back, and the label map returned in the input's own voxel grid. Small
spurious 3D components are removed per structure, and a confidence (mean
maximum softmax inside the structure) is reported per structure.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from lumbarqi.geometry import LPS_TO_RAS

from . import result_cache
from .cases import slice_axis
from .network import ModelConfig, load_model, normalise
from .slices import neighbour_offset

_IDENTITY = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)


@dataclass
class Segmentation:
    """A label map in the input geometry, with class names and confidences."""

    labels: np.ndarray  # uint8 class indices, shape of the input volume
    classes: tuple[str, ...]
    confidence: dict[str, float] = field(default_factory=dict)  # structure -> mean max softmax
    affine_lps: np.ndarray | None = None

    def mask(self, structure: str) -> np.ndarray:
        """Boolean mask of one structure."""
        return self.labels == self.classes.index(structure)


def to_canonical(volume: np.ndarray, affine_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(canonical RAS+ array, orientation used, voxel size (mm) along canonical axes)."""
    affine_ras = LPS_TO_RAS @ np.asarray(affine_lps, dtype=float)
    ornt = nib.orientations.io_orientation(affine_ras)
    zooms = np.sqrt((affine_ras[:3, :3] ** 2).sum(axis=0))
    spacing = [0.0, 0.0, 0.0]
    for i, (axis, _) in enumerate(ornt):
        spacing[int(axis)] = float(zooms[i])
    return nib.orientations.apply_orientation(volume, ornt), ornt, tuple(spacing)  # type: ignore[return-value]


def from_canonical(volume: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """Undo :func:`to_canonical` (back to the input voxel order)."""
    back = nib.orientations.ornt_transform(_IDENTITY, ornt)
    return np.ascontiguousarray(nib.orientations.apply_orientation(volume, back))


def clean_components(labels: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """Keep, per class, 3D components of at least ``min_component_fraction`` of the
    largest, and at most ``max_components[class]`` of them (largest first)."""
    out = labels.copy()
    for c, name in enumerate(cfg.classes):
        if c == 0:
            continue
        mask = labels == c
        if not mask.any():
            continue
        comp, n = ndimage.label(mask)
        if n <= 1:
            continue
        sizes = np.bincount(comp.ravel())[1:]
        order = np.argsort(sizes)[::-1]
        keep = [i for i in order if sizes[i] >= cfg.min_component_fraction * sizes[order[0]]]
        limit = cfg.max_components.get(name, 0)
        if limit:
            keep = keep[:limit]
        keep_mask = np.isin(comp, np.asarray(keep) + 1)
        out[mask & ~keep_mask] = 0
    return out


class SegmentationEngine:
    """A loaded task network; :meth:`segment` maps a volume to a label map."""

    def __init__(self, model_dir: str | Path, device: str | None = None, batch_size: int = 8):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.cfg = load_model(model_dir, self.device)
        self.batch_size = batch_size
        self.digest = self._digest(Path(model_dir))

    def _digest(self, model_dir: Path) -> str:
        """Weights + every setting that shapes the output (not the task name or notes)."""
        h = hashlib.blake2b((model_dir / self.cfg.model_file).read_bytes(), digest_size=20)
        settings = {k: v for k, v in asdict(self.cfg).items() if k not in ("task", "notes", "version", "model_file")}
        h.update(json.dumps(settings, sort_keys=True, default=str).encode())
        h.update(str(self.device).encode())
        return h.hexdigest()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.cfg.classes

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of the network, averaged over the allowed test-time flips."""
        with torch.inference_mode():
            prob = torch.softmax(self.model(x), dim=1)
            if self.cfg.tta_flip:
                if self.cfg.plane == "axial":  # slice (R, A): flip R
                    prob += torch.softmax(self.model(x.flip(2)), dim=1).flip(2)
                else:  # reverse the neighbour order (left <-> right)
                    prob += torch.softmax(self.model(x.flip(1)), dim=1)
                prob /= 2
        return prob

    def predict_slices(self, stack: np.ndarray, slice_spacing: float, in_plane: tuple[float, float]) -> np.ndarray:
        """Class probabilities (C, S, H, W) of a normalised slice-first stack (S, H, W)."""
        cfg = self.cfg
        n, h, w = stack.shape
        th = max(8, int(round(h * in_plane[0] / cfg.spacing_mm[0])))
        tw = max(8, int(round(w * in_plane[1] / cfg.spacing_mm[1])))
        mult = int(np.prod(cfg.strides))
        ph, pw = -th % mult, -tw % mult
        offset = neighbour_offset(slice_spacing, cfg.context_mm)
        vol = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))
        out = np.zeros((len(cfg.classes), n, h, w), dtype=np.float32)
        ks = np.arange(-cfg.context, cfg.context + 1) * offset
        for start in range(0, n, self.batch_size):
            idx = np.arange(start, min(n, start + self.batch_size))
            nb = np.clip(idx[:, None] + ks[None, :], 0, n - 1)
            x = vol[torch.from_numpy(nb)]  # (B, Cin, H, W)
            if (th, tw) != (h, w):
                x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
            x = F.pad(x, (0, pw, 0, ph))
            prob = self._forward(x.to(self.device))[:, :, :th, :tw].float().cpu()
            if (th, tw) != (h, w):
                prob = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
            out[:, idx] = prob.permute(1, 0, 2, 3).numpy()
        return out

    def segment(self, volume: np.ndarray, affine_lps: np.ndarray, clean: bool = True) -> Segmentation:
        """Label map (uint8 class indices) of ``volume`` in its own voxel grid.

        ``affine_lps``: 4x4 voxel index -> patient LPS (mm). Classes the model
        was not trained on (``cfg.trained_classes``) are folded into background.
        """
        if np.ndim(volume) != 3:
            raise ValueError(f"expected a 3D volume, got shape {np.shape(volume)}")
        key = result_cache.input_key(self.digest, volume, affine_lps, clean)
        seg = result_cache.shared(key, lambda: self._segment(volume, affine_lps, clean))
        return replace(seg, confidence=dict(seg.confidence))  # the label map is shared and read-only

    def _segment(self, volume: np.ndarray, affine_lps: np.ndarray, clean: bool) -> Segmentation:
        cfg = self.cfg
        canon, ornt, spacing = to_canonical(np.asarray(volume), affine_lps)
        axis = slice_axis(cfg.plane)
        others = [a for a in range(3) if a != axis]
        stack = np.moveaxis(normalise(canon, cfg.norm_percentiles), axis, 0)
        prob = self.predict_slices(stack, spacing[axis], (spacing[others[0]], spacing[others[1]]))
        trained = cfg.trained_classes or cfg.classes
        for c, name in enumerate(cfg.classes):
            if name not in trained:
                prob[0] += prob[c]
                prob[c] = 0
        labels = prob.argmax(axis=0).astype(np.uint8)
        confidence_map = prob.max(axis=0)
        if clean:
            labels = clean_components(labels, cfg)
        conf = {name: float(confidence_map[labels == c].mean())
                for c, name in enumerate(cfg.classes) if c and np.any(labels == c)}
        labels = from_canonical(np.moveaxis(labels, 0, axis), ornt)
        labels.setflags(write=False)
        return Segmentation(labels=labels, classes=cfg.classes, confidence=conf,
                            affine_lps=np.asarray(affine_lps, dtype=float))
