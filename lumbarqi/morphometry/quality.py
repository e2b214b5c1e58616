"""Quality flags for morphometry: the results.json ``flags`` entries and plausibility ranges.

A value that cannot be measured is left out of the results and explained by a
flag; a value that was measured but looks implausible is kept and flagged.
Flag codes used by the morphometry:

- ``level_missing``: a reported level is not in the label map.
- ``not_fully_in_fov``: the structure touches the image edge (value absent).
- ``lateral_coverage``: the structure reaches the first/last sagittal slice (value kept).
- ``not_measurable``: mask too small/irregular, or a needed neighbour missing (value absent).
- ``axial_not_reaching_level``: no axial slice within one slice spacing of a disc (absent).
- ``muscle_missing``: a muscle/side has no pixels on the chosen axial slice (absent).
- ``fat_calibration``: the subject-specific fat threshold could not be set from
  subcutaneous fat (fat_index absent).
- ``out_of_range``: outside the plausibility range below (value kept).

The ranges are deliberately broad plausibility bounds for adult lumbar spines
(wider than the normal ranges of morphometric studies), meant to catch
segmentation or geometry failures, not disease.
"""
from __future__ import annotations

from lumbarqi.results import Flag, make_flag

#: (low, high) plausibility bounds: disc and body dimensions in mm, angles in deg, areas in mm2.
RANGES: dict[str, tuple[float, float]] = {
    "disc.height_mean_mm": (2.0, 20.0),
    "disc.height_anterior_mm": (2.0, 25.0),
    "disc.height_middle_mm": (2.0, 22.0),
    "disc.height_posterior_mm": (1.0, 18.0),
    "disc.height_index": (0.08, 0.8),
    "disc.depth_mm": (20.0, 65.0),
    "vertebra.height_anterior_mm": (12.0, 40.0),
    "vertebra.height_middle_mm": (12.0, 40.0),
    "vertebra.height_posterior_mm": (12.0, 40.0),
    "vertebra.depth_mm": (20.0, 60.0),
    "vertebra.wedge_deg": (-25.0, 25.0),
    "lordosis_deg": (0.0, 90.0),
    "muscle.csa_mm2": (20.0, 6000.0),
    "muscle.fat_index": (0.0, 0.9),
}


def _check(kind: str, level: str, values: dict, structure: str) -> list[Flag]:
    out = []
    for key, value in values.items():
        bounds = RANGES.get(f"{kind}.{key}")
        if bounds and isinstance(value, (int, float)) and not bounds[0] <= value <= bounds[1]:
            out.append(make_flag("out_of_range",
                                 f"{level} {key} = {value:g} is outside the plausible range {bounds[0]:g}..{bounds[1]:g}",
                                 level=level,
                                 structure=structure))
    return out


def check_ranges(discs: dict, vertebrae: dict, lordosis_deg: float | None) -> list[Flag]:
    """``out_of_range`` flags for disc, vertebral and lordosis values."""
    out = []
    for level, values in discs.items():
        out += _check("disc", level, values, "disc")
    for level, values in vertebrae.items():
        out += _check("vertebra", level, values, "vertebral_body")
    lo, hi = RANGES["lordosis_deg"]
    if lordosis_deg is not None and not lo <= lordosis_deg <= hi:
        out.append(make_flag("out_of_range", f"lordosis {lordosis_deg:g} deg is outside {lo:g}..{hi:g}", level="L1-S1",
                             structure="lordosis"))
    return out


def check_muscle(level: str, muscle: str, side: str, values: dict) -> list[Flag]:
    """``out_of_range`` flags for one muscle entry."""
    return _check("muscle", level, {k: values[k] for k in ("csa_mm2", "fat_index") if k in values}, f"{muscle}, {side}")
