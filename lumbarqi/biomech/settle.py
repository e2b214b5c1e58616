"""Posture settling: let the spine move a little until muscles and passive tissues balance.

The task postures are imposed level by level from population ratios of segmental motion, so a
subject's muscles may be unable to balance one level exactly (typically the upper lumbar levels
in extension, which no muscle spans on its own). In life the segment then rotates slightly
further or less until its passive tissues take up the difference. :func:`settle` mimics that:
it turns the residual moment left by static optimisation into a small change of the levels'
sagittal rotations (flexion/extension only: lateral bending and twist stay as imposed) (a damped Newton step on the required-moment Jacobian, each level limited to
``limit_deg`` from the imposed posture) and solves again.
"""
from __future__ import annotations

import math

import numpy as np
import opensim as osim
from scipy.optimize import lsq_linear

from lumbarqi.biomech.solver import SolveResult, prepare_state, required_forces

#: Finite-difference step (rad) for the required-moment Jacobian.
_STEP = math.radians(0.2)
#: Residual weight while settling: about 1 N m of reserve per unit activation, so muscles are not
#: driven to saturation to cancel a moment the passive tissues take up once the level has moved.
SOFT_RESIDUAL_WEIGHT = 1.0
#: Damping of the Newton step (N m / rad), keeps directions without stiffness still.
_DAMPING = 5.0


def settle_step(model: osim.Model, state: osim.State, coords: dict[str, float], eq_coords: list[str],
                residual: np.ndarray, moved: dict[str, float], limit_deg: float, movable: list[str]) -> dict[str, float]:
    """Coordinates after one settling step of the ``movable`` coordinates; ``moved`` (rad, updated) limits the total change."""
    base = required_forces(model, state, coords, eq_coords)
    jac = np.empty((len(eq_coords), len(movable)))
    for j, c in enumerate(movable):
        jac[:, j] = (required_forces(model, state, {**coords, c: coords[c] + _STEP}, eq_coords) - base) / _STEP
    lim = math.radians(limit_deg)
    lo = np.array([-lim - moved.get(c, 0.0) for c in movable])
    hi = np.array([lim - moved.get(c, 0.0) for c in movable])
    # find dq with jac dq = residual (required moment rises to what the muscles supply)
    a = np.vstack([jac, _DAMPING * np.eye(len(movable))])
    b = np.concatenate([residual, np.zeros(len(movable))])
    dq = lsq_linear(a, b, bounds=(np.minimum(lo, -1e-12), np.maximum(hi, 1e-12)), method="bvls").x
    out = dict(coords)
    for c, d in zip(movable, dq, strict=False):
        out[c] += d
        moved[c] = moved.get(c, 0.0) + d
    prepare_state(model, state, out)
    return out


def settle(solve, model: osim.Model, state: osim.State, coords: dict[str, float], eq_coords: list[str],
           result: SolveResult, tolerance_nm: float, limit_deg: float = 2.0, iterations: int = 3) -> tuple[SolveResult, float]:
    """Re-solve with settled postures while a sagittal residual exceeds ``tolerance_nm``; returns (result, largest change in deg).

    ``solve(weight)`` runs static optimisation at the posture currently set in ``state`` with that
    residual weight (default: the stiff one). The posture settles on the residual of the soft
    solution; the returned result is the stiff solve at the settled posture.
    """
    moved: dict[str, float] = {}
    sagittal = np.array([c.endswith("_flex") for c in eq_coords])
    soft = solve(SOFT_RESIDUAL_WEIGHT)  # what muscles leave over when they are not pushed to saturation
    for _ in range(iterations):
        if soft.residual is None or np.max(np.abs(soft.residual[sagittal]), initial=0.0) <= tolerance_nm:
            break
        coords = settle_step(model, state, coords, eq_coords, np.where(sagittal, soft.residual, 0.0), moved, limit_deg,
                             [c for c in eq_coords if c.endswith("_flex")])
        soft = solve(SOFT_RESIDUAL_WEIGHT)
    return (solve() if moved else result), math.degrees(max((abs(v) for v in moved.values()), default=0.0))
