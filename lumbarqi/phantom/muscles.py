"""Paraspinal muscles as generalised cylinders along the spine curve.

Each muscle and side has, at every arc length ``s`` (mm, see
:class:`~lumbarqi.phantom.spine.SpineCurve`), an elliptical cross-section in the
plane normal to the curve: centre (lateral mm from the midline, posterior mm
from the curve), semi-axes and a tilt. Sizes come from the subject's CSA per
disc level; positions follow the local vertebral size so muscles wrap the
bone the way they do in the body.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lumbarqi.labels import MUSCLES, SIDES
from lumbarqi.phantom.subject import MUSCLE_LEVELS, Subject

S_MIN, S_MAX = -200.0, 400.0  # arc-length span of the parameter tables, mm


@dataclass
class MuscleTables:
    """Per-mm tables of cross-section parameters: (n_s,) arrays for one muscle/side."""

    lateral: np.ndarray
    posterior: np.ndarray
    semi_lateral: np.ndarray
    semi_ap: np.ndarray
    tilt_rad: np.ndarray

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """(lateral min, max, posterior min, max, s min, s max) enclosing the muscle, mm."""
        if not hasattr(self, "_bounds"):
            r = np.maximum(self.semi_lateral, self.semi_ap)
            on = np.nonzero((self.semi_lateral > 0.5) & (self.semi_ap > 0.5))[0]
            s_grid = S_MIN + np.arange(self.lateral.size)
            self._bounds = (
                float((self.lateral - r)[on].min()), float((self.lateral + r)[on].max()),
                float((self.posterior - r)[on].min()), float((self.posterior + r)[on].max()),
                float(s_grid[on].min() - 1), float(s_grid[on].max() + 1),
            )
        return self._bounds


def _semi_axes(csa: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (lateral, AP) of an ellipse of area ``csa`` mm2 and lateral/AP ``aspect``."""
    csa = np.maximum(csa, 0.0)
    return np.sqrt(csa / np.pi * aspect), np.sqrt(csa / np.pi / aspect)


def build_muscles(
    subject: Subject,
    level_s: dict[str, float],
    width_at: Callable[[np.ndarray], np.ndarray],
    depth_at: Callable[[np.ndarray], np.ndarray],
    canal_ap_mm: float,
) -> dict[tuple[str, str], MuscleTables]:
    """Cross-section tables for all muscles and sides.

    level_s: arc length of each vertebra/disc centre. width_at/depth_at: vertebral
    body width/depth (mm) as functions of s.
    """
    anchors = np.array([level_s[lv] for lv in MUSCLE_LEVELS])
    grid = np.arange(S_MIN, S_MAX + 1.0, 1.0)
    w, dpt = width_at(grid), depth_at(grid)
    tables: dict[tuple[str, str], MuscleTables] = {}
    for side in SIDES:
        csa = {}
        for m in MUSCLES:
            per_level = np.asarray(subject.muscle_csa_mm2[(m, side)])
            s_pts, v_pts = list(anchors), list(per_level)
            if m == "psoas":  # arises at T12, runs on into the pelvis
                s_pts, v_pts = [level_s["L5/S1"] - 160, *s_pts[::-1], level_s["T12"] + 5], [per_level[-1], *v_pts[::-1], 0]
            elif m == "quadratus_lumborum":  # 12th rib to iliac crest
                s_pts, v_pts = [*s_pts[::-1], level_s["T12"]], [*v_pts[::-1], 0]
            elif m == "erector_spinae":  # sacrum up to the thorax
                s_pts, v_pts = [level_s["S3"], *s_pts[::-1], S_MAX], [0, *v_pts[::-1], per_level[0]]
            else:  # multifidus: sacrum up to the thoracic spine, thinning
                s_pts, v_pts = [level_s["S4"], *s_pts[::-1], S_MAX], [0, *v_pts[::-1], per_level[0] * 0.5]
            csa[m] = np.interp(grid, s_pts, v_pts, left=0.0, right=v_pts[-1])

        mf_lat, mf_ap = _semi_axes(csa["multifidus"], 0.75)
        ps_lat, ps_ap = _semi_axes(csa["psoas"], 0.85)
        ql_lat, ql_ap = _semi_axes(csa["quadratus_lumborum"], 2.2)
        es_lat, es_ap = _semi_axes(csa["erector_spinae"], 1.5)
        lamina = dpt / 2 + canal_ap_mm + 3.0
        # psoas drifts anteriorly down the spine: +0.15 depth at T12/L1 to -0.45 at L5/S1
        ps_post = dpt * np.interp(grid, [anchors[-1], anchors[0]], [-0.45, 0.15])
        zero = np.zeros_like(grid)
        tables[("multifidus", side)] = MuscleTables(4.0 + mf_lat, lamina + mf_ap * 0.95, mf_lat, mf_ap, zero)
        tables[("erector_spinae", side)] = MuscleTables(
            4.0 + 2 * mf_lat + es_lat * 0.8, lamina + es_ap * 0.9, es_lat, es_ap, zero + np.radians(8)
        )
        tables[("psoas", side)] = MuscleTables(w / 2 + ps_lat * 0.9, ps_post, ps_lat, ps_ap, zero)
        tables[("quadratus_lumborum", side)] = MuscleTables(
            w / 2 + 2 * ps_lat * 0.9 + ql_lat * 0.6 + 8.0, dpt / 2 + 6.0, ql_lat, ql_ap, zero - np.radians(25)
        )
    return tables


def muscle_mask(t: MuscleTables, s: np.ndarray, d: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """Points inside the muscle. s, d: curve coordinates; lateral: mm away from midline on this side."""
    idx = np.clip(np.rint(s - S_MIN).astype(np.int32), 0, t.lateral.size - 1)
    a, b = t.semi_lateral[idx], t.semi_ap[idx]
    valid = (a > 0.5) & (b > 0.5)
    dl, dd = lateral - t.lateral[idx], d - t.posterior[idx]
    tilt = t.tilt_rad[idx]
    if np.any(tilt):
        c, sn = np.cos(tilt), np.sin(tilt)
        dl, dd = c * dl + sn * dd, -sn * dl + c * dd
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (dl * dl) / (a * a) + (dd * dd) / (b * b) <= 1.0
    return inside & valid
