"""Paraspinal muscle morphometry per disc level on axial label maps, placed through patient mm.

For every named disc of the sagittal level map (its centre and mid-plane from
:func:`lumbarqi.morphometry.spine.analyse_spine`):

- Slice: over all axial stacks, the slice whose plane lies nearest the disc
  centre (the disc centre must project inside the slice, and lie within one
  slice spacing of it). ``slice_offset_mm`` = signed distance from the disc
  centre to the slice plane along the slice normal turned superior (> 0: the
  slice lies above the centre).
- Spine axis: a cubic spline through the centres of the named bodies and
  discs (and an estimated top-sacral-segment centre), parametrised by arc
  length and continued straight beyond both ends; its tangent where it crosses
  the slice plane is the local spine axis.
- CSA (mm2, cm2) on the plane normal to the spine axis through the point
  where the axis crosses the chosen slice: the axial label stack is resampled
  on that plane (0.5 mm grid, each muscle's indicator interpolated linearly
  between slices, area = sum of the interpolated indicator). Where that plane
  leaves the stack over part of a muscle (a straight stack ending near a
  steep L5/S1), the fallback is the in-slice area x cos(angle between slice
  normal and spine axis), flagged ``csa_oblique_estimate``: exact only for a
  muscle that does not change along the axis.
- fat_index: fraction of the muscle pixels brighter than a threshold set per
  subject and slice. Subcutaneous fat = bright pixels (Otsu within the band)
  of the outer 15 mm of the body outline; a plane fitted to their log signal
  over the slice models the coil fall-off; the image divided by that fit has
  fat at ~1. Lean muscle = the mode of the normalised signal over all
  paraspinal muscle pixels of the slice; the threshold is half-way between
  lean muscle and fat.
- centroid_mm ``[lateral, anterior]`` on the same normal plane: muscle
  centroid minus the centroid of the disc there (or, without disc labels on
  the axial map, the spine-axis point, centred laterally on the bodies/discs
  of the slice), along the plane's lateral (patient x) and anterior axes:
  lateral positive toward the muscle's own side, anterior positive forward.
"""
from __future__ import annotations

import contourpy
import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.results import Flag, make_flag
from lumbarqi.volume import LabelledVolume, fill_missing

from .quality import check_muscle
from .spine import SpineAnalysis, analyse_spine

SUBCUTANEOUS_BAND_MM = 15.0
RESLICE_STEP_MM = 0.5
RESLICE_HALF_LATERAL_MM, RESLICE_POSTERIOR_MM, RESLICE_ANTERIOR_MM = 150.0, 130.0, 110.0
_SPINE_LABELS = list(L.VERTEBRA_LABEL.values()) + list(L.DISC_LABEL.values())
_MUSCLE_LABELS = list(L.MUSCLE_LABEL.values())


class SpineAxis:
    """Arc-length spline through structure centres (LPS mm), caudal to cranial."""

    def __init__(self, points: np.ndarray, step_mm: float = 0.25, extend_mm: float = 60.0):
        pts = np.asarray(points, float)
        ends = [pts[0] + (pts[0] - pts[1]) / np.linalg.norm(pts[0] - pts[1]) * extend_mm,
                pts[-1] + (pts[-1] - pts[-2]) / np.linalg.norm(pts[-1] - pts[-2]) * extend_mm]
        pts = np.vstack([ends[0], pts, ends[1]])
        s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
        spline = CubicSpline(s, pts, bc_type="natural")
        self.s = np.arange(0.0, s[-1], step_mm)
        self.xyz = spline(self.s)
        t = spline(self.s, 1)
        self.tangent = t / np.linalg.norm(t, axis=1, keepdims=True)

    def crossing(self, point: np.ndarray, normal: np.ndarray, near: np.ndarray, within_mm: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
        """(point, unit tangent) where the axis meets the plane (point, normal), searched near ``near``."""
        close = np.linalg.norm(self.xyz - near, axis=1) <= within_mm
        idx = np.flatnonzero(close) if close.any() else np.arange(len(self.s))
        i = idx[np.argmin(np.abs((self.xyz[idx] - point) @ normal))]
        return self.xyz[i], self.tangent[i]


#: Weightings the fat index is defined for: on T1 fat is bright and muscle dark, so the
#: threshold half-way between lean muscle and subcutaneous fat separates them. On T2
#: (TSE) oedema and fluid are bright as well, so a T2 fat index would not mean fat.
FAT_INDEX_WEIGHTINGS = ("T1", "")


def spine_axis(analysis: SpineAnalysis) -> SpineAxis | None:
    """The spine axis through the measured bodies and discs (None with fewer than 3 points)."""
    order = [n for pair in zip(L.VERTEBRAE[:-1], L.DISCS, strict=False) for n in pair][::-1]  # L5/S1, L5, L4/L5, ...
    pts = [analysis.frames[n].centre for n in order if n in analysis.frames]
    if analysis.s1_point is not None and "L5/S1" in analysis.frames:
        pts.insert(0, analysis.s1_point)
    return SpineAxis(np.array(pts)) if len(pts) >= 3 else None


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=128)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = ((hist * centres).sum() - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def fat_normalised(image: np.ndarray, label: np.ndarray, row_mm: float, col_mm: float) -> np.ndarray | None:
    """The slice divided by a log-linear fit of its subcutaneous fat signal (fat ~ 1), or None."""
    img = np.asarray(image, float)
    if not np.isfinite(img).all() or img.max() <= 0:
        return None
    body = ndimage.binary_fill_holes(img > 0.1 * np.percentile(img, 99))
    comp, n = ndimage.label(body)
    if n == 0:
        return None
    body = comp == (np.argmax(np.bincount(comp.ravel())[1:]) + 1)
    depth = ndimage.distance_transform_edt(body, sampling=(row_mm, col_mm))
    band = body & (depth <= SUBCUTANEOUS_BAND_MM) & (label == 0)
    if band.sum() < 200:
        return None
    fat = band & (img > _otsu(img[band]))
    rows, cols = np.nonzero(fat)
    if len(rows) < 200:
        return None
    design = np.column_stack([np.ones(len(rows)), rows * row_mm, cols * col_mm])
    y = np.log(np.maximum(img[rows, cols], 1e-6))
    keep = np.ones(len(y), bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(design[keep], y[keep], rcond=None)
        res = y - design @ coef
        mad = 1.4826 * np.median(np.abs(res[keep] - np.median(res[keep])))
        keep = np.abs(res) <= 2.5 * max(mad, 1e-3)
    rr, cc = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    fit = np.exp(coef[0] + coef[1] * rr * row_mm + coef[2] * cc * col_mm)
    return img / fit / float(np.median(img[rows, cols][keep] / fit[rows, cols][keep]))


def fat_threshold(normalised: np.ndarray, label: np.ndarray) -> float | None:
    """Half-way between lean muscle (mode over all muscle pixels) and fat (1.0)."""
    values = normalised[np.isin(label, _MUSCLE_LABELS)]
    if values.size < 50:
        return None
    hist, edges = np.histogram(values, bins=150, range=(0.0, 1.5))
    lean = float(0.5 * (edges[1:] + edges[:-1])[np.argmax(ndimage.gaussian_filter1d(hist.astype(float), 2))])
    return 0.5 * (lean + 1.0) if lean < 0.85 else None


def mask_outline(mask: np.ndarray, max_points: int = 240) -> np.ndarray | None:
    """Closed outline (N, 2) of the largest region of a 2D mask, (row, col) fractional pixel
    indices (pixel centres at integers) on the 0.5 iso-line; first point repeated last."""
    if not mask.any():
        return None
    padded = np.pad(mask.astype(np.float64), 1)
    lines = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate).lines(0.5)
    area = lambda xy: 0.5 * abs(float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1])))  # noqa: E731
    closed: list[np.ndarray] = [np.asarray(xy) for xy in lines if len(xy) >= 4]
    if not closed:
        return None
    xy: np.ndarray = max(closed, key=area)
    if not np.allclose(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    if len(xy) > max_points:
        xy = np.vstack([xy[:-1][:: int(np.ceil((len(xy) - 1) / (max_points - 1)))], xy[:1]])
    return np.column_stack([xy[:, 1] - 1.0, xy[:, 0] - 1.0])  # (row, col) without the padding


def _reslice(label: np.ndarray, g: StackGeometry, point: np.ndarray, e_lat: np.ndarray, e_ap: np.ndarray,
             missing: tuple[int, ...] = ()) -> dict:
    """Label value -> (area mm2, centroid LPS mm) on the plane (point; e_lat, e_ap), from the
    label stack resampled with per-label linear interpolation (points beyond half a slice
    outside the stack count as empty; a missing slice's labels are not used: its indicator
    is interpolated from the slices on either side)."""
    step = RESLICE_STEP_MM
    lat = np.arange(-RESLICE_HALF_LATERAL_MM, RESLICE_HALF_LATERAL_MM, step)
    ap = np.arange(-RESLICE_POSTERIOR_MM, RESLICE_ANTERIOR_MM, step)
    A, B = np.meshgrid(lat, ap, indexing="ij")
    pts = point[None, :] + A.reshape(-1, 1) * e_lat[None, :] + B.reshape(-1, 1) * e_ap[None, :]
    ijk = g.lps_to_voxel(pts)
    inside = (ijk[:, 0] >= -0.5) & (ijk[:, 0] <= g.n_slices - 0.5) & (ijk[:, 1] >= -0.5) & (ijk[:, 1] <= g.rows - 0.5) \
        & (ijk[:, 2] >= -0.5) & (ijk[:, 2] <= g.cols - 0.5)
    ijk, pts = ijk[inside], pts[inside]
    out: dict = {}
    for value in _MUSCLE_LABELS + list(L.DISC_LABEL.values()):
        present = np.isin(np.arange(g.n_slices), np.flatnonzero((label == value).any(axis=(1, 2))))
        if not present.any():
            continue
        indicator = (label == value).astype(np.float32)
        fill_missing(indicator, missing)
        w = ndimage.map_coordinates(indicator, ijk.T, order=1, mode="nearest")
        total = float(w.sum())
        if total > 0:
            out[value] = (total * step * step, (w @ pts) / total)
    return out


def choose_slices(axial: list[LabelledVolume], analysis: SpineAnalysis) -> tuple[dict[str, tuple[int, int, float]], list[Flag]]:
    """Per reported disc: (index into ``axial``, slice index, signed offset mm) of the nearest slice."""
    out, flags = {}, []
    for disc in L.REPORTED_DISCS:
        frame = analysis.frames.get(disc)
        if frame is None:
            continue
        best = None
        for i, lv in enumerate(axial):
            g = lv.volume.geometry
            n = g.normal * np.sign(g.normal[2] or 1.0)
            offs = np.array([(g.slice_centre(k) - frame.centre) @ n for k in range(g.n_slices)])
            dist = np.abs(offs)
            dist[list(lv.volume.missing_slices)] = np.inf  # a missing slice has no image to measure on
            k = int(np.argmin(dist))
            _, r, c = g.lps_to_voxel(frame.centre[None])[0]
            covered = 0 <= r < g.rows and 0 <= c < g.cols
            if covered and abs(offs[k]) <= g.slice_spacing_mm and (best is None or abs(offs[k]) < abs(best[2])):
                best = (i, k, float(offs[k]))
        if best is None:
            flags.append(make_flag("axial_not_reaching_level",
                                   f"no axial T1 slice within one slice spacing of the {disc} disc: muscles not measured",
                                   level=disc,
                                   structure="muscle"))
        else:
            out[disc] = best
    return out, flags


def measure_level(lv: LabelledVolume, k: int, offset: float, disc: str, axis: SpineAxis, disc_centre: np.ndarray) -> tuple[dict, list[Flag], dict]:
    """Muscle entries of one disc level on slice ``k`` of ``lv``: (muscles, flags, slice info)."""
    g: StackGeometry = lv.volume.geometry
    n = g.normal * np.sign(g.normal[2] or 1.0)
    lab = np.asarray(lv.label[k])
    point, t = axis.crossing(g.slice_centre(k), n, disc_centre)
    t = t if t[2] >= 0 else -t
    cos = float(abs(n @ t))
    e_lat = np.array([1.0, 0.0, 0.0]) - t[0] * t
    e_lat /= np.linalg.norm(e_lat)
    e_ap = np.cross(t, e_lat)
    e_ap = e_ap if e_ap[1] <= 0 else -e_ap  # anterior = -y in LPS
    # the axis crosses the slice plane along t, not exactly at ``point``: move onto the plane
    point = point + ((g.slice_centre(k) - point) @ n) / (t @ n) * t
    spine_px = np.argwhere(np.isin(lab, _SPINE_LABELS))
    if len(spine_px) >= 30:
        centre_lat = g.voxel_to_lps(np.column_stack([np.full(len(spine_px), k), spine_px])).mean(axis=0)
        point = point + ((centre_lat - point) @ e_lat) * e_lat
    flags: list[Flag] = []
    image = getattr(lv.volume, "array", None)
    fat_valid = getattr(lv.volume, "weighting", "T1") in FAT_INDEX_WEIGHTINGS  # else left out, flagged once by the run
    threshold, normalised = None, None
    if fat_valid and image is not None and np.shape(image)[1:] == lab.shape:
        normalised = fat_normalised(image[k], lab, g.row_spacing_mm, g.col_spacing_mm)
        threshold = fat_threshold(normalised, lab) if normalised is not None else None
    if threshold is None and fat_valid:
        flags.append(make_flag("fat_calibration", f"{disc}: subcutaneous fat / lean muscle calibration failed: no fat_index",
                               level=disc,
                               structure="muscle"))
    px_area = g.row_spacing_mm * g.col_spacing_mm
    plane = _reslice(lv.label, g, point, e_lat, e_ap, tuple(getattr(lv.volume, "missing_slices", ())))
    ref = point
    disc_w = plane.get(L.DISC_LABEL[disc])
    if disc_w is not None and disc_w[0] > 50.0:
        ref = disc_w[1]
    out: dict = {}
    contours: dict = {}
    for m in L.MUSCLES:
        for side in L.SIDES:
            value = L.MUSCLE_LABEL[(m, side)]
            mask = lab == value
            count = int(mask.sum())
            if count == 0 and value not in plane:
                flags.append(make_flag("muscle_missing",
                                       f"{disc}: no {m.replace('_', ' ')} ({side}) near the chosen axial slice", level=disc,
                                       structure=f"{m}, {side}"))
                continue
            covered = value in plane
            if count and covered:
                px = g.voxel_to_lps(np.column_stack([np.full(count, k), np.argwhere(mask)]))
                projected = px + ((point - px) @ t)[:, None] * t[None, :]  # along the axis onto the normal plane
                kk = g.lps_to_voxel(projected)[:, 0]
                covered = bool(kk.min() >= -0.5 and kk.max() <= g.n_slices - 0.5)
            if covered:
                area, centroid = plane[value]
            else:
                px = g.voxel_to_lps(np.column_stack([np.full(count, k), np.argwhere(mask)]))
                area, centroid = count * px_area * cos, px.mean(axis=0)
                flags.append(make_flag("csa_oblique_estimate",
                                       f"{disc}: the plane normal to the spine leaves the axial stack over {m.replace('_', ' ')} ({side}): "
                                       "CSA is the in-slice area x cos(tilt)",
                                       level=disc,
                                       structure=f"{m}, {side}"))
            d = centroid - ref
            entry = {"csa_mm2": round(area, 2), "csa_cm2": round(area / 100.0, 3)}
            if threshold is not None and normalised is not None and count:
                entry["fat_index"] = round(float((normalised[mask] > threshold).mean()), 4)
            entry["centroid_mm"] = [round(float(d @ e_lat) * (1 if side == "left" else -1), 2), round(float(d @ e_ap), 2)]
            entry["slice_offset_mm"] = round(offset, 2)
            out.setdefault(m, {})[side] = entry
            outline = mask_outline(mask)
            if outline is not None:  # the measured muscle on the slice used, for viewers
                pts = g.voxel_to_lps(np.column_stack([np.full(len(outline), k), outline]))
                contours.setdefault(m, {})[side] = [[round(float(c), 3) for c in p] for p in pts]
            flags += check_muscle(disc, m, side, entry)
    info = {"series_instance_uid": lv.volume.series_instance_uid, "stack": lv.volume.stack_index, "slice_index": k,
            "offset_mm": round(offset, 2), "tilt_deg": round(float(np.degrees(np.arccos(min(1.0, cos)))), 2),
            "contours_mm": contours}
    return out, flags, info


def measure_muscles_detailed(axial: list[LabelledVolume], sagittal_label: np.ndarray, sagittal_geometry: StackGeometry,
                             analysis: SpineAnalysis | None = None) -> tuple[dict, list[Flag], dict]:
    """(muscles, flags, slices): as :func:`measure_muscles`, plus which slice served each level."""
    analysis = analysis or analyse_spine(sagittal_label, sagittal_geometry)
    axis = spine_axis(analysis)
    if axis is None:
        return {}, [make_flag("not_measurable", "too few named levels on the sagittal map to place axial slices",
                              structure="muscle")], {}
    chosen, flags = choose_slices(axial, analysis)
    muscles, slices = {}, {}
    for disc, (i, k, offset) in chosen.items():
        entry, f, info = measure_level(axial[i], k, offset, disc, axis, analysis.frames[disc].centre)
        flags += f
        if entry:
            muscles[disc] = entry
            slices[disc] = info
    return muscles, flags, slices


def measure_muscles(axial: list[LabelledVolume], sagittal_label: np.ndarray, sagittal_geometry: StackGeometry,
                    analysis: SpineAnalysis | None = None) -> tuple[dict, list[Flag]]:
    """(muscles, flags) in the results.json keys: ``{disc: {muscle: {side: {csa_mm2, csa_cm2,
    fat_index, centroid_mm, slice_offset_mm}}}}``.

    axial: every axial stack with its muscle label map (``lumbarqi.labels``
    numbering) and, for fat_index, its image; sagittal_label: the named
    sagittal level map on ``sagittal_geometry``. ``analysis`` (from
    :func:`~lumbarqi.morphometry.spine.analyse_spine`) saves recomputing it.
    """
    muscles, flags, _ = measure_muscles_detailed(axial, sagittal_label, sagittal_geometry, analysis)
    return muscles, flags
