"""``compute_loads``: personalised lumbar loads for the six tasks of results.json.

Output units: forces in N (``*_n``) and in multiples of body weight (``*_bw``); directions as
defined in :mod:`lumbarqi.biomech.solver` (compression along the disc normal, AP shear positive
anterior, lateral shear positive to the right, acting on the superior vertebra).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lumbarqi.biomech.anatomy import GRAVITY
from lumbarqi.biomech.loads import MAX_RESIDUAL_NM, format_loads
from lumbarqi.biomech.model import SpineModel, build_model, coord_name
from lumbarqi.biomech.settle import settle
from lumbarqi.biomech.solver import RESIDUAL_WEIGHT, SolveResult, prepare_state, solve_posture
from lumbarqi.biomech.subject import Subject, personalise
from lumbarqi.biomech.tasks import TASKS, Task, posture
from lumbarqi.results import Flag, Personalisation, make_flag

#: Largest change of any level rotation (deg) the posture may settle by to balance (see settle.py).
SETTLE_LIMIT_DEG = 2.0
#: Sagittal moment (N m) the muscles may leave unbalanced before the posture settles.
SETTLE_TOLERANCE_NM = 0.25
#: Passive reserve per level (N m): lateral bending (small left/right imbalances from asymmetric masks),
#: flexion-extension (small flexor demands in standing) and axial rotation (10 N m at 2 deg of twist,
#: passive.py: in lateral bending the tilted disc planes turn part of the lateral moment into twist).
SAGITTAL_RESERVE_NM = 1.0
BENDING_RESERVE_NM = MAX_RESIDUAL_NM
AXIAL_RESERVE_NM = 10.0
#: Cost of the passive reserve per (N m)^2 (activations cost 1 per unit squared).
PASSIVE_RESERVE_WEIGHT = 0.1
#: Postural co-activation floor for every fascicle (fraction of maximum), see README/notes.
MIN_ACTIVATION = 0.0


def own_model_coords(sm: SpineModel, task: Task) -> dict[str, float]:
    """Coordinate values (rad) of the lumbarqi model for ``task``."""
    p = posture(task)
    coords: dict[str, float] = {}
    for lvl, (flex, bend, rot) in p.levels.items():
        coords[coord_name(lvl, "flex")] = math.radians(flex)
        coords[coord_name(lvl, "bend")] = math.radians(bend)
        coords[coord_name(lvl, "rot")] = math.radians(rot)
    name, sign = sm.posture_coords["hip"]
    coords[name] = sign * math.radians(p.pelvis_flexion_deg)
    for side in ("r", "l"):
        coords[sm.posture_coords[f"shoulder_{side}"][0]] = math.radians(p.shoulder_flexion_deg)
        coords[sm.posture_coords[f"elbow_{side}"][0]] = math.radians(p.elbow_flexion_deg)
    return coords


def passive_reserve_nm(equilibrium_coords: list[str]) -> np.ndarray:
    """Torque (N m) per coordinate left to the passive tissues in static optimisation.

    Flexion-extension :data:`SAGITTAL_RESERVE_NM`, lateral bending :data:`BENDING_RESERVE_NM`,
    axial rotation :data:`AXIAL_RESERVE_NM`.
    """
    caps = {"flex": SAGITTAL_RESERVE_NM, "bend": BENDING_RESERVE_NM, "rot": AXIAL_RESERVE_NM}
    return np.array([caps[c.rsplit("_", 1)[1]] for c in equilibrium_coords])


def _static_optimiser(sm: SpineModel, state, min_activation: float) -> Callable[..., SolveResult]:
    """``solve(weight)``: static optimisation at the posture set in ``state``, residual ``weight``.

    Each coordinate has a bounded passive reserve (:func:`passive_reserve_nm`, cost
    :data:`PASSIVE_RESERVE_WEIGHT` per (N m)^2): small imbalances (a few N m from slightly
    asymmetric masks; the twist about the tilted L5/S1 disc normal in lateral bending; a flexor
    demand under 1 N m in standing) go to the passive tissues instead of switching antagonist
    co-contraction on and off between similar subjects; larger demands must be met by muscles.
    """
    reserve = passive_reserve_nm(sm.equilibrium_coords)

    def solve(weight: float = RESIDUAL_WEIGHT) -> SolveResult:
        return solve_posture(sm.model, state, sm.equilibrium_coords, sm.actuators, sm.fmax, sm.level_joints,
                             min_activation, residual_weight=weight, reserve_nm=reserve,
                             reserve_weight=PASSIVE_RESERVE_WEIGHT)

    return solve


def solve_tasks(subj: Subject, tasks: dict[str, Task], min_activation: float = MIN_ACTIVATION) -> tuple[dict, list[Flag], dict]:
    """Solve ``tasks`` on the lumbarqi model of ``subj``: (loads, flags, timing/diagnostics)."""
    loads: dict[str, dict] = {}
    flags: list[Flag] = []
    diag: dict[str, dict] = {}
    bw = subj.mass_kg * GRAVITY
    built: dict[float, tuple[SpineModel, object]] = {}
    for name, task in tasks.items():
        t0 = time.perf_counter()
        try:
            if task.load_kg not in built:
                sm = build_model(subj, task.load_kg)
                built[task.load_kg] = (sm, sm.model.initSystem())
                if sm.balance_limited and not any(f["code"] == "biomech_balance_limited" for f in flags):
                    flags.append(make_flag("biomech_balance_limited",
                                           f"standing balance needs a pelvic tilt outside the adult "
                                           f"range; {sm.pelvic_tilt_deg:.0f} deg used",
                                           structure="pelvis"))
            sm, state = built[task.load_kg]
            coords = own_model_coords(sm, task)
            prepare_state(sm.model, state, coords)

            solve = _static_optimiser(sm, state, min_activation)
            res, settled_deg = settle(solve, sm.model, state, coords, sm.equilibrium_coords, solve(),
                                      tolerance_nm=SETTLE_TOLERANCE_NM, limit_deg=SETTLE_LIMIT_DEG)
        except Exception as exc:  # noqa: BLE001 - a task that cannot be built or solved is reported, never raised
            flags.append(make_flag("biomech_task_failed", f"{name}: {type(exc).__name__}: {exc}", structure=name))
            continue
        diag[name] = {"seconds": time.perf_counter() - t0, "residual_nm": res.residual_nm, "required_nm": res.required_nm,
                      "max_activation": res.max_activation, "forces": res.forces, "settled_deg": settled_deg,
                      "pelvic_tilt_deg": sm.pelvic_tilt_deg}
        if res.residual_nm > max(MAX_RESIDUAL_NM, 0.05 * res.required_nm):
            flags.append(make_flag("biomech_task_unsolved",
                                   f"{name}: muscles cannot balance the posture "
                                   f"({res.residual_nm:.1f} N m left over)",
                                   structure=name))
            continue
        if res.max_activation >= 0.999:
            flags.append(make_flag("biomech_muscle_saturated", f"{name}: at least one fascicle at maximum activation",
                                   structure=name))
        loads[name] = format_loads(res, bw)
    return loads, flags, diag


def compute_loads(results: dict, personalisation: Personalisation = "muscle", base_model: Path | None = None,
                  muscle_map: dict | None = None) -> tuple[dict, list[Flag]]:
    """Loads per task and level for one subject, from a results.json/truth.json dictionary.

    Returns ``(loads, flags)``: ``loads[task][level] = {compression_n, shear_ap_n,
    shear_lateral_n, compression_bw, shear_ap_bw, shear_lateral_bw}``; tasks that could not be
    solved are absent and explained in ``flags`` ({code, level, structure, message}).
    ``base_model`` (an .osim file) with ``muscle_map`` runs the same tasks on a lab's own model.
    """
    subj = personalise(results, personalisation)
    if base_model is not None:
        from lumbarqi.biomech.base_model import solve_base_model

        loads, flags, _ = solve_base_model(Path(base_model), muscle_map, subj, TASKS)
        return loads, subj.flags + flags
    loads, flags, _ = solve_tasks(subj, TASKS)
    return loads, subj.flags + flags
