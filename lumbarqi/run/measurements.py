"""Metrics stage: name the levels on the sagittal masks, then measure everything.

Fills ``discs``, ``vertebrae``, ``lordosis_deg``, ``muscles`` and ``flags`` of
the run's results; returns the labelled volumes the writers need.
"""
from __future__ import annotations

import time

import numpy as np

from lumbarqi import labels as L
from lumbarqi.levels import name_levels
from lumbarqi.morphometry.muscles import measure_muscles_detailed
from lumbarqi.morphometry.spine import analyse_spine
from lumbarqi.results import make_flag
from lumbarqi.run.state import RunState
from lumbarqi.segmentation.confidence import low_confidence_flags
from lumbarqi.segmentation.postprocess import SAGITTAL_CLASSES
from lumbarqi.volume import LabelledVolume, SeriesVolume

#: What the load stage uses of the measurements (lumbarqi.biomech.compute_loads reads these keys).
MEASURED_KEYS = ("subject", "discs", "vertebrae", "lordosis_deg", "muscles")


def measurements_for_loads(results: dict) -> dict:
    """The measured keys of ``results`` the load stage reads (what the metrics stage hands on)."""
    return {k: results[k] for k in MEASURED_KEYS if k in results}


def sagittal_levels(state: RunState, sag: SeriesVolume, classes: np.ndarray, disc_mask: np.ndarray | None,
                    confidence: dict) -> LabelledVolume:
    """Level-named sagittal label map (counted from the sacrum) from the segmenters' masks."""
    t = time.perf_counter()
    disc = disc_mask if disc_mask is not None else classes == SAGITTAL_CLASSES["disc"]
    naming = name_levels(classes == SAGITTAL_CLASSES["vertebral_body"], disc, classes == SAGITTAL_CLASSES["sacrum"], sag.geometry)
    state.results["flags"] += naming.flags
    named = sorted({L.label_names()[v] for v in np.unique(naming.label) if v in L.label_names()})
    state.stage("levels", time.perf_counter() - t, f"{'anchored at the sacrum' if naming.anchored else 'NOT anchored'}: {', '.join(named) or 'none'}")
    return LabelledVolume(sag, naming.label, confidence)


def segmentation_confidence(sagittal: LabelledVolume | None, axial: list[LabelledVolume]) -> dict[str, float]:
    """Mean max-softmax (0-1) per structure: sagittal networks, and the muscle network averaged over axial stacks."""
    out = {k: round(float(v), 4) for k, v in (sagittal.confidence if sagittal is not None else {}).items()}
    per: dict[str, list[float]] = {}
    for lv in axial:
        for k, v in lv.confidence.items():
            per.setdefault(k, []).append(float(v))
    out.update({k: round(float(np.mean(v)), 4) for k, v in per.items()})
    return out


def spine_geometry(sagittal: LabelledVolume, analysis) -> dict:
    """Where the disc/body heights and the lordosis were read (``results["geometry"]``, LPS mm)."""
    where = {"series_instance_uid": sagittal.volume.series_instance_uid, "stack": sagittal.volume.stack_index}
    out: dict = {"discs": {}, "vertebrae": {}, "muscles": {}}
    for name, geo in analysis.geometry.items():
        if name == "lordosis":
            out["lordosis"] = {**where, **geo}
        elif name in analysis.discs:
            out["discs"][name] = {**where, **geo}
        elif name in analysis.vertebrae:
            out["vertebrae"][name] = {**where, **geo}
    return out


def muscle_geometry(slices: dict) -> dict:
    """Per level and muscle/side: the axial slice used and the measured muscle's outline (LPS mm)."""
    out: dict = {}
    for level, info in slices.items():
        where = {k: info[k] for k in ("series_instance_uid", "stack", "slice_index")}
        for m, sides in info.get("contours_mm", {}).items():
            for side, contour in sides.items():
                out.setdefault(level, {}).setdefault(m, {})[side] = {**where, "contour_mm": contour}
    return out


def measure_all(state: RunState, sagittal: LabelledVolume | None, axial: list[LabelledVolume]) -> None:
    """Disc, vertebra, lordosis and muscle measurements into ``state.results``."""
    t = time.perf_counter()
    r = state.results
    analysis = None
    if sagittal is not None:
        analysis = analyse_spine(sagittal.label, sagittal.volume.geometry, sagittal.volume.missing_slices)
        r["discs"], r["vertebrae"] = analysis.discs, analysis.vertebrae
        if analysis.lordosis_deg is not None:
            r["lordosis_deg"] = analysis.lordosis_deg
        r["flags"] += analysis.flags
        r["geometry"] = spine_geometry(sagittal, analysis)
    if axial and sagittal is not None:
        muscles, flags, slices = measure_muscles_detailed(axial, sagittal.label, sagittal.volume.geometry, analysis)
        r["muscles"] = muscles
        r["flags"] += flags
        r["geometry"]["muscles"] = muscle_geometry(slices)
    elif axial:
        r["flags"].append(make_flag("not_measurable",
                                    "muscle areas need the sagittal level map to place axial slices; none available",
                                    structure="muscle"))
    confidence = segmentation_confidence(sagittal, axial)
    if confidence:
        r["segmentation_confidence"] = confidence
        r["flags"] += low_confidence_flags(confidence)
    state.stage("metrics", time.perf_counter() - t, f"{len(r['discs'])} discs, {len(r['vertebrae'])} vertebrae, {len(r['muscles'])} muscle levels")
