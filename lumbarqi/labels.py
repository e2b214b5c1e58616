"""Level names, structure names and label numbers: the one place that owns them.

Label numbers are shared by the phantom's truth maps, the networks' outputs and
the morphometry. Levels are counted from the sacrum upward; the vertebra list
runs cranial to caudal.
"""
from __future__ import annotations

import re

#: Vertebrae the phantom draws, cranial to caudal. "S1" stands for the sacrum.
VERTEBRAE: tuple[str, ...] = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
#: Discs between consecutive vertebrae, cranial to caudal.
DISCS: tuple[str, ...] = tuple(f"{a}/{b}" for a, b in zip(VERTEBRAE[:-1], VERTEBRAE[1:], strict=False))
#: Levels the product reports (docs/results.md): vertebrae T12..L5 (+S1), discs T12/L1..L5/S1.
REPORTED_VERTEBRAE: tuple[str, ...] = ("T12", "L1", "L2", "L3", "L4", "L5")
REPORTED_DISCS: tuple[str, ...] = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")

MUSCLES: tuple[str, ...] = ("erector_spinae", "multifidus", "psoas", "quadratus_lumborum")
SIDES: tuple[str, ...] = ("left", "right")

#: Truth/label-map numbers (uint8).
VERTEBRA_LABEL: dict[str, int] = {name: i + 1 for i, name in enumerate(VERTEBRAE)}  # 1..9
DISC_LABEL: dict[str, int] = {name: i + 11 for i, name in enumerate(DISCS)}  # 11..18
CANAL_LABEL = 20
MUSCLE_LABEL: dict[tuple[str, str], int] = {
    (m, s): 21 + 2 * i + j for i, m in enumerate(MUSCLES) for j, s in enumerate(SIDES)
}  # 21..28: es L/R, multifidus L/R, psoas L/R, QL L/R
POSTERIOR_ELEMENTS_LABEL = 30


def label_names() -> dict[int, str]:
    """Label number -> human name, in the style of ``../shared/data`` meta.json."""
    names: dict[int, str] = {}
    names.update({v: k for k, v in VERTEBRA_LABEL.items()})
    names.update({v: k for k, v in DISC_LABEL.items()})
    names[CANAL_LABEL] = "spinal canal"
    for (m, s), v in MUSCLE_LABEL.items():
        names[v] = f"{m.replace('_', ' ')}, {s}"
    names[POSTERIOR_ELEMENTS_LABEL] = "posterior elements"
    return names


_LEVEL_RE = re.compile(r"^(T1[0-2]|T[1-9]|L[1-6]|S[1-5])$")
_DISC_RE = re.compile(r"^(T1[0-2]|T[1-9]|L[1-6]|S1)/(T1[0-2]|L[1-6]|S1)$")


def structure_of(name: str) -> tuple[str, str | None, str | None]:
    """Fold a label name into (structure, level, side).

    ``"L4"`` -> ("vertebral_body", "L4", None); ``"L4/L5"`` -> ("disc", "L4/L5", None);
    ``"erector spinae, left"`` -> ("erector_spinae", None, "left").
    Unknown names come back as (snake_case name, None, None).
    """
    text = name.strip()
    if _LEVEL_RE.match(text):
        return "vertebral_body", text, None
    if _DISC_RE.match(text):
        return "disc", text, None
    side = None
    if "," in text:
        text, side_text = (t.strip() for t in text.rsplit(",", 1))
        side = side_text.lower() if side_text.lower() in SIDES else None
    base = text.lower().replace(" ", "_")
    if base == "psoas_major":
        base = "psoas"
    return base, None, side
