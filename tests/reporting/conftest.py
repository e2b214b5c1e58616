"""Phantom study -> (results, LabelledVolumes, source datasets) for the reporting tests.

The truth label maps stand in for the networks' output and truth.json (plus a
synthetic ``loads`` block, which the phantom does not produce) for results.json.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from lumbarqi.geometry import StackGeometry
from lumbarqi.volume import LabelledVolume, SeriesVolume

ROOT = Path(__file__).resolve().parents[2]
DCIODVFY = ROOT / ".venv" / "bin" / "dciodvfy"


@dataclass
class ReportingInputs:
    study_dir: Path
    results: dict
    labelled: list[LabelledVolume]
    source_datasets: dict[str, list[pydicom.Dataset]]
    all_files: list[Path]


def split_stacks(paths: list[Path]) -> list[list[tuple[Path, pydicom.Dataset]]]:
    """Files of one series (writing order) split into stacks of equal orientation."""
    stacks: list[list[tuple[Path, pydicom.Dataset]]] = []
    last = None
    for p in paths:
        ds = pydicom.dcmread(p)
        iop = tuple(round(float(v), 4) for v in ds.ImageOrientationPatient)
        if iop != last:
            stacks.append([])
            last = iop
        stacks[-1].append((p, ds))
    return stacks


def stack_volume(items: list[tuple[Path, pydicom.Dataset]], index: int) -> SeriesVolume:
    """SeriesVolume of one stack (slices in file order, which the phantom writes along the normal)."""
    ds0 = items[0][1]
    iop = [float(v) for v in ds0.ImageOrientationPatient]
    pos = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in items])
    normal = np.cross(iop[:3], iop[3:])
    steps = np.diff(pos @ normal)
    assert len(steps) == 0 or np.all(steps > 0), "slices not ordered along the normal"
    spacing = float(np.mean(steps)) if len(steps) else float(ds0.SliceThickness)
    geom = StackGeometry(
        origin=tuple(pos[0]), row_dir=tuple(iop[:3]), col_dir=tuple(iop[3:]),
        rows=int(ds0.Rows), cols=int(ds0.Columns), n_slices=len(items),
        row_spacing_mm=float(ds0.PixelSpacing[0]), col_spacing_mm=float(ds0.PixelSpacing[1]),
        slice_spacing_mm=spacing, slice_thickness_mm=float(ds0.SliceThickness))
    array = np.stack([ds.pixel_array.astype(np.float32) for _, ds in items])
    return SeriesVolume(
        array=array, geometry=geom, series_instance_uid=str(ds0.SeriesInstanceUID),
        series_description=str(ds0.SeriesDescription), stack_index=index,
        sop_instance_uids=[str(ds.SOPInstanceUID) for _, ds in items],
        source_paths=[p for p, _ in items])


def synthetic_loads(discs: list[str]) -> dict:
    """Deterministic plausible loads per task and level (the phantom has none)."""
    factor = {"standing": 1.0, "flexion_30": 2.2, "flexion_60": 3.1, "extension_20": 1.3,
              "lateral_bend_20": 1.6, "hold_10kg": 2.6}
    out = {}
    for task, f in factor.items():
        out[task] = {d: {"compression_n": round(500.0 * f + 20 * i, 1),
                         "shear_ap_n": round(80.0 * f - 5 * i, 1),
                         "shear_lateral_n": round(3.0 * i * (task == "lateral_bend_20") + 1.5, 1)}
                     for i, d in enumerate(discs)}
    return out


def measure_phantom(results: dict, labelled: list[LabelledVolume]) -> None:
    """Replace the truth measurements by lumbarqi's own on the truth label maps (as a run does),
    with the geometry (``results["geometry"]``) that the SR draws."""
    from lumbarqi.morphometry.muscles import measure_muscles_detailed
    from lumbarqi.morphometry.spine import analyse_spine
    from lumbarqi.reporting.seg import stack_plane
    from lumbarqi.run.measurements import muscle_geometry, spine_geometry

    sag = next(lv for lv in labelled if stack_plane(lv) == "sagittal")
    axial = [lv for lv in labelled if stack_plane(lv) == "axial"]
    analysis = analyse_spine(sag.label, sag.volume.geometry)
    muscles, flags, slices = measure_muscles_detailed(axial, sag.label, sag.volume.geometry, analysis)
    results.update(discs=analysis.discs, vertebrae=analysis.vertebrae, lordosis_deg=analysis.lordosis_deg,
                   muscles=muscles, geometry={**spine_geometry(sag, analysis), "muscles": muscle_geometry(slices)})
    results["flags"] = analysis.flags + flags


def load_inputs(study_dir: Path) -> ReportingInputs:
    truth = json.loads((study_dir / "truth.json").read_text())
    results = copy.deepcopy(truth)
    results.pop("phantom", None)
    results["flags"] = [{"code": "phantom_input", "level": None, "structure": None,
                         "message": "synthetic phantom study, labels are truth maps"},
                        {"code": "low_confidence_segmentation", "level": "L5/S1", "structure": "disc",
                         "message": "test flag on the L5/S1 disc"}]
    maps = truth["phantom"]["truth_label_maps"]
    labelled, sources, files = [], {}, []
    for series_dir in sorted((study_dir / "DICOM").iterdir()):
        paths = sorted(series_dir.glob("*.dcm"))
        files += paths
        uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)
        if uid not in maps:
            continue
        for k, (items, rel) in enumerate(zip(split_stacks(paths), maps[uid], strict=False)):
            vol = stack_volume(items, k)
            lab = np.asarray(nib.load(str(study_dir / rel)).dataobj).astype(np.uint8).transpose(2, 1, 0)
            assert lab.shape == vol.array.shape
            labelled.append(LabelledVolume(volume=vol, label=lab))
            sources[vol.key] = [ds for _, ds in items]
    flags = results["flags"]
    measure_phantom(results, labelled)
    results["flags"] = flags + results["flags"]
    results["loads"] = synthetic_loads([d for d in results["discs"] if d != "T12/L1"])
    return ReportingInputs(study_dir, results, labelled, sources, files)


@pytest.fixture(scope="session")
def phantom_inputs(small_study) -> ReportingInputs:
    """The shared small phantom study (seed 11, tilted axial blocks) as writer inputs."""
    return load_inputs(small_study)


@pytest.fixture(scope="session")
def written(phantom_inputs, tmp_path_factory):
    """write_outputs() run once on the phantom (LABELMAP); returns (out_dir, paths)."""
    from lumbarqi.reporting import write_outputs

    out = tmp_path_factory.mktemp("reporting") / "out"
    paths = write_outputs(out, phantom_inputs.results, phantom_inputs.labelled,
                          phantom_inputs.source_datasets)
    return out, paths


@pytest.fixture(scope="session")
def written_binary(phantom_inputs, tmp_path_factory):
    """write_outputs() with BINARY segmentations; returns (out_dir, paths)."""
    from lumbarqi.reporting import write_outputs

    out = tmp_path_factory.mktemp("reporting_bin") / "out"
    return out, write_outputs(out, phantom_inputs.results, phantom_inputs.labelled,
                              phantom_inputs.source_datasets, binary=True)
