"""Published anatomical parameters (``data/anatomy.json``) and the constants derived from them.

Every number lives in the JSON file next to the reference it came from; this module only
loads it and names the level/vertebra orderings the rest of the package uses.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"

#: Intervertebral levels modelled, cranial to caudal (same names as results.json).
LEVELS: tuple[str, ...] = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")
#: Vertebrae in the chain, cranial to caudal. "T12" is part of the thorax body, "S1" of the pelvis.
VERTEBRAE: tuple[str, ...] = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
LUMBAR: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5")
SIDES: tuple[str, ...] = ("left", "right")
#: Muscle groups measured on axial MRI (results.json ``muscles`` keys).
MEASURED_GROUPS: tuple[str, ...] = ("erector_spinae", "multifidus", "psoas", "quadratus_lumborum")
GRAVITY = 9.80665  # m/s^2


@lru_cache(maxsize=1)
def anatomy() -> dict[str, Any]:
    """The parsed ``data/anatomy.json`` (cached; treat as read-only)."""
    with open(DATA_DIR / "anatomy.json", encoding="utf-8") as fh:
        return json.load(fh)


def level_below(vertebra: str) -> str:
    """Disc directly below ``vertebra`` (``"L4"`` -> ``"L4/L5"``)."""
    i = VERTEBRAE.index(vertebra)
    return f"{VERTEBRAE[i]}/{VERTEBRAE[i + 1]}"


def levels_crossed(upper: str, lower: str = "S1") -> list[str]:
    """Discs crossed by a fascicle running from vertebra ``upper`` down to ``lower`` (pelvis = S1)."""
    return list(LEVELS[VERTEBRAE.index(upper):VERTEBRAE.index(lower)])


def disc_area_mm2(depth_mm: float, width_mm: float | None = None) -> float:
    """Endplate area (mm^2) as an ellipse of AP ``depth_mm`` and lateral ``width_mm``.

    Width defaults to depth x ``width_over_depth`` (about 1.5, Zhou et al. 2000).
    """
    import math

    if width_mm is None:
        width_mm = depth_mm * anatomy()["spine"]["width_over_depth"]
    return math.pi / 4.0 * depth_mm * width_mm


def wilke_force_n(task: str, depth_mm: float, width_mm: float | None = None) -> float:
    """Wilke et al. 1999 L4/L5 intradiscal pressure converted to compressive force (N).

    ``task`` is a key of ``wilke_1999.pressure_mpa`` (standing, flexed, lift_20kg_close);
    force = 0.66 x pressure (MPa = N/mm^2) x disc area (mm^2).
    """
    w = anatomy()["wilke_1999"]
    return w["pressure_to_stress"] * w["pressure_mpa"][task] * disc_area_mm2(depth_mm, width_mm)
