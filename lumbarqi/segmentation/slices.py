"""Case volumes as stacks of 2D slices for training, with partial-label masks.

Each case is reoriented (canonical RAS+, see :mod:`cases`), its intensities
normalised, its slice axis moved first and its in-plane pixels resampled to
the model's ``spacing_mm``. Labels are folded to the task's class indices.

Partial labels: a class the case does not label is *unavailable* (the loss
may not teach it as background). Where a case labels only some instances of a
structure along the spine (e.g. L1..L5 but not T12 or the sacrum), the class
is also unavailable cranial/caudal of the labelled instances (beyond
``margin_mm``), per in-plane column, unless ``meta.json`` says
``"complete_labels": true`` (the phantom's truth). Caudal of L5 (vertebral
body) or L5/S1 (disc) nothing of that class exists, so when a case labels that
lowest level, the class stays available caudally (the sacrum is its own class).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from .cases import Case, read_case, slice_axis
from .network import ModelConfig, normalise
from .synth import synthesise

CC_AXIS = 2  # canonical cranio-caudal axis (S); lower index = caudal
CAUDAL_LEVELS = {"L5", "L5/S1"}  # nothing of the class lies caudal of these


@dataclass
class SliceCase:
    """One case, slice-first: ``image[s]`` is a 2D slice at ``cfg.spacing_mm``.

    ``labelled``: per class, whether the case labels it. ``lo``/``hi``: per
    class index, the cranio-caudal pixel range (inclusive) where it is
    labelled, as an array over the other in-plane axis (sagittal/coronal) or
    a 1-element array (axial: range of slice indices); None = everywhere.
    """

    name: str
    image: np.ndarray  # (S, H, W) float16, normalised
    label: np.ndarray  # (S, H, W) uint8 class indices
    slice_spacing: float  # mm between slices
    cc_axis: int  # cranio-caudal axis in (S, H, W) order
    labelled: np.ndarray  # (C,) bool
    lo: list[np.ndarray | None]
    hi: list[np.ndarray | None]
    fg_slices: np.ndarray  # indices of slices holding any labelled class
    tissue: np.ndarray | None = None  # (S, H, W) label values to synthesise images from (meta "synthesise")
    vertebrae: frozenset[int] = frozenset()  # tissue values of vertebrae (similar intensities when synthesised)
    discs: frozenset[int] = frozenset()

    def context(self, s: int, context: int, offset: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """(2*context+1, H, W) image slices around ``s``: the case's own, or synthesised from its labels."""
        if self.tissue is None:
            return stack_context(self.image, s, context, offset)
        labels = stack_context(self.tissue, s, context, offset)
        return synthesise(labels, rng if rng is not None else np.random.default_rng(s), set(self.vertebrae), set(self.discs))

    def available(self, s: int) -> np.ndarray:
        """(C, H, W) bool: where each class may be trained on slice ``s``."""
        n_cls = self.labelled.size
        h, w = self.image.shape[1:]
        avail = np.zeros((n_cls, h, w), dtype=bool)
        avail[0] = True
        for c in range(1, n_cls):
            if not self.labelled[c]:
                continue
            lo, hi = self.lo[c], self.hi[c]
            if lo is None or hi is None:
                avail[c] = True
            elif self.cc_axis == 0:
                avail[c] = lo[0] <= s <= hi[0]
            elif self.cc_axis == 2:  # slice (H, W): W is cranio-caudal, bounds over H
                idx = np.arange(w)[None, :]
                avail[c] = (idx >= lo[:, None]) & (idx <= hi[:, None])
            else:  # H is cranio-caudal, bounds over W
                idx = np.arange(h)[:, None]
                avail[c] = (idx >= lo[None, :]) & (idx <= hi[None, :])
        return avail


def _bounds(mask: np.ndarray, cc_axis: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Cranio-caudal labelled range of a (S, H, W) mask, widened by ``margin`` pixels.

    Per column of the other in-plane axis; columns without label get the
    overall range.
    """
    if cc_axis == 0:
        idx = np.flatnonzero(mask.any(axis=(1, 2)))
        return np.array([idx.min() - margin]), np.array([idx.max() + margin])
    proj = mask.any(axis=0)  # (H, W)
    if cc_axis == 1:
        proj = proj.T  # rows: other axis, cols: cranio-caudal
    n_cc = proj.shape[1]
    defined = np.any(proj, axis=1)
    cc = np.arange(n_cc)[None, :]
    top = np.where(proj, cc, -1).max(axis=1).astype(float)
    bot = np.where(proj, cc, n_cc).min(axis=1).astype(float)
    top[~defined] = top[defined].max()
    bot[~defined] = bot[defined].min()
    return bot - margin, top + margin


def to_slices(case: Case, cfg: ModelConfig, margin_mm: float = 3.0) -> SliceCase:
    """Turn a labelled case into a training :class:`SliceCase`."""
    axis = slice_axis(cfg.plane)
    image = np.moveaxis(normalise(case.image, cfg.norm_percentiles), axis, 0)
    label = np.moveaxis(case.class_map(cfg.classes), axis, 0)
    spacing = [case.spacing[a] for a in (axis, *[a for a in range(3) if a != axis])]
    cc_axis = [axis, *[a for a in range(3) if a != axis]].index(CC_AXIS)
    zoom = (1.0, spacing[1] / cfg.spacing_mm[0], spacing[2] / cfg.spacing_mm[1])
    if any(abs(z - 1.0) > 0.02 for z in zoom):
        image = ndimage.zoom(image, zoom, order=1)
        label = ndimage.zoom(label, zoom, order=0)
    structures = case.structures()
    n_cls = len(cfg.classes)
    labelled = np.array([True] + [c in structures for c in cfg.classes[1:]])
    lo: list[np.ndarray | None] = [None] * n_cls
    hi: list[np.ndarray | None] = [None] * n_cls
    complete = bool(case.meta.get("complete_labels", False))
    for c in range(1, n_cls):
        mask = label == c
        if labelled[c] and not complete and mask.any():
            px = margin_mm / (case.spacing[CC_AXIS] if cc_axis == 0 else cfg.spacing_mm[cc_axis - 1])
            lo[c], hi[c] = _bounds(mask, cc_axis, px)
            levels = {i.level for i in case.labels.values() if i.structure == cfg.classes[c]}
            if levels & CAUDAL_LEVELS:
                lo[c] = np.full_like(lo[c], -1e9)
    fg = np.flatnonzero(label.reshape(label.shape[0], -1).max(axis=1) > 0)
    tissue = None
    if case.meta.get("synthesise") and case.label is not None:
        tissue = np.moveaxis(case.label, axis, 0)
        if any(abs(z - 1.0) > 0.02 for z in zoom):
            tissue = ndimage.zoom(tissue, zoom, order=0)
    return SliceCase(
        name=case.name, image=image.astype(np.float16), label=label.astype(np.uint8),
        slice_spacing=float(spacing[0]), cc_axis=cc_axis, labelled=labelled,
        lo=lo, hi=hi, fg_slices=fg, tissue=tissue,
        vertebrae=frozenset(v for v, i in case.labels.items() if i.structure in ("vertebral_body", "sacrum",
                                                                               "posterior_elements")),
        discs=frozenset(v for v, i in case.labels.items() if i.structure == "disc"),
    )


def load_slice_cases(paths: list[Path], cfg: ModelConfig, log=print) -> list[SliceCase]:
    """Read and convert case folders; cases labelling none of the classes are skipped."""
    out = []
    for path in paths:
        case = read_case(path)
        if case.label is None or not (case.structures() & set(cfg.classes[1:])):
            log(f"skip {path.name}: labels none of {cfg.classes[1:]}")
            continue
        out.append(to_slices(case, cfg))
    return out


def neighbour_offset(slice_spacing: float, context_mm: float) -> int:
    """Slices between the centre and a neighbour channel (at least 1)."""
    return max(1, int(round(context_mm / max(slice_spacing, 1e-3))))


def stack_context(volume: np.ndarray, s: int, context: int, offset: int) -> np.ndarray:
    """(2*context+1, H, W) slices ``s - context*offset .. s + context*offset`` (clamped)."""
    idx = np.clip(s + offset * np.arange(-context, context + 1), 0, volume.shape[0] - 1)
    return volume[idx]
