"""Level naming on sagittal masks: generic body/disc/sacrum masks -> T10..L5, T10/T11..L5/S1.

The segmentation network gives generic classes (vertebral body, disc, sacrum),
not levels. This module finds the 3D connected components of each class,
orders them along the spine (positions in patient LPS mm, so pixel shape and
slice obliquity do not matter), anchors the count on the sacrum and names
bodies ``L5, L4, ... T10`` and discs ``L5/S1, L4/L5, ...`` upward, in the
numbering of :mod:`lumbarqi.labels` (the sacrum keeps ``VERTEBRA_LABEL["S1"]``).

Robustness: fragments of one structure are merged, bodies fused with a
neighbour (missing disc, segmentation leak) are split along the spine axis at
the narrowest cross-section, gaps of a whole level are detected from the
body-to-body spacing. Everything unusual is reported in ``flags`` (dicts
``{code, level, structure, message}``, the results.json flag shape):

- ``sacrum_not_in_fov``: no sacrum; the count cannot be anchored, nothing is named.
- ``disc_missing``: two consecutive bodies with no disc between them.
- ``level_missing``: a gap along the spine the size of a whole body + disc.
- ``transitional_anatomy``: possible lumbosacral transitional vertebra: no
  L5/S1 disc (sacralised L5), an L5/S1 disc under 35 % of the L4/L5 disc
  volume (rudimentary disc), or a body named T12 larger than
  :data:`T12_LUMBAR_RATIO` of the median L3..L5 body (lumbar-sized: possible
  six lumbar vertebrae); the names are then counted from the sacrum as usual
  and must be checked by a reader. A sacralised L5 segmented as sacrum, and
  six lumbar vertebrae with a normal lowest disc and a thoracic-sized T12, are
  not recognisable from these masks (docs/levels.md).
- ``bodies_split``: a component was split into several bodies.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.results import Flag, make_flag

#: Bodies cranial to caudal above the sacrum, and discs below each of them.
_BODY_NAMES = L.VERTEBRAE[:-1]  # T10..L5
_DISC_NAMES = L.DISCS  # T10/T11..L5/S1 (disc i lies below body i)

#: Components smaller than this fraction of the median volume of their class are fragments.
FRAGMENT_FRACTION = 0.2
#: A body named T12 larger than this fraction of the median L3..L5 body volume looks lumbar
#: (possible six lumbar vertebrae). On 43 real SPIDER spines T12 was 0.31-0.84 of L3..L5 (median 0.68).
T12_LUMBAR_RATIO = 0.85
#: A fragment this close (mm) to an in-plane edge of the image is a structure cut by the field of view.
BORDER_MM = 3.0


@dataclass(eq=False)
class Component:
    """One structure found on the sagittal masks (positions in LPS mm)."""

    kind: str  # "body" | "disc" | "sacrum"
    mask: np.ndarray  # boolean [slice, row, col]
    centroid: np.ndarray  # LPS mm
    volume_mm3: float
    extent_mm: float = 0.0  # length along the spine axis
    thickness_mm: float = 0.0  # mean thickness along the local spine direction (volume / footprint area)
    name: str | None = None


@dataclass
class LevelNaming:
    """Result of :func:`name_levels`."""

    label: np.ndarray  # uint8 [slice, row, col], lumbarqi.labels numbering (0 where unnamed)
    flags: list[Flag] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)  # caudal to cranial
    anchored: bool = False  # True when counted from a visible sacrum


def generic_masks(label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(body, disc, sacrum) boolean masks from a label map in lumbarqi.labels numbering."""
    body_values = [L.VERTEBRA_LABEL[n] for n in _BODY_NAMES]
    return np.isin(label, body_values), np.isin(label, list(L.DISC_LABEL.values())), label == L.VERTEBRA_LABEL["S1"]


def _voxel_mm(geometry: StackGeometry) -> float:
    return geometry.row_spacing_mm * geometry.col_spacing_mm * geometry.slice_spacing_mm


def _components(mask: np.ndarray, kind: str, geometry: StackGeometry) -> list[Component]:
    comp, n = ndimage.label(mask)
    out = []
    for i, sl in enumerate(ndimage.find_objects(comp), start=1):
        if sl is None:
            continue
        m = np.zeros(mask.shape, bool)
        m[sl] = comp[sl] == i
        out.append(_make(kind, m, geometry))
    return out


def _make(kind: str, m: np.ndarray, geometry: StackGeometry) -> Component:
    idx = np.argwhere(m)
    return Component(kind, m, geometry.voxel_to_lps(idx.mean(axis=0)[None])[0], len(idx) * _voxel_mm(geometry))


def _spine_axis(comps: list[Component]) -> np.ndarray:
    """Unit vector along the spine (principal axis of the centroids), pointing superior (+z)."""
    pts = np.array([c.centroid for c in comps])
    if len(pts) < 2:
        return np.array([0.0, 0.0, 1.0])
    _, _, vt = np.linalg.svd(pts - pts.mean(axis=0))
    axis = vt[0]
    return axis if axis[2] >= 0 else -axis


def _projections(c: Component, geometry: StackGeometry, axis: np.ndarray) -> np.ndarray:
    return geometry.voxel_to_lps(np.argwhere(c.mask)) @ axis


def _not_fragments(comps: list[Component]) -> list[Component]:
    """Components of one class at least :data:`FRAGMENT_FRACTION` of their median volume."""
    if not comps:
        return comps
    typical = _typical_volume(comps)
    return [c for c in comps if c.volume_mm3 >= FRAGMENT_FRACTION * typical]


def _typical_volume(comps: list[Component]) -> float:
    """Median volume of the components of one class that are not specks (>= FRAGMENT_FRACTION
    of the largest), so that many tiny pieces cannot pull the reference down (mm3)."""
    v = np.array([c.volume_mm3 for c in comps])
    return float(np.median(v[v >= FRAGMENT_FRACTION * v.max()]))


def _merge_fragments(comps: list[Component], geometry: StackGeometry, axis: np.ndarray) -> list[Component]:
    """Merge small pieces into the same-class component overlapping them along the axis; keep
    pieces cut by the image edge that overlap nothing (a partial level); drop the rest."""
    if not comps:
        return comps
    big = _not_fragments(comps)
    for c in comps:
        if c in big:
            continue
        p = _projections(c, geometry, axis)
        best, best_overlap = None, 0.0
        for b in big:
            q = _projections(b, geometry, axis)
            overlap = min(p.max(), q.max()) - max(p.min(), q.min())
            if overlap > best_overlap:
                best, best_overlap = b, overlap
        if best is not None and best_overlap > 0.5 * (p.max() - p.min()):
            merged = best.mask | c.mask
            big[big.index(best)] = _make(best.kind, merged, geometry)
        elif best_overlap <= 0 and _at_border(c.mask, geometry):
            big.append(c)  # a structure cut by the field of view: a level of its own
    return big


def _at_border(mask: np.ndarray, geometry: StackGeometry) -> bool:
    """True when the mask comes within :data:`BORDER_MM` of an in-plane edge of the image."""
    r = max(1, int(np.ceil(BORDER_MM / geometry.row_spacing_mm)))
    c = max(1, int(np.ceil(BORDER_MM / geometry.col_spacing_mm)))
    return bool(mask[:, :r, :].any() or mask[:, -r:, :].any() or mask[:, :, :c].any() or mask[:, :, -c:].any())


def _local_axes(comps: list[Component], axis: np.ndarray) -> dict[int, np.ndarray]:
    """Spine direction at each component (id -> unit vector, superior): from the structure below
    to the one above it along the spine, so that lordosis and kyphosis do not tilt the heights."""
    chain = sorted(comps, key=lambda c: float(c.centroid @ axis))
    out = {}
    for i, c in enumerate(chain):
        lo, hi = chain[max(i - 1, 0)].centroid, chain[min(i + 1, len(chain) - 1)].centroid
        d = hi - lo
        out[id(c)] = d / np.linalg.norm(d) if np.linalg.norm(d) > 1e-6 else axis
    return out


def _period(bodies: list[Component], axis: np.ndarray) -> float:
    """Body + disc period (mm): median distance between consecutive body centroids, wide gaps left out."""
    pts = np.array([b.centroid for b in sorted(bodies, key=lambda b: float(b.centroid @ axis))])
    steps = np.linalg.norm(np.diff(pts, axis=0), axis=1) if len(pts) > 1 else np.zeros(0)
    return float(np.median(steps[steps < 1.6 * np.median(steps)])) if steps.size else 0.0


def _split_fused(bodies: list[Component], discs: list[Component], geometry: StackGeometry, axis: np.ndarray,
                 period: float) -> tuple[list[Component], list[Flag]]:
    """Split bodies whose length along the spine spans more than one body + disc period
    (lengths along the local spine direction at each body)."""
    out, flags = [], []
    local = _local_axes(bodies + discs, axis)
    heights = [np.ptp(_projections(b, geometry, local[id(b)])) for b in bodies]
    typical = float(np.median(heights)) if heights else 0.0
    for b, h in zip(bodies, heights, strict=False):
        n = int(round((h + (period - typical)) / period)) if period > 0 else 1
        if n < 2 or h < 1.5 * typical:
            out.append(b)
            continue
        idx = np.argwhere(b.mask)
        xyz = geometry.voxel_to_lps(idx)
        _, _, vt = np.linalg.svd(xyz - xyz.mean(axis=0), full_matrices=False)
        local = vt[0] if vt[0] @ axis >= 0 else -vt[0]  # the fused column's own long axis
        p = xyz @ local
        bins = np.arange(p.min(), p.max() + 1.0, 1.0)
        profile = np.histogram(p, bins=bins)[0].astype(float)
        profile = ndimage.uniform_filter1d(profile, 3)
        cuts = []
        for j in range(1, n):
            target = p.min() + j * (p.max() - p.min()) / n
            window = np.flatnonzero(np.abs(bins[:-1] + 0.5 - target) <= 0.3 * period)
            k = window[np.argmin(profile[window])] if window.size else int(np.searchsorted(bins, target))
            cuts.append(bins[k] + 0.5)
        part = np.searchsorted(np.array(cuts), p)
        for j in range(n):
            m = np.zeros(b.mask.shape, bool)
            sel = idx[part == j]
            m[tuple(sel.T)] = True
            if sel.size:
                out.append(_make("body", m, geometry))
        flags.append(make_flag("bodies_split",
                               f"one vertebral-body component {h:.0f} mm long was split into {n} bodies along the spine axis",
                               structure="vertebral_body"))
    return out, flags


def name_levels(body: np.ndarray, disc: np.ndarray, sacrum: np.ndarray | None, geometry: StackGeometry) -> LevelNaming:
    """Name the vertebral bodies and discs of sagittal masks, counting up from the sacrum.

    body, disc, sacrum: boolean masks ``[slice, row, col]`` on ``geometry``'s grid
    (``sacrum`` may be None or empty). Returns a :class:`LevelNaming` whose
    ``label`` holds ``VERTEBRA_LABEL``/``DISC_LABEL`` numbers (sacrum = S1).
    """
    body, disc = np.asarray(body, bool), np.asarray(disc, bool)
    sacrum = np.zeros_like(body) if sacrum is None else np.asarray(sacrum, bool)
    flags: list[Flag] = []
    bodies = _components(body, "body", geometry)
    discs = _components(disc, "disc", geometry)
    axis = _spine_axis(_not_fragments(bodies) + _not_fragments(discs))
    bodies = _merge_fragments(bodies, geometry, axis)
    discs = _merge_fragments(discs, geometry, axis)
    sac = _make("sacrum", sacrum, geometry) if sacrum.sum() else None
    if sac is not None and sac.volume_mm3 < 0.3 * float(np.median([b.volume_mm3 for b in bodies] or [0.0])):
        flags.append(make_flag("sacrum_partial", "only a small part of the sacrum is in the field of view", level="S1",
                               structure="vertebral_body"))

    axis = _spine_axis(bodies + discs)
    period = _period(bodies, axis)
    bodies, split_flags = _split_fused(bodies, discs, geometry, axis, period)
    flags += split_flags

    chain = sorted(bodies + discs, key=lambda c: float(c.centroid @ axis))
    label = np.zeros(body.shape, np.uint8)
    if sac is None:
        flags.append(make_flag("sacrum_not_in_fov",
                               "no sacrum in the masks (outside the field of view, or not segmented): levels cannot be "
                               "counted from it and are left unnamed",
                               structure="vertebral_body"))
        return LevelNaming(label, flags, chain, anchored=False)
    label[sac.mask] = L.VERTEBRA_LABEL["S1"]
    # keep only what lies above the sacrum's centroid
    base = float(sac.centroid @ axis)
    chain = [c for c in chain if float(c.centroid @ axis) > base]

    # slots counted from the sacrum: 0 = L5/S1 disc, 1 = L5, 2 = L4/L5, 3 = L4, ...
    slot, expect_disc = 0, True
    last_body: np.ndarray | None = None
    for c in chain:
        if c.kind == "body":
            gap = None if last_body is None else float(np.linalg.norm(c.centroid - last_body))
            if gap is not None and period > 0 and gap > 1.6 * period:
                for j in range(max(int(round(gap / period)) - 1, 0)):
                    level = _slot_name(slot + (1 if expect_disc else 0) + 2 * j)
                    flags.append(make_flag("level_missing",
                                           f"a gap of {gap:.0f} mm along the spine: vertebral body {level} is missing from the masks",
                                           level=level,
                                           structure="vertebral_body"))
                    slot += 2
            if expect_disc:
                name = _slot_name(slot)
                flags.append(make_flag("disc_missing", f"no disc found between the vertebral bodies at {name}", level=name,
                                       structure="disc"))
                slot += 1
            last_body = c.centroid
        elif not expect_disc:  # two discs in a row: the body between them is missing
            flags.append(make_flag("level_missing",
                                   f"two discs with no vertebral body between them: {_slot_name(slot)} is missing",
                                   level=_slot_name(slot),
                                   structure="vertebral_body"))
            slot += 1
        name = _slot_name(slot)
        if name is None:
            flags.append(make_flag("level_above_t10", "structures above T10 were left unnamed",
                                   structure="disc" if c.kind == "disc" else "vertebral_body"))
            break
        c.name = name
        label[c.mask & (label == 0)] = L.DISC_LABEL[name] if c.kind == "disc" else L.VERTEBRA_LABEL[name]
        slot += 1
        expect_disc = c.kind == "body"
    _set_thickness(chain, geometry, axis)
    flags += _transitional(chain, geometry, axis)
    return LevelNaming(label, flags, chain, anchored=True)


def _set_thickness(chain: list[Component], geometry: StackGeometry, axis: np.ndarray) -> None:
    """Mean thickness of every component along its local spine direction: volume over the area of
    its footprint on the plane across that direction, mm. The footprint is counted in cells one
    slice spacing wide across the slices and one pixel (at least 1 mm) long within them, so that
    thick slices leave no holes in it."""
    local = _local_axes(chain, axis)
    normal = geometry.normal
    cell = np.array([geometry.slice_spacing_mm, max(1.0, geometry.row_spacing_mm, geometry.col_spacing_mm)])
    for c in chain:
        u = local[id(c)]
        e1 = normal - (normal @ u) * u
        e1 = e1 / np.linalg.norm(e1) if np.linalg.norm(e1) > 1e-6 else np.cross(u, [0.0, 1.0, 0.0])
        e2 = np.cross(u, e1)
        xyz = geometry.voxel_to_lps(np.argwhere(c.mask))
        cells = np.unique(np.floor(np.c_[xyz @ e1, xyz @ e2] / cell).astype(np.int64), axis=0)
        c.thickness_mm = c.volume_mm3 / max(len(cells) * float(np.prod(cell)), 1e-6)
        c.extent_mm = float(np.ptp(xyz @ u)) if len(xyz) else 0.0


def _slot_name(slot: int) -> str | None:
    """Name of slot ``slot`` counted from the sacrum (even: disc, odd: body)."""
    i = len(_BODY_NAMES) - 1 - slot // 2
    if i < 0:
        return None
    return _DISC_NAMES[i] if slot % 2 == 0 else _BODY_NAMES[i]


def _transitional(chain: list[Component], geometry: StackGeometry, axis: np.ndarray) -> list[Flag]:
    """Flags for a possible lumbosacral transitional vertebra (judged from disc sizes)."""
    named = {c.name: c for c in chain if c.name}
    flags = []
    l5s1, l4l5 = named.get("L5/S1"), named.get("L4/L5")
    if "L5" in named and l5s1 is None:
        flags.append(make_flag("transitional_anatomy",
                               "no L5/S1 disc: possible sacralisation of L5 (lumbosacral transitional vertebra); check the level count",
                               level="L5/S1",
                               structure="disc"))
    elif l5s1 is not None and l4l5 is not None and l5s1.volume_mm3 < 0.35 * l4l5.volume_mm3:
        flags.append(make_flag("transitional_anatomy",
                               f"the L5/S1 disc is {100 * l5s1.volume_mm3 / l4l5.volume_mm3:.0f}% of the L4/L5 disc volume: "
                               "possible lumbosacral transitional vertebra; check the level count",
                               level="L5/S1",
                               structure="disc"))
    # a body named T12 as large as a lumbar body suggests an extra lumbar level
    lumbar = [named[n].volume_mm3 for n in ("L3", "L4", "L5") if n in named]
    if lumbar and "T12" in named and named["T12"].volume_mm3 > T12_LUMBAR_RATIO * float(np.median(lumbar)):
        ratio = named["T12"].volume_mm3 / float(np.median(lumbar))
        flags.append(make_flag("transitional_anatomy",
                               f"the body named T12 is {100 * ratio:.0f}% of the L3-L5 body volume, lumbar-sized: "
                               "possible six lumbar vertebrae "
                               "(lumbarisation of S1) or a thoracolumbar variant; check the level count",
                               level="T12",
                               structure="vertebral_body"))
    return flags
