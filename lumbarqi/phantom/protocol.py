"""Plan a clinical lumbar MRI study: which series, with what geometry and timing.

A study has a sagittal T1 TSE, axial T1 TSE (one straight stack from L3 to S1,
or 2-4 blocks tilted parallel to the lower discs, as one series or one series
per block) and distractors a selector must refuse: a 3-plane localizer,
sagittal T2, sagittal STIR and axial T2. Series descriptions follow the
naming habits of the three large vendors, drawn at random.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lumbarqi.geometry import StackGeometry, plane_stack
from lumbarqi.phantom.anatomy import PhantomModel

VENDORS = {
    "SIEMENS": {
        "model": "MAGNETOM Skyra", "sag_t1": "t1_tse_sag", "ax_t1": "t1_tse_tra", "sag_t2": "t2_tse_sag",
        "sag_stir": "t2_tirm_sag", "ax_t2": "t2_tse_tra", "localizer": "localizer",
    },
    "GE MEDICAL SYSTEMS": {
        "model": "SIGNA Artist", "sag_t1": "SAG T1 FSE", "ax_t1": "AX T1 FSE", "sag_t2": "SAG T2 FRFSE",
        "sag_stir": "SAG STIR", "ax_t2": "AX T2 FRFSE", "localizer": "3-PL LOC",
    },
    "Philips Medical Systems": {
        "model": "Ingenia", "sag_t1": "T1W_TSE_SAG", "ax_t1": "T1W_TSE_TRA", "sag_t2": "T2W_TSE_SAG",
        "sag_stir": "STIR_SAG", "ax_t2": "T2W_TSE_TRA", "localizer": "Survey",
    },
}

PRESETS: dict[str, dict[str, Any]] = {
    # sagittal matrix range, axial matrix range, sub-planes through each slice, distractors
    "small": {"sag_matrix": (160, 192), "ax_matrix": (128, 160), "max_pixel_mm": 1.8, "sub_planes": 2, "max_blocks": 2, "distractors": ("localizer", "sag_t2", "ax_t2")},
    "clinical": {"sag_matrix": (320, 448), "ax_matrix": (256, 320), "max_pixel_mm": 0.9, "sub_planes": 3, "max_blocks": 4, "distractors": ("localizer", "sag_t2", "sag_stir", "ax_t2")},
}


@dataclass
class SeriesPlan:
    """One series to acquire: role, contrast, timing and slice stacks."""

    key: str  # sag_t1 | ax_t1 | sag_t2 | sag_stir | ax_t2 | localizer
    number: int
    description: str
    contrast: str  # T1 | T2 | STIR | GRE
    stacks: list[StackGeometry]
    timing: dict = field(default_factory=dict)  # TR, TE, TI (ms), ETL, flip (deg)
    role: str = "rejected"  # sagittal_t1 | axial_t1 | rejected
    reason: str = ""

    @property
    def n_images(self) -> int:
        return sum(g.n_slices for g in self.stacks)


def _timing(contrast: str, rng: np.random.Generator) -> dict:
    if contrast == "T1":
        return {"TR": float(rng.integers(400, 701)), "TE": float(rng.integers(8, 16)), "ETL": int(rng.integers(3, 6)), "flip": 90.0, "seq": "SE", "variant": "SK\\SP", "options": ""}
    if contrast == "T2":
        return {"TR": float(rng.integers(2500, 4501)), "TE": float(rng.integers(80, 121)), "ETL": int(rng.integers(15, 26)), "flip": 90.0, "seq": "SE", "variant": "SK\\SP", "options": ""}
    if contrast == "STIR":
        return {"TR": float(rng.integers(3500, 5001)), "TE": float(rng.integers(30, 71)), "TI": float(rng.integers(150, 181)), "ETL": int(rng.integers(10, 18)), "flip": 150.0, "seq": "SE\\IR", "variant": "SK\\SP\\MP", "options": "IR"}
    return {"TR": 8.6, "TE": 4.0, "ETL": 1, "flip": 20.0, "seq": "GR", "variant": "SP", "options": ""}


def _rot_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def plan_study(model: PhantomModel, rng: np.random.Generator, preset: str = "clinical", axial: str = "random",
               overrides: dict | None = None) -> tuple[str, list[SeriesPlan]]:
    """(vendor, series plans) for one study of ``model``.

    overrides: optional ``sag_slices``, ``sag_matrix``, ``ax_matrix`` (ints) replacing the drawn values
    (for benchmarks of how time grows with slice count and matrix size).
    """
    cfg = PRESETS[preset]
    overrides = overrides or {}
    vendor = list(VENDORS)[int(rng.integers(0, len(VENDORS)))]
    names = VENDORS[vendor]
    pos = {p.seg.name: p for p in model.placed}
    x0 = model.subject.lateral_offset_mm
    plans: list[SeriesPlan] = []

    # Sagittal: T11 to the sacrum, a few degrees of obliquity.
    top, bottom = pos["T11"].centre, pos["S2"].centre
    centre = np.array([x0 + rng.normal(0, 1.5), 0.5 * (top[1] + pos['L5'].centre[1]) + 8 + rng.normal(0, 4), 0.5 * (top[2] + bottom[2]) + rng.normal(0, 5)])
    tilt = _rot_z(rng.normal(0, 2.5)) @ _rot_x(rng.normal(0, 2.0))
    thick = float(rng.choice([3.0, 3.5, 4.0, 4.5]))
    n_sag = int(rng.integers(11, 18)) if preset == "clinical" else 11
    matrix = int(rng.integers(*cfg["sag_matrix"]) // 16 * 16)
    n_sag, matrix = int(overrides.get("sag_slices", n_sag)), int(overrides.get("sag_matrix", matrix))
    fov = float(np.clip(rng.uniform(280, 320), matrix * 0.4, matrix * cfg["max_pixel_mm"]))
    sag = plane_stack(centre, tilt @ [0, 1, 0], tilt @ [0, 0, -1], (fov, fov), (matrix, matrix), n_sag, round(thick * 1.1, 2), thick)
    plans.append(SeriesPlan("sag_t1", 0, names["sag_t1"], "T1", [sag], _timing("T1", rng), "sagittal_t1", "sagittal T1"))

    # Axial T1: straight stack L3..S1, or blocks parallel to the lower discs.
    mode = axial if axial != "random" else ("straight" if rng.random() < 0.4 else "tilted")
    ax_matrix = int(overrides.get("ax_matrix", rng.integers(*cfg["ax_matrix"]) // 16 * 16))
    ax_fov = float(np.clip(rng.uniform(200, 260), ax_matrix * 0.6, ax_matrix * max(1.0, cfg["max_pixel_mm"])))
    ax_thick = float(rng.choice([3.0, 4.0, 5.0]))
    row = np.array([1.0, 0.0, 0.0])
    stacks: list[StackGeometry] = []
    if mode == "straight":
        z_top, z_bot = pos["L3"].centre[2], pos["S1"].centre[2] + 8
        spacing = ax_thick * 1.1
        n = int((z_top - z_bot) / spacing) + 1 if preset == "clinical" else min(int((z_top - z_bot) / spacing) + 1, 12)
        c = np.array([x0, pos["L4"].centre[1] + 30, 0.5 * (z_top + z_bot)])
        stacks.append(plane_stack(c, row, [0, 1, 0], (ax_fov, ax_fov), (ax_matrix, ax_matrix), n, spacing, ax_thick))
    else:
        n_blocks = int(rng.integers(2, cfg["max_blocks"] + 1))
        for disc in ("L5/S1", "L4/L5", "L3/L4", "L2/L3")[:n_blocks]:
            p = pos[disc]
            normal = p.v
            col = np.cross(normal, row)
            posterior = np.array([0.0, 1.0, 0.0]) - normal[1] * normal  # in-plane, toward the back
            c = p.centre + 30 * posterior / np.linalg.norm(posterior) + normal * rng.normal(0, 0.8)
            n = int(rng.integers(4, 7)) if preset == "clinical" else 4
            stacks.append(plane_stack(c, row, col, (ax_fov, ax_fov), (ax_matrix, ax_matrix), n, ax_thick * 1.1, ax_thick))
    one_series = mode == "straight" or rng.random() < 0.5
    groups = [stacks] if one_series else [[s] for s in stacks]
    for g in groups:
        plans.append(SeriesPlan("ax_t1", 0, names["ax_t1"], "T1", g, _timing("T1", rng), "axial_t1", f"axial T1 ({mode})"))

    for key in cfg["distractors"]:
        if key == "localizer":
            c = pos["L3"].centre
            lm = 256 if preset == "clinical" else 128
            loc = [
                plane_stack(c, [0, 1, 0], [0, 0, -1], (400, 400), (lm, lm), 3, 10.0, 8.0),
                plane_stack(c, [1, 0, 0], [0, 0, -1], (400, 400), (lm, lm), 3, 10.0, 8.0),
                plane_stack(c, [1, 0, 0], [0, 1, 0], (400, 400), (lm, lm), 3, 10.0, 8.0),
            ]
            plans.append(SeriesPlan(key, 0, names[key], "GRE", loc, _timing("GRE", rng), "rejected", "localizer"))
        elif key in ("sag_t2", "sag_stir"):
            contrast = "T2" if key == "sag_t2" else "STIR"
            plans.append(SeriesPlan(key, 0, names[key], contrast, [sag], _timing(contrast, rng), "rejected", f"sagittal {contrast}"))
        elif key == "ax_t2":
            plans.append(SeriesPlan(key, 0, names[key], "T2", [stacks[0]], _timing("T2", rng), "rejected", "axial T2"))

    order = ["localizer", "sag_t2", "sag_t1", "sag_stir", "ax_t2", "ax_t1"]
    plans.sort(key=lambda p: order.index(p.key))
    for i, plan in enumerate(plans):
        plan.number = i + 1
    return vendor, plans
