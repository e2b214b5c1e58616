"""Generate one synthetic lumbar MRI study: DICOM series, truth.json, truth label maps.

Layout of ``out``::

    DICOM/S001/IM0001.dcm ...   one folder per series (MR Image Storage)
    truth/S00N[_stackK]_label.nii.gz   truth labels in each series' own geometry
    truth.json                  truth in the keys of the product's results.json
    cases/<series>/image.nii.gz, label.nii.gz, meta.json   (with --cases: training layout)
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from lumbarqi import labels as L
from lumbarqi.phantom.anatomy import PhantomModel
from lumbarqi.phantom.dicom_writer import StudyIdentity, phantom_uid, write_series
from lumbarqi.phantom.imaging import SampledStack, ScannerLook, form_images, sample_stack
from lumbarqi.phantom.protocol import PRESETS, plan_study
from lumbarqi.phantom.subject import draw_subject
from lumbarqi.phantom.truth import muscle_truth, spine_truth

SCHEMA_VERSION = "1.0"


def _save_nifti(path: Path, volume_kij: np.ndarray, affine: np.ndarray) -> None:
    """Save a [slice, row, col] volume as NIfTI laid out [col, row, slice]."""
    img = nib.Nifti1Image(np.ascontiguousarray(volume_kij.transpose(2, 1, 0)), affine)
    img.header.set_xyzt_units("mm")
    tmp = path.with_name(path.name + ".part.nii.gz")
    nib.save(img, tmp)
    os.replace(tmp, path)


def generate_study(
    out: Path,
    seed: int,
    preset: str = "clinical",
    axial: str = "random",
    degeneration: float = 0.5,
    fat_infiltration: float = 0.5,
    ghosting: bool = False,
    cases: bool = False,
    overrides: dict | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> dict:
    """Write a phantom study into ``out`` and return its truth dictionary."""
    t0 = time.perf_counter()
    out = Path(out)
    rng = np.random.default_rng([seed, 1])
    subject = draw_subject(seed, degeneration=degeneration, fat_infiltration=fat_infiltration)
    model = PhantomModel(subject)
    vendor, plans = plan_study(model, rng, preset=preset, axial=axial, overrides=overrides)
    log(f"subject {subject.sex} {subject.age_years} y, {subject.height_m} m, {subject.mass_kg} kg; {vendor}; {len(plans)} series")
    study = StudyIdentity(seed, subject.sex, subject.age_years, subject.height_m, subject.mass_kg, vendor,
                          float(rng.choice([1.5, 3.0])), f"2026{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}")
    body_centre = model.placed[[p.seg.name for p in model.placed].index("L3")].centre + np.array([0, 40.0, 0])
    sub_planes = PRESETS[preset]["sub_planes"]
    sampled: dict[int, SampledStack] = {}  # id(geometry) -> SampledStack, shared by series with one geometry
    written: list[str] = []
    series_truth: dict = {"sagittal_t1": None, "axial_t1": [], "rejected": []}
    axial_stacks: list = []
    truth_maps: dict = {}
    for plan in plans:
        uid = phantom_uid(seed, "series", plan.number)
        look = ScannerLook.draw(plan.contrast, rng, ghosting)
        images = []
        for si, g in enumerate(plan.stacks):
            key = id(g)
            if key not in sampled:
                sampled[key] = sample_stack(model, g, 1 if plan.key == "localizer" else sub_planes)
            images.append(form_images(sampled[key], look, rng, body_centre))
            if plan.role != "rejected":
                suffix = f"_stack{si + 1}" if len(plan.stacks) > 1 else ""
                rel = f"truth/S{plan.number:03d}{suffix}_label.nii.gz"
                (out / "truth").mkdir(parents=True, exist_ok=True)
                _save_nifti(out / rel, sampled[key].label, g.nifti_affine())
                truth_maps.setdefault(uid, []).append(rel)
                written.append(rel)
                if plan.role == "axial_t1":
                    axial_stacks.append((uid, si, g))
            if cases and plan.key != "localizer":
                suffix = f"_stack{si + 1}" if len(plan.stacks) > 1 else ""
                _write_case(out / "cases" / f"S{plan.number:03d}{suffix}", images[-1], sampled[key].label, g, plan)
        paths = write_series(out / "DICOM", study, plan, images)
        written += [str(p.relative_to(out)) for p in paths]
        entry = {"series_instance_uid": uid, "description": plan.description, "reason": plan.reason, "series_number": plan.number}
        if plan.role == "sagittal_t1":
            series_truth["sagittal_t1"] = entry
        elif plan.role == "axial_t1":
            series_truth["axial_t1"].append(entry)
        else:
            series_truth["rejected"].append(entry)
        log(f"series {plan.number:2d} {plan.description:<14} {plan.contrast:<4} {plan.n_images:3d} images  ({time.perf_counter() - t0:5.1f} s)")

    discs, vertebrae, lordosis = spine_truth(model)
    muscles, muscle_slices = muscle_truth(model, axial_stacks)
    truth = {
        "schema_version": SCHEMA_VERSION,
        "study_instance_uid": study.study_uid,
        "series": series_truth,
        "subject": {"height_m": subject.height_m, "mass_kg": subject.mass_kg, "sex": subject.sex, "age_years": subject.age_years, "source": "dicom"},
        "discs": discs,
        "vertebrae": vertebrae,
        "lordosis_deg": lordosis,
        "muscles": muscles,
        "flags": [],
        "outputs": sorted(written) + ["truth.json"],
        "phantom": {
            "seed": seed, "preset": preset, "vendor": vendor, "sacral_slope_deg": round(subject.sacral_slope_deg, 2),
            "muscle_slices": muscle_slices, "truth_label_maps": truth_maps,
            "labels": {str(k): v for k, v in L.label_names().items()},
            "fat_fraction_drawn": {f"{m}, {s}": round(f, 4) for (m, s), f in subject.fat_fraction.items()},
        },
    }
    tmp = out / "truth.json.part"
    tmp.write_text(json.dumps(truth, indent=1))
    os.replace(tmp, out / "truth.json")
    log(f"truth written ({time.perf_counter() - t0:.1f} s)")
    return truth


def _write_case(folder: Path, image: np.ndarray, label: np.ndarray, geom, plan) -> None:
    """A training case in the ``../shared/data`` layout (image, label, meta.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    _save_nifti(folder / "image.nii.gz", image.astype(np.int16), geom.nifti_affine())
    _save_nifti(folder / "label.nii.gz", label, geom.nifti_affine())
    names = L.label_names()
    meta = {
        "source": "lumbarqi phantom", "modality": "MR", "contrast": plan.contrast,
        "plane": "sagittal" if plan.key.startswith("sag") else "axial",
        "spacing_mm": [geom.col_spacing_mm, geom.row_spacing_mm, geom.slice_spacing_mm],
        "labels": {str(v): n for v, n in names.items()},
        "complete_labels": True,  # every structure is labelled: nothing unlabelled to ignore in training
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
