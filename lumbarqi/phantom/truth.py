"""Ground truth of a phantom study, in the keys of the product's results.json.

Disc and vertebral dimensions come from the geometric model (exact, not from
voxels). Muscle areas are measured on a 0.3 mm grid of the plane normal to the
spine curve where the chosen axial slice crosses it (the cross-section the
product's obliquity correction aims at), which is exact to well under 1%.

Conventions: heights at 10% (anterior), 50% (middle) and 90% (posterior) of
the AP depth, in the segment's own frame; wedge and lordosis positive when
anteriorly open (lordotic); muscle centroid ``[lateral, anterior]`` in mm from
the centroid of the disc cross-section in the same plane, lateral positive
toward the muscle's own side, anterior positive forward.
"""
from __future__ import annotations

import numpy as np

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.phantom.anatomy import PhantomModel, PlaneGrid
from lumbarqi.phantom.spine import PlacedSegment
from lumbarqi.phantom.tissues import Tissue

TRUTH_GRID_MM = 0.3


def _heights(ps: PlacedSegment) -> dict[str, float]:
    s, k = ps.seg, ps.slope
    hm, depth = s.height_mid_mm, s.depth_mm
    return {
        "height_anterior_mm": round(hm + 0.8 * k * depth, 3),
        "height_middle_mm": round(hm, 3),
        "height_posterior_mm": round(hm - 0.8 * k * depth, 3),
    }


def spine_truth(model: PhantomModel) -> tuple[dict, dict, float]:
    """(discs, vertebrae, lordosis_deg) from the geometric model."""
    pos = {p.seg.name: p for p in model.placed}
    vertebrae = {}
    for name in L.REPORTED_VERTEBRAE:
        p = pos[name]
        vertebrae[name] = {**_heights(p), "height_mean_mm": round(p.seg.height_mid_mm, 3), "depth_mm": round(p.seg.depth_mm, 3), "wedge_deg": round(p.seg.wedge_deg, 3)}
    discs = {}
    for name in L.REPORTED_DISCS:
        p = pos[name]
        above = pos[name.split("/")[0]].seg.height_mid_mm
        discs[name] = {
            **_heights(p),
            "height_mean_mm": round(p.seg.height_mid_mm, 3),
            "height_index": round(p.seg.height_mid_mm / above, 4),
            "depth_mm": round(p.seg.depth_mm, 3),
            "degenerated": p.seg.degenerated,
        }
    return discs, vertebrae, round(_endplate_angle(pos["S1"], upper=True) - _endplate_angle(pos["L1"], upper=True), 3)


def _endplate_angle(p: PlacedSegment, upper: bool) -> float:
    """Angle (deg) of an endplate line in the sagittal plane, measured in (y, z)."""
    t = p.u + (p.slope if upper else -p.slope) * p.v
    return float(np.degrees(np.arctan2(t[2], t[1])) % 360.0)


def nearest_slices(model: PhantomModel, axial: list[tuple[str, int, StackGeometry]]) -> dict[str, tuple[str, int, StackGeometry, int, float]]:
    """Per reported disc: (series uid, stack index, geometry, slice index, signed offset mm) of the
    axial slice whose plane lies nearest the disc centre (offset > 0: slice above the centre)."""
    out = {}
    pos = {p.seg.name: p for p in model.placed}
    for name in L.REPORTED_DISCS:
        centre = pos[name].centre
        best = None
        for uid, si, g in axial:
            n = g.normal * np.sign(g.normal[2] or 1.0)
            offs = np.array([(g.slice_centre(k) - centre) @ n for k in range(g.n_slices)])
            k = int(np.argmin(np.abs(offs)))
            inplane = g.lps_to_voxel(centre[None])[0]
            covered = 0 <= inplane[1] < g.rows and 0 <= inplane[2] < g.cols
            if covered and abs(offs[k]) <= g.slice_spacing_mm and (best is None or abs(offs[k]) < abs(best[4])):
                best = (uid, si, g, k, float(offs[k]))
        if best is not None:
            out[name] = best
    return out


def muscle_truth(model: PhantomModel, axial: list[tuple[str, int, StackGeometry]]) -> tuple[dict, dict]:
    """(muscles, slices): muscle CSA, fat fraction and centroid per reported disc level
    covered by an axial slice, and which slice that was."""
    result, slices = {}, {}
    for disc, (uid, si, g, k, offset) in nearest_slices(model, axial).items():
        n = g.normal * np.sign(g.normal[2] or 1.0)
        # where the slice plane crosses the spine curve
        s_disc = model.level_s[disc]
        s_vals = np.linspace(s_disc - 40, s_disc + 40, 801)
        pts = np.array([[model.subject.lateral_offset_mm, *model.curve.position(s)] for s in s_vals])
        cross = pts[np.argmin(np.abs((pts - g.slice_centre(k)) @ n))]
        s_cross = model.curve.s_of(cross[1:])
        i = np.searchsorted(model.curve.arc_s, s_cross)
        tangent = np.array([0.0, *(model.curve.arc_yz[min(i + 1, len(model.curve.arc_s) - 1)] - model.curve.arc_yz[max(i - 1, 0)])])
        tangent /= np.linalg.norm(tangent)
        lateral_axis = np.array([1.0, 0.0, 0.0])
        ap_axis = np.cross(tangent, lateral_axis)  # points anterior when tangent is superior
        ap_axis *= -np.sign(ap_axis[1] or -1.0)
        half_lat, post, ant = 140.0, 115.0, 95.0
        n_lat, n_ap = int(2 * half_lat / TRUTH_GRID_MM), int((post + ant) / TRUTH_GRID_MM)
        origin = cross - half_lat * lateral_axis - post * ap_axis
        grid = PlaneGrid(origin, lateral_axis * TRUTH_GRID_MM, ap_axis * TRUTH_GRID_MM, n_ap, n_lat)
        tissue, label, _ = model.render_plane(grid)
        area = TRUTH_GRID_MM**2
        disc_px = np.argwhere(label == L.DISC_LABEL[disc])
        ref = disc_px.mean(axis=0) if disc_px.size else np.array([post / TRUTH_GRID_MM, half_lat / TRUTH_GRID_MM])
        level = {}
        for m in L.MUSCLES:
            sides = {}
            for side in L.SIDES:
                mask = label == L.MUSCLE_LABEL[(m, side)]
                count = int(mask.sum())
                if count == 0:
                    continue
                rc = np.argwhere(mask).mean(axis=0)
                lateral = (rc[1] - ref[1]) * TRUTH_GRID_MM * (1 if side == "left" else -1)
                anterior = (rc[0] - ref[0]) * TRUTH_GRID_MM
                sides[side] = {
                    "csa_mm2": round(count * area, 2),
                    "csa_cm2": round(count * area / 100, 3),
                    "fat_index": round(float((tissue[mask] == Tissue.FAT).mean()), 4),
                    "centroid_mm": [round(float(lateral), 2), round(float(anterior), 2)],
                    "slice_offset_mm": round(offset, 2),
                }
            if sides:
                level[m] = sides
        slices[disc] = {"series_instance_uid": uid, "stack": si, "slice_index": k, "offset_mm": round(offset, 2), "tilt_deg": round(float(np.degrees(np.arccos(min(1.0, abs(n @ tangent))))), 2)}
        result[disc] = level
    return result, slices
