"""The report's notes in plain words: values outside the published ranges, then the quality flags.

Flags of one kind are grouped (one line for "T12, L1, L2 reach the edge of the sagittal
slices" rather than three), each under a short heading a reader understands without
knowing lumbarqi's flag codes.
"""
from __future__ import annotations

import re

from lumbarqi import labels as lb
from lumbarqi.reporting import codes
from lumbarqi.reporting import reference_ranges as refs
from lumbarqi.reporting.figures import cm2

#: Plain heading per flag code (codes not listed get their code in words).
FLAG_HEADINGS: dict[str, str] = {
    "lateral_coverage": "Near the edge of the sagittal slices",
    "in_plane_edge": "Partly outside the image",
    "lateral_edge": "Partly outside the image",
    "not_fully_in_fov": "Partly outside the image",
    "axial_not_reaching_level": "No axial slice at this level",
    "csa_oblique_estimate": "Muscle area from an oblique slice",
    "level_missing": "Level not found",
    "disc_missing": "Disc not found",
    "muscle_missing": "Muscle not found",
    "transitional_anatomy": "Possible transitional vertebra: check the level names",
    "sacrum_not_in_fov": "Sacrum not seen: level names are less certain",
    "sacrum_partial": "Sacrum only partly seen",
    "bodies_split": "Vertebral bodies split or merged",
    "level_above_t10": "Levels above T10 not named",
    "out_of_range": "Implausible value, not reported",
    "fat_calibration": "Fat index calibration",
    "not_measurable": "Not measured",
    "uneven_slice_spacing": "Input images: uneven slice spacing",
    "duplicate_slices": "Input images: duplicate slices",
    "missing_slices": "Input images: missing slices",
    "unreadable_images": "Input images: unreadable files",
    "unsupported_images": "Input images: unsupported images",
    "other_studies_ignored": "Input: other studies ignored",
    "low_confidence_segmentation": "Segmentation uncertain",
}


def _heading(code: str) -> str:
    if code in FLAG_HEADINGS:
        return FLAG_HEADINGS[code]
    if code.startswith("biomech_"):
        return "Load model: " + code[len("biomech_"):].replace("_", " ")
    words = code.replace("_", " ")
    return words[:1].upper() + words[1:]


def plain_flags(flags: list[dict]) -> list[str]:
    """One sentence per kind of flag, levels grouped, in the order the flags first appear."""
    groups: dict[tuple[str, str], list[str]] = {}
    for f in flags:
        code = str(f.get("code") or "note")
        level = f.get("level") or ""
        message = str(f.get("message") or "").strip()
        if level and message.startswith(level):
            message = message[len(level):].lstrip(" :,")
        if level:  # the same sentence about another level groups with this one
            message = message.replace(level, "{L}")
        key = (code, message)
        groups.setdefault(key, [])
        if level and level not in groups[key]:
            groups[key].append(level)
    out = []
    for (code, message), levels in groups.items():
        where = f" ({', '.join(levels)})" if levels else ""
        if len(levels) == 1:
            message = message.replace("{L}", levels[0])
        else:
            message = message.replace("the {L}", "each").replace("{L}", "each level")
        text = f"{_heading(code)}{where}"
        if message:
            text += ": " + (message if message[:2].isupper() else message[0].lower() + message[1:])
        out.append(re.sub(r"\s+", " ", text).rstrip(".") + ".")
    return out


def flag_headings(flags: list[dict]) -> list[str]:
    """The plain headings of the kinds of flag present, each once, in order of first appearance."""
    out: list[str] = []
    for f in flags:
        h = _heading(str(f.get("code") or "note"))
        if h not in out:
            out.append(h)
    return out


def out_of_range(results: dict) -> list[str]:
    """Sentences for every measurement outside its published range (see reference_ranges)."""
    out: list[str] = []
    for lvl, d in (results.get("discs") or {}).items():
        r, v = refs.disc_height_range(lvl), d.get("height_middle_mm")
        if r and isinstance(v, (int, float)) and r.assess(v):
            out.append(f"{lvl} disc: middle height {v:.2f} mm is {'below' if r.assess(v) == 'low' else 'above'} "
                       f"the reference range {r.text()} mm [{r.ref}].")
    for lvl, v in (results.get("vertebrae") or {}).items():
        loss = refs.vertebral_height_loss(v)
        if loss is not None and loss >= refs.VERTEBRAL_HEIGHT_LOSS_GRADE1:
            out.append(f"{lvl} vertebral body: its lowest height is {100 * loss:.0f} % below its highest "
                       f"(20 % or more: a deformity of grade 1 or worse [{refs.VERTEBRAL_REF}]).")
    for lvl in lb.REPORTED_DISCS:
        per_muscle = (results.get("muscles") or {}).get(lvl) or {}
        for m, sides in per_muscle.items():
            name = codes.MUSCLE_NAMES.get(m, m)
            r = refs.csa_range(m, lvl)
            values = {s: cm2(sides.get(s) or {}) for s in ("left", "right")}
            for side, v in values.items():
                if r and v is not None and r.assess(v):
                    out.append(f"{name.capitalize()} at {lvl}, {side}: {v:.2f} cm2 is "
                               f"{'below' if r.assess(v) == 'low' else 'above'} the reference {r.text()} cm2 [{r.ref}].")
            left, right = values["left"], values["right"]
            if m == "multifidus" and left and right:
                diff = abs(left - right) / max(left, right)
                if diff > refs.MULTIFIDUS_ASYMMETRY:
                    smaller = "left" if left < right else "right"
                    out.append(f"Multifidus at {lvl}: the {smaller} side is {100 * diff:.0f} % smaller "
                               f"(healthy sides differ by less than 10 % [{refs.ASYMMETRY_REF}]).")
    return out


def notes(results: dict) -> list[str]:
    """Every note of the report: values outside the reference ranges first, then the grouped flags."""
    return out_of_range(results) + plain_flags(results.get("flags") or [])
