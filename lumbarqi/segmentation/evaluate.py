"""Dice of a trained network on case folders, as the ``evaluate`` JSON (README, "Models").

``{task, cases: [{case, dice: {structure: value}, level_accuracy}],
mean_dice: {structure: value, all: value}, level_accuracy}``; each case entry
also carries ``dice_per_level`` (per labelled instance: level, or label name)
and ``confidence``. ``mean_dice[s]`` averages over cases labelling ``s``;
``all`` averages every (case, structure) value.

Partial labels: unless ``full_volume`` (or ``meta.json`` says
``"complete_labels": true``), predicted instances of a structure that touch
no labelled voxel of it and lie cranial (or, when the lowest level is not
labelled, caudal) of the labelled ones are not scored: they are vertebrae
or discs the source did not annotate (e.g. T12 above labelled L1..L5).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from .cases import Case, find_cases, read_case
from .inference import SegmentationEngine
from .network import TASK_CLASSES, ModelConfig
from .slices import CAUDAL_LEVELS, CC_AXIS

#: Vertebrae and discs cranial to caudal, to name levels counted from the sacrum.
LEVEL_ORDER = {
    "vertebral_body": ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"),
    "disc": ("T10/T11", "T11/T12", "T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1"),
}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def drop_unlabelled_instances(pred: np.ndarray, ref: np.ndarray, caudal_too: bool) -> np.ndarray:
    """Remove predicted 3D components that miss ``ref`` and lie beyond its cranio-caudal
    range (cranial side always, caudal side if ``caudal_too``). Arrays are canonical RAS+."""
    if not ref.any() or not pred.any():
        return pred
    cc = np.flatnonzero(ref.any(axis=tuple(a for a in range(3) if a != CC_AXIS)))
    lo, hi = cc.min(), cc.max()
    comp, n = ndimage.label(pred)
    out = pred.copy()
    centres = ndimage.center_of_mass(pred, comp, range(1, n + 1))
    touching = set(np.unique(comp[ref & pred]).tolist())
    for i, centre in enumerate(centres, start=1):
        if i in touching:
            continue
        z = centre[CC_AXIS]
        if z > hi or (caudal_too and z < lo):
            out[comp == i] = False
    return out


def per_instance_dice(pred: np.ndarray, case: Case, structure: str) -> dict[str, float]:
    """Dice per labelled instance; predicted voxels go to the nearest labelled instance."""
    values = [v for v, i in case.labels.items() if i.structure == structure]
    if case.label is None:
        raise ValueError(f"case {case.name} has no label")
    inst = np.zeros(case.label.shape, dtype=np.int32)
    for v in values:
        inst[case.label == v] = v
    if not inst.any():
        return {}
    box = ndimage.find_objects(((inst > 0) | pred).astype(np.int32))[0]
    sub_inst, sub_pred = inst[box], pred[box]
    _, nearest = ndimage.distance_transform_edt(sub_inst == 0, return_indices=True)
    owner = sub_inst[tuple(nearest)]
    out = {}
    for v in values:
        info = case.labels[v]
        key = info.level or info.name
        out[key] = round(dice(sub_pred & (owner == v), sub_inst == v), 4)
    return out


def name_levels(pred_vb: np.ndarray, pred_sacrum: np.ndarray | None, structure: str) -> dict[int, str]:
    """Name the predicted components of ``structure`` counting up from the sacrum.

    Component ids (of ``ndimage.label(pred_vb)``) -> level. Without a sacrum
    the lowest component is taken as L5 (or L5/S1) - a fallback.
    """
    comp, n = ndimage.label(pred_vb)
    if n == 0:
        return {}
    centres = np.array(ndimage.center_of_mass(pred_vb, comp, range(1, n + 1)))[:, CC_AXIS]
    order = np.argsort(centres)  # caudal first
    if pred_sacrum is not None and pred_sacrum.any():
        top = np.flatnonzero(pred_sacrum.any(axis=(0, 1))).max()
        order = np.asarray([i for i in order if centres[i] > top - 5] or list(order))
    names = LEVEL_ORDER[structure][::-1]
    return {int(i) + 1: names[k] for k, i in enumerate(order) if k < len(names)}


def level_accuracy(pred: np.ndarray, sacrum: np.ndarray | None, case: Case, structure: str) -> float | None:
    """Share of labelled levels whose best-overlapping predicted component has the right name."""
    named = {v: i.level for v, i in case.labels.items() if i.structure == structure and i.level}
    if not named or structure not in LEVEL_ORDER:
        return None
    comp, _ = ndimage.label(pred)
    names = name_levels(pred, sacrum, structure)
    right = 0
    for v, level in named.items():
        hits = comp[case.label == v]
        hits = hits[hits > 0]
        if hits.size and names.get(int(np.bincount(hits).argmax())) == level:
            right += 1
    return right / len(named)


def evaluate_case(engine: SegmentationEngine, case: Case, full_volume: bool = False,
                  structures: tuple[str, ...] | None = None) -> dict:
    """One case's entry of the evaluation JSON (``structures``: those to score, default all)."""
    cfg: ModelConfig = engine.cfg
    seg = engine.segment(case.image, case.affine_lps)
    complete = full_volume or bool(case.meta.get("complete_labels", False))
    sacrum = seg.mask("sacrum") if "sacrum" in cfg.classes else None
    entry: dict = {"case": case.name, "dice": {}, "dice_per_level": {}, "level_accuracy": None,
                   "confidence": {k: round(v, 4) for k, v in seg.confidence.items()}}
    accuracies = []
    for structure in structures or cfg.classes[1:]:
        if structure not in case.structures():
            continue
        ref = case.structure_mask(structure)
        pred = seg.mask(structure)
        if not complete:
            levels = {i.level for i in case.labels.values() if i.structure == structure}
            pred = drop_unlabelled_instances(pred, ref, caudal_too=not (levels & CAUDAL_LEVELS))
        entry["dice"][structure] = round(dice(pred, ref), 4)
        entry["dice_per_level"].update(per_instance_dice(pred, case, structure))
        acc = level_accuracy(pred, sacrum, case, structure)
        if acc is not None:
            accuracies.append(acc)
    entry["level_accuracy"] = round(float(np.mean(accuracies)), 4) if accuracies else None
    return entry


def summarise(task: str, entries: list[dict]) -> dict:
    """The evaluation JSON from per-case entries."""
    per_structure: dict[str, list[float]] = {}
    for e in entries:
        for s, v in e["dice"].items():
            per_structure.setdefault(s, []).append(v)
    mean: dict[str, float | None] = {s: round(float(np.mean(v)), 4) for s, v in per_structure.items()}
    every = [v for vals in per_structure.values() for v in vals]
    mean["all"] = round(float(np.mean(every)), 4) if every else None
    accs = [e["level_accuracy"] for e in entries if e["level_accuracy"] is not None]
    return {"task": task, "cases": entries, "mean_dice": mean,
            "level_accuracy": round(float(np.mean(accs)), 4) if accs else None}


def evaluate(task: str, data: list[str] | str, model_dir: str | Path, cases: list[str] | None = None,
             heldout_only: bool = False, full_volume: bool = False, log=None) -> dict:
    """Evaluate the ``task`` model in ``model_dir`` on every case folder under ``data``."""
    engine = SegmentationEngine(model_dir)
    structures = TASK_CLASSES[task][1:]
    if engine.cfg.task != task and not set(structures) <= set(engine.cfg.classes):
        raise ValueError(f"model in {model_dir} is for task {engine.cfg.task!r}, not {task!r}")
    paths = [p for d in ([data] if isinstance(data, (str, Path)) else data) for p in find_cases(d)]
    wanted = set(cases or [])
    if heldout_only:
        wanted |= set(engine.cfg.notes.get("heldout_cases", []))
        if not wanted:
            raise ValueError(f"{model_dir}/config.json lists no held-out cases")
    if wanted:
        paths = [p for p in paths if p.name in wanted]
    if not paths:
        raise ValueError("no case folders to evaluate under --data")
    entries = []
    for path in paths:
        case = read_case(path)
        if case.label is None or not (case.structures() & set(structures)):
            continue
        entries.append(evaluate_case(engine, case, full_volume, structures))
        if log:
            log(f"{case.name}: {entries[-1]['dice']}")
    return summarise(task, entries)
