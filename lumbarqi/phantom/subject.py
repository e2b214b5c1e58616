"""Draw a synthetic subject: demographics, spine dimensions and muscle sizes.

All lengths in mm, angles in degrees, areas in mm2. Typical values follow the
ranges quoted in lumbarqi/reporting/reference_ranges.py and ``../shared/data/README.md`` (disc heights about
8 mm at L1/L2 rising to 11-14 mm at L4/L5; multifidus 5-10 cm2 per side at
L4/L5; erector spinae 15-20 cm2 per side at L3/L4) and textbook lumbar
vertebral dimensions (body height 24-29 mm, depth 30-38 mm, width 40-52 mm).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lumbarqi.labels import DISCS, MUSCLES, SIDES, VERTEBRAE

# Per vertebra T10..L5 (cranial to caudal): height, AP depth, width (mm, male adult),
# wedge (deg, positive = anteriorly taller).
_VERTEBRA_TABLE = {
    "T10": (21.0, 28.0, 36.0, -4.0),
    "T11": (22.0, 29.0, 38.0, -4.0),
    "T12": (23.5, 30.5, 40.0, -3.0),
    "L1": (25.0, 32.0, 42.0, -2.0),
    "L2": (26.0, 33.0, 44.0, -1.0),
    "L3": (26.5, 34.0, 46.0, 0.0),
    "L4": (26.5, 35.0, 48.0, 1.5),
    "L5": (26.0, 36.0, 51.0, 4.0),
}
# Per disc: mean height (mm) and wedge (deg, positive = anteriorly taller).
_DISC_TABLE = {
    "T10/T11": (5.0, 0.0),
    "T11/T12": (5.5, 1.0),
    "T12/L1": (6.5, 2.0),
    "L1/L2": (8.0, 4.0),
    "L2/L3": (9.5, 6.0),
    "L3/L4": (10.5, 8.0),
    "L4/L5": (11.5, 10.0),
    "L5/S1": (11.0, 13.0),
}
# Muscle CSA per side (mm2, male adult) at each disc level T12/L1..L5/S1.
_MUSCLE_CSA = {
    "psoas": (150, 450, 850, 1300, 1650, 1550),
    "quadratus_lumborum": (200, 350, 500, 600, 420, 0),
    "erector_spinae": (1450, 1700, 1850, 1750, 1400, 800),
    "multifidus": (150, 250, 380, 520, 720, 880),
}
MUSCLE_LEVELS = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")


@dataclass
class Segment:
    """One vertebra or disc as drawn: mid-sagittal dimensions (mm) and wedge."""

    name: str
    kind: str  # "vertebra" | "disc" | "sacrum"
    depth_mm: float
    width_mm: float
    height_anterior_mm: float  # at the anterior edge
    height_posterior_mm: float  # at the posterior edge
    degenerated: bool = False

    @property
    def height_mid_mm(self) -> float:
        return 0.5 * (self.height_anterior_mm + self.height_posterior_mm)

    @property
    def wedge_deg(self) -> float:
        """Angle between the two endplates, positive when anteriorly taller."""
        k = (self.height_anterior_mm - self.height_posterior_mm) / (2 * self.depth_mm)
        return float(np.degrees(2 * np.arctan(k)))


@dataclass
class Subject:
    """Everything random about one synthetic subject."""

    seed: int
    sex: str  # "M" | "F"
    age_years: int
    height_m: float
    mass_kg: float
    segments: list[Segment]  # T10, T10/T11, ..., L5, L5/S1 then S1..S5, cranial to caudal
    sacral_slope_deg: float
    muscle_csa_mm2: dict[tuple[str, str], tuple[float, ...]]  # (muscle, side) -> per MUSCLE_LEVELS
    fat_fraction: dict[tuple[str, str], float]  # (muscle, side) -> fraction of area that is fat
    subcutaneous_fat_mm: float
    abdominal_depth_mm: float  # vertebral body centre to anterior skin
    body_half_width_mm: float
    lateral_offset_mm: float  # spine midline, patient x
    extras: dict = field(default_factory=dict)

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)


def _wedge_heights(mean_h: float, depth: float, wedge_deg: float) -> tuple[float, float]:
    """Anterior and posterior edge heights giving ``mean_h`` and ``wedge_deg``."""
    diff = 2 * depth * np.tan(np.radians(wedge_deg) / 2)
    return mean_h + diff / 2, mean_h - diff / 2


def draw_subject(
    seed: int,
    degeneration: float = 0.5,
    fat_infiltration: float = 0.5,
    sex: str | None = None,
    age: int | None = None,
) -> Subject:
    """Draw a subject from ``seed``.

    degeneration, fat_infiltration: 0 (none) .. 1 (severe) scale on how likely
    and how marked disc degeneration and muscle fat are; age raises both.
    """
    rng = np.random.default_rng(seed)
    sex = sex or ("M" if rng.random() < 0.5 else "F")
    age = int(age if age is not None else rng.integers(22, 81))
    height = float(np.clip(rng.normal(1.77 if sex == "M" else 1.64, 0.07), 1.45, 2.05))
    bmi = float(np.clip(rng.normal(26.0, 4.0), 17.5, 42.0))
    mass = bmi * height**2
    size = (height / (1.77 if sex == "M" else 1.64)) ** 0.5 * (1.0 if sex == "M" else 0.92)

    segments: list[Segment] = []
    for i, name in enumerate(VERTEBRAE[:-1]):
        h, d, w, wedge = _VERTEBRA_TABLE[name]
        jitter = rng.normal(1.0, 0.04, size=3)
        h, d, w = h * size * jitter[0], d * size * jitter[1], w * size * jitter[2]
        ha, hp = _wedge_heights(h, d, wedge + rng.normal(0, 1.2))
        segments.append(Segment(name, "vertebra", d, w, ha, hp))
        disc = DISCS[i]
        dh, dwedge = _DISC_TABLE[disc]
        level_risk = 0.15 + 0.1 * max(0, i - 3)
        degenerated = bool(rng.random() < degeneration * level_risk * (0.5 + age / 60))
        dh = dh * size * rng.normal(1.0, 0.07)
        if degenerated:
            dh *= rng.uniform(0.55, 0.8)
        next_depth = (_VERTEBRA_TABLE.get(VERTEBRAE[i + 1], (0, 38.0))[1]) * size
        ddepth = 0.5 * (d + next_depth) + rng.uniform(0.5, 2.0)
        ha, hp = _wedge_heights(dh, ddepth, dwedge * rng.normal(1.0, 0.15))
        segments.append(Segment(disc, "disc", ddepth, w * 1.02, ha, hp, degenerated))
    s1_depth = 38.0 * size * rng.normal(1.0, 0.04)
    for j, (h, frac, wedge) in enumerate(
        [(30.0, 1.0, -4.0), (24.0, 0.82, -10.0), (20.0, 0.68, -12.0), (16.0, 0.55, -12.0), (13.0, 0.45, -10.0)]
    ):
        depth = s1_depth * frac
        ha, hp = _wedge_heights(h * size, depth, wedge)
        segments.append(Segment(f"S{j + 1}", "sacrum", depth, 50.0 * size * (1.6 - 0.25 * j), ha, hp))

    muscle_size = size * (1.0 if sex == "M" else 0.72) * float(np.clip(rng.normal(1.0, 0.12), 0.7, 1.35))
    muscle_size *= float(np.clip(1.15 - 0.004 * age, 0.75, 1.1))
    muscle_csa: dict[tuple[str, str], tuple[float, ...]] = {}
    fat_fraction: dict[tuple[str, str], float] = {}
    for m in MUSCLES:
        base = np.asarray(_MUSCLE_CSA[m], float) * muscle_size * rng.normal(1.0, 0.08)
        for s in SIDES:
            side = base * rng.normal(1.0, 0.04) * rng.normal(1.0, 0.03, size=base.size)
            muscle_csa[(m, s)] = tuple(float(v) for v in side)
            mean_fat = fat_infiltration * (0.02 + 0.003 * max(0, age - 25)) * (1.5 if m == "multifidus" else 1.0)
            fat_fraction[(m, s)] = float(np.clip(rng.normal(mean_fat, 0.03), 0.0, 0.45))

    sc_fat = float(np.clip(4.0 + (bmi - 18) * 2.2 + rng.normal(0, 4) + (5 if sex == "F" else 0), 4, 70))
    return Subject(
        seed=seed,
        sex=sex,
        age_years=age,
        height_m=round(height, 2),
        mass_kg=round(mass, 1),
        segments=segments,
        sacral_slope_deg=float(rng.uniform(30, 48)),
        muscle_csa_mm2=muscle_csa,
        fat_fraction=fat_fraction,
        subcutaneous_fat_mm=sc_fat,
        abdominal_depth_mm=float(90 + 3.5 * (bmi - 18) + rng.normal(0, 8)) * size,
        body_half_width_mm=float(135 + 3.0 * (bmi - 18) + rng.normal(0, 8)) * size,
        lateral_offset_mm=float(rng.normal(0, 2)),
    )
