"""The first stages of a lumbarqi run as plain functions: find the study, read its volumes.

Operators in ``operators/`` call these; nothing here imports holoscan. Every
stage records its time and any problem in :class:`~lumbarqi.run.state.RunState`;
a stage that cannot run leaves a flag and lets the others go on. The later
stages: :mod:`lumbarqi.run.masks` (segment), :mod:`lumbarqi.run.measurements`
(name levels, measure); loads and outputs are in ``lumbarqi.biomech`` and
``lumbarqi.reporting``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from lumbarqi.dicom.fallback import first_readable, record_fallback
from lumbarqi.dicom.scan import ScanReport, StudyHeaders, scan_folder
from lumbarqi.dicom.selection import Selection, load_rules, select_series, substitutions
from lumbarqi.dicom.stacks import missing_slices_message, read_volume
from lumbarqi.errors import EXIT_NO_INPUT, LumbarqiError
from lumbarqi.results import SubjectSection, flag
from lumbarqi.run.state import RunState
from lumbarqi.volume import SeriesVolume

log = logging.getLogger("lumbarqi")


def find_study(state: RunState) -> tuple[StudyHeaders, Selection, ScanReport]:
    """Scan the input, pick the study with the most usable series, select its series."""
    opts = state.options
    t = time.perf_counter()
    if not Path(opts.input_dir).is_dir():
        raise LumbarqiError(f"input folder {opts.input_dir} does not exist or is not a folder; nothing written", EXIT_NO_INPUT)
    rules = load_rules(opts.selection_rules)
    report = scan_folder(Path(opts.input_dir))
    state.stage("load", time.perf_counter() - t, report.summary())
    if not report.studies:
        what = "no MR images lumbarqi can read" if report.unsupported or report.unreadable else "no MR images"
        raise LumbarqiError(f"{what} found under {opts.input_dir} ({report.summary()}); nothing written", EXIT_NO_INPUT)
    t = time.perf_counter()
    candidates = []
    for uid, study in report.studies.items():
        if opts.study_uid and uid != opts.study_uid:
            continue
        sel = select_series(study, rules)
        candidates.append(((sel.sagittal_t1 is not None) * 2 + bool(sel.axial_t1), study, sel))
    if not candidates:
        raise LumbarqiError(f"study {opts.study_uid} is not in the input ({len(report.studies)} studies there; "
                            "`lumbarqi select -i INPUT` lists them); nothing written", EXIT_NO_INPUT)
    candidates.sort(key=lambda c: -c[0])
    _, study, selection = candidates[0]
    for c in [selection.sagittal_t1, *selection.axial_t1, *selection.rejected]:
        if c is not None:
            log.info("series %-4s %-24s %-11s %s", c.series.first.get("SeriesNumber", "?"), c.series.description[:24], c.role, c.reason)
    if len(candidates) > 1:
        _other_studies_flag(state, study, [c[1] for c in candidates[1:]])
    state.results["study_instance_uid"] = study.study_instance_uid
    state.results["series"] = selection.as_dict()
    skipped = _skipped(report)
    if selection.sagittal_t1 is None and not selection.axial_t1:
        raise LumbarqiError(f"no usable sagittal or axial T1/T2 series in the study{skipped}; nothing written", EXIT_NO_INPUT)
    _input_flags(state, report, selection)
    _substitution_flags(state, selection, rules)
    if selection.sagittal_t1 is None:
        flag(state.results, "no_sagittal_t1", f"no usable sagittal T1 or T2 series{skipped}: no disc, vertebra or level results; "
             "axial muscle levels cannot be named")
    if not selection.axial_t1:
        flag(state.results, "no_axial_t1", f"no usable axial T1 or T2 series{skipped}: no muscle results")
    state.results["subject"] = subject_from_header(study)
    sag = selection.sagittal_t1.weighting if selection.sagittal_t1 else "none"
    ax = selection.axial_t1[0].weighting if selection.axial_t1 else ""
    state.stage("select", time.perf_counter() - t, f"sagittal: {sag}, axial {ax} series: {len(selection.axial_t1)}")
    return study, selection, report


def _other_studies_flag(state: RunState, analysed: StudyHeaders, others: list[StudyHeaders]) -> None:
    """Say which of several studies in the input was analysed and how to analyse the others."""
    def count(study: StudyHeaders) -> str:
        return f"{len(study.series)} image series"

    listing = "; ".join(f"{s.study_instance_uid} ({count(s)})" for s in others)
    message = (f"the input holds {len(others) + 1} studies; analysed {analysed.study_instance_uid} ({count(analysed)}, the one with "
               f"the most usable series); not analysed: {listing}. Run again with --study UID for another, or --cohort with "
               "one folder per study to analyse all")
    log.warning("%d studies in the input: analysed the one with the most usable series; the others are listed in results.json "
                "flags (other_studies_ignored); use --study UID to pick one", len(others) + 1)
    flag(state.results, "other_studies_ignored", message)


def _substitution_flags(state: RunState, selection: Selection, rules: dict) -> None:
    """A flag and a log line for every role filled by a substitute contrast (e.g. sagittal T2 for T1)."""
    from lumbarqi.morphometry.muscles import FAT_INDEX_WEIGHTINGS

    what = {"sagittal_t1": "vertebrae, discs and levels", "axial_t1": "muscle areas and centroids"}
    plane = {"sagittal_t1": "sagittal", "axial_t1": "axial"}
    for role, preferred, used in substitutions(selection, rules):
        message = f"no usable {plane[role]} {preferred}: {what[role]} from the {plane[role]} {used}"
        if role == "axial_t1" and used not in FAT_INDEX_WEIGHTINGS:
            message += f" (fat index left out: not defined on {used})"
        log.warning("contrast substitution: %s", message)
        flag(state.results, f"contrast_substitution:{plane[role]}_{used.lower()}", message)


def _skipped(report: ScanReport) -> str:
    parts = [f"{report.unsupported} multi-frame classic MR images"] if report.unsupported else []
    parts += [f"{report.unreadable} images with unreadable pixel data"] if report.unreadable else []
    return f" (skipped {' and '.join(parts)})" if parts else ""


def _input_flags(state: RunState, report: ScanReport, selection: Selection) -> None:
    """Flag what was skipped in the input and what is odd about the chosen stacks."""
    if report.unsupported:
        flag(state.results, "unsupported_images", f"{report.unsupported} multi-frame classic MR images skipped (not supported; "
             "export the series as single-frame MR or Enhanced MR Image Storage)")
    if report.unreadable:
        flag(state.results, "unreadable_images", f"{report.unreadable} images skipped: pixel data missing, truncated or shorter than the header says")
    chosen = ([selection.sagittal_t1] if selection.sagittal_t1 else []) + list(selection.axial_t1)
    for c in chosen:
        for s in c.stacks:
            if s.duplicates:
                flag(state.results, "duplicate_slices", f"series {c.series.description!r}: {s.duplicates} images at an already "
                     "occupied slice position ignored (the first kept)")
            if s.spacing_deviation > 0.1:
                flag(state.results, "uneven_slice_spacing", f"series {c.series.description!r}: slice spacing varies by up to "
                     f"{100 * s.spacing_deviation:.0f}% of {s.geometry.slice_spacing_mm:.2f} mm; positions taken as even")
            if s.missing_slices:
                message = missing_slices_message(s, f"{c.role.split('_')[0]} {c.weighting} series {c.series.description!r}")
                log.warning("missing slices: %s", message)
                flag(state.results, "missing_slices", message)


def subject_from_header(study: StudyHeaders) -> SubjectSection:
    """Height, mass and sex from the header; defaults (reported as such) where absent."""
    ds = next(iter(study.series.values())).first
    try:
        height = float(ds.get("PatientSize") or 0)
        mass = float(ds.get("PatientWeight") or 0)
    except (TypeError, ValueError):
        height = mass = 0.0
    sex = str(ds.get("PatientSex") or "")
    ok = 1.2 <= height <= 2.3 and 30 <= mass <= 250
    return {"height_m": round(height, 3) if ok else 1.75, "mass_kg": round(mass, 1) if ok else 75.0,
            "sex": "M" if sex == "M" else "F" if sex == "F" else "O", "source": "dicom" if ok else "default"}


def read_volumes(state: RunState, selection: Selection) -> tuple[SeriesVolume | None, list[SeriesVolume]]:
    """Pixel data of the sagittal stack and every axial stack, with their geometry.

    A chosen series whose pixels cannot be read gives way to the next candidate
    of its role (flag ``series_fallback``); without one it is flagged
    (``stage_failed:volumes``) and the others go on; when none can be read,
    LumbarqiError (exit 4).
    """
    t = time.perf_counter()

    def read(c, stack, index):  # one stack; its index unique in the series (parts of a multi-frame object)
        volume = read_volume(stack, c.series.series_instance_uid, c.series.description, c.series.stack_offset + index)
        volume.weighting = c.weighting
        return volume

    def sagittal(c):  # the stack with most slices
        best = max(c.stacks, key=lambda s: s.geometry.n_slices)
        return [read(c, best, c.stacks.index(best))]

    def every_stack(c, problems=None):  # a series' readable stacks; the first failure noted (raised when none was read)
        volumes, problem = [], None
        for i, s in enumerate(c.stacks):
            try:
                volumes.append(read(c, s, i))
            except LumbarqiError as exc:
                problem = problem or exc
        if problem and problems is not None:
            problems.append((c, str(problem)))
        elif problem and not volumes:
            raise problem
        return volumes

    # A chosen series that cannot be read gives way to the next candidate of its role (lumbarqi.dicom.fallback).
    sag, problems = None, []
    if selection.sagittal_t1 is not None:
        used, volumes, failures = first_readable([selection.sagittal_t1, *selection.alternatives.get("sagittal_t1", [])], sagittal)
        sag = volumes[0] if volumes else None
        if used is not None and failures:
            record_fallback(state.results, selection, "sagittal_t1", used, failures)
            _fallback_substitution(state, selection, "sagittal_t1")
        problems += failures if used is None else []
    axial_problems: list = []
    axial = [v for c in selection.axial_t1 for v in every_stack(c, axial_problems)]
    if selection.axial_t1 and not axial and selection.alternatives.get("axial_t1"):
        used, axial, _ = first_readable(selection.alternatives["axial_t1"], every_stack)
        if used is not None:
            record_fallback(state.results, selection, "axial_t1", used, axial_problems)
            _fallback_substitution(state, selection, "axial_t1")
            axial_problems = []
    for _, why in problems + axial_problems:
        flag(state.results, "stage_failed:volumes", f"reading the images failed: {why}")
    if sag is None and not axial:
        why_not = "; ".join(f["message"] for f in state.results["flags"] if f["code"] == "stage_failed:volumes")
        raise LumbarqiError(f"{why_not or 'no images could be read'}; nothing written", EXIT_NO_INPUT)
    state.stage("volumes", time.perf_counter() - t, f"{1 if sag else 0} sagittal, {len(axial)} axial stacks read")
    return sag, axial


def _fallback_substitution(state: RunState, selection: Selection, role: str) -> None:
    """The substitution flag when the candidate that replaced an unreadable series has a less preferred contrast."""
    only = Selection(selection.sagittal_t1 if role == "sagittal_t1" else None, selection.axial_t1 if role == "axial_t1" else [], [])
    rules = load_rules(state.options.selection_rules)
    plane = "sagittal" if role == "sagittal_t1" else "axial"
    known = {f["code"] for f in state.results["flags"]}
    if any(f"contrast_substitution:{plane}_{used.lower()}" not in known for _, _, used in substitutions(only, rules)):
        _substitution_flags(state, only, rules)
