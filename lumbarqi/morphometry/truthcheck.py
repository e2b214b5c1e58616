"""Morphometry against phantom truth, with the truth masks as input.

For one phantom study: the sagittal truth map is collapsed to generic classes
(body, disc, sacrum) and renamed by :func:`lumbarqi.levels.name_levels`
(naming accuracy = fraction of truth bodies and discs whose voxels all got the
right name); the renamed map is measured by
:func:`~lumbarqi.morphometry.spine.analyse_spine`; the axial truth maps with
their DICOM images by :func:`~lumbarqi.morphometry.muscles.measure_muscles_detailed`.
The results come back in results.json keys, ready for a dictionary walk
against ``truth.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from lumbarqi import labels as L
from lumbarqi.dicom.stacks import read_volume, split_stacks
from lumbarqi.geometry import StackGeometry
from lumbarqi.levels import generic_masks, name_levels
from lumbarqi.volume import LabelledVolume, SeriesVolume

from .io import read_label_nifti
from .muscles import measure_muscles_detailed
from .spine import analyse_spine


def _same_geometry(a: StackGeometry, b: StackGeometry) -> bool:
    return (a.n_slices == b.n_slices and a.rows == b.rows and float(a.normal @ b.normal) > 0.999
            and float(np.linalg.norm(np.asarray(a.origin) - np.asarray(b.origin))) < 0.5)


def load_axial(study: Path, truth: dict) -> list[LabelledVolume]:
    """Every axial T1 stack of a phantom study: DICOM image + truth label map."""
    out = []
    maps = truth["phantom"]["truth_label_maps"]
    for entry in truth["series"]["axial_t1"]:
        uid = entry["series_instance_uid"]
        folder = study / "DICOM" / f"S{int(entry['series_number']):03d}"
        instances: list[tuple[Path, Dataset]] = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in sorted(folder.glob("*.dcm"))]
        stacks = split_stacks(instances)
        for rel in maps.get(uid, []):
            label, geom = read_label_nifti(study / rel)
            match = next((i for i, s in enumerate(stacks) if _same_geometry(s.geometry, geom)), None)
            if match is None:
                volume = SeriesVolume(np.zeros(label.shape, np.float32), geom, uid, entry["description"])
            else:
                volume = read_volume(stacks[match], uid, entry["description"], match)
                volume.stack_index = int(rel.rsplit("_stack", 1)[1].split("_")[0]) - 1 if "_stack" in rel else 0
            out.append(LabelledVolume(volume, label))
    return out


def naming_accuracy(truth_label: np.ndarray, named: np.ndarray) -> tuple[float, list[str]]:
    """Fraction of truth bodies/discs (T10..L5, T10/T11..L5/S1) named exactly; the wrong ones."""
    values = [L.VERTEBRA_LABEL[n] for n in L.VERTEBRAE[:-1]] + list(L.DISC_LABEL.values())
    names = L.label_names()
    present = [v for v in values if (truth_label == v).any()]
    wrong = [names[v] for v in present if not np.all(named[truth_label == v] == v)]
    return (1.0 - len(wrong) / len(present)) if present else 0.0, wrong


def check_study(study: Path) -> dict:
    """Measure one phantom study from its truth masks; results.json-shaped dict plus ``naming``."""
    study = Path(study)
    truth = json.loads((study / "truth.json").read_text())
    uid = truth["series"]["sagittal_t1"]["series_instance_uid"]
    sag_label, sag_geom = read_label_nifti(study / truth["phantom"]["truth_label_maps"][uid][0])
    naming = name_levels(*generic_masks(sag_label), sag_geom)
    accuracy, wrong = naming_accuracy(sag_label, naming.label)
    analysis = analyse_spine(naming.label, sag_geom)
    axial = load_axial(study, truth)
    muscles, mflags, slices = measure_muscles_detailed(axial, naming.label, sag_geom, analysis)
    return {
        "schema_version": "1.0", "study_instance_uid": truth["study_instance_uid"],
        "discs": analysis.discs, "vertebrae": analysis.vertebrae, "lordosis_deg": analysis.lordosis_deg,
        "muscles": muscles, "flags": naming.flags + analysis.flags + mflags,
        "morphometry": {"muscle_slices": {d: {k: v for k, v in info.items() if k != "contours_mm"}
                                          for d, info in slices.items()}, "naming_accuracy": accuracy, "misnamed": wrong},
    }
