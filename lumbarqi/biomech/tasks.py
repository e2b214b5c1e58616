"""The static tasks and how a trunk posture is shared among the pelvis and the lumbar levels.

Angles in degrees. Trunk flexion is the thorax inclination from vertical in the sagittal plane
(positive forward); a lumbar share of it (lumbo-pelvic rhythm, Tafazzol et al. 2014) is spread
over the six levels in proportion to their segmental range of motion (Pearcy et al. 1984), the rest
is pelvic rotation about the hips. Lateral bending (positive to the right) is spread over the
levels by their lateral range (Pearcy & Tibrewal 1984). Arms hang vertically unless the task
holds a load, which is held in both hands in front of the body with the elbows flexed.
"""
from __future__ import annotations

from dataclasses import dataclass

from lumbarqi.biomech.anatomy import LEVELS, anatomy


@dataclass(frozen=True)
class Task:
    """One static posture with an optional hand-held load."""

    name: str
    trunk_flexion_deg: float = 0.0
    lateral_bend_deg: float = 0.0
    load_kg: float = 0.0
    elbow_flexion_deg: float = 0.0
    shoulder_flexion_deg: float = 0.0  # relative to the vertical, i.e. to hanging arms


#: The tasks of results.json, in report order.
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("standing"),
        Task("flexion_30", trunk_flexion_deg=30.0),
        Task("flexion_60", trunk_flexion_deg=60.0),
        Task("extension_20", trunk_flexion_deg=-20.0),
        Task("lateral_bend_20", lateral_bend_deg=20.0),
        Task("hold_10kg", load_kg=10.0, elbow_flexion_deg=90.0),
    )
}

#: Extra task for the Wilke et al. 1999 comparison (20 kg held close to the body), not in results.json.
#: Its load centre lies about 24 cm in front of the hip axis (26 cm in front of L4/L5 for a 1.66 m
#: adult), in line with the 25 cm horizontal distance the revised NIOSH lifting equation takes as the
#: closest a load can be held to the body (Waters TR et al. Ergonomics 1993;36:749-776).
VALIDATION_TASKS: dict[str, Task] = {"hold_20kg_close": Task("hold_20kg_close", load_kg=20.0, elbow_flexion_deg=45.0)}


@dataclass(frozen=True)
class Posture:
    """Joint angles (deg) of one task: per level (flex, bend, rot), pelvis, shoulders, elbows."""

    levels: dict[str, tuple[float, float, float]]
    pelvis_flexion_deg: float
    shoulder_flexion_deg: float
    elbow_flexion_deg: float


def posture(task: Task) -> Posture:
    """Distribute the task's trunk posture over the pelvis and the lumbar levels."""
    kin = anatomy()["kinematics"]
    theta = task.trunk_flexion_deg
    lumbar = kin["lumbar_share_of_trunk_flexion"] * theta
    ratios = kin["flexion"] if theta >= 0 else kin["extension"]
    total = sum(ratios[lvl] for lvl in LEVELS)
    lat_total = sum(kin["lateral_bending"][lvl] for lvl in LEVELS)
    levels = {lvl: (lumbar * ratios[lvl] / total, task.lateral_bend_deg * kin["lateral_bending"][lvl] / lat_total, 0.0)
              for lvl in LEVELS}
    # arms hang vertically: shoulder flexion relative to the thorax compensates the trunk inclination
    return Posture(levels, theta - lumbar, theta + task.shoulder_flexion_deg, task.elbow_flexion_deg)
