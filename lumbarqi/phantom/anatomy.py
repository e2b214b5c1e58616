"""The whole phantom body, evaluable on any plane of patient space.

:meth:`PhantomModel.render_plane` returns, for a regular grid of points on a
plane (LPS mm), the tissue class (for image formation), the truth label
(:mod:`lumbarqi.labels`) and a smooth texture field. Structures are drawn in
order of precedence: body and viscera, kidneys and vessels, muscles, posterior
elements, spinal canal, vertebral bodies, discs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lumbarqi import labels as L
from lumbarqi.phantom.fields import RandomWaves
from lumbarqi.phantom.muscles import build_muscles, muscle_mask
from lumbarqi.phantom.spine import PlacedSegment, SpineCurve, place_spine
from lumbarqi.phantom.subject import Subject
from lumbarqi.phantom.tissues import Tissue as T  # noqa: N817 (T.FAT, T.MUSCLE: the tissue table reads better short)


@dataclass(frozen=True)
class PlaneGrid:
    """Points ``origin + i * col_step + j * row_step`` for i < rows, j < cols (mm, LPS)."""

    origin: np.ndarray
    row_step: np.ndarray  # between columns
    col_step: np.ndarray  # between rows
    rows: int
    cols: int

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i = np.arange(self.rows, dtype=np.float32)[:, None]
        j = np.arange(self.cols, dtype=np.float32)[None, :]
        o, a, b = (np.asarray(v, np.float32) for v in (self.origin, self.row_step, self.col_step))
        return tuple(o[k] + i * b[k] + j * a[k] for k in range(3))

    def window(self, centre: np.ndarray, radius: float) -> tuple[slice, slice] | None:
        """Index window holding every grid point within ``radius`` of ``centre``."""
        a, b = np.asarray(self.row_step, float), np.asarray(self.col_step, float)
        rel = np.asarray(centre, float) - np.asarray(self.origin, float)
        n = np.cross(a, b)
        dist = abs(rel @ n) / np.linalg.norm(n)
        if dist > radius:
            return None
        rr = np.sqrt(radius**2 - dist**2)
        j0, i0 = rel @ a / (a @ a), rel @ b / (b @ b)
        dj, di = rr / np.linalg.norm(a), rr / np.linalg.norm(b)
        i_lo, i_hi = max(int(np.floor(i0 - di)), 0), min(int(np.ceil(i0 + di)) + 1, self.rows)
        j_lo, j_hi = max(int(np.floor(j0 - dj)), 0), min(int(np.ceil(j0 + dj)) + 1, self.cols)
        if i_lo >= i_hi or j_lo >= j_hi:
            return None
        return slice(i_lo, i_hi), slice(j_lo, j_hi)


class PhantomModel:
    """Geometry of one synthetic subject; see module docstring."""

    CANAL_AP_MM = 16.0
    CANAL_WIDTH_MM = 23.0

    def __init__(self, subject: Subject):
        self.subject = subject
        rng = np.random.default_rng([subject.seed, 7])
        self.placed: list[PlacedSegment] = place_spine(subject)
        self.curve = SpineCurve(self.placed)
        self.level_s = {p.seg.name: self.curve.s_of(p.centre[1:]) for p in self.placed}
        bodies = [p for p in self.placed if p.seg.kind != "disc"]
        s_b = np.array([self.level_s[p.seg.name] for p in bodies])[::-1]
        self._depth = (s_b, np.array([p.seg.depth_mm for p in bodies])[::-1])
        self._width = (s_b, np.array([min(p.seg.width_mm, 55.0) for p in bodies])[::-1])
        self.muscles = build_muscles(subject, self.level_s, self.width_at, self.depth_at, self.CANAL_AP_MM)
        self.marbling = RandomWaves(rng, 14, 3.0, 9.0)
        self.texture = RandomWaves(rng, 10, 8.0, 30.0)
        self.fat_threshold = {k: _normal_quantile(1.0 - f) for k, f in subject.fat_fraction.items()}
        z_sorted = np.argsort(self.curve.arc_yz[:, 1])
        self._spine_y_of_z = (self.curve.arc_yz[z_sorted, 1], self.curve.arc_yz[z_sorted, 0])
        self.spinous_mm = 30.0 * (subject.height_m / 1.7)
        self.back_mm = float(
            max(self.depth_at(0.0) / 2 + self.CANAL_AP_MM + 4 + self.spinous_mm, 72.0) + 3 + 0.6 * subject.subcutaneous_fat_mm
        )

    def depth_at(self, s):
        return np.interp(s, *self._depth)

    def width_at(self, s):
        return np.interp(s, *self._width)

    # ---------------------------------------------------------------- rendering
    def render_plane(self, grid: PlaneGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tissue uint8, label uint8, texture float32) arrays of shape (rows, cols)."""
        px, py, pz = grid.points()
        tissue = np.zeros(px.shape, np.uint8)
        label = np.zeros(px.shape, np.uint8)
        lateral = px - np.float32(self.subject.lateral_offset_mm)
        s, d = self.curve.coords(py, pz)
        inside_body = self._body(lateral, py, pz, d, tissue)
        self._organs(lateral, s, d, tissue)
        self._muscles(px, py, pz, lateral, s, d, inside_body, tissue, label)
        for ps in self.placed:
            if ps.seg.kind in ("vertebra", "sacrum") and ps.seg.name not in ("S4", "S5"):
                win = grid.window(ps.centre, 1.2 * (ps.seg.depth_mm / 2 + self.CANAL_AP_MM + self.spinous_mm + 20))
                if win is not None:
                    self._posterior_elements(ps, px[win], py[win], pz[win], tissue[win], label[win])
        self._canal(lateral, s, d, tissue, label)
        for ps in self.placed:
            win = grid.window(ps.centre, ps.radius)
            if win is not None:
                self._segment(ps, px[win], py[win], pz[win], tissue[win], label[win])
        return tissue, label, self.texture(px, py, pz)

    def _body(self, lateral, py, pz, d, tissue) -> np.ndarray:
        sub = self.subject
        y_spine = np.interp(pz, *self._spine_y_of_z).astype(np.float32)
        back, front = y_spine + self.back_mm, y_spine - sub.abdominal_depth_mm
        yc, ay, ax = (back + front) / 2, (back - front) / 2, np.float32(sub.body_half_width_mm)
        def level(shrink):
            return np.abs(lateral / (ax - shrink)) ** 2.3 + np.abs((py - yc) / (ay - shrink)) ** 2.3
        outer = level(0.0) <= 1.0
        tissue[outer] = T.FAT
        inner = level(sub.subcutaneous_fat_mm) <= 1.0
        # the abdominal wall wraps round the flanks to the thoracolumbar fascia
        anterior = py < y_spine + 15 + 0.0025 * lateral**2
        tissue[inner & anterior] = T.MUSCLE  # abdominal wall
        cavity = (level(sub.subcutaneous_fat_mm + 11.0) <= 1.0) & (py < y_spine + 10 + 0.0015 * lateral**2)
        vis = self.texture(lateral * 1.3, py * 1.3, pz * 1.3)[cavity]
        tissue[cavity] = np.where(vis > 0.6, T.FAT, np.where(vis < -0.5, T.BOWEL, T.VISCERA))
        return outer

    def _organs(self, lateral, s, d, tissue) -> None:
        ls, dpt = self.level_s, self.depth_at(s)
        w = self.width_at(s)
        for sign, shift in ((1, 0.0), (-1, -15.0)):  # left kidney higher than right
            kid = (((sign * lateral - (w / 2 + 48)) / 27) ** 2 + ((d + 2) / 21) ** 2 + ((s - ls["L1/L2"] - shift) / 55) ** 2) <= 1
            tissue[kid] = T.KIDNEY
        aorta = (((lateral - 12) / 11) ** 2 + ((d + dpt / 2 + 13) / 11) ** 2 <= 1) & (s > ls["L4"])
        ivc = (((lateral + 21) / 13) ** 2 + ((d + dpt / 2 + 12) / 9) ** 2 <= 1) & (s > ls["L4/L5"])
        tissue[aorta | ivc] = T.FLOW_VOID

    def _muscles(self, px, py, pz, lateral, s, d, inside_body, tissue, label) -> None:
        near = inside_body & (np.abs(lateral) < 160) & (d > -120) & (d < 110)
        if not near.any():
            return
        for side, sign in (("left", 1.0), ("right", -1.0)):
            idx = np.nonzero(near & (sign * lateral > 0))
            ss, dd, ll = s[idx], d[idx], sign * lateral[idx]
            marble = None
            for m in ("quadratus_lumborum", "psoas", "erector_spinae", "multifidus"):
                table = self.muscles[(m, side)]
                box = table.bounds()
                cand = np.nonzero((ll > box[0]) & (ll < box[1]) & (dd > box[2]) & (dd < box[3]) & (ss > box[4]) & (ss < box[5]))[0]
                inside = cand[muscle_mask(table, ss[cand], dd[cand], ll[cand])]
                if inside.size == 0:
                    continue
                if marble is None:
                    marble = self.marbling(px[idx], py[idx], pz[idx])
                sel = tuple(a[inside] for a in idx)
                fat = marble[inside] > self.fat_threshold[(m, side)]
                tissue[sel] = np.where(fat, T.FAT, T.MUSCLE)
                label[sel] = L.MUSCLE_LABEL[(m, side)]

    def _posterior_elements(self, ps: PlacedSegment, px, py, pz, tissue, label) -> None:
        xa, ys, zl = ps.local(px, py, pz)
        D, h = ps.seg.depth_mm, ps.seg.height_mid_mm
        ca, hw = self.CANAL_AP_MM, self.CANAL_WIDTH_MM / 2
        back = -(xa + D / 2)  # mm posterior of the body's posterior wall
        az = np.abs(zl)
        sacral = ps.seg.kind == "sacrum"
        pedicle = (back > -1) & (back < ca * 0.6) & (az > hw - 1) & (az < hw + 8) & (np.abs(ys - 0.1 * h) < 0.3 * h)
        tilt = ys + 0.25 * np.maximum(back - ca, 0)  # spinous process slopes caudally
        lamina = (back > ca) & (back < ca + 7) & (az < hw + 7) & (tilt > -0.55 * h) & (tilt < 0.3 * h)
        spine_len = self.spinous_mm * (0.5 if sacral else 1.0)
        spinous = (back > ca) & (back < ca + 5 + spine_len) & (az < 3.5) & (tilt > -0.5 * h) & (tilt < 0.2 * h)
        facet = (back > 4) & (back < ca + 3) & (az > hw - 3) & (az < hw + 7) & (ys > -0.5 * h - 7) & (ys < 0.45 * h)
        parts = pedicle | lamina | spinous | facet
        if not sacral:
            tp_len = 22.0 + 8.0 * (ps.seg.name == "L3")
            parts |= (back > 2) & (back < 11) & (az > hw) & (az < hw + tp_len) & (np.abs(ys - 0.05 * h) < 5)
        tissue[parts] = T.POSTERIOR_BONE
        label[parts] = L.POSTERIOR_ELEMENTS_LABEL

    def _canal(self, lateral, s, d, tissue, label) -> None:
        dpt = self.depth_at(s)
        taper = np.clip((s - self.level_s["S3"]) / (self.level_s["S1"] - self.level_s["S3"]), 0.35, 1.0)
        ap, hw = self.CANAL_AP_MM / 2 * taper, self.CANAL_WIDTH_MM / 2 * taper
        dc = d - (dpt / 2 - 1.0 + ap)
        r2 = (dc / ap) ** 2 + (lateral / hw) ** 2
        canal = r2 <= 1.0
        tissue[canal] = T.FAT  # epidural fat
        sac = ((dc + 1.0) / (ap * 0.8)) ** 2 + (lateral / (hw * 0.85)) ** 2 <= 1.0
        tissue[canal & sac] = T.CSF
        cord = self.level_s["L1"]
        nerve_r = np.where(s > cord, 0.45, 0.3)
        nerves = ((dc + 2.0) / (ap * nerve_r * 1.2)) ** 2 + (lateral / (hw * nerve_r * 1.4)) ** 2 <= 1.0
        tissue[canal & sac & nerves & (s > self.level_s["S2"])] = T.NERVE
        label[canal] = L.CANAL_LABEL
        # interspinous and supraspinous ligaments along the midline behind the canal
        behind = d - (dpt / 2 + self.CANAL_AP_MM)
        ligament = (np.abs(lateral) < 2.5) & (behind > 0) & (behind < self.spinous_mm + 6) & (s > self.level_s["S2"])
        tissue[ligament & (label == 0)] = T.CORTEX

    def _segment(self, ps: PlacedSegment, px, py, pz, tissue, label) -> None:
        xa, ys, zl = ps.local(px, py, pz)
        inside = ps.inside(xa, ys, zl)
        if not inside.any():
            return
        seg = ps.seg
        if seg.kind == "disc":
            nucleus = ((xa + 0.05 * seg.depth_mm) / (0.3 * seg.depth_mm)) ** 2 + (zl / (0.3 * seg.width_mm)) ** 2 <= 1
            nucleus &= np.abs(ys) <= 0.36 * seg.height_mid_mm
            core = T.NUCLEUS_DEGENERATED if seg.degenerated else T.NUCLEUS
            tissue[inside] = np.where(nucleus[inside], core, T.ANNULUS)
            label[inside] = L.DISC_LABEL[seg.name]
        else:
            marrow = ps.inside(xa, ys, zl, shrink_mm=1.0)
            tissue[inside] = np.where(marrow[inside], T.MARROW, T.CORTEX)
            label[inside] = L.VERTEBRA_LABEL["S1" if seg.kind == "sacrum" else seg.name]


def _normal_quantile(p: float) -> float:
    from statistics import NormalDist

    return float(NormalDist().inv_cdf(float(np.clip(p, 1e-6, 1 - 1e-6))))
