"""Passive structures, standing balance and posture settling of the lumbarqi model (real OpenSim)."""
from __future__ import annotations

import copy
import math

import numpy as np
import opensim as osim
import pytest
from test_biomech import _results

from lumbarqi.biomech.anatomy import LEVELS, anatomy
from lumbarqi.biomech.api import own_model_coords, solve_tasks
from lumbarqi.biomech.model import build_model, coord_name, standing_balance
from lumbarqi.biomech.passive import stiffness
from lumbarqi.biomech.solver import prepare_state
from lumbarqi.biomech.subject import personalise
from lumbarqi.biomech.tasks import TASKS


@pytest.fixture(scope="module")
def built():
    sm = build_model(personalise(_results(), "muscle"))
    return sm, sm.model.initSystem()


def _ligament_tension(sm, state, level: str) -> float:
    fs = sm.model.getForceSet()
    tag = level.replace("/", "")
    total = 0.0
    for side in ("r", "l"):
        lig = osim.Ligament.safeDownCast(fs.get(f"PLC_{tag}_{side}"))
        total += lig.getTension(state)
    return total


def test_ligaments_slack_standing_and_taut_in_flexion(built):
    sm, state = built
    prepare_state(sm.model, state, own_model_coords(sm, TASKS["standing"]))
    sm.model.realizeDynamics(state)
    assert all(_ligament_tension(sm, state, lvl) == pytest.approx(0.0, abs=1e-6) for lvl in LEVELS)
    tension = []
    for deg in (3.0, 6.0):
        coords = own_model_coords(sm, TASKS["standing"])
        coords[coord_name("L4/L5", "flex")] = math.radians(deg)
        prepare_state(sm.model, state, coords)
        sm.model.realizeDynamics(state)
        tension.append(_ligament_tension(sm, state, "L4/L5"))
    assert tension[0] > 10.0
    assert tension[1] / tension[0] == pytest.approx(4.0, rel=0.15)  # quadratic in rotation


def test_passive_moment_reaches_reference_at_reference_rotation(built):
    sm, state = built
    p = anatomy()["passive"]
    kin = anatomy()["kinematics"]
    level = "L3/L4"
    for dof, direction, sign in (("flex", "extension", -1.0), ("bend", "lateral_bending", 1.0), ("bend", "lateral_bending", -1.0)):
        share = kin[direction][level] * len(LEVELS) / sum(kin[direction][lvl] for lvl in LEVELS)
        theta = sign * math.radians(p["rotation_at_reference_deg"][direction] * share)
        coords = {**own_model_coords(sm, TASKS["standing"]), coord_name(level, dof): theta}
        prepare_state(sm.model, state, coords)
        sm.model.realizeDynamics(state)
        spring = osim.ExpressionBasedCoordinateForce.safeDownCast(sm.model.getForceSet().get(f"passive_L3L4_{dof}"))
        moment = spring.getForceMagnitude(state)
        assert moment == pytest.approx(-sign * p["moment_at_reference_nm"], rel=1e-3)  # restoring, 10 N m
    # the extension spring does nothing in flexion; the more mobile level is the less stiff
    coords = {**own_model_coords(sm, TASKS["standing"]), coord_name(level, "flex"): math.radians(3.0)}
    prepare_state(sm.model, state, coords)
    sm.model.realizeDynamics(state)
    assert osim.ExpressionBasedCoordinateForce.safeDownCast(sm.model.getForceSet().get("passive_L3L4_flex")).getForceMagnitude(state) == 0.0
    assert stiffness("flexion", "L4/L5") < stiffness("flexion", "T12/L1")


def test_standing_balance_puts_upper_body_over_hips():
    subj = personalise(_results(), "muscle")
    rotation, limited = standing_balance(subj)
    lo, hi = anatomy()["pelvis"]["pelvic_tilt_range_deg"]
    assert not limited and lo <= anatomy()["pelvis"]["pelvic_tilt_deg"] + rotation <= hi
    sm = build_model(subj)
    state = sm.model.initSystem()
    prepare_state(sm.model, state, own_model_coords(sm, TASKS["standing"]))
    sm.model.realizePosition(state)
    thorax = sm.model.getBodySet().get("thorax")
    com = thorax.findStationLocationInGround(state, thorax.getMassCenter())
    assert abs(com.get(0) * 1000.0 - anatomy()["upper_body"]["hat_com_anterior_of_hip_axis_mm"]) < 1.0


def test_balance_out_of_range_is_flagged():
    r = copy.deepcopy(_results())
    for d in r["discs"].values():  # a strongly kyphotic lumbar spine (each disc within the plausible ranges)
        d["height_anterior_mm"], d["height_posterior_mm"] = max(2.5, d["height_posterior_mm"] * 0.4), min(17.0, d["height_anterior_mm"] * 1.3)
    subj = personalise(r, "curvature")
    assert standing_balance(subj)[1]
    _, flags, _ = solve_tasks(subj, {"standing": TASKS["standing"]})
    assert any(f["code"] == "biomech_balance_limited" for f in flags)


def test_extension_settles_within_limit_and_balances():
    subj = personalise(_results(), "muscle")
    loads, flags, diag = solve_tasks(subj, {"extension_20": TASKS["extension_20"], "standing": TASKS["standing"]})
    assert "extension_20" in loads, flags
    assert diag["extension_20"]["settled_deg"] <= 2.0 + 1e-6
    assert diag["extension_20"]["residual_nm"] < 2.0
    # leaning back is carried by abdominals and passive tissue: more than standing, well below 60 deg flexion
    assert loads["standing"]["L4/L5"]["compression_n"] < loads["extension_20"]["L4/L5"]["compression_n"] < 1.6 * loads["standing"]["L4/L5"]["compression_n"]


def test_asymmetric_muscle_centroid_does_not_drive_cocontraction():
    """A few mm of left/right centroid difference (mask noise) must not change sagittal loads much."""
    r = _results()
    shifted = copy.deepcopy(r)
    shifted["muscles"]["L5/S1"]["multifidus"]["right"]["centroid_mm"][0] -= 5.0
    a, _, _ = solve_tasks(personalise(r, "muscle"), {"flexion_30": TASKS["flexion_30"]})
    b, _, _ = solve_tasks(personalise(shifted, "muscle"), {"flexion_30": TASKS["flexion_30"]})
    for lvl in LEVELS:
        assert b["flexion_30"][lvl]["compression_n"] == pytest.approx(a["flexion_30"][lvl]["compression_n"], rel=0.08)
    assert np.isfinite(b["flexion_30"]["L4/L5"]["shear_lateral_n"])


def test_chain_disc_axes_match_the_model_disc_normals(built):
    """The disc normal used for base models (bisector of the adjacent vertebral axes) reproduces ours."""
    from lumbarqi.biomech.solver import solve_posture

    sm, state = built
    assert list(sm.level_joints) == list(LEVELS)
    out = {}
    for axes in ("joint", "chain"):
        prepare_state(sm.model, state, own_model_coords(sm, TASKS["flexion_30"]))
        res = solve_posture(sm.model, state, sm.equilibrium_coords, sm.actuators, sm.fmax, sm.level_joints, disc_axes=axes)
        out[axes] = {lvl: res.loads[lvl]["compression_n"] for lvl in LEVELS}
    for lvl in LEVELS[:-1]:
        assert out["chain"][lvl] == pytest.approx(out["joint"][lvl], rel=0.01)
    assert out["chain"]["L5/S1"] == pytest.approx(out["joint"]["L5/S1"], rel=0.06)  # no sacral axis: L5's alone
