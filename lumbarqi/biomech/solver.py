"""Static optimisation and joint reactions on an OpenSim model, one static posture at a time.

For a posture (every coordinate set and locked, zero velocity and acceleration):

1. OpenSim's InverseDynamicsSolver gives the generalised forces the actuators must supply at the
   equilibrium coordinates (gravity on every body, passive forces of the model included), and,
   applying a unit tension to one actuator at a time through actuator override, each actuator's
   generalised force per newton (its moment arms, wrapping and via points included).
2. Activations minimise sum(a^2) subject to moment equilibrium at every equilibrium coordinate,
   a_min <= a <= 1, with force = a x maximum isometric force (ideal force generators, as OpenSim's
   StaticOptimization with muscle physiology off). Equilibrium is imposed as a heavy quadratic
   penalty (a stiff 'reserve'), solved as a bounded linear least-squares problem; the remaining
   residual moment is reported.
3. The solved tensions are applied (actuator override) and the system realised to acceleration;
   ``Joint.calcReactionOnChildExpressedInGround`` gives the force each disc joint transmits.
   Compression is along the disc normal (mean of the joint's parent and child frame y axes),
   AP shear along the disc's anterior axis (positive: superior vertebra pushed anteriorly
   relative to the inferior one), lateral shear along its right axis (positive: pushed right).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opensim as osim
from scipy.optimize import lsq_linear

#: Penalty weight on residual moment per (N m)^2 against one unit of activation^2: a stiff reserve
#: (about 0.3 N m 'optimal' torque) standing in for the passive structures a muscle-only model lacks.
RESIDUAL_WEIGHT = 10.0


@dataclass
class SolveResult:
    """Loads per level (N) and solver diagnostics for one posture."""

    loads: dict[str, dict[str, float]]
    residual_nm: float  # largest remaining moment imbalance (N m)
    required_nm: float  # largest moment the actuators had to balance (N m)
    max_activation: float
    forces: dict[str, float]
    residual: np.ndarray | None = None  # actuator minus required generalised force per equilibrium coordinate


def _vec(v: osim.Vec3) -> np.ndarray:
    return np.array([v.get(0), v.get(1), v.get(2)])


def _scalar_actuators(model: osim.Model) -> list[osim.ScalarActuator]:
    out = []
    fs = model.getForceSet()
    for i in range(fs.getSize()):
        act = osim.ScalarActuator.safeDownCast(fs.get(i))
        if act is not None:
            out.append(act)
    return out


def _coordinate_rows(model: osim.Model, coords: list[str]) -> list[int]:
    """Indices of ``coords`` in the generalised-force vector of inverse dynamics (tree order)."""
    names = model.getCoordinateNamesInMultibodyTreeOrder()
    order = [names.getElt(i) for i in range(names.size())]
    return [order.index(c) for c in coords]


def prepare_state(model: osim.Model, state: osim.State, coords: dict[str, float], disable_constraints: bool = False) -> None:
    """Set coordinates (radians or metres), zero speeds, lock every coordinate, silence actuators."""
    if disable_constraints:
        cs = model.getConstraintSet()
        for i in range(cs.getSize()):
            c = cs.get(i)
            if c.getConcreteClassName() == "CoordinateCouplerConstraint":
                c.setIsEnforced(state, False)
    cset = model.getCoordinateSet()
    for i in range(cset.getSize()):
        c = cset.get(i)
        c.setLocked(state, False)
        if c.getName() in coords:
            c.setValue(state, coords[c.getName()], False)
        c.setSpeedValue(state, 0.0)
    for i in range(cset.getSize()):
        cset.get(i).setLocked(state, True)
    for act in _scalar_actuators(model):
        act.overrideActuation(state, True)
        act.setOverrideActuation(state, 0.0)


def solve_posture(model: osim.Model, state: osim.State, eq_coords: list[str], actuators: list[str],
                  fmax: dict[str, float], level_joints: dict[str, str], min_activation: float = 0.0,
                  disc_axes: str = "joint", residual_weight: float | np.ndarray = RESIDUAL_WEIGHT,
                  reserve_nm: np.ndarray | None = None, reserve_weight: float = 0.1) -> SolveResult:
    """Static optimisation + joint reactions at the posture already set by :func:`prepare_state`.

    ``disc_axes``: "joint" takes the disc normal from the joint frames (lumbarqi model: frames
    lie in the disc mid-plane); "chain" bisects the axes of the vertebrae below and above, each
    the line through its two joint centres (the disc mid-plane normal, for base models whose joint
    frames are not disc-aligned; falls back to the joint frame where the two disagree by more
    than 45 deg). ``level_joints`` is ordered
    cranial to caudal. ``reserve_nm`` (one per equilibrium coordinate, N m) adds a bounded pure
    torque per coordinate for the passive tissues, costing ``reserve_weight`` per (N m)^2: a
    small imbalance goes there instead of into co-contraction, and the solution changes
    continuously with the subject. Reserve torques do not count in ``residual``.
    """
    rows = _coordinate_rows(model, eq_coords)
    idsolver = osim.InverseDynamicsSolver(model)
    udot = osim.Vector(state.getNU(), 0.0)
    fset = model.getForceSet()
    acts = [osim.ScalarActuator.safeDownCast(fset.get(n)) for n in actuators]
    for act in _scalar_actuators(model):  # a previous solve leaves its tensions applied
        act.setOverrideActuation(state, 0.0)

    def residual() -> np.ndarray:
        tau = idsolver.solve(state, udot)
        return np.array([tau.get(r) for r in rows])

    tau0 = residual()
    R = np.empty((len(rows), len(acts)))
    for j, act in enumerate(acts):
        act.setOverrideActuation(state, 1.0)
        R[:, j] = tau0 - residual()
        act.setOverrideActuation(state, 0.0)
    f = np.array([fmax[n] for n in actuators])
    B = R * f
    w = np.sqrt(np.broadcast_to(np.asarray(residual_weight, dtype=float), (len(rows),)))
    cap = np.zeros(0) if reserve_nm is None else np.asarray(reserve_nm, dtype=float)
    C = np.diag(cap).reshape(len(rows), len(cap))  # reserve u in [-1, 1] supplies cap * u (N m)
    n_a, n_r = len(acts), len(cap)
    A = np.vstack([np.hstack([w[:, None] * B, w[:, None] * C]),
                   np.hstack([np.eye(n_a), np.zeros((n_a, n_r))]),
                   np.hstack([np.zeros((n_r, n_a)), np.diag(np.sqrt(reserve_weight) * cap)])])
    b = np.concatenate([w * tau0, np.zeros(n_a), np.zeros(n_r)])
    lo = np.concatenate([np.full(n_a, min_activation), -np.ones(n_r)])
    hi = np.concatenate([np.ones(n_a), np.ones(n_r)])
    sol = lsq_linear(A, b, bounds=(lo, hi), method="bvls")
    act_val = np.clip(sol.x[:n_a], min_activation, 1.0)
    resid = B @ act_val + C @ np.clip(sol.x[n_a:], -1.0, 1.0) - tau0
    forces = act_val * f
    for act, force in zip(acts, forces, strict=False):
        act.setOverrideActuation(state, float(force))
    model.realizeAcceleration(state)
    loads = {}
    js = model.getJointSet()
    y = osim.Vec3(0, 1, 0)
    x = osim.Vec3(1, 0, 0)
    names = list(level_joints.values())
    centres = [_vec(js.get(j).getChildFrame().getPositionInGround(state)) for j in names]
    for i, (level, jname) in enumerate(level_joints.items()):
        joint = js.get(jname)
        sv = joint.calcReactionOnChildExpressedInGround(state)
        force = _vec(sv.get(1))
        pf, cf = joint.getParentFrame(), joint.getChildFrame()
        n = _vec(pf.expressVectorInGround(state, y)) + _vec(cf.expressVectorInGround(state, y))
        n /= np.linalg.norm(n)
        if disc_axes == "chain" and len(centres) > 1:  # bisector of the axes of the vertebrae below and above
            axes = [centres[k] - centres[k + 1] for k in (i, i - 1) if 0 <= k and k + 1 < len(centres)]
            cand = sum(a / np.linalg.norm(a) for a in axes)
            cand /= np.linalg.norm(cand)
            n = cand if cand @ n > 0.7 else n  # implausible joint placement: keep the joint frame
        ap = _vec(pf.expressVectorInGround(state, x)) + _vec(cf.expressVectorInGround(state, x))
        ap -= n * (ap @ n)
        ap /= np.linalg.norm(ap)
        lat = np.cross(ap, n)
        loads[level] = {"compression_n": float(force @ n), "shear_ap_n": float(-force @ ap), "shear_lateral_n": float(-force @ lat)}
    return SolveResult(loads, float(np.max(np.abs(resid))) if len(resid) else 0.0,
                       float(np.max(np.abs(tau0))) if len(tau0) else 0.0, float(act_val.max()) if len(act_val) else 0.0,
                       dict(zip(actuators, map(float, forces), strict=False)), resid)


def required_forces(model: osim.Model, state: osim.State, coords: dict[str, float], eq_coords: list[str]) -> np.ndarray:
    """Generalised forces (N m) the actuators must supply at ``coords`` (gravity and passive forces included)."""
    prepare_state(model, state, coords)
    tau = osim.InverseDynamicsSolver(model).solve(state, osim.Vector(state.getNU(), 0.0))
    return np.array([tau.get(r) for r in _coordinate_rows(model, eq_coords)])
