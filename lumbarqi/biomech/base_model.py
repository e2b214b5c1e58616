"""Run the lumbarqi tasks on a lab's own OpenSim model (``--base-model FILE.osim --muscle-map MAP``).

The muscle map (JSON, see ``data/maps/``) names, for the model: the joint at each disc level
(child = superior body), muscle groups as name prefixes, the pelvis-tilt coordinate and its sign
(value = sign x pelvic flexion), the shoulder and elbow flexion coordinates, the hand bodies that
carry the load, the hip joints, and coordinates to hold fixed. The same posture as the lumbarqi
model is imposed level by level (each joint's rotation functions are inverted numerically,
coordinate couplers are switched off), with the same standing balance: the pelvis is tilted so
that the upper body's centre of mass (everything above the T12/L1 joint) lies over the hip axis,
as :func:`lumbarqi.biomech.model.standing_balance` does for the lumbarqi model. Body masses are
scaled to the subject's mass, and the same static optimisation and joint-reaction computation runs
(``solver.py``). Segment lengths are not rescaled.

Personalisation carries over as far as a foreign model allows: at ``curvature`` and ``muscle``
the subject's measured segment angles minus the population ones (:func:`curvature_offsets_deg`)
are added to every task's level flexion, so the base model takes the subject's lordosis on top
of its own neutral shape; at ``muscle`` each measured group's forces (per side) are scaled by the
factor the measured CSA gave the lumbarqi model (``Subject.muscle_force_scale``). Lines of action
stay the base model's own.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import opensim as osim
from scipy.optimize import brentq

from lumbarqi.biomech.anatomy import DATA_DIR, GRAVITY, anatomy
from lumbarqi.biomech.loads import MAX_RESIDUAL_NM, format_loads
from lumbarqi.biomech.solver import prepare_state, solve_posture
from lumbarqi.biomech.subject import Subject, curvature_offsets_deg
from lumbarqi.biomech.tasks import Task, posture
from lumbarqi.results import Flag, make_flag

osim.Logger.setLevelString("error")

#: Rotation axis (in the joint frame) -> (posture component, sign of the rotation for a positive component).
_AXES = {2: ("flex", -1.0), 0: ("bend", 1.0), 1: ("rot", 1.0)}


def shipped_map(model_path: Path) -> dict | None:
    """The muscle map shipped for a known model file name (``data/maps/<stem>.json``), if any."""
    p = DATA_DIR / "maps" / f"{Path(model_path).stem}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _load_model(path: Path, mmap: dict, subj: Subject, load_kg: float) -> tuple[osim.Model, osim.State]:
    model = osim.Model(str(path))
    model.initSystem()
    total = sum(model.getBodySet().get(i).getMass() for i in range(model.getBodySet().getSize()))
    k = subj.mass_kg / total if total > 0 else 1.0
    for i in range(model.getBodySet().getSize()):
        b = model.getBodySet().get(i)
        b.setMass(b.getMass() * k)
        mo, pr = b.getInertia().getMoments(), b.getInertia().getProducts()
        b.setInertia(osim.Inertia(*(mo.get(i) * k for i in range(3)), *(pr.get(i) * k for i in range(3))))
    if load_kg > 0:
        hands = mmap["hands"]
        for hand in hands:
            body = osim.Body(f"lumbarqi_load_{hand}", load_kg / len(hands), osim.Vec3(0), osim.Inertia(0.01, 0.01, 0.01))
            model.addBody(body)
            model.addJoint(osim.WeldJoint(f"lumbarqi_grip_{hand}", model.getBodySet().get(hand), osim.Vec3(*mmap["grip_offset_m"]),
                                          osim.Vec3(0), body, osim.Vec3(0), osim.Vec3(0)))
    model.finalizeConnections()
    return model, model.initSystem()


def _invert(fn: osim.Function, target: float, lo: float, hi: float) -> float:
    """Coordinate value q with fn(q) = target (rad), searched in [lo, hi]."""
    def f(q: float) -> float:
        return fn.calcValue(osim.Vector(1, q)) - target

    if abs(target) < 1e-12 and abs(f(0.0)) < 1e-12:
        return 0.0
    flo, fhi = f(lo), f(hi)
    if flo * fhi > 0:
        raise ValueError("posture outside the joint's range")
    return brentq(f, lo, hi, xtol=1e-9)


def _level_axes(joint: osim.Joint) -> list[tuple[str, float, str, osim.Function]]:
    """(posture component, sign, coordinate, rotation function) for each single-coordinate rotation of a level joint."""
    cj = osim.CustomJoint.safeDownCast(joint)
    out = []
    for k in range(3 if cj is not None else 0):
        ta = cj.getSpatialTransform().getTransformAxis(k)
        names = ta.getCoordinateNamesInArray()
        if names.getSize() != 1:
            continue
        vec = ta.getAxis().to_numpy()
        axis = max(range(3), key=lambda i: abs(vec[i]))
        comp, sign = _AXES[axis]
        out.append((comp, sign * (1.0 if vec[axis] > 0 else -1.0), names.get(0), ta.getFunction()))
    return out


def base_coords(model: osim.Model, mmap: dict, task: Task,
                flexion_offsets_deg: dict[str, float] | None = None) -> tuple[dict[str, float], list[str], list[str]]:
    """(coordinate values, equilibrium coordinates, notes) imposing ``task`` on the base model.

    ``flexion_offsets_deg`` (level -> deg, positive = flexed) is added to the task's level flexion
    (the subject's spine shape, see :func:`curvature_offsets_deg`).
    """
    p = posture(task)
    coords: dict[str, float] = {}
    eq: list[str] = []
    notes: list[str] = []
    js = model.getJointSet()
    axes = {level: _level_axes(js.get(jname)) for level, jname in mmap["levels"].items()}
    wanted = {level: dict(zip(("flex", "bend", "rot"), p.levels[level], strict=False)) for level in axes}
    for level, extra in (flexion_offsets_deg or {}).items():
        if level in wanted:
            wanted[level]["flex"] += extra
    for comp in ("flex", "bend", "rot"):  # a rotation the model lacks at one level goes to the levels that have it
        missing = [lvl for lvl in axes if comp not in {a[0] for a in axes[lvl]} and abs(wanted[lvl][comp]) > 1e-6]
        able = [lvl for lvl in axes if comp in {a[0] for a in axes[lvl]}]
        total = sum(abs(wanted[lvl][comp]) for lvl in able)
        for lvl in missing:
            notes.append(f"{lvl}: the base model has no {comp} rotation here; its {wanted[lvl][comp]:.1f} deg "
                         f"{'is spread over the other levels' if able else 'is not imposed'}")
            for other in able:
                share = abs(wanted[other][comp]) / total if total > 0 else 1.0 / len(able)
                wanted[other][comp] += wanted[lvl][comp] * share
            wanted[lvl][comp] = 0.0
    for level, level_axes in axes.items():
        for comp, sign, cname, fn in level_axes:
            c = model.getCoordinateSet().get(cname)
            eq.append(cname)
            coords[cname] = _invert(fn, sign * math.radians(wanted[level][comp]), c.getRangeMin() - 1, c.getRangeMax() + 1)
    pel = mmap["pelvis"]
    coords[pel["coordinate"]] = pel["sign"] * math.radians(p.pelvis_flexion_deg)
    for c in mmap["shoulders"]:
        coords[c] = math.radians(p.shoulder_flexion_deg)
    for c in mmap["elbows"]:
        coords[c] = math.radians(p.elbow_flexion_deg)
    coords.update(mmap.get("fixed", {}))
    return coords, eq, notes


def _thorax_angle_rad(model: osim.Model, state: osim.State, mmap: dict) -> float:
    """Rotation (rad) about the ground z axis of the body above the T12/L1 joint (negative = leaning forward)."""
    model.realizePosition(state)
    thorax = model.getJointSet().get(mmap["levels"]["T12/L1"]).getChildFrame().findBaseFrame()
    return thorax.getTransformInGround(state).R().convertRotationToBodyFixedXYZ().get(2)


def _bodies_above(model: osim.Model, joint_name: str) -> list[str]:
    """Names of the bodies carried by ``joint_name``'s child (the child and everything distal to it)."""
    js = model.getJointSet()
    parent = {}
    for i in range(js.getSize()):
        j = js.get(i)
        parent[j.getChildFrame().findBaseFrame().getName()] = j.getParentFrame().findBaseFrame().getName()
    top = js.get(joint_name).getChildFrame().findBaseFrame().getName()
    out = []
    for body in parent:
        b = body
        while b in parent and b != top:
            b = parent[b]
        if b == top:
            out.append(body)
    return out


def upper_body_offset_m(model: osim.Model, state: osim.State, mmap: dict) -> float:
    """Anterior distance (m) of the CM of everything above the T12/L1 joint from the hip-axis midpoint."""
    model.realizePosition(state)
    bs = model.getBodySet()
    mass, moment = 0.0, 0.0
    for name in _bodies_above(model, mmap["levels"]["T12/L1"]):
        b = bs.get(name)
        mass += b.getMass()
        moment += b.getMass() * b.findStationLocationInGround(state, b.getMassCenter()).get(0)
    js = model.getJointSet()
    hip = np.mean([js.get(j).getChildFrame().getPositionInGround(state).get(0) for j in mmap["hip_joints"]])
    return moment / mass - hip


def balance_pelvis(model: osim.Model, state: osim.State, mmap: dict, coords: dict[str, float]) -> float:
    """Pelvis-coordinate offset (rad) putting the upper-body CM over the hip axis in the posture ``coords``."""
    target = anatomy()["upper_body"]["hat_com_anterior_of_hip_axis_mm"] / 1000.0
    pel = mmap["pelvis"]["coordinate"]

    def offset(delta: float) -> float:
        prepare_state(model, state, {**coords, pel: coords[pel] + delta}, disable_constraints=True)
        return upper_body_offset_m(model, state, mmap) - target

    lim = math.radians(30.0)
    if offset(-lim) * offset(lim) > 0:
        raise ValueError("the upper body cannot be balanced over the hips by tilting the pelvis")
    return brentq(offset, -lim, lim, xtol=1e-6)


def _muscles(model: osim.Model, mmap: dict, force_scale: dict[tuple[str, str], float] | None = None
             ) -> tuple[list[str], dict[str, float]]:
    """Mapped muscle names and their maximum forces (N), scaled by ``force_scale[(group, side)]``."""
    mus = model.getMuscles()
    names, fmax = [], {}
    for i in range(mus.getSize()):
        name = mus.get(i).getName()
        group = next((g for g, prefixes in mmap["muscle_groups"].items() if name.startswith(tuple(prefixes))), None)
        if group is None:
            continue
        side = "left" if name.endswith("_l") else "right" if name.endswith("_r") else None
        names.append(name)
        fmax[name] = mus.get(i).getMaxIsometricForce() * (force_scale or {}).get((group, side or ""), 1.0)
    return names, fmax


def solve_base_model(path: Path, mmap: dict | None, subj: Subject, tasks: dict[str, Task]) -> tuple[dict, list[Flag], dict]:
    """Solve ``tasks`` on the base model at ``path``: (loads, flags, diagnostics)."""
    mmap = mmap or shipped_map(path)
    if mmap is None:
        raise ValueError(f"no muscle map given for {Path(path).name} (pass --muscle-map MAP.json)")
    loads: dict[str, dict] = {}
    flags: list[Flag] = []
    diag: dict[str, Any] = {}
    built: dict[float, tuple[osim.Model, osim.State]] = {}
    upright: dict[float, float] = {}  # thorax angle of each built model in its default (neutral) pose
    bw = subj.mass_kg * GRAVITY
    offsets = curvature_offsets_deg(subj) if subj.personalisation in ("curvature", "muscle") else None
    balance: float | None = None
    for name, task in tasks.items():
        try:
            if task.load_kg not in built:
                built[task.load_kg] = _load_model(path, mmap, subj, task.load_kg)
                upright[task.load_kg] = _thorax_angle_rad(*built[task.load_kg], mmap)
            model, state = built[task.load_kg]
            if balance is None:  # standing balance of the unloaded model, kept for every task
                unloaded = built.setdefault(0.0, _load_model(path, mmap, subj, 0.0))
                balance = balance_pelvis(*unloaded, mmap, base_coords(unloaded[0], mmap, Task("standing"), offsets)[0])
                diag["balance_pelvis_deg"] = math.degrees(balance)
            try:
                coords, eq, notes = base_coords(model, mmap, task, offsets)
            except ValueError:  # the subject's lordosis on top of this posture leaves the model's joint range
                if not offsets:
                    raise
                coords, eq, notes = base_coords(model, mmap, task)
                notes.append(f"{name}: the subject's lordosis plus this posture is outside {Path(path).name}'s "
                             f"joint range; the model's own neutral shape used for this task")
            coords[mmap["pelvis"]["coordinate"]] += balance
            prepare_state(model, state, coords, disable_constraints=True)
            # arms hang (or hold the load) relative to the vertical, as in the lumbarqi model: the shoulders
            # take the thorax's actual lean (task, subject lordosis and standing balance together)
            lean = upright[task.load_kg] - _thorax_angle_rad(model, state, mmap)
            for c in mmap["shoulders"]:
                coords[c] = lean + math.radians(task.shoulder_flexion_deg)
            prepare_state(model, state, coords, disable_constraints=True)
            acts, fmax = _muscles(model, mmap, subj.muscle_force_scale)
            res = solve_posture(model, state, eq, acts, fmax, mmap["levels"], disc_axes="chain")
        except Exception as exc:  # noqa: BLE001 - a task a foreign model cannot take is reported, never raised
            flags.append(make_flag("biomech_task_failed", f"{name} on {Path(path).name}: {type(exc).__name__}: {exc}",
                                   structure=name))
            continue
        for note in notes:
            flags.append(make_flag("biomech_base_model_posture", note, structure=name))
        diag[name] = {"residual_nm": res.residual_nm, "required_nm": res.required_nm, "max_activation": res.max_activation}
        if res.residual_nm > max(MAX_RESIDUAL_NM, 0.05 * res.required_nm):
            flags.append(make_flag("biomech_task_unsolved",
                                   f"{name} on {Path(path).name}: {res.residual_nm:.1f} N m left unbalanced",
                                   structure=name))
            continue
        loads[name] = format_loads(res, bw)
    return loads, flags, diag
