"""Personalisation: a results.json dictionary -> the parameters of one subject's model.

Three levels, as compared by Bruno et al. (J Orthop Res 2017):

``anthropometric``  height, mass (and sex/age) only: generic geometry scaled to height, muscle
                    size and position from the Anderson et al. 2012 regressions.
``curvature``       + measured disc/vertebral geometry and lordosis (sagittal MRI).
``muscle``          + measured muscle CSA (maximum force) and centroids (lines of action).

Anything missing falls back to the regression/default and says so in ``flags``.
Units: lengths in mm, angles in degrees, masses in kg. Muscle tracks are [anterior, lateral]
offsets from the vertebral body centre in the vertebra's endplate-aligned frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lumbarqi.biomech.anatomy import LEVELS, MEASURED_GROUPS, SIDES, VERTEBRAE, anatomy, levels_crossed
from lumbarqi.morphometry.quality import RANGES
from lumbarqi.results import PERSONALISATIONS, Flag, Personalisation, make_flag


@dataclass
class Disc:
    """One intervertebral disc: heights at 10/50/90 % of depth and AP depth (mm)."""

    height_anterior: float
    height_middle: float
    height_posterior: float
    depth: float

    @property
    def wedge_deg(self) -> float:
        """Lordotic wedge angle (anterior taller = positive), heights taken 0.8 x depth apart."""
        return math.degrees(math.atan2(self.height_anterior - self.height_posterior, 0.8 * self.depth))


@dataclass
class Vertebra:
    """One vertebral body: mid-sagittal height, wedge (anterior taller = positive, deg), depth (mm)."""

    height: float
    wedge_deg: float
    depth: float


@dataclass
class Subject:
    """Everything the model builder needs for one subject (see module docstring for units)."""

    height_m: float
    mass_kg: float
    sex: str
    age_years: float
    personalisation: Personalisation
    discs: dict[str, Disc]
    vertebrae: dict[str, Vertebra]
    #: (track, side) -> vertebra -> [anterior, lateral] mm
    tracks: dict[tuple[str, str], dict[str, list[float]]]
    #: (fascicle name, side) -> maximum isometric force (N)
    fmax: dict[tuple[str, str], float]
    flags: list[Flag] = field(default_factory=list)
    #: (measured group, side) -> factor the measured CSA applied to the regression forces (muscle level)
    muscle_force_scale: dict[tuple[str, str], float] = field(default_factory=dict)
    #: the tracks before measured centroids moved them (used for the thoracic-belly fascicles)
    regression_tracks: dict[tuple[str, str], dict[str, list[float]]] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """Linear size factor against the reference adult (height / reference height)."""
        return self.height_m / anatomy()["reference_height_m"]


def _num(value: Any) -> float | None:
    """A finite positive-or-zero-or-negative number, or None for absent/NaN/non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _subject_basics(results: dict, flags: list[Flag]) -> tuple[float, float, str, float]:
    a = anatomy()
    subj = results.get("subject") or {}
    d = a["default_subject"]
    height, mass = _num(subj.get("height_m")), _num(subj.get("mass_kg"))
    if height is not None and not 1.0 <= height <= 2.3:
        height = None
    if mass is not None and not 25.0 <= mass <= 250.0:
        mass = None
    if height is None or mass is None or subj.get("source") == "default":
        missing = [n for n, v in (("height", height), ("mass", mass)) if v is None]
        flags.append(make_flag("biomech_default_subject",
                               f"subject {' and '.join(missing) or 'size'} not from the DICOM header: default "
                               f"{d['height_m']} m / {d['mass_kg']} kg used",
                               structure="subject"))
    sex = subj.get("sex") if subj.get("sex") in ("M", "F") else d["sex"]
    age = _num(subj.get("age_years")) or a["reference_age_years"]
    return float(height or d["height_m"]), float(mass or d["mass_kg"]), str(sex), float(age)


def _default_geometry(scale: float) -> tuple[dict[str, Disc], dict[str, Vertebra]]:
    sp = anatomy()["spine"]
    discs = {}
    for lvl in LEVELS:
        h = sp["disc_height_mm"][lvl] * scale
        depth = sp["endplate_depth_mm"][lvl] * scale
        wedge = math.radians(sp["lordosis_deg"] * sp["lordosis_share"][lvl])
        dh = 0.8 * depth * math.tan(wedge)
        discs[lvl] = Disc(h + dh / 2, h, h - dh / 2, depth)
    verts = {v: Vertebra(sp["vertebral_height_mm"][v] * scale, 0.0, sp["endplate_depth_mm"][f"{v}/{VERTEBRAE[i + 1]}"] * scale)
             for i, v in enumerate(VERTEBRAE[:-1])}
    return discs, verts


def _implausible(kind: str, values: dict[str, float | None]) -> list[str]:
    """Keys of ``values`` outside the morphometry plausibility ranges (a failed segmentation, not anatomy)."""
    out = []
    for key, value in values.items():
        bounds = RANGES.get(f"{kind}.{key}")
        if value is not None and bounds and not bounds[0] <= value <= bounds[1]:
            out.append(f"{key}={value:g}")
    return out


def _measured_geometry(results: dict, discs: dict[str, Disc], verts: dict[str, Vertebra], flags: list[Flag]) -> None:
    """Overwrite defaults with measured disc/vertebra geometry; reconcile with the lordosis angle."""
    measured_d = results.get("discs") or {}
    measured_v = results.get("vertebrae") or {}
    missing_wedge: list[str] = []
    disc_keys = ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "depth_mm")
    for lvl in LEVELS:
        m = measured_d.get(lvl) or {}
        vals = [_num(m.get(k)) for k in disc_keys]
        bad = _implausible("disc", dict(zip(disc_keys, vals, strict=False)))
        if all(v is not None and v > 0 for v in vals) and not bad:
            discs[lvl] = Disc(*[float(v) for v in vals if v is not None])
        else:
            missing_wedge.append(lvl)
            why = f"implausible {', '.join(bad)}" if bad and all(v is not None for v in vals) else "not measured"
            flags.append(make_flag("biomech_default_geometry", f"disc geometry {why}: default used", level=lvl,
                                   structure="disc"))
    for v in VERTEBRAE[:-1]:
        m = measured_v.get(v) or {}
        h = _num(m.get("height_middle_mm")) or _num(m.get("height_mean_mm"))
        depth, wedge = _num(m.get("depth_mm")), _num(m.get("wedge_deg"))
        bad = _implausible("vertebra", {"height_middle_mm": h, "depth_mm": depth, "wedge_deg": wedge})
        if h and depth and not bad:
            verts[v] = Vertebra(h, wedge or 0.0, depth)
        else:
            why = f"implausible {', '.join(bad)}" if bad else "not measured"
            flags.append(make_flag("biomech_default_geometry", f"vertebral body {why}: default used", level=v,
                                   structure="vertebral_body"))
    lordosis = _num(results.get("lordosis_deg"))
    if lordosis is None:
        flags.append(make_flag("biomech_default_geometry", "lordosis not measured: segment angles from disc shapes/defaults",
                               structure="lordosis"))
        return
    lumbar_levels = [lvl for lvl in LEVELS if lvl != "T12/L1"]
    missing = [lvl for lvl in missing_wedge if lvl in lumbar_levels]
    if missing:  # put the part of the measured lordosis not explained by measured wedges on the missing discs
        known = sum(discs[lvl].wedge_deg for lvl in lumbar_levels if lvl not in missing) + sum(verts[v].wedge_deg for v in ("L1", "L2", "L3", "L4", "L5"))
        share = anatomy()["spine"]["lordosis_share"]
        total_share = sum(share[lvl] for lvl in missing) or 1.0
        for lvl in missing:
            d = discs[lvl]
            w = math.radians((lordosis - known) * share[lvl] / total_share)
            dh = 0.8 * d.depth * math.tan(w)
            discs[lvl] = Disc(d.height_middle + dh / 2, d.height_middle, max(d.height_middle - dh / 2, 0.5), d.depth)


def _anthropometric_muscles(height_m: float, mass_kg: float, sex: str, age: float):
    a = anatomy()
    reg, mus = a["regression"], a["muscle"]
    ref_mass = a["reference_mass_kg"][sex]
    dh_cm = (height_m - a["reference_height_m"]) * 100.0
    csa = (1 + reg["csa_per_kg"] * (mass_kg - ref_mass)) * (1 + reg["csa_per_cm"] * dh_cm)
    csa *= 1 + reg["csa_per_year"] * (age - a["reference_age_years"])
    csa *= reg["female_csa_ratio"] if sex == "F" else 1.0
    csa = min(max(csa, 0.3), 2.5)
    dist = (1 + reg["distance_per_kg"] * (mass_kg - ref_mass)) * (1 + reg["distance_per_cm"] * dh_cm)
    dist = min(max(dist, 0.6), 1.6)
    tracks = {(t, s): {v: [p[0] * dist, p[1] * dist] for v, p in pts.items()}
              for t, pts in mus["tracks_mm"].items() for s in SIDES}
    sigma = mus["specific_tension_n_per_cm2"]
    fmax = {(f["name"], s): f["pcsa_cm2"] * sigma * csa for f in mus["fascicles"] for s in SIDES}
    fmax.update({(f["name"], s): f["pcsa_cm2"] * sigma * csa for f in mus["abdominal_fascicles"]["list"] for s in SIDES})
    return tracks, fmax


def _group_tracks(group: str) -> list[str]:
    return [t for t, g in anatomy()["muscle"]["track_group_of"].items() if g == group]


def _model_csa_cm2(group: str, side: str, level: str, fmax: dict) -> float:
    """Force-equivalent CSA (cm^2) of the model fascicles of ``group`` with muscle (not tendon) at ``level``.

    Fascicles with a thoracic belly (``"belly": "thoracic"``) cross the lumbar levels as tendon
    in the erector spinae aponeurosis and do not count.
    """
    sigma = anatomy()["muscle"]["specific_tension_n_per_cm2"]
    tracks = _group_tracks(group)
    return sum(fmax[(f["name"], side)] / sigma for f in anatomy()["muscle"]["fascicles"]
               if f["track"] in tracks and level in levels_crossed(f["upper"], f.get("lower", "S1"))
               and f.get("belly") != "thoracic")


def _mirrored_centroid(level_muscles: dict, group: str) -> list[float] | None:
    """[lateral (unsigned), anterior] centroid (mm) of ``group`` averaged over the measured sides.

    The model's lines of action stay left/right symmetric: a few mm of left/right difference
    between two masks is mostly segmentation noise, and in static optimisation it would be
    balanced by co-contraction (sagittal loads changing by tens of percent).
    """
    points = []
    for side in SIDES:
        cen = (((level_muscles.get(group) or {}).get(side)) or {}).get("centroid_mm")
        if isinstance(cen, (list, tuple)) and len(cen) == 2 and all(_num(c) is not None for c in cen):
            points.append([abs(float(cen[0])), float(cen[1])])
    if not points:
        return None
    return [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]


def _apply_measured_muscles(results: dict, subj: Subject) -> None:
    """Scale fascicle forces to measured CSA; move tracks to measured centroids (Bruno et al. 2015).

    Forces: every fascicle of a group (per side) with its belly at the lumbar levels (not the
    thoracic fascicles of longissimus and iliocostalis) is scaled by the ratio of the lean measured CSA
    summed over the measured levels to the model's CSA at the same levels; levels where the group
    is tendon or aponeurosis (``muscle.csa_scaling_levels``) do not count. Lines of action: the
    group's track moves by the measured centroid (left/right averaged) minus the model's; the
    fascicles with a thoracic belly keep the regression track (at lumbar levels they are tendon).
    """
    mus = anatomy()["muscle"]
    measured = results.get("muscles") or {}
    subj.regression_tracks = {key: {v: list(p) for v, p in pts.items()} for key, pts in subj.tracks.items()}
    for group in MEASURED_GROUPS:
        tracks = _group_tracks(group)
        for side in SIDES:
            ratios: dict[str, float] = {}
            pooled = [0.0, 0.0]  # lean measured CSA, model CSA (cm^2) over the measured levels
            shifts: dict[str, list[list[float]]] = {}
            for lvl in LEVELS:
                m = ((measured.get(lvl) or {}).get(group) or {}).get(side) or {}
                csa = _num(m.get("csa_mm2"))
                model_csa = _model_csa_cm2(group, side, lvl, subj.fmax)
                if csa and csa > 0 and model_csa > 0 and lvl in mus["csa_scaling_levels"][group]:
                    lean = csa * (1.0 - min(max(_num(m.get("fat_index")) or 0.0, 0.0), 0.9))
                    ratios[lvl] = lean / 100.0 / model_csa
                    pooled[0] += lean / 100.0
                    pooled[1] += model_csa
                cen = _mirrored_centroid(measured.get(lvl) or {}, group)
                if cen is not None:
                    upper, lower = lvl.split("/")
                    weights = [f["pcsa_cm2"] for f in mus["fascicles"] if f["track"] in tracks]
                    model = [0.0, 0.0]
                    for t in tracks:
                        w = sum(f["pcsa_cm2"] for f in mus["fascicles"] if f["track"] == t) / sum(weights)
                        for k in range(2):
                            model[k] += w * 0.5 * (subj.tracks[(t, side)][upper][k] + subj.tracks[(t, side)][lower][k])
                    delta = [float(cen[1]) - model[0], abs(float(cen[0])) - model[1]]
                    for v in (upper, lower):
                        shifts.setdefault(v, []).append(delta)
            if not ratios:
                subj.flags.append(make_flag("biomech_default_muscle", f"{group} {side}: CSA not measured, regression used",
                                            structure=group))
            # one factor per group and side, pooled over the measured levels: a single level's mask error
            # must not make one fascicle (and so the whole task) saturate
            scale = min(max(pooled[0] / pooled[1] if pooled[1] > 0 else 1.0, 0.05), 5.0)
            subj.muscle_force_scale[(group, side)] = scale
            for f in mus["fascicles"]:  # thoracic bellies are not on the lumbar slices: regression strength
                if f["track"] in tracks and f.get("belly") != "thoracic":
                    subj.fmax[(f["name"], side)] *= scale
            for t in tracks:
                for v, ds in shifts.items():
                    p = subj.tracks[(t, side)][v]
                    subj.tracks[(t, side)][v] = [p[0] + sum(d[0] for d in ds) / len(ds), p[1] + sum(d[1] for d in ds) / len(ds)]
            if not shifts:
                subj.flags.append(make_flag("biomech_default_muscle",
                                            f"{group} {side}: centroid not measured, regression used", structure=group))


def segment_lordosis_deg(subj: Subject) -> dict[str, float]:
    """Lordotic angle (deg, positive = lordotic) of each motion segment of ``subj``'s spine.

    A level's angle is its disc wedge plus half the wedge of each adjacent vertebral body
    (the sacrum, S1, has no wedge of its own in the model).
    """
    angles = {}
    for i, lvl in enumerate(LEVELS):
        upper, lower = VERTEBRAE[i], VERTEBRAE[i + 1]
        half = sum(0.5 * subj.vertebrae[v].wedge_deg for v in (upper, lower) if v in subj.vertebrae)
        angles[lvl] = subj.discs[lvl].wedge_deg + half
    return angles


def curvature_offsets_deg(subj: Subject) -> dict[str, float]:
    """Per-level flexion (deg, positive = flexed) that takes the population spine shape to ``subj``'s.

    Zero at the ``anthropometric`` level; used to give a lab's own model (``--base-model``)
    the subject's measured lordosis on top of the model's own neutral shape.
    """
    default_discs, default_verts = _default_geometry(subj.scale)
    default = Subject(subj.height_m, subj.mass_kg, subj.sex, subj.age_years, "anthropometric",
                      default_discs, default_verts, {}, {})
    own, pop = segment_lordosis_deg(subj), segment_lordosis_deg(default)
    return {lvl: -(own[lvl] - pop[lvl]) for lvl in LEVELS}


def personalise(results: dict, personalisation: Personalisation = "muscle") -> Subject:
    """Build the :class:`Subject` for ``results`` at the given personalisation level."""
    if personalisation not in PERSONALISATIONS:
        raise ValueError(f"personalisation must be one of {', '.join(PERSONALISATIONS)}, got {personalisation!r}")
    flags: list[Flag] = []
    height, mass, sex, age = _subject_basics(results, flags)
    scale = height / anatomy()["reference_height_m"]
    discs, verts = _default_geometry(scale)
    if personalisation in ("curvature", "muscle"):
        _measured_geometry(results, discs, verts, flags)
    tracks, fmax = _anthropometric_muscles(height, mass, sex, age)
    subj = Subject(height, mass, sex, age, personalisation, discs, verts, tracks, fmax, flags)
    if personalisation == "muscle":
        _apply_measured_muscles(results, subj)
    return subj
