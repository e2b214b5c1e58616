"""Muscle geometry of the lumbarqi model: every back muscle extends every level it crosses."""
from __future__ import annotations

import opensim as osim
import pytest

from lumbarqi.biomech.anatomy import LEVELS
from lumbarqi.biomech.model import build_model, coord_name
from lumbarqi.biomech.subject import personalise

BACK_MUSCLES = ("MF_", "LTp", "ILp", "QL_")


@pytest.fixture(scope="module")
def standing_model():
    sm = build_model(personalise({"subject": {"height_m": 1.66, "mass_kg": 57.5, "sex": "F"}}, "anthropometric"))
    return sm, sm.model.initSystem()


def _moment_arms_mm(sm, state, name: str) -> dict[str, float]:
    path = osim.PathActuator.safeDownCast(sm.model.getForceSet().get(name)).getGeometryPath()
    cs = sm.model.getCoordinateSet()
    return {lvl: path.computeMomentArm(state, cs.get(coord_name(lvl, "flex"))) * 1000.0 for lvl in LEVELS}


def test_back_muscles_extend_every_level_they_cross(standing_model):
    """Multifidus, erector spinae and quadratus lumborum have an extension moment arm (negative, mm) at each level spanned.

    Iliocostalis and quadratus lumborum end on the iliac crest, which lies above L5: a via point on
    L5 or a crest measured along the tilted sacrum once turned their L5/S1 moment into flexion.
    """
    sm, state = standing_model
    for name in sm.actuators:
        if not name.startswith(BACK_MUSCLES):
            continue
        crossed = {lvl: arm for lvl, arm in _moment_arms_mm(sm, state, name).items() if abs(arm) > 1e-6}
        assert crossed, name
        for lvl, arm in crossed.items():
            assert arm < -10.0, (name, lvl, arm)


def test_iliocostalis_lever_at_the_lumbosacral_joint(standing_model):
    """Iliocostalis lumborum, running to the posterior iliac crest, has a 40-70 mm extensor lever at L5/S1."""
    sm, state = standing_model
    arm = _moment_arms_mm(sm, state, "ILpL_L4_r")["L5/S1"]
    assert -70.0 < arm < -40.0
