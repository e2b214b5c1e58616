"""Level naming on real spines: run the product's naming on SPIDER masks and score it.

Each spine (:mod:`lumbarqi.levels_real`) is given to the product's naming as
the networks' masks would reach it (:func:`product_naming`: the pipeline's
sacrum filter :func:`lumbarqi.segmentation.postprocess.caudal_sacrum`, then
:func:`lumbarqi.levels.name_levels`) under several conditions:

- ``sacrum``: a synthetic sacrum caudal to the L5/S1 disc (normal anatomy);
- ``no_sacrum``: no sacrum mask at all (the network missed it);
- ``fov_no_sacrum``: field of view cut through the L5/S1 disc, so the sacrum is
  outside it;
- ``sacralised_l5_no_disc``: L5 fused to the sacrum, no L5/S1 disc;
- ``sacralised_l5_in_sacrum``: L5 fused and segmented as part of the sacrum;
- ``rudimentary_l5s1``: a rudimentary (thinned to a third) L5/S1 disc;
- ``six_lumbar``: a sixth lumbar-type vertebra (copy of L5 and the disc below
  it, one motion segment lower) above the sacrum;
- ``six_lumbar_rudimentary``: the same with a rudimentary lowest disc.

The truth of every condition counts from the sacrum (the product's
convention), so ``right`` means the count from the sacrum is right; for the
transitional conditions what matters is that they are flagged.

A structure is *named right* when most of its voxels carry its true name;
*unnamed* when most carry none, *wrong* otherwise. A spine is right when all
its structures T10..L5 and T10/T11..L5/S1 are (see :func:`outcome` for the
other outcomes); it is *flagged* when the naming raised any flag a reader must
act on (:data:`READER_FLAGS`). *Silently wrong*: not right and not flagged.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.levels import name_levels
from lumbarqi.levels_real import ABOVE_T10_BODY, ABOVE_T10_DISC, RealSpine, crop, synthetic_sacrum

#: Flags of :func:`name_levels` that tell a reader the names need checking (or are absent).
READER_FLAGS = ("sacrum_not_in_fov", "sacrum_partial", "transitional_anatomy", "disc_missing", "level_missing",
                "bodies_split")

CONDITIONS = ("sacrum", "no_sacrum", "fov_no_sacrum", "sacralised_l5_no_disc", "sacralised_l5_in_sacrum",
              "rudimentary_l5s1", "six_lumbar", "six_lumbar_rudimentary")
#: Conditions with transitional anatomy: they must be flagged.
TRANSITIONAL = ("sacralised_l5_no_disc", "sacralised_l5_in_sacrum", "rudimentary_l5s1", "six_lumbar",
                "six_lumbar_rudimentary")

SCORED = tuple(L.VERTEBRAE[:-1]) + tuple(L.DISCS)  # T10..L5, T10/T11..L5/S1
_ORDER = [L.DISC_LABEL[n] if "/" in n else L.VERTEBRA_LABEL[n]
          for pair in zip(L.VERTEBRAE[:-1], L.DISCS, strict=False) for n in pair]  # T10, T10/T11, ..., L5, L5/S1 (cranial first)


def product_naming(body: np.ndarray, disc: np.ndarray, sacrum: np.ndarray | None, geometry: StackGeometry):
    """The pipeline's naming step on generic masks: sacrum filter, then :func:`name_levels`."""
    from lumbarqi.segmentation.postprocess import SAGITTAL_CLASSES, caudal_sacrum
    from lumbarqi.volume import SeriesVolume

    classes = np.zeros(body.shape, np.uint8)
    classes[body] = SAGITTAL_CLASSES["vertebral_body"]
    classes[disc] = SAGITTAL_CLASSES["disc"]
    if sacrum is not None:
        classes[sacrum] = SAGITTAL_CLASSES["sacrum"]
    sag = SeriesVolume(np.zeros((0, 0, 0), np.float32), geometry, "", "")
    classes = caudal_sacrum(classes, sag)
    return name_levels(classes == SAGITTAL_CLASSES["vertebral_body"], disc, classes == SAGITTAL_CLASSES["sacrum"], geometry)


def shift_names(label: np.ndarray, steps: int) -> np.ndarray:
    """Rename bodies and discs ``steps`` levels up (+) or down (-) the chain; off the chain -> above T10."""
    order = [ABOVE_T10_BODY, ABOVE_T10_DISC] + _ORDER  # T9, T9/T10, T10, ..., L5/S1
    out = label.copy()
    for i, v in enumerate(order):
        j = i - 2 * steps
        if 2 <= j < len(order):
            out[label == v] = order[j]
        elif j < 2:
            out[label == v] = order[j % 2]  # above T10: body or disc
    return out


def _thin(mask: np.ndarray, geometry: StackGeometry, keep: float = 1 / 3) -> np.ndarray:
    """The middle ``keep`` of a disc's thickness (along its thinnest principal axis)."""
    idx = np.argwhere(mask)
    xyz = geometry.voxel_to_lps(idx)
    n = np.linalg.svd(xyz - xyz.mean(axis=0), full_matrices=False)[2][2]
    t = (xyz - xyz.mean(axis=0)) @ n
    lo, hi = np.percentile(t, [50 - 50 * keep, 50 + 50 * keep])
    out = np.zeros(mask.shape, bool)
    out[tuple(idx[(t >= lo) & (t <= hi)].T)] = True
    return out


def _translate(mask: np.ndarray, geometry: StackGeometry, shift_mm: np.ndarray) -> np.ndarray:
    """``mask`` moved by ``shift_mm`` (LPS) on its own grid (nearest voxel; what leaves the grid is lost)."""
    idx = np.argwhere(mask)
    inv = np.linalg.inv(geometry.affine())
    ijk = np.rint((np.c_[geometry.voxel_to_lps(idx) + shift_mm, np.ones(len(idx))] @ inv.T)[:, :3]).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(mask.shape)), axis=1)
    out = np.zeros(mask.shape, bool)
    out[tuple(ijk[ok].T)] = True
    return out


def _centroid(mask: np.ndarray, geometry: StackGeometry) -> np.ndarray:
    return geometry.voxel_to_lps(np.argwhere(mask).mean(axis=0)[None])[0]


def condition(spine: RealSpine, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, StackGeometry]:
    """(body, disc, sacrum, truth label, geometry) of ``spine`` under condition ``name``."""
    geom, label = spine.geometry, spine.label
    V, D = L.VERTEBRA_LABEL, L.DISC_LABEL
    if name == "sacrum":
        return spine.body(), spine.disc(), synthetic_sacrum(spine), label, geom
    if name == "no_sacrum":
        return spine.body(), spine.disc(), None, label, geom
    if name == "fov_no_sacrum":  # the image ends at the row through the L5/S1 disc's centroid
        row = int(round(float(np.argwhere(label == D["L5/S1"])[:, 1].mean())))
        rows = slice(row, label.shape[1]) if geom.col_dir[2] > 0 else slice(0, row + 1)  # keep the cranial side
        sub, g = crop(label, geom, (slice(0, label.shape[0]), rows, slice(0, label.shape[2])))
        part = RealSpine(spine.name, sub, g)
        return part.body(), part.disc(), None, sub, g
    sacrum = synthetic_sacrum(spine)
    if name == "rudimentary_l5s1":
        truth = label.copy()
        l5s1 = label == D["L5/S1"]
        truth[l5s1 & ~_thin(l5s1, geom)] = 0
        part = RealSpine(spine.name, truth, geom)
        return part.body(), part.disc(), sacrum, truth, geom
    if name in ("sacralised_l5_no_disc", "sacralised_l5_in_sacrum"):
        truth = label.copy()
        truth[label == D["L5/S1"]] = 0
        sacrum = sacrum | (label == D["L5/S1"])  # bony fusion: the disc space is sacral bone
        if name == "sacralised_l5_in_sacrum":
            sacrum = sacrum | (truth == V["L5"])
            truth[truth == V["L5"]] = 0
            truth = shift_names(truth, -1)  # counted from the sacrum, L4 is now the lowest mobile "L5"
        part = RealSpine(spine.name, truth, geom)
        return part.body(), part.disc(), sacrum, truth, geom
    if name in ("six_lumbar", "six_lumbar_rudimentary"):
        step = _centroid(label == D["L5/S1"], geom) - _centroid(label == D["L4/L5"], geom)
        truth = shift_names(label, 1)  # the old L5 becomes "L4" counted from the new sacrum
        new_l5 = _translate(label == V["L5"], geom, step) & (truth == 0)
        new_disc = _translate(label == D["L5/S1"], geom, step) & (truth == 0) & ~new_l5
        if name == "six_lumbar_rudimentary":
            new_disc = _thin(new_disc, geom)
        truth[new_l5], truth[new_disc] = V["L5"], D["L5/S1"]
        part = RealSpine(spine.name, truth, geom)
        sacrum = synthetic_sacrum(part)
        return part.body(), part.disc(), sacrum, truth, geom
    raise ValueError(f"unknown condition {name!r} (one of {', '.join(CONDITIONS)})")


def score(truth: np.ndarray, named: np.ndarray) -> dict[str, str]:
    """Structure name -> "right" | "wrong:<given name>" | "unnamed", for T10..L5/S1 present in ``truth``."""
    names = L.label_names()
    out = {}
    for name in SCORED:
        v = L.DISC_LABEL[name] if "/" in name else L.VERTEBRA_LABEL[name]
        got = named[truth == v]
        if not got.size:
            continue
        top = int(np.bincount(got).argmax())
        out[name] = "right" if top == v else "unnamed" if top == 0 else f"wrong:{names.get(top, top)}"
    for v in (ABOVE_T10_BODY, ABOVE_T10_DISC):  # above T10: must stay unnamed
        got = named[truth == v]
        if got.size and np.bincount(got).argmax() != 0:
            out["above_T10"] = f"wrong:{names.get(int(np.bincount(got).argmax()), '?')}"
    return out


def outcome(levels: dict[str, str], codes: list[str]) -> str:
    """``right`` (every structure), ``misnamed`` (at least one wrong name), ``partial`` (no wrong
    name, some structures unnamed) or ``unnamed`` (none named); ``_flagged`` when a reader flag was raised."""
    values = list(levels.values())
    if all(v == "right" for v in values):
        base = "right"
    elif any(v.startswith("wrong") for v in values):
        base = "misnamed"
    else:
        base = "unnamed" if all(v == "unnamed" for v in values) else "partial"
    return base + ("_flagged" if any(c in READER_FLAGS for c in codes) else "")


def size_ratios(naming) -> dict[str, float | None]:
    """Sizes behind the transitional-anatomy flags, from the named components: L5/S1 over L4/L5
    disc volume and disc height (mm along the local spine direction), T12 over the median L3..L5 body volume."""
    named = {c.name: c for c in naming.components if c.name}

    def ratio(a, b, f):
        return round(f(named[a]) / f(named[b]), 3) if a in named and b in named and f(named[b]) > 0 else None

    lumbar = [named[n].volume_mm3 for n in ("L3", "L4", "L5") if n in named]
    t12 = round(named["T12"].volume_mm3 / float(np.median(lumbar)), 3) if lumbar and "T12" in named else None
    return {"l5s1_l4l5_volume": ratio("L5/S1", "L4/L5", lambda c: c.volume_mm3),
            "l5s1_l4l5_height": ratio("L5/S1", "L4/L5", lambda c: getattr(c, "thickness_mm", 0.0)), "t12_l3l5_volume": t12}


def evaluate_spine(spine: RealSpine, conditions: tuple[str, ...] = CONDITIONS) -> dict:
    """One spine's entry: per condition, the score of every structure and the naming flags."""
    entry: dict = {"case": spine.name, "sequence": spine.sequence, "body_notes": spine.notes, "conditions": {}}
    for cond in conditions:
        body, disc, sacrum, truth, geom = condition(spine, cond)
        naming = product_naming(body, disc, sacrum, geom)
        levels = score(truth, naming.label)
        codes = sorted({f["code"] for f in naming.flags})
        entry["conditions"][cond] = {"outcome": outcome(levels, codes), "anchored": naming.anchored, "flags": codes,
                                     "levels": levels, "flag_messages": [f["message"] for f in naming.flags],
                                     "ratios": size_ratios(naming)}
    return entry


def summarise(entries: list[dict]) -> dict:
    """Per condition: spines right / flagged / silently wrong, and per-level right counts."""
    out: dict = {}
    conds = sorted({c for e in entries for c in e["conditions"]}, key=lambda c: CONDITIONS.index(c) if c in CONDITIONS else 99)
    for cond in conds:
        rows = [(e["case"], e["conditions"][cond]) for e in entries if cond in e["conditions"]]
        outcomes = Counter(r["outcome"] for _, r in rows)
        per_level: dict[str, dict] = {}
        for name in SCORED:
            vals = [r["levels"][name] for _, r in rows if name in r["levels"]]
            if vals:
                per_level[name] = {"n": len(vals), "right": sum(v == "right" for v in vals),
                                   "unnamed": sum(v == "unnamed" for v in vals),
                                   "wrong": sum(v.startswith("wrong") for v in vals)}
        n = len(rows)
        flagged = sum(o.endswith("_flagged") for o in (r["outcome"] for _, r in rows))
        silent = [c for c, r in rows if not r["outcome"].startswith("right") and not r["outcome"].endswith("_flagged")]
        out[cond] = {
            "spines": n, "outcomes": dict(outcomes),
            "right_pct": round(100 * sum(r["outcome"].startswith("right") for _, r in rows) / n, 1) if n else None,
            "right_unflagged_pct": round(100 * outcomes.get("right", 0) / n, 1) if n else None,
            "flagged_pct": round(100 * flagged / n, 1) if n else None,
            "right_or_flagged_pct": round(100 * (n - len(silent)) / n, 1) if n else None,
            "silently_wrong": silent,
            "misnamed": [c for c, r in rows if r["outcome"].startswith("misnamed")],
            "partial": [c for c, r in rows if r["outcome"].startswith("partial")],
            "flags": dict(Counter(c for _, r in rows for c in r["flags"])),
            "per_level": per_level,
        }
        if cond in TRANSITIONAL:  # these must be flagged, whatever the names
            hits = sum("transitional_anatomy" in r["flags"] for _, r in rows)
            out[cond]["transitional_flagged_pct"] = round(100 * hits / n, 1) if n else None
            out[cond]["not_flagged"] = [c for c, r in rows if not r["outcome"].endswith("_flagged")]
    return out
