"""Passive intervertebral structures of the lumbarqi model, per level T12/L1 .. L5/S1.

Two kinds, both slack/zero in the standing reference posture:

* **Posterior ligaments** (interspinous, ligamentum flavum, capsules, lumped): one tension-only
  OpenSim ``Ligament`` per side running from the vertebra below to the one above, behind the
  posterior wall of the vertebral body. Force grows with the square of the stretch, so the pair
  gives a flexion moment ``k_flex * theta^2``; their tension loads the disc like a muscle's.
* **Motion-segment stiffness** in extension, lateral bending and axial rotation (disc, facet
  contact, anterior longitudinal ligament): an ``ExpressionBasedCoordinateForce`` on the level's
  coordinate, moment ``-k * theta * |theta|`` (extension: only when extended). These act as pure
  torques, so they do not add to the reported compression.

Each stiffness ``k`` (N m/rad^2) is set so the moment reaches ``moment_at_reference_nm`` at the
in vitro rotation in ``rotation_at_reference_deg`` (data/anatomy.json, ``passive``), shared out
between the levels in proportion to their in vivo range (``kinematics``, the same ratios that
distribute a trunk posture over the levels in :mod:`lumbarqi.biomech.tasks`): every level then
carries the same passive moment in a task, as the posture model assumes.
"""
from __future__ import annotations

import math

import opensim as osim

from lumbarqi.biomech.anatomy import LEVELS, VERTEBRAE, anatomy
from lumbarqi.biomech.frames import attachment
from lumbarqi.biomech.subject import Subject

#: Normalised-length samples of the quadratic force-length curve (x = length / resting length).
_CURVE_X = (0.0, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)


def _quadratic_curve() -> osim.PiecewiseLinearFunction:
    f = osim.PiecewiseLinearFunction()
    for x in _CURVE_X:
        f.addPoint(x, max(0.0, x - 1.0) ** 2)
    return f


def stiffness(direction: str, level: str) -> float:
    """Passive stiffness (N m / rad^2) of the motion segment at ``level`` in ``direction`` (see module docstring)."""
    a = anatomy()
    p = a["passive"]
    theta = math.radians(p["rotation_at_reference_deg"][direction])
    ratios = a["kinematics"].get(direction)
    if ratios:  # the level's share of the summed range, relative to an average level
        theta *= ratios[level] * len(LEVELS) / sum(ratios[lvl] for lvl in LEVELS)
    return p["moment_at_reference_nm"] / theta**2


def add_passive_structures(model: osim.Model, subj: Subject, bodies: dict[str, osim.Body], chain: dict[str, dict]) -> list[str]:
    """Add the ligaments and torque springs of every level; returns the ligament names (resting lengths unset)."""
    p = anatomy()["passive"]
    s = subj.scale
    names: list[str] = []
    for i, level in enumerate(LEVELS):
        upper, lower = VERTEBRAE[i], VERTEBRAE[i + 1]
        tag = level.replace("/", "")
        # posterior ligament pair: r behind the disc centre, moment arm r, quadratic in stretch (r theta)
        # population depth, not the measured one: the ligament line is an anatomical estimate either way
        r_mm = (anatomy()["spine"]["endplate_depth_mm"][level] / 2 + p["posterior_ligament_behind_body_mm"]) * s
        c = stiffness("flexion", level) / (r_mm / 1000.0) ** 3  # N/m^2 for both sides together
        for side, zsign in (("r", 1.0), ("l", -1.0)):
            lig = osim.Ligament()
            lig.setName(f"PLC_{tag}_{side}")
            path = lig.updGeometryPath()
            lat = zsign * p["posterior_ligament_lateral_mm"] * s
            sup_up = -subj.vertebrae[upper].height / 2 if upper in subj.vertebrae else -12.0 * s
            sup_lo = subj.vertebrae[lower].height / 2 if lower in subj.vertebrae else 0.0
            path.appendNewPathPoint(f"PLC_{tag}_{side}_lo", bodies[lower], attachment(chain, lower, -r_mm, sup_lo, lat))
            path.appendNewPathPoint(f"PLC_{tag}_{side}_up", bodies[upper], attachment(chain, upper, -r_mm, sup_up, lat))
            lig.set_force_length_curve(_quadratic_curve())
            lig.set_pcsa_force(c / 2)  # scaled by resting length^2 in set_resting_lengths
            lig.set_resting_length(1.0)
            model.addForce(lig)
            names.append(lig.getName())
        for dof, expr in (("flex", f"{stiffness('extension', level):.6g}*step(-q)*q^2"),
                          ("bend", f"-{stiffness('lateral_bending', level):.6g}*q*abs(q)"),
                          ("rot", f"-{stiffness('axial_rotation', level):.6g}*q*abs(q)")):
            spring = osim.ExpressionBasedCoordinateForce(f"{tag}_{dof}", expr)
            spring.setName(f"passive_{tag}_{dof}")
            model.addForce(spring)
    return names


def set_resting_lengths(model: osim.Model, state: osim.State, ligaments: list[str]) -> None:
    """Make every ligament just slack in the standing reference posture (all coordinates zero)."""
    model.realizePosition(state)
    fs = model.getForceSet()
    for name in ligaments:
        lig = osim.Ligament.safeDownCast(fs.get(name))
        length = lig.getLength(state)
        lig.set_resting_length(length)
        lig.set_pcsa_force(lig.get_pcsa_force() * length**2)  # F = pcsa * (stretch / L0)^2 = c * stretch^2
