"""Build the lumbarqi lumbar spine model with the OpenSim API.

Frames (OpenSim convention): ground x anterior, y superior, z right; origin at the midpoint of the
hip joint centres. Bodies: ``pelvis`` (with sacrum; hinged to ground at the hips by ``hip_flex``),
``L5`` .. ``L1``, ``thorax`` (T12 and everything above: head, neck, trunk), ``upper_arm_{r,l}``,
``forearm_{r,l}`` (with hand) and optionally ``load`` welded to the right hand. Passive
intervertebral structures (posterior ligaments, motion-segment stiffness) come from
:mod:`lumbarqi.biomech.passive`. Every body frame is
parallel to ground in the reference (standing) posture; vertebral bodies sit at their centres.

Joints: one 3-DOF CustomJoint per disc (T12/L1 .. L5/S1) whose frames lie at the disc centre
aligned with the disc mid-plane; coordinates ``<level>_flex`` (about -z: positive = flexion),
``<level>_bend`` (about x: positive = right lateral bend), ``<level>_rot`` (about y).
Muscles: ideal force generators (PathActuator) along fascicle paths with a via point on every
vertebra crossed; ``optimal_force`` = maximum isometric force (N) = PCSA x specific tension.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import opensim as osim

from lumbarqi.biomech.anatomy import LEVELS, VERTEBRAE, anatomy
from lumbarqi.biomech.frames import attachment, sin_cos
from lumbarqi.biomech.passive import add_passive_structures, set_resting_lengths
from lumbarqi.biomech.subject import Subject

osim.Logger.setLevelString("error")

AXES = {"flex": (0.0, 0.0, -1.0), "bend": (1.0, 0.0, 0.0), "rot": (0.0, 1.0, 0.0)}


def coord_name(level: str, dof: str) -> str:
    """Coordinate name of one DOF at one level, e.g. ``L4L5_flex``."""
    return f"{level.replace('/', '')}_{dof}"


@dataclass
class SpineModel:
    """A built model plus what the solver needs to know about it."""

    model: osim.Model
    level_joints: dict[str, str]  # level -> joint name (child = superior body)
    equilibrium_coords: list[str]  # coordinates whose moment equilibrium the muscles must meet
    actuators: list[str]  # actuator names, ordered
    fmax: dict[str, float]  # actuator -> maximum isometric force (N)
    groups: dict[str, str]  # actuator -> muscle group
    mass_kg: float
    posture_coords: dict[str, tuple[str, float]] = field(default_factory=dict)  # role -> (coordinate, sign)
    pelvic_tilt_deg: float = 0.0  # standing pelvic tilt after balancing (deg)
    balance_limited: bool = False  # True when the balanced tilt fell outside the adult range and was clipped


def sagittal_chain(subj: Subject, pelvic_rotation_deg: float = 0.0) -> dict[str, dict]:
    """Positions (m, pelvis frame) and forward tilts (deg) of disc and vertebral body centres.

    Built from the S1 endplate (placed by pelvic tilt and sacral slope, Legaye et al. 1998)
    upward through each disc and vertebra using their mid-sagittal heights and wedge angles.
    ``pelvic_rotation_deg`` rotates the pelvis backwards about the hip axis (pelvic tilt up,
    sacral slope down by the same angle; pelvic incidence unchanged).
    """
    pel = anatomy()["pelvis"]
    s = subj.scale
    d = pel["hip_to_s1_mm"] * s / 1000.0
    sx, cy = sin_cos(pel["pelvic_tilt_deg"] + pelvic_rotation_deg)
    p = [-d * sx, d * cy]
    a = pel["sacral_slope_deg"] - pelvic_rotation_deg  # forward tilt of the current endplate normal
    out: dict[str, dict] = {}
    h_s1 = 0.025 * s
    n = sin_cos(a)
    out["S1"] = {"pos": [p[0] - n[0] * h_s1 / 2, p[1] - n[1] * h_s1 / 2], "tilt": a}
    def stack(name: str, height_mm: float, wedge_deg: float) -> None:
        """Put one wedge (disc or body) on the current endplate; move the endplate to its top."""
        nonlocal p, a
        mid = a - wedge_deg / 2
        n = sin_cos(mid)
        h = height_mm / 1000.0
        out[name] = {"pos": [p[0] + n[0] * h / 2, p[1] + n[1] * h / 2], "tilt": mid}
        p = [p[0] + n[0] * h, p[1] + n[1] * h]
        a -= wedge_deg

    for i in range(len(LEVELS) - 1, -1, -1):
        disc, vert = subj.discs[LEVELS[i]], subj.vertebrae[VERTEBRAE[i]]
        stack(LEVELS[i], disc.height_middle, disc.wedge_deg)
        stack(VERTEBRAE[i], vert.height, vert.wedge_deg)
    return out


def standing_balance(subj: Subject) -> tuple[float, bool]:
    """Backward pelvic rotation (deg) that puts the upper-body CM over the hip axis, and whether it was clipped.

    The thorax CM sits ``hat_com_anterior_of_t12_mm`` in front of the T12 body centre; rotating
    the pelvis (with the whole lumbar chain) about the hip axis moves T12 until that CM lies
    ``hat_com_anterior_of_hip_axis_mm`` in front of the hip axis. The resulting pelvic tilt is
    kept within ``pelvis.pelvic_tilt_range_deg`` (Mac-Thiong et al. 2011, mean ± 2 SD).
    """
    a = anatomy()
    target = (a["upper_body"]["hat_com_anterior_of_hip_axis_mm"] - a["upper_body"]["hat_com_anterior_of_t12_mm"]) * subj.scale / 1000.0
    x, y = sagittal_chain(subj)["T12"]["pos"]
    radius, phi = math.hypot(x, y), math.atan2(y, x)
    rot = math.degrees(math.acos(max(-1.0, min(1.0, target / radius))) - phi)
    lo, hi = a["pelvis"]["pelvic_tilt_range_deg"]
    tilt = a["pelvis"]["pelvic_tilt_deg"] + rot
    clipped = min(max(tilt, lo), hi)
    return clipped - a["pelvis"]["pelvic_tilt_deg"], clipped != tilt


def _rotate_pelvic(point_m: list[float], rotation_deg: float) -> list[float]:
    """A pelvis landmark (m, hip-axis origin, reference tilt) after the pelvis rotates backwards by ``rotation_deg``."""
    sn, cs = sin_cos(rotation_deg)
    x, y = point_m[0], point_m[1]
    return [x * cs - y * sn, x * sn + y * cs, point_m[2]]


def _custom_joint(name, parent, p_xyz, child, c_xyz, tilt_deg, coords):
    st = osim.SpatialTransform()
    used = []
    for i, (cname, axis) in enumerate(coords):
        ta = st.updTransformAxis(i)
        ta.setCoordinateNames(osim.ArrayStr(cname, 1))
        ta.setAxis(osim.Vec3(*axis))
        ta.set_function(osim.LinearFunction(1.0, 0.0))
        used.append(axis)
    spare = [ax for ax in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)) if all(abs(sum(a * b for a, b in zip(ax, u, strict=False))) < 0.5 for u in used)]
    for i in range(len(coords), 3):
        st.updTransformAxis(i).setAxis(osim.Vec3(*spare[i - len(coords)]))
    orient = osim.Vec3(0.0, 0.0, -math.radians(tilt_deg))
    return osim.CustomJoint(name, parent, osim.Vec3(*p_xyz), orient, child, osim.Vec3(*c_xyz), orient, st)


def _body(name: str, mass: float, com, radius: float) -> osim.Body:
    i = max(mass, 1e-3) * radius * radius * 0.4
    return osim.Body(name, max(mass, 1e-3), osim.Vec3(*com), osim.Inertia(i, i, i))


def build_model(subj: Subject, load_kg: float = 0.0) -> SpineModel:
    """Build (and initialise) the OpenSim model for ``subj``; ``load_kg`` in the right hand (N/A if 0)."""
    a = anatomy()
    s, mass, H = subj.scale, subj.mass_kg, subj.height_m
    mf = a["segment_mass_fraction"][subj.sex]
    lumf = a["segment_mass_fraction"]["lumbar"]
    ub = a["upper_body"]
    rotation, limited = standing_balance(subj)
    chain = sagittal_chain(subj, rotation)
    model = osim.Model()
    model.setName("lumbarqi_lumbar_spine")
    model.setGravity(osim.Vec3(0, -9.80665, 0))
    ground = model.getGround()

    bodies: dict[str, osim.Body] = {}
    pelvis = _body("pelvis", 0.1 * mass, (0, 0.05 * s, 0), 0.1)
    model.addBody(pelvis)
    hip = osim.PinJoint("hip", ground, osim.Vec3(0), osim.Vec3(0), pelvis, osim.Vec3(0), osim.Vec3(0))
    hip.updCoordinate().setName("hip_flex")  # about +z: negative value = anterior pelvic rotation
    model.addJoint(hip)
    bodies["S1"] = pelvis
    origin = {"S1": (0.0, 0.0)}

    com_ant = ub["lumbar_com_anterior_of_vertebral_body_mm"] * s / 1000.0
    thorax_mass = mass * (mf["head_neck"] + mf["upper_trunk"] + mf["middle_trunk"] - lumf["L1"] - lumf["L2"] - lumf["L3"])
    hat = [chain["T12"]["pos"][0] + ub["hat_com_anterior_of_t12_mm"] * s / 1000.0,
           chain["T12/L1"]["pos"][1] + ub["hat_com_above_t12l1_mm"] * s / 1000.0]
    level_joints: dict[str, str] = {}
    eq: list[str] = []
    for i in range(len(LEVELS) - 1, -1, -1):
        lvl, v, below = LEVELS[i], VERTEBRAE[i], VERTEBRAE[i + 1]
        c = chain[v]["pos"]
        if v == "T12":
            body = _body("thorax", thorax_mass, (hat[0] - c[0], hat[1] - c[1], 0), 0.15)
        else:
            body = _body(v, mass * lumf[v], (com_ant, 0, 0), 0.05)
        model.addBody(body)
        bodies[v], origin[v] = body, (c[0], c[1])
        dc = chain[lvl]["pos"]
        po = origin[below]
        jname = f"{lvl.replace('/', '_')}_joint"
        coords = [(coord_name(lvl, k), AXES[k]) for k in ("flex", "bend", "rot")]
        model.addJoint(_custom_joint(jname, bodies[below], (dc[0] - po[0], dc[1] - po[1], 0), body,
                                     (dc[0] - c[0], dc[1] - c[1], 0), chain[lvl]["tilt"], coords))
        level_joints[lvl] = jname
        eq += [cn for cn, _ in coords]

    # arms: hinge at the shoulder (about +z = flexion), hinge at the elbow; hanging in the reference posture
    L = a["segment_length_fraction_of_height"]
    cf = a["segment_com_fraction"]
    sh = (ub["shoulder_anterior_of_hip_axis_mm"] * s / 1000.0, (L["shoulder_height"] - L["hip_height"]) * H)
    t12 = origin["T12"]
    l_ua, l_fa, l_h = L["upper_arm"] * H, L["forearm"] * H, L["hand"] * H
    m_fh = mass * (mf["forearm"] + mf["hand"])
    com_fh = (mass * mf["forearm"] * cf["forearm"] * l_fa + mass * mf["hand"] * (l_fa + cf["hand"] * l_h * 0.5)) / m_fh
    for side, sign in (("r", 1.0), ("l", -1.0)):
        z = sign * 0.5 * L["shoulder_width"] * H * 0.8
        ua = _body(f"upper_arm_{side}", mass * mf["upper_arm"], (0, -cf["upper_arm"] * l_ua, 0), 0.05)
        fa = _body(f"forearm_{side}", m_fh, (0, -com_fh, 0), 0.05)
        model.addBody(ua)
        model.addBody(fa)
        shj = osim.CustomJoint(f"shoulder_{side}", bodies["T12"], osim.Vec3(sh[0] - t12[0], sh[1] - t12[1], z), osim.Vec3(0),
                               ua, osim.Vec3(0), osim.Vec3(0), _hinge(f"shoulder_flex_{side}"))
        elj = osim.CustomJoint(f"elbow_{side}", ua, osim.Vec3(0, -l_ua, 0), osim.Vec3(0), fa, osim.Vec3(0), osim.Vec3(0),
                               _hinge(f"elbow_flex_{side}"))
        model.addJoint(shj)
        model.addJoint(elj)
        bodies[f"forearm_{side}"] = fa
    if load_kg > 0:
        load = _body("load", load_kg, (0, 0, 0), 0.1)
        model.addBody(load)
        grip = -(l_fa + 0.5 * l_h)
        model.addJoint(osim.WeldJoint("grip", bodies["forearm_r"], osim.Vec3(0, grip, -0.5 * L["shoulder_width"] * H * 0.8),
                                      osim.Vec3(0), load, osim.Vec3(0), osim.Vec3(0)))

    actuators, fmax, groups = _add_muscles(model, subj, bodies, chain, rotation)
    ligaments = add_passive_structures(model, subj, bodies, chain)
    model.finalizeConnections()
    set_resting_lengths(model, model.initSystem(), ligaments)
    posture = {"hip": ("hip_flex", -1.0)}
    for side in ("r", "l"):
        posture[f"shoulder_{side}"] = (f"shoulder_flex_{side}", 1.0)
        posture[f"elbow_{side}"] = (f"elbow_flex_{side}", 1.0)
    level_joints = {lvl: level_joints[lvl] for lvl in LEVELS}  # cranial to caudal, as the solver expects
    return SpineModel(model, level_joints, eq, actuators, fmax, groups, mass + load_kg, posture,
                      anatomy()["pelvis"]["pelvic_tilt_deg"] + rotation, limited)


def _hinge(cname: str) -> osim.SpatialTransform:
    """Shoulder/elbow flexion: about +z, which swings a hanging limb (-y) forward (+x)."""
    st = osim.SpatialTransform()
    ta = st.updTransformAxis(0)
    ta.setCoordinateNames(osim.ArrayStr(cname, 1))
    ta.setAxis(osim.Vec3(0, 0, 1))
    ta.set_function(osim.LinearFunction(1.0, 0.0))
    st.updTransformAxis(1).setAxis(osim.Vec3(1, 0, 0))
    st.updTransformAxis(2).setAxis(osim.Vec3(0, 1, 0))
    return st


def _add_muscles(model, subj: Subject, bodies, chain, pelvic_rotation_deg: float = 0.0):
    """Add every fascicle as a PathActuator; returns (names, fmax by name, group by name)."""
    a = anatomy()
    mus = a["muscle"]
    s = subj.scale
    names: list[str] = []
    fmax: dict[str, float] = {}
    groups: dict[str, str] = {}

    def point(v: str, ant_mm: float, sup_mm: float, lat_mm: float, zsign: float, tilt_deg: float | None = None) -> osim.Vec3:
        return attachment(chain, v, ant_mm, sup_mm, zsign * lat_mm, tilt_deg)

    for f in mus["fascicles"]:
        upper = f["upper"]
        chain_vs = list(VERTEBRAE[VERTEBRAE.index(upper):VERTEBRAE.index(f.get("lower", "S1")) + 1])
        for side, zsign in (("right", 1.0), ("left", -1.0)):
            name = f"{f['name']}_{side[0]}"
            act = osim.PathActuator()
            act.setName(name)
            act.set_optimal_force(subj.fmax[(f["name"], side)])
            # thoracic bellies cross the lumbar levels as aponeurosis: the measured (belly) centroid does not move them
            tracks = subj.regression_tracks if f.get("belly") == "thoracic" and subj.regression_tracks else subj.tracks
            track = tracks[(f["track"], side)]
            off = [o * s for o in f.get("upper_offset_mm", [0, 0, 0])]
            k = 1
            for v in chain_vs:
                if v in mus["no_via_point_on"].get(f["track"], ()):
                    continue
                ant, lat = track[v]
                sup = mus["lower_height_mm"][f["track"]] * s if v == "S1" else 0.0
                if v == upper:
                    ant, sup, lat = ant + off[0], sup + off[1], lat + off[2]
                # an iliac point is given in the upright pelvis frame (turned back with the pelvis), see anatomy.json
                iliac = v == "S1" and f["track"] in mus["iliac_tracks"]["groups"]
                act.addNewPathPoint(f"{name}_p{k}", bodies[v],
                                    point(v, ant, sup, lat, zsign, -pelvic_rotation_deg if iliac else None))
                k += 1
            if f.get("insertion") == "femur":
                b = _rotate_pelvic([c * s / 1000.0 for c in mus["psoas_pelvic_brim_mm"]], pelvic_rotation_deg)
                act.addNewPathPoint(f"{name}_p{k}", bodies["S1"], osim.Vec3(b[0], b[1], zsign * b[2]))
                fi = [c * s / 1000.0 for c in mus["femur_insertion_mm"]]
                act.addNewPathPoint(f"{name}_p{k + 1}", model.getGround(), osim.Vec3(fi[0], fi[1], zsign * fi[2]))
            model.addForce(act)
            names.append(name)
            fmax[name] = subj.fmax[(f["name"], side)]
            groups[name] = mus["track_group_of"][f["track"]]
    for f in mus["abdominal_fascicles"]["list"]:
        for side, zsign in (("right", 1.0), ("left", -1.0)):
            name = f"{f['name']}_{side[0]}"
            act = osim.PathActuator()
            act.setName(name)
            act.set_optimal_force(subj.fmax[(f["name"], side)])
            pv = _rotate_pelvic([c * s / 1000.0 for c in f["pelvis_mm"]], pelvic_rotation_deg)
            tv = [c * s / 1000.0 for c in f["thorax_mm"]]
            act.addNewPathPoint(f"{name}_p1", bodies["S1"], osim.Vec3(pv[0], pv[1], zsign * pv[2]))
            act.addNewPathPoint(f"{name}_p2", bodies["T12"], osim.Vec3(tv[0], tv[1], zsign * tv[2]))
            model.addForce(act)
            names.append(name)
            fmax[name] = subj.fmax[(f["name"], side)]
            groups[name] = f["group"]
    return names, fmax, groups


__all__ = ["SpineModel", "build_model", "coord_name", "sagittal_chain", "standing_balance"]
