"""Pick the sagittal and every axial stack of a lumbar study, saying why.

Each selection names the weightings it accepts in order of preference
(``"weighting": ["T1", "T2"]``): T1 when the study has one, else the sagittal
or axial T2 (the routine sagittal T1 / sagittal T2 / axial T2 protocol). A
substitution is reported on the :class:`Choice` (``weighting``, ``rank``) and
becomes a flag in results.json. The result keys stay ``sagittal_t1`` and
``axial_t1`` (the roles); ``weighting`` says which contrast fills them.

Decided by what the images are: orientation from ImageOrientationPatient,
weighting from TR/TE/TI and the sequence, slice count and extent, ImageType.
The series description is only a hint (and a reason to refuse localizers,
reformats and fat-suppressed series). Rules live in ``selection_rules.json``;
a site passes its own with ``--selection-rules``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from lumbarqi.dicom.scan import SeriesHeaders, StudyHeaders
from lumbarqi.dicom.stacks import Stack, split_stacks
from lumbarqi.errors import LumbarqiError


def load_rules(path: Path | None = None) -> dict:
    """The shipped rules, or a site's file."""
    try:
        text = Path(path).read_text() if path else resources.files("lumbarqi.dicom").joinpath("selection_rules.json").read_text()
        rules = json.loads(text)
        for key in ("reject", "weighting", "selections"):
            rules[key]
    except (OSError, ValueError, KeyError) as exc:
        raise LumbarqiError(f"selection rules {path}: unreadable or incomplete ({type(exc).__name__}: {exc})") from None
    return rules


@dataclass
class Choice:
    """A decision about one series (and, when chosen, which of its stacks)."""

    series: SeriesHeaders
    role: str  # sagittal_t1 | axial_t1 | rejected
    reason: str
    stacks: list[Stack] = field(default_factory=list)
    score: float = 0.0
    weighting: str = ""  # T1, T2, ... as classified from the header
    rank: int = 0  # 0: the role's preferred weighting; 1: its first substitute, ...

    def as_dict(self) -> dict:
        out = {"series_instance_uid": self.series.series_instance_uid, "description": self.series.description, "reason": self.reason}
        if self.role != "rejected":
            out["weighting"] = self.weighting
        return out


def weightings(conditions: dict) -> list[str]:
    """The weightings a selection accepts, most preferred first (a plain string is one)."""
    w = conditions["weighting"]
    return [w] if isinstance(w, str) else list(w)


@dataclass
class Selection:
    sagittal_t1: Choice | None
    axial_t1: list[Choice]
    rejected: list[Choice]
    #: role -> runners-up meeting its conditions, best first (used when a chosen series' pixels cannot be read)
    alternatives: dict[str, list[Choice]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "sagittal_t1": self.sagittal_t1.as_dict() if self.sagittal_t1 else None,
            "axial_t1": [c.as_dict() for c in self.axial_t1],
            "rejected": [c.as_dict() for c in self.rejected],
        }


def _num(ds: Dataset, name: str) -> float | None:
    try:
        value = ds.get(name)
        out = float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return out if out is None or np.isfinite(out) else None


def _joined(ds: Dataset, name: str) -> str:
    """A multi-valued code string as 'A\\B' (whatever type the header holds)."""
    value = ds.get(name)
    if value is None:
        return ""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return str(value)
    return "\\".join(str(v) for v in value)


def weighting(ds: Dataset, rules: dict) -> str:
    """T1, T2, PD, STIR, FLAIR, GRE or unknown, from timing first, description second."""
    w = rules["weighting"]
    tr, te, ti = _num(ds, "RepetitionTime"), _num(ds, "EchoTime"), _num(ds, "InversionTime")
    seq = _joined(ds, "ScanningSequence")
    if "IR" in seq.upper() or ti:
        if ti is not None and w["STIR"]["TI_min_ms"] <= ti <= w["STIR"]["TI_max_ms"]:
            return "STIR"
        if ti is not None and ti >= w["FLAIR"]["TI_min_ms"] and (te or 0) > 60:
            return "FLAIR"
    if tr is not None and te is not None:
        if "GR" in seq.upper() and "SE" not in seq.upper() and tr < 50:
            return "GRE"
        if tr <= w["T1"]["TR_max_ms"] and te <= w["T1"]["TE_max_ms"]:
            return "T1"
        if tr >= w["T2"]["TR_min_ms"] and te >= w["T2"]["TE_min_ms"]:
            return "T2"
        if tr >= w["PD"]["TR_min_ms"] and te <= w["PD"]["TE_max_ms"]:
            return "PD"
    desc = str(ds.get("SeriesDescription", ""))
    for name, pattern in rules.get("description_hints", {}).items():
        if re.search(pattern, desc):
            return name
    return "unknown"


def orientation(stack: Stack) -> tuple[str, float]:
    """('sagittal' | 'coronal' | 'axial', obliquity in degrees from that plane)."""
    n = np.abs(stack.geometry.normal)
    axis = int(np.argmax(n))
    return ("sagittal", "coronal", "axial")[axis], float(np.degrees(np.arccos(min(1.0, n[axis]))))


def _extent(stack: Stack) -> float:
    g = stack.geometry
    return float(min(g.rows * g.row_spacing_mm, g.cols * g.col_spacing_mm))


#: DICOM code 113040 "Lossy Compression": a derivation that leaves the acquisition as it was (PS3.16 CID 7203).
LOSSY_COMPRESSION_CODE = "113040"


def image_type(ds: Dataset) -> str:
    """ImageType as 'A\\B', with DERIVED read as ORIGINAL when the image's only derivation is lossy
    compression (DCMTK's and many archives' lossy re-encoding marks it DERIVED with Derivation Code
    113040): a compressed acquisition is still the acquisition, a reformat is not."""
    value = _joined(ds, "ImageType")
    if not value.upper().startswith("DERIVED") or str(ds.get("LossyImageCompression", "")).strip() != "01":
        return value
    try:
        codes = [str(item.get("CodeValue", "")) for item in ds.get("DerivationCodeSequence") or []]
    except Exception:  # an unreadable sequence: not shown to be compression only
        return value
    if codes and all(c == LOSSY_COMPRESSION_CODE for c in codes):
        return "ORIGINAL" + value[len("DERIVED"):]
    return value


def _rejection(series: SeriesHeaders, stacks: list[Stack], rules: dict) -> str | None:
    ds = series.first
    r = rules["reject"]
    types = image_type(ds)
    desc = series.description
    if re.search(r["ImageType"], types):
        return f"ImageType {types} (localizer, derived or reformatted)"
    if re.search(r["SeriesDescription"], desc):
        return "description names a localizer, calibration or reformat"
    if len({orientation(s)[0] for s in stacks}) > 1:
        return "mixed orientations (multi-plane localizer)"
    options = _joined(ds, "ScanOptions")
    if re.search(r["ScanOptions"], options) or re.search(r["fat_suppressed_description"], desc):
        return "fat-suppressed (fat index and contrast unusable)"
    return None


def classify(series: SeriesHeaders, rules: dict) -> Choice:
    """Decide one series' role against the rules; reason is one short line."""
    stacks = split_stacks(series.instances)
    if not stacks:
        return Choice(series, "rejected", "no usable image geometry")
    reason = _rejection(series, stacks, rules)
    if reason:
        return Choice(series, "rejected", reason)
    ds = series.first
    wt = weighting(ds, rules)
    for sel in rules["selections"]:
        c = sel["conditions"]
        if "Modality" in c and not re.search(c["Modality"], str(ds.get("Modality", ""))):
            continue
        fitting = [s for s in stacks if not _misfit(s, c)]
        if not fitting or wt not in weightings(c):
            continue
        plane = c["orientation"]
        gone = sum(len(s.missing_slices) for s in fitting)
        why = (f"{plane} {wt} ({_timing(ds)}), {sum(s.geometry.n_slices for s in fitting)} slices"
               f"{f' ({gone} missing)' if gone else ''} in {len(fitting)} stack(s)")
        score = _score(series, fitting, rules, wt)
        return Choice(series, sel["name"], why, fitting, score, wt, weightings(c).index(wt))
    plane = orientation(stacks[0])[0]
    for sel in rules["selections"]:  # the right kind of series, but no stack meets the conditions: say why
        c = sel["conditions"]
        if wt not in weightings(c) or plane != c["orientation"]:
            continue
        if "Modality" in c and not re.search(c["Modality"], str(ds.get("Modality", ""))):
            return Choice(series, "rejected", f"{plane} {wt} but Modality {str(ds.get('Modality', ''))!r}")
        misfits = sorted({m for m in (_misfit(s, c) for s in stacks) if m})
        if misfits:
            gaps = " (slices missing or unevenly spaced)" if len(stacks) > 1 and any("slices" in m for m in misfits) else ""
            return Choice(series, "rejected", f"{plane} {wt} but {'; '.join(misfits)}{gaps}")
    return Choice(series, "rejected", f"{plane} {wt}: not a series lumbarqi uses")


def _timing(ds: Dataset) -> str:
    parts = [f"{name} {value:g}" for name, value in (("TR", _num(ds, "RepetitionTime")), ("TE", _num(ds, "EchoTime"))) if value is not None]
    return ", ".join(parts) + " ms" if parts else "no TR/TE"


def _misfit(stack: Stack, c: dict) -> str:
    """Why ``stack`` does not meet selection conditions ``c`` ('' when it does)."""
    plane, oblique = orientation(stack)
    if plane != c["orientation"]:
        return f"{plane}, not {c['orientation']}"
    if oblique > c["max_obliquity_deg"]:
        return f"{oblique:.0f} deg oblique (limit {c['max_obliquity_deg']})"
    if stack.shear_deg > 2.0:
        return f"sheared stack (slices drift sideways, {stack.shear_deg:.0f} deg gantry tilt)"
    if stack.geometry.n_slices < c["min_slices"]:
        return f"only {stack.geometry.n_slices} evenly spaced slices (need {c['min_slices']})"
    if _extent(stack) < c["min_extent_mm"]:
        return f"field of view {_extent(stack):.0f} mm (need {c['min_extent_mm']})"
    return ""


def _score(series: SeriesHeaders, stacks: list[Stack], rules: dict, wt: str) -> float:
    """Higher is better: coverage, slice count near 15, hint in description, no contrast."""
    g = stacks[0].geometry
    coverage = g.n_slices * g.slice_spacing_mm
    score = min(coverage, 60.0) / 60.0 + min(_extent(stacks[0]), 300.0) / 300.0 - abs(g.n_slices - 15) / 30.0
    if re.search(rules.get("description_hints", {}).get(wt, "$^"), series.description):
        score += 0.5
    if re.search(rules["reject"]["contrast_description"], series.description) or series.first.get("ContrastBolusAgent"):
        score -= 2.0
    score += 0.01 * (_num(series.first, "SeriesNumber") or 0.0) / 100.0  # later repeat wins a tie
    return score


def select_series(study: StudyHeaders, rules: dict) -> Selection:
    """Best sagittal and all axial series of the most preferred weighting present; the rest rejected with a reason."""
    choices = [classify(s, rules) for s in study.series.values()]
    rejected = [c for c in choices if c.role == "rejected"]
    sagittal = sorted((c for c in choices if c.role == "sagittal_t1"), key=lambda c: (c.rank, -c.score))
    for extra in sagittal[1:]:
        better = "another sagittal series scored higher" if extra.rank == sagittal[0].rank else f"a sagittal {sagittal[0].weighting} is preferred"
        rejected.append(Choice(extra.series, "rejected", f"{better} ({extra.reason})"))
    axial = [c for c in choices if c.role == "axial_t1"]
    less_preferred: list[Choice] = []  # axial series of a less preferred weighting: candidates if the chosen cannot be read
    if axial:
        best_rank = min(c.rank for c in axial)
        preferred = next(c.weighting for c in axial if c.rank == best_rank)
        rejected += [Choice(c.series, "rejected", f"an axial {preferred} is preferred ({c.reason})") for c in axial if c.rank != best_rank]
        less_preferred = [c for c in axial if c.rank != best_rank]
        axial = [c for c in axial if c.rank == best_rank]
    contrast = rules["reject"]["contrast_description"]
    plain = [c for c in axial if not re.search(contrast, c.series.description)]
    enhanced: list[Choice] = []
    if plain and len(plain) < len(axial):
        enhanced = [c for c in axial if c not in plain]
        rejected += [Choice(c.series, "rejected", f"contrast-enhanced axial {c.weighting}; a plain one exists") for c in enhanced]
        axial = plain
    axial.sort(key=lambda c: _num(c.series.first, "SeriesNumber") or 0.0)
    return Selection(sagittal[0] if sagittal else None, axial, rejected,
                     {"sagittal_t1": sagittal[1:], "axial_t1": enhanced + sorted(less_preferred, key=lambda c: (c.rank, -c.score))})


def substitutions(selection: Selection, rules: dict) -> list[tuple[str, str, str]]:
    """(role, preferred weighting, weighting used) for every role filled by a substitute contrast."""
    out = []
    by_name = {sel["name"]: weightings(sel["conditions"]) for sel in rules["selections"]}
    for role, chosen in (("sagittal_t1", [selection.sagittal_t1] if selection.sagittal_t1 else []), ("axial_t1", selection.axial_t1)):
        if chosen and chosen[0].rank > 0:
            out.append((role, by_name[role][0], chosen[0].weighting))
    return out
