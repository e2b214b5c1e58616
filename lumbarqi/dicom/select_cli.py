"""``lumbarqi select``: the series decision for every study under a folder, headers only.

What a site admin runs over an archive before enabling the XNAT command or a
MONAI Deploy route: for each study, which series and stacks lumbarqi would use,
why every other series is refused, and which contrast substitutions (T2 for
T1) would apply. No pixel data is decoded and no network is loaded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lumbarqi.dicom.scan import ScanReport, StudyHeaders, scan_folder
from lumbarqi.dicom.selection import Choice, Selection, load_rules, select_series, substitutions
from lumbarqi.errors import EXIT_NO_INPUT, LumbarqiError


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("select", help="show which series lumbarqi would use in every study under a folder (headers only)",
                              description="Series selection for every study under DIR, from headers only (no pixels decoded, no "
                              "networks): the series and stacks used, why each other series was refused, and contrast "
                              "substitutions. Use it to tune --selection-rules on an archive.")
    p.add_argument("-i", "--input", required=True, type=Path, metavar="DIR", help="folder tree holding one or more studies")
    p.add_argument("--selection-rules", type=Path, default=None, help="site series-selection rules (JSON, as for lumbarqi run)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the decisions as JSON (keys as results.json's series)")
    p.set_defaults(func=run)


def _stacks(choice: Choice) -> list[dict]:
    """Geometry of the stacks a chosen series contributes (mm); ``missing_slices``: slice numbers (1-based) without an image."""
    return [{"n_slices": s.geometry.n_slices, "matrix": [s.geometry.rows, s.geometry.cols],
             "pixel_spacing_mm": [round(s.geometry.row_spacing_mm, 3), round(s.geometry.col_spacing_mm, 3)],
             "slice_spacing_mm": round(s.geometry.slice_spacing_mm, 3),
             **({"missing_slices": [k + 1 for k in s.missing_slices]} if s.missing_slices else {})} for s in choice.stacks]


def _slices(stack: dict) -> str:
    """'11', or '11 (slice 6 missing)' for a stack with lost instances."""
    gone = stack.get("missing_slices") or []
    return f"{stack['n_slices']} (slice{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))} missing)" if gone else str(stack["n_slices"])


def study_decision(study: StudyHeaders, selection: Selection, rules: dict) -> dict:
    """One study's decision: results.json's ``series`` keys plus the stacks used and the substitutions."""
    series = selection.as_dict()
    if selection.sagittal_t1 is not None:
        series["sagittal_t1"]["stacks"] = _stacks(selection.sagittal_t1)
    for entry, choice in zip(series["axial_t1"], selection.axial_t1, strict=False):
        entry["stacks"] = _stacks(choice)
    return {"study_instance_uid": study.study_instance_uid, "series": series,
            "substitutions": [{"role": role, "preferred": pref, "used": used} for role, pref, used in substitutions(selection, rules)],
            "analysable": selection.sagittal_t1 is not None or bool(selection.axial_t1)}


def decide(root: Path, rules_path: Path | None = None) -> tuple[list[dict], ScanReport]:
    """Decisions for every study under ``root`` and the scan's counts."""
    rules = load_rules(rules_path)
    report = scan_folder(root)
    decisions = [study_decision(study, select_series(study, rules), rules) for study in report.studies.values()]
    return decisions, report


def _series_number(entry: dict, numbers: dict[str, str]) -> str:
    return numbers.get(entry["series_instance_uid"], "?")


def format_table(decisions: list[dict], report: ScanReport) -> str:
    """Human-readable table: one block per study, one line per series."""
    numbers = {s.series_instance_uid: str(s.first.get("SeriesNumber", "?"))
               for st in report.studies.values() for s in st.series.values()}
    lines = []
    for k, d in enumerate(decisions, start=1):
        sub = ", ".join(f"{s['role'].split('_')[0]} {s['used']} for {s['preferred']}" for s in d["substitutions"]) or "none"
        lines.append(f"study {k}/{len(decisions)} {d['study_instance_uid']}: {'analysable' if d['analysable'] else 'NOT analysable'}; "
                     f"substitutions: {sub}")
        lines.append(f"  {'series':>6s}  {'description':24s}  {'role':11s}  reason")
        rows = ([("sagittal", d["series"]["sagittal_t1"])] if d["series"]["sagittal_t1"] else [])
        rows += [("axial", e) for e in d["series"]["axial_t1"]] + [("refused", e) for e in d["series"]["rejected"]]
        for role, e in rows:
            stacks = f" -> stacks of {'+'.join(_slices(s) for s in e['stacks'])} slices" if e.get("stacks") else ""
            lines.append(f"  {_series_number(e, numbers):>6s}  {e['description'][:24]:24s}  {role:11s}  {e['reason']}{stacks}")
    lines.append(report.summary())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.input.is_dir():
        raise LumbarqiError(f"input folder {args.input} does not exist or is not a folder", EXIT_NO_INPUT)
    t = time.perf_counter()
    decisions, report = decide(args.input, args.selection_rules)
    print(format_table(decisions, report))
    n_ok = sum(d["analysable"] for d in decisions)
    print(f"{len(decisions)} studies, {n_ok} analysable, {len(decisions) - n_ok} not, in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if args.json:
        tmp = args.json.with_name(args.json.name + ".part")
        tmp.write_text(json.dumps({"studies": decisions, "scan": report.summary()}, indent=1))
        tmp.replace(args.json)
    return 0 if decisions and n_ok == len(decisions) else 3 if n_ok else EXIT_NO_INPUT
