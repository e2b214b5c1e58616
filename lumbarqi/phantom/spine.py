"""The phantom's spine: vertebrae, discs and sacrum placed as a chain of wedges.

Patient coordinates are LPS mm (x to the patient's left, y posterior, z
superior). The spine lies in the sagittal plane ``x = subject.lateral_offset_mm``.
Each segment has its own mid-plane frame: ``u`` points anterior along the
segment's mid-plane, ``v`` superior along its normal, and the lateral axis is
patient x. In that frame the segment occupies ``|y| <= h(x)/2`` with
``h(x) = h_mid + 2 k x`` (``k`` the wedge slope) over an elliptical footprint
of the segment's AP depth and width, so every mid-sagittal dimension is known
exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree

from lumbarqi.phantom.subject import Segment, Subject

_FOOTPRINT_POWER = {"vertebra": 2.4, "disc": 2.2, "sacrum": 2.6}


@dataclass
class PlacedSegment:
    """A segment with its position: centre (LPS mm) and mid-plane axes u, v."""

    seg: Segment
    centre: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def slope(self) -> float:
        s = self.seg
        return (s.height_anterior_mm - s.height_posterior_mm) / (2 * s.depth_mm)

    @property
    def radius(self) -> float:
        """Radius of a sphere about ``centre`` that holds the body of the segment."""
        s = self.seg
        return 0.5 * float(np.sqrt(s.depth_mm**2 + s.width_mm**2 + max(s.height_anterior_mm, s.height_posterior_mm) ** 2)) + 1

    def local(self, px: np.ndarray, py: np.ndarray, pz: np.ndarray):
        """Patient points -> (anterior, superior, lateral) mm in the segment frame."""
        dy, dz = py - self.centre[1], pz - self.centre[2]
        xa = dy * self.u[1] + dz * self.u[2]
        ys = dy * self.v[1] + dz * self.v[2]
        return xa, ys, px - self.centre[0]

    def inside(self, xa, ys, zl, shrink_mm: float = 0.0) -> np.ndarray:
        s = self.seg
        half_h = 0.5 * s.height_mid_mm + self.slope * xa - shrink_mm
        p = _FOOTPRINT_POWER[s.kind]
        foot = np.abs(xa / (0.5 * s.depth_mm - shrink_mm)) ** p + np.abs(zl / (0.5 * s.width_mm - shrink_mm)) ** p
        return (np.abs(ys) <= half_h) & (foot <= 1.0)

    def point(self, xa: float, ys: float) -> np.ndarray:
        """Patient position of mid-sagittal frame point (anterior xa, superior ys)."""
        return self.centre + xa * self.u + ys * self.v


def _axes(theta: float, x_mid: float) -> tuple[np.ndarray, np.ndarray]:
    """u (anterior) and v (superior) for mid-plane direction ``theta`` (rad) in (y, z)."""
    u = np.array([0.0, np.cos(theta), np.sin(theta)])
    v = np.array([0.0, np.sin(theta), -np.cos(theta)])
    return u, v


def place_spine(subject: Subject, s1_corner_yz: tuple[float, float] = (18.0, -110.0)) -> list[PlacedSegment]:
    """Stack the subject's segments on the sacrum, cranial to caudal order returned.

    The posterior-superior corner of S1 sits at ``s1_corner_yz``; the S1
    endplate slopes down anteriorly by the sacral slope. Segments above are
    stacked on their lower neighbour's upper endplate with posterior walls
    aligned (discs centred on the vertebra below).
    """
    x_mid = subject.lateral_offset_mm
    segs = subject.segments
    i_s1 = next(i for i, s in enumerate(segs) if s.name == "S1")
    placed: dict[int, PlacedSegment] = {}

    # Sacrum, downward from the S1 upper endplate.
    theta_top = np.pi + np.radians(subject.sacral_slope_deg)
    corner = np.array([x_mid, *s1_corner_yz])
    for i in range(i_s1, len(segs)):
        seg = segs[i]
        alpha = np.arctan((seg.height_anterior_mm - seg.height_posterior_mm) / (2 * seg.depth_mm))
        theta_m = theta_top + alpha
        u, v = _axes(theta_m, x_mid)
        centre = corner + u * seg.depth_mm / 2 - v * seg.height_posterior_mm / 2
        placed[i] = PlacedSegment(seg, centre, u, v)
        corner = centre - u * seg.depth_mm / 2 - v * seg.height_posterior_mm / 2
        theta_top = theta_m + alpha

    # Lumbar and lower thoracic, upward from the S1 upper endplate.
    theta_bottom = np.pi + np.radians(subject.sacral_slope_deg)
    corner = np.array([x_mid, *s1_corner_yz])
    below_depth = segs[i_s1].depth_mm
    for i in range(i_s1 - 1, -1, -1):
        seg = segs[i]
        t = np.array([0.0, np.cos(theta_bottom), np.sin(theta_bottom)])
        # a disc is centred on the vertebra below; a vertebra's posterior wall is aligned
        shift = -0.5 * (seg.depth_mm - below_depth) if seg.kind == "disc" else 0.0
        alpha = np.arctan((seg.height_anterior_mm - seg.height_posterior_mm) / (2 * seg.depth_mm))
        theta_m = theta_bottom - alpha
        u, v = _axes(theta_m, x_mid)
        base = corner + t * shift
        centre = base + u * seg.depth_mm / 2 + v * seg.height_posterior_mm / 2
        placed[i] = PlacedSegment(seg, centre, u, v)
        top_corner = centre - u * seg.depth_mm / 2 + v * seg.height_posterior_mm / 2
        theta_bottom = theta_m - alpha
        # Keep posterior walls of vertebrae aligned: undo a disc's centring shift along its upper endplate.
        t_top = np.array([0.0, np.cos(theta_bottom), np.sin(theta_bottom)])
        corner = top_corner - t_top * shift if seg.kind == "disc" else top_corner
        if seg.kind == "vertebra":
            below_depth = seg.depth_mm
    return [placed[i] for i in range(len(segs))]


class SpineCurve:
    """Arc-length coordinates along the spine's mid-line in the sagittal plane.

    ``s`` is arc length in mm, 0 at the L5/S1 disc centre and positive cranially;
    ``d`` is the signed distance from the curve, positive posterior. Lookups go
    through a 1 mm grid in (y, z) built once.
    """

    def __init__(self, placed: list[PlacedSegment], grid_step_mm: float = 1.0):
        chain = [p for p in placed if p.seg.kind != "sacrum" or p.seg.name in ("S1", "S2", "S3")]
        pts = np.array([p.centre[1:] for p in chain])[::-1]  # caudal -> cranial
        # extend beyond both ends along the end tangents
        head = pts[-1] + (pts[-1] - pts[-2]) / np.linalg.norm(pts[-1] - pts[-2]) * np.array([[40.0], [80.0]])
        tail = pts[0] + (pts[0] - pts[1]) / np.linalg.norm(pts[0] - pts[1]) * np.array([[80.0], [40.0]])
        pts = np.vstack([tail, pts, head])
        seglen = np.r_[0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
        spline = CubicSpline(seglen, pts, bc_type="natural")
        fine = np.arange(0, seglen[-1], 0.25)
        yz = spline(fine)
        arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(yz, axis=0), axis=1))]
        tangent = np.gradient(yz, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)  # posterior when tangent is superior
        normal *= np.sign(normal[:, :1] + 1e-9)
        l5s1 = next(p for p in placed if p.seg.name == "L5/S1").centre[1:]
        s0 = arc[np.argmin(np.linalg.norm(yz - l5s1, axis=1))]
        self.arc_yz, self.arc_s, self.arc_normal = yz, arc - s0, normal
        tree = cKDTree(yz)
        y0, z0 = yz[:, 0].min() - 260, yz[:, 1].min() - 120
        ny = int((yz[:, 0].max() + 260 - y0) / grid_step_mm) + 1
        nz = int((yz[:, 1].max() + 120 - z0) / grid_step_mm) + 1
        gy, gz = np.meshgrid(y0 + np.arange(ny) * grid_step_mm, z0 + np.arange(nz) * grid_step_mm, indexing="ij")
        q = np.stack([gy.ravel(), gz.ravel()], axis=1)
        _, idx = tree.query(q, workers=-1)
        d = np.einsum("ij,ij->i", q - yz[idx], normal[idx])
        self._s_grid = (arc[idx] - s0).reshape(ny, nz).astype(np.float32)
        self._d_grid = d.reshape(ny, nz).astype(np.float32)
        self._origin, self._step = (y0, z0), grid_step_mm

    def coords(self, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s, d) in mm for patient y, z arrays (bilinear lookup)."""
        from scipy.ndimage import map_coordinates

        iy = (py - self._origin[0]) / self._step
        iz = (pz - self._origin[1]) / self._step
        c = np.stack([iy.ravel(), iz.ravel()])
        s = map_coordinates(self._s_grid, c, order=1, mode="nearest").reshape(py.shape)
        d = map_coordinates(self._d_grid, c, order=1, mode="nearest").reshape(py.shape)
        return s, d

    def position(self, s: float) -> np.ndarray:
        """(y, z) of the curve at arc length ``s``."""
        y = np.interp(s, self.arc_s, self.arc_yz[:, 0])
        z = np.interp(s, self.arc_s, self.arc_yz[:, 1])
        return np.array([y, z])

    def s_of(self, yz: np.ndarray) -> float:
        return float(self.arc_s[np.argmin(np.linalg.norm(self.arc_yz - np.asarray(yz), axis=1))])
