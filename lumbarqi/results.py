"""results.json and results.csv: the product's machine-readable answer.

Keys follow docs/results.md (``schema_version`` 1.x); a value that could not be
measured is absent and explained in ``flags``. The CSV has one row per level,
structure, side and measure, for spreadsheets and R.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Literal, TypedDict, get_args

from lumbarqi import __version__

SCHEMA_VERSION = "1.0"

#: How far the OpenSim model is personalised (``--personalisation``; docs/results.md, "Loads").
Personalisation = Literal["anthropometric", "curvature", "muscle"]
PERSONALISATIONS: tuple[Personalisation, ...] = get_args(Personalisation)
#: A study's status in a cohort (cohort.json, cohort_status.json, the QC page).
CohortStatus = Literal["done", "partial", "no_input", "failed", "interrupted"]
CSV_COLUMNS = ("section", "task", "level", "structure", "side", "measure", "value", "unit")


def new_results(study_instance_uid: str) -> dict:
    """An empty results dictionary with every top-level key present."""
    return {
        "schema_version": SCHEMA_VERSION,
        "lumbarqi_version": __version__,
        "study_instance_uid": study_instance_uid,
        "series": {"sagittal_t1": None, "axial_t1": [], "rejected": []},
        "subject": {},
        "discs": {},
        "vertebrae": {},
        "muscles": {},
        "loads": {},
        "flags": [],
        "outputs": [],
    }


class Flag(TypedDict):
    """One entry of results.json ``flags`` (docs/results.md, "Flags"); the keys in this order."""

    code: str  # machine-readable: a documented code, or ``stage_failed:<stage>``, ``contrast_substitution:<plane>_<weighting>``
    level: str | None  # e.g. "L4/L5", "L3", "L1-S1"; None when not about one level
    structure: str | None  # e.g. "disc", "vertebral_body", a muscle or task name; None when not about one structure
    message: str  # one line for people


class SubjectSection(TypedDict):
    """results.json ``subject``: from the DICOM header, or the defaults (``source``: "default")."""

    height_m: float
    mass_kg: float
    sex: Literal["M", "F", "O"]
    source: Literal["dicom", "default"]


def make_flag(code: str, message: str, level: str | None = None, structure: str | None = None) -> Flag:
    """A results.json flag: every flag the product writes is made here."""
    return {"code": code, "level": level, "structure": structure, "message": message}


def flag(results: dict, code: str, message: str, level: str | None = None, structure: str | None = None) -> None:
    """Append a quality flag to ``results["flags"]`` (never raises)."""
    results["flags"].append(make_flag(code, message, level, structure))


def _clean(value):
    """Drop NaN/inf values (absent, not NaN) recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not (isinstance(v, float) and not math.isfinite(v))}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _unit(measure: str) -> str:
    for suffix, unit in (("_mm2", "mm2"), ("_cm2", "cm2"), ("_mm", "mm"), ("_deg", "deg"), ("_n", "N"), ("_bw", "body weight")):
        if measure.endswith(suffix):
            return unit
    return ""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _row(section: str, level: str, structure: str, measure: str, value, unit: str, task: str = "", side: str = "") -> dict:
    return {"section": section, "task": task, "level": level, "structure": structure, "side": side,
            "measure": measure, "value": value, "unit": unit}


def _spine_rows(results: dict) -> list[dict]:
    rows = [_row(section, level, structure, measure, value, _unit(measure))
            for section, structure in (("discs", "disc"), ("vertebrae", "vertebral_body"))
            for level, values in results.get(section, {}).items()
            for measure, value in values.items() if _number(value)]
    if "lordosis_deg" in results:
        rows.append(_row("spine", "L1-S1", "lumbar_spine", "lordosis_deg", results["lordosis_deg"], "deg"))
    return rows


def _muscle_rows(results: dict) -> list[dict]:
    rows = []
    for level, muscles in results.get("muscles", {}).items():
        for muscle, sides in muscles.items():
            for side, values in sides.items():
                for measure, value in values.items():
                    if isinstance(value, list):  # centroid: lateral, anterior (mm)
                        rows += [_row("muscles", level, muscle, f"{measure}_{axis}", v, "mm", side=side)
                                 for axis, v in zip(("lateral", "anterior"), value, strict=False)]
                    elif isinstance(value, (int, float)):
                        rows.append(_row("muscles", level, muscle, measure, value, _unit(measure), side=side))
    return rows


def _load_rows(results: dict) -> list[dict]:
    return [_row("loads", level, "", measure, value, _unit(measure), task=task)
            for task, levels in results.get("loads", {}).items()
            for level, values in levels.items()
            for measure, value in values.items() if isinstance(value, (int, float))]


def csv_rows(results: dict) -> list[dict]:
    """Flatten the measurements into rows of CSV_COLUMNS: discs, vertebrae, lordosis, muscles, loads."""
    return _spine_rows(results) + _muscle_rows(results) + _load_rows(results)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary name, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_results(out_dir: Path, results: dict) -> list[Path]:
    """Write results.json and results.csv atomically; both are listed in ``outputs``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "results.csv"):
        if name not in results["outputs"]:
            results["outputs"].append(name)
    results["outputs"] = sorted(set(results["outputs"]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(results))
    atomic_write_text(out_dir / "results.csv", buffer.getvalue())
    atomic_write_text(out_dir / "results.json", json.dumps(_clean(results), indent=1))
    return [out_dir / "results.json", out_dir / "results.csv"]
