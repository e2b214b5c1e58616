"""Disc and vertebral-body morphometry on a named sagittal label map, in patient mm.

Definitions (docs/results.md), for every named disc and
vertebral body, on each of its central sagittal slices:

- Coordinates are millimetres in the slice plane (``a`` along the DICOM row
  direction, ``b`` along the column direction), so non-square pixels and
  oblique sagittal planes need no special case.
- The structure's own frame: ``u`` anterior along its mid-plane, ``v``
  superior along the mid-plane normal. Start from the principal axes of the
  mask; then fit straight lines to the upper and lower boundaries (sub-pixel
  0.5 crossings of the bilinearly resampled mask, central 20-80 % of the
  depth), turn the frame onto their bisector and re-centre it, until stable.
- AP depth: extent along ``u`` on the rows around the mid-plane (median of
  sub-pixel crossings). Heights: extent along ``v`` at 10 % (anterior),
  50 % and 90 % (posterior) of the depth from the anterior edge, each from a
  local straight-line fit of the height profile over +-10 % of the depth (so
  pixel steps average out). Mean height = mask area / depth.
- Wedge angle (deg): angle between the upper and lower boundary lines,
  positive when the structure is taller anteriorly.
- Values are averaged over the central slices (area >= 80 % of the largest,
  at most three, weighted by area). Disc height index = mean disc height /
  mean height of the vertebral body above. A missing slice (a lost instance,
  filled by interpolation for the networks) is never one of them: the central
  slices are chosen among the slices with an image.
- Lordosis (deg): angle in the patient's sagittal (y, z) plane between the L1
  upper endplate and the S1 upper endplate (the lower boundary of the L5/S1
  disc), positive when lordotic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.results import Flag, make_flag

from .quality import check_ranges

STEP_MM = 0.15  # resampling step in the structure frame
CENTRAL_FRACTION = 0.8  # slices with at least this fraction of the largest area are "central"
MAX_CENTRAL_SLICES = 3
PROFILE_DEGREE = 2  # polynomial fitted to the height profile over 5-95 % of the depth
_ANTERIOR = np.array([0.0, -1.0, 0.0])  # LPS: y grows posterior
_SUPERIOR = np.array([0.0, 0.0, 1.0])


@dataclass
class SliceFit:
    """Measurements of one structure on one sagittal slice (mm, deg; 2D vectors in-plane)."""

    k: int
    area_mm2: float
    depth_mm: float
    heights: tuple[float, float, float]  # anterior, middle, posterior
    wedge_deg: float
    centre: np.ndarray  # 2D (a, b) mm
    u: np.ndarray  # 2D anterior
    v: np.ndarray  # 2D superior
    top_dir: np.ndarray  # 2D direction of the upper boundary line, pointing anterior
    bottom_dir: np.ndarray
    stations: np.ndarray  # (3, 2) mid-points between the boundary lines at the anterior, middle, posterior heights
    depth_mid: np.ndarray  # 2D mid-point of the AP depth
    line_u: np.ndarray  # 2D frame (anterior, superior) the heights and depth were read along
    line_v: np.ndarray


@dataclass
class Frame:
    """A structure's own frame in patient coordinates (LPS mm)."""

    centre: np.ndarray
    u: np.ndarray  # anterior along the mid-plane
    v: np.ndarray  # superior, mid-plane normal
    height_mm: float
    depth_mm: float
    top_dir: np.ndarray  # upper boundary line direction (anterior)
    bottom_dir: np.ndarray


@dataclass
class SpineAnalysis:
    """Everything measured on the sagittal label map (see :func:`analyse_spine`)."""

    discs: dict[str, dict] = field(default_factory=dict)
    vertebrae: dict[str, dict] = field(default_factory=dict)
    lordosis_deg: float | None = None
    frames: dict[str, Frame] = field(default_factory=dict)  # every measured disc and body
    #: name -> {"slice_index", "lines_mm": {results key: [[x, y, z], ...] LPS mm}}: where each
    #: reported height/depth was read (line length = the reported value), for viewers
    geometry: dict[str, dict] = field(default_factory=dict)
    s1_point: np.ndarray | None = None  # centre of the top sacral segment (LPS mm), estimated
    flags: list[Flag] = field(default_factory=list)


def _crossings(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last 0.5 crossings (sub-sample) of profiles ``p[..., n]`` over coords ``t``."""
    inside = p >= 0.5
    valid = inside.any(axis=-1)
    n = p.shape[-1]
    i0 = np.argmax(inside, axis=-1)
    i1 = n - 1 - np.argmax(inside[..., ::-1], axis=-1)
    take = lambda i: np.take_along_axis(p, np.clip(i, 0, n - 1)[..., None], axis=-1)[..., 0]  # noqa: E731
    step = t[1] - t[0]
    g0, g0m = take(i0), take(i0 - 1)
    lo = np.where(i0 > 0, t[np.clip(i0 - 1, 0, n - 1)] + (0.5 - g0m) / np.maximum(g0 - g0m, 1e-6) * step, t[0])
    g1, g1p = take(i1), take(i1 + 1)
    hi = np.where(i1 < n - 1, t[i1] + (g1 - 0.5) / np.maximum(g1 - g1p, 1e-6) * step, t[-1])
    return lo, hi, np.asarray(valid)


def _local_value(x: np.ndarray, y: np.ndarray, x0: float, half: float) -> float | None:
    sel = np.abs(x - x0) <= half
    if sel.sum() < 3:
        return None
    coef = np.polyfit(x[sel], y[sel], 1)
    return float(np.polyval(coef, x0))


def fit_slice(mask2d: np.ndarray, row_mm: float, col_mm: float, ant2: np.ndarray, sup2: np.ndarray, k: int = 0) -> SliceFit | None:
    """Frame and dimensions of one structure on one slice (see module docstring).

    mask2d: boolean [row, col]; ant2, sup2: patient anterior / superior directions
    projected into the slice plane (2D, in (a, b) = (col * col_mm, row * row_mm)).
    """
    idx = np.argwhere(mask2d)
    if len(idx) < 20:
        return None
    pts = np.column_stack([idx[:, 1] * col_mm, idx[:, 0] * row_mm])
    centre = pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((pts - centre).T))
    u = vecs[:, int(np.argmax(np.abs(vecs.T @ ant2)))]
    u = u if u @ ant2 >= 0 else -u
    v = np.array([-u[1], u[0]])
    v = v if v @ sup2 >= 0 else -v
    half = 0.5 * max(np.ptp(pts @ u), np.ptp(pts @ v)) + 4.0
    xs = np.arange(-half, half + STEP_MM / 2, STEP_MM)
    image = mask2d.astype(np.float32)
    for _ in range(6):
        X, Y = np.meshgrid(xs, xs, indexing="ij")  # [x index, y index]
        a = centre[0] + X * u[0] + Y * v[0]
        b = centre[1] + X * u[1] + Y * v[1]
        G = map_coordinates(image, [b / row_mm, a / col_mm], order=1, mode="constant", cval=0.0)
        bottom, top, valid_x = _crossings(G, xs)  # per x, along y
        if valid_x.sum() < 10:
            return None
        h_soft = G.sum(axis=1) * STEP_MM
        h_med = float(np.median(top[valid_x] - bottom[valid_x]))
        y_mid = float(np.median(0.5 * (top + bottom)[valid_x]))
        rows = np.abs(xs - y_mid) <= max(0.25 * h_med, STEP_MM)
        x_lo, x_hi, valid_y = _crossings(G[:, rows].T, xs)
        if not valid_y.any():
            return None
        x_lo_mm, x_hi_mm = float(np.median(x_lo[valid_y])), float(np.median(x_hi[valid_y]))
        depth = x_hi_mm - x_lo_mm
        sel = valid_x & (xs >= x_lo_mm + 0.2 * depth) & (xs <= x_hi_mm - 0.2 * depth)
        if sel.sum() < 5 or depth <= 0:
            return None
        frame_used = (centre, u, v)
        ct, cb = np.polyfit(xs[sel], top[sel], 1), np.polyfit(xs[sel], bottom[sel], 1)
        at, ab = np.arctan(ct[0]), np.arctan(cb[0])
        delta = 0.5 * (at + ab)
        xm = 0.5 * (x_lo_mm + x_hi_mm)
        ym = 0.5 * (np.polyval(ct, xm) + np.polyval(cb, xm))
        if abs(delta) < 2e-4 and abs(xm) < 0.05 and abs(ym) < 0.05:
            break
        centre = centre + xm * u + ym * v
        u, v = np.cos(delta) * u + np.sin(delta) * v, -np.sin(delta) * u + np.cos(delta) * v
    inner = valid_x & (xs >= x_lo_mm + 0.05 * depth) & (xs <= x_hi_mm - 0.05 * depth)
    if inner.sum() < 10:
        return None
    coef = np.polyfit(xs[inner] - x_lo_mm, h_soft[inner], PROFILE_DEGREE)
    heights = [float(np.polyval(coef, f * depth)) for f in (0.9, 0.5, 0.1)]  # anterior, middle, posterior
    c0, u0, v0 = frame_used
    mid_y = lambda x: 0.5 * (np.polyval(ct, x) + np.polyval(cb, x))  # noqa: E731
    stations = np.array([c0 + x * u0 + mid_y(x) * v0 for x in (x_lo_mm + f * depth for f in (0.9, 0.5, 0.1))])
    return SliceFit(
        k=k, area_mm2=float(mask2d.sum() * row_mm * col_mm), depth_mm=float(depth), heights=(heights[0], heights[1], heights[2]),
        wedge_deg=float(np.degrees(at - ab)), centre=centre, u=u, v=v,
        top_dir=np.cos(at) * u + np.sin(at) * v, bottom_dir=np.cos(ab) * u + np.sin(ab) * v,
        stations=stations, depth_mid=c0 + 0.5 * (x_lo_mm + x_hi_mm) * u0 + y_mid * v0, line_u=u0, line_v=v0,
    )


def _to3d(g: StackGeometry, vec2: np.ndarray) -> np.ndarray:
    return vec2[0] * np.asarray(g.row_dir) + vec2[1] * np.asarray(g.col_dir)


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[:, 0, :].any() or mask[:, -1, :].any() or mask[:, :, 0].any() or mask[:, :, -1].any())


def measure_structure(mask: np.ndarray, g: StackGeometry, missing: tuple[int, ...] = ()) -> tuple[dict | None, Frame | None, list[str]]:
    """Area-weighted measurements of one structure over its central slices (none of ``missing``).

    Returns (values {area_mm2, depth_mm, heights, wedge_deg}, frame, problems).
    """
    problems: list[str] = []
    areas = mask.sum(axis=(1, 2)).astype(float)
    if areas.max() == 0:
        return None, None, ["empty"]
    if _touches_border(mask):
        problems.append("in_plane_edge")
    peak = int(np.argmax(areas))
    if peak in (0, g.n_slices - 1) or (areas[0] > 0.5 * areas.max()) or (areas[-1] > 0.5 * areas.max()):
        problems.append("lateral_edge")
    ks = np.arange(g.n_slices)
    weights_all = areas / areas.sum()
    k_mean = float(ks @ weights_all)
    cand = [k for k in ks if areas[k] >= CENTRAL_FRACTION * areas.max() and k not in missing]
    if not cand:
        return None, None, problems + ["central_missing"]
    cand = sorted(cand, key=lambda k: abs(k - k_mean))[:MAX_CENTRAL_SLICES]
    ant2 = np.array([_ANTERIOR @ g.row_dir, _ANTERIOR @ g.col_dir])
    sup2 = np.array([_SUPERIOR @ g.row_dir, _SUPERIOR @ g.col_dir])
    fits = [f for f in (fit_slice(mask[k], g.row_spacing_mm, g.col_spacing_mm, ant2, sup2, int(k)) for k in cand) if f]
    if not fits:
        return None, None, problems + ["no_fit"]
    w = np.array([f.area_mm2 for f in fits])
    w = w / w.sum()
    avg = lambda vals: float(np.dot(w, vals))  # noqa: E731
    heights = (avg([f.heights[0] for f in fits]), avg([f.heights[1] for f in fits]), avg([f.heights[2] for f in fits]))
    depth = avg([f.depth_mm for f in fits])
    area = avg([f.area_mm2 for f in fits])
    values: dict[str, Any] = {"area_mm2": area, "depth_mm": depth, "heights": heights, "mean_mm": avg([f.area_mm2 / f.depth_mm for f in fits]),
              "wedge_deg": avg([f.wedge_deg for f in fits])}
    best = max(fits, key=lambda f: f.area_mm2)
    values["geometry"] = _lines(g, best, heights, depth)
    c3 = g.slice_origin(best.k) + best.centre[0] * np.asarray(g.row_dir) + best.centre[1] * np.asarray(g.col_dir)
    c3 = c3 + (k_mean - best.k) * g.slice_spacing_mm * g.normal  # lateral centre of the whole structure
    unit = lambda x: x / np.linalg.norm(x)  # noqa: E731
    frame = Frame(c3, unit(_to3d(g, sum(wi * f.u for wi, f in zip(w, fits, strict=False)))), unit(_to3d(g, sum(wi * f.v for wi, f in zip(w, fits, strict=False)))),
                  values["mean_mm"], depth, unit(_to3d(g, sum(wi * f.top_dir for wi, f in zip(w, fits, strict=False)))),
                  unit(_to3d(g, sum(wi * f.bottom_dir for wi, f in zip(w, fits, strict=False)))))
    return values, frame, problems


def _lines(g: StackGeometry, fit: SliceFit, heights: tuple[float, float, float], depth: float) -> dict:
    """Where the reported heights and depth lie on slice ``fit.k``: 2-point lines in LPS mm whose
    lengths are the reported (slice-averaged) values, centred where that slice was read."""
    to3 = lambda p: g.slice_origin(fit.k) + p[0] * np.asarray(g.row_dir) + p[1] * np.asarray(g.col_dir)  # noqa: E731
    lines = {}
    for key, station, h in zip(("height_anterior_mm", "height_middle_mm", "height_posterior_mm"), fit.stations, heights, strict=False):
        lines[key] = [to3(station - 0.5 * h * fit.line_v), to3(station + 0.5 * h * fit.line_v)]
    lines["depth_mm"] = [to3(fit.depth_mid - 0.5 * depth * fit.line_u), to3(fit.depth_mid + 0.5 * depth * fit.line_u)]
    return {"slice_index": int(fit.k),
            "lines_mm": {k: [[round(float(c), 3) for c in p] for p in pts] for k, pts in lines.items()}}


def _lordosis_lines(g: StackGeometry, l1: Frame, l5s1: Frame, missing: tuple[int, ...] = ()) -> dict:
    """The two endplates of the lordosis angle (L1 upper, S1 upper) as one 4-point line on the
    sagittal slice nearest them (with an image): L1 anterior, L1 posterior, S1 posterior, S1 anterior (LPS mm)."""
    top = l1.centre + 0.5 * l1.height_mm * l1.v
    bottom = l5s1.centre - 0.5 * l5s1.height_mm * l5s1.v
    pts = np.array([top + 0.5 * l1.depth_mm * l1.top_dir, top - 0.5 * l1.depth_mm * l1.top_dir,
                    bottom - 0.5 * l5s1.depth_mm * l5s1.bottom_dir, bottom + 0.5 * l5s1.depth_mm * l5s1.bottom_dir])
    at = float(g.lps_to_voxel(pts)[:, 0].mean())
    k = int(np.clip(round(at), 0, g.n_slices - 1))
    if k in missing:
        k = min((j for j in range(g.n_slices) if j not in missing), key=lambda j: (abs(j - at), j))
    pts = pts + ((g.slice_origin(k) - pts) @ g.normal)[:, None] * g.normal[None, :]  # onto that slice
    return {"slice_index": k, "lines_mm": {"lordosis_deg": [[round(float(c), 3) for c in p] for p in pts]}}


def _sagittal_angle(t: np.ndarray) -> float:
    """Angle (deg) of a direction in the patient's (y, z) plane."""
    return float(np.degrees(np.arctan2(t[2], t[1])))


def _estimate_s1(label: np.ndarray, g: StackGeometry, disc: Frame, height_mm: float) -> np.ndarray | None:
    """Centre of the top sacral segment: sacrum voxels within ``height_mm`` below the L5/S1 disc."""
    idx = np.argwhere(label == L.VERTEBRA_LABEL["S1"])
    if len(idx) == 0:
        return None
    p = g.voxel_to_lps(idx)
    below = -(p - disc.centre) @ disc.v - 0.5 * disc.height_mm
    along = (p - disc.centre) @ disc.u
    sel = (below > 0) & (below < height_mm) & (np.abs(along) < 0.5 * disc.depth_mm)
    if sel.sum() < 20:
        return None
    c = p[sel].mean(axis=0)
    return c + ((disc.centre - c) @ g.normal) * g.normal  # lateral position of the disc


def _measure_each(label: np.ndarray, geometry: StackGeometry, out: SpineAnalysis, missing: tuple[int, ...] = ()) -> dict[str, dict]:
    """Measure every named structure's mask (name -> values); frames, geometry and flags go into ``out``."""
    measured: dict[str, dict] = {}
    for name in L.VERTEBRAE[:-1] + L.DISCS:
        value = L.DISC_LABEL[name] if "/" in name else L.VERTEBRA_LABEL[name]
        structure = "disc" if "/" in name else "vertebral_body"
        mask = label == value
        reported = name in L.REPORTED_DISCS or name in L.REPORTED_VERTEBRAE
        problem: tuple[str, str] | None = None
        values: dict | None = None
        problems: list[str] = []
        if not mask.any():
            problem = ("level_missing", f"{name} is not in the sagittal label map: not measured")
        else:
            values, frame, problems = measure_structure(mask, geometry, missing)
            if frame is not None:
                out.frames[name] = frame
            if "in_plane_edge" in problems:
                problem = ("not_fully_in_fov", f"{name} touches the edge of the sagittal image: not measured")
            elif "central_missing" in problems:
                problem = ("not_measurable", f"{name}: its central sagittal slices are missing (lost instances): not measured")
            elif values is None:
                problem = ("not_measurable", f"{name}: the mask is too small or irregular to measure")
        if problem is not None or values is None:
            if reported and problem is not None:
                out.flags.append(make_flag(problem[0], problem[1], level=name, structure=structure))
            continue
        if "lateral_edge" in problems and reported:
            out.flags.append(make_flag("lateral_coverage",
                                       f"{name} reaches the first or last sagittal slice: its mid-sagittal plane may be missed",
                                       level=name,
                                       structure=structure))
        measured[name] = values
        if reported:
            out.geometry[name] = values["geometry"]
    return measured


def _heights(m: dict) -> dict[str, float]:
    return {"height_anterior_mm": round(m["heights"][0], 3), "height_middle_mm": round(m["heights"][1], 3),
            "height_posterior_mm": round(m["heights"][2], 3), "height_mean_mm": round(m["mean_mm"], 3)}


def analyse_spine(label: np.ndarray, geometry: StackGeometry, missing: tuple[int, ...] = ()) -> SpineAnalysis:
    """Measure every named disc and vertebral body of a sagittal label map (lumbarqi.labels numbering).

    ``missing``: slices without a source image (SeriesVolume.missing_slices): never measured on.
    """
    out = SpineAnalysis()
    missing = tuple(missing)
    measured = _measure_each(label, geometry, out, missing)
    for name in L.REPORTED_VERTEBRAE:
        if name in measured:
            m = measured[name]
            out.vertebrae[name] = {**_heights(m), "depth_mm": round(m["depth_mm"], 3), "wedge_deg": round(m["wedge_deg"], 3)}
    for name in L.REPORTED_DISCS:
        if name in measured:
            m = measured[name]
            d = _heights(m)
            above = measured.get(name.split("/")[0])
            if above:
                d["height_index"] = round(m["mean_mm"] / above["mean_mm"], 4)
            else:
                out.flags.append(make_flag("not_measurable", f"{name}: no vertebral body above, no disc height index",
                                           level=name,
                                           structure="disc"))
            d["depth_mm"] = round(m["depth_mm"], 3)
            out.discs[name] = d
    l1, l5s1 = out.frames.get("L1"), out.frames.get("L5/S1")
    if l1 is not None and l5s1 is not None and "L1" in measured and "L5/S1" in measured:
        angle = _sagittal_angle(l5s1.bottom_dir) - _sagittal_angle(l1.top_dir)
        out.lordosis_deg = round(float((angle + 180.0) % 360.0 - 180.0), 3)
        out.geometry["lordosis"] = _lordosis_lines(geometry, l1, l5s1, missing)
    else:
        out.flags.append(make_flag("not_measurable", "lordosis needs the L1 body and the L5/S1 disc: not measured",
                                   level="L1-S1",
                                   structure="lordosis"))
    if l5s1 is not None:
        l5 = measured.get("L5")
        out.s1_point = _estimate_s1(label, geometry, l5s1, l5["mean_mm"] if l5 else 28.0)
    out.flags += check_ranges(out.discs, out.vertebrae, out.lordosis_deg)
    return out


def measure_spine(label: np.ndarray, geometry: StackGeometry, missing: tuple[int, ...] = ()) -> tuple[dict, dict, float | None, list[Flag]]:
    """(discs, vertebrae, lordosis_deg or None, flags) in the results.json keys of docs/results.md.

    label: sagittal label map ``[slice, row, col]`` (levels named, lumbarqi.labels
    numbering, e.g. from :func:`lumbarqi.levels.name_levels`); geometry: its stack; missing: its
    slices without an image.
    """
    a = analyse_spine(label, geometry, missing)
    return a.discs, a.vertebrae, a.lordosis_deg, a.flags
