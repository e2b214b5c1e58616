"""Sagittal-plane frame helpers shared by the model builder and the passive structures.

Body frames are parallel to ground in the standing reference posture (x anterior, y superior,
z right, metres); a vertebra's own frame is tilted forward by its endplate tilt (degrees).
"""
from __future__ import annotations

import math

import opensim as osim


def sin_cos(a_deg: float) -> tuple[float, float]:
    """(sin, cos) of an angle in degrees."""
    a = math.radians(a_deg)
    return math.sin(a), math.cos(a)


def _local(tilt_deg: float, ant: float, sup: float) -> tuple[float, float]:
    """Endplate-aligned (anterior, superior) offset -> ground-parallel body (x, y)."""
    sn, cs = sin_cos(tilt_deg)
    return ant * cs + sup * sn, -ant * sn + sup * cs


def attachment(chain: dict[str, dict], vertebra: str, ant_mm: float, sup_mm: float, lat_mm: float,
               tilt_deg: float | None = None) -> osim.Vec3:
    """A point on ``vertebra``'s body given in its endplate-aligned frame (mm from the body centre), in body coordinates (m).

    ``lat_mm`` is signed (+ = right). The pelvis body ("S1") has its origin at the hip-axis midpoint.
    ``tilt_deg`` replaces the endplate tilt (e.g. the pelvis's own forward rotation for an iliac point).
    """
    x, y = _local(chain[vertebra]["tilt"] if tilt_deg is None else tilt_deg, ant_mm / 1000.0, sup_mm / 1000.0)
    if vertebra == "S1":
        x, y = x + chain["S1"]["pos"][0], y + chain["S1"]["pos"][1]
    return osim.Vec3(x, y, lat_mm / 1000.0)
