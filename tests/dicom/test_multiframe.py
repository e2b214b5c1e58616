"""Multi-frame MR (Enhanced, Legacy Converted Enhanced) on the input side: same stacks, same pixels as the single-frame series."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from multiframe_inputs import ENHANCED_MR, enhanced_mr, legacy_converted
from pydicom.uid import generate_uid

from lumbarqi.dicom.multiframe import FrameHeader
from lumbarqi.dicom.scan import scan_folder
from lumbarqi.dicom.selection import load_rules, select_series
from lumbarqi.dicom.stacks import read_volume

LEGACY = "1.2.840.10008.5.1.4.1.1.4.4"


def _selection(folder):
    report = scan_folder(folder)
    assert len(report.studies) == 1
    return report, select_series(next(iter(report.studies.values())), load_rules())


def _chosen(sel):
    return [sel.sagittal_t1, *sel.axial_t1]


@pytest.mark.parametrize("kind", ["legacy", "enhanced"])
def test_multiframe_series_become_the_single_frame_stacks(kind, small_study, legacy_study, enhanced_study):
    study = {"legacy": legacy_study, "enhanced": enhanced_study}[kind]
    report, sel = _selection(study)
    _, ref = _selection(small_study)
    assert report.multiframe == 5 and report.unsupported == 0
    assert sel.as_dict()["sagittal_t1"]["series_instance_uid"] == ref.as_dict()["sagittal_t1"]["series_instance_uid"]
    assert [c.series.series_instance_uid for c in sel.axial_t1] == [c.series.series_instance_uid for c in ref.axial_t1]
    assert sorted(r["series_instance_uid"] for r in sel.as_dict()["rejected"]) == \
        sorted(r["series_instance_uid"] for r in ref.as_dict()["rejected"])
    for mine, theirs in zip(_chosen(sel), _chosen(ref), strict=False):
        assert mine.reason == theirs.reason  # weighting (TR/TE), slice and stack counts as for the classic series
        assert len(mine.stacks) == len(theirs.stacks)  # the tilted axial object holds two stacks (two orientations)
        for i, (a, b) in enumerate(zip(mine.stacks, theirs.stacks, strict=False)):
            assert a.geometry == b.geometry
            assert all(isinstance(h, FrameHeader) and h.SOPClassUID == (LEGACY if kind == "legacy" else ENHANCED_MR)
                       for _, h in a.instances)
            va = read_volume(a, mine.series.series_instance_uid, mine.series.description, i)
            vb = read_volume(b, theirs.series.series_instance_uid, theirs.series.description, i)
            assert np.array_equal(va.array, vb.array)
            assert len(set(va.sop_instance_uids)) == 1 and sorted(va.source_frames) == sorted({h.frame_number for _, h in a.instances})


def test_enhanced_weighting_comes_from_the_mr_functional_groups(enhanced_study, small_study):
    ds = pydicom.dcmread(enhanced_study / "S003.dcm", stop_before_pixels=True)
    assert "RepetitionTime" not in ds and "EchoTime" not in ds and "ScanningSequence" not in ds
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert "UnassignedSharedConvertedAttributesSequence" not in shared
    _, sel = _selection(enhanced_study)
    header = sel.sagittal_t1.series.first
    src = pydicom.dcmread(sorted((small_study / "DICOM" / "S003").glob("*.dcm"))[0], stop_before_pixels=True)
    assert float(header.RepetitionTime) == float(src.RepetitionTime) == float(shared.MRTimingAndRelatedParametersSequence[0].RepetitionTime)
    assert float(header.EchoTime) == float(src.EchoTime) == float(shared.MREchoSequence[0].EffectiveEchoTime)
    assert header.ScanningSequence == "SE"  # from EchoPulseSequence SPIN


def test_multiframe_three_plane_localiser_is_refused(small_study, tmp_path):
    files = sorted((small_study / "DICOM" / "S001").glob("*.dcm"))  # 3 planes x 3 frames
    plain = enhanced_mr(files, image_type=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"])
    plain.SeriesDescription = "t1 gre"  # neither ImageType nor description says localiser: its planes do
    plain.save_as(tmp_path / "plain.dcm", enforce_file_format=True)
    _, sel = _selection(tmp_path)
    assert sel.sagittal_t1 is None and not sel.axial_t1
    assert [r["reason"] for r in sel.as_dict()["rejected"]] == ["mixed orientations (multi-plane localizer)"]
    (tmp_path / "plain.dcm").unlink()
    enhanced_mr(files).save_as(tmp_path / "typed.dcm", enforce_file_format=True)  # FrameType LOCALIZER
    _, sel = _selection(tmp_path)
    assert sel.as_dict()["rejected"][0]["reason"].startswith("ImageType ORIGINAL\\PRIMARY\\LOCALIZER")


def test_one_object_holding_two_contrasts_is_split(small_study, tmp_path):
    t1 = [pydicom.dcmread(p) for p in sorted((small_study / "DICOM" / "S003").glob("*.dcm"))]
    t2 = [pydicom.dcmread(p) for p in sorted((small_study / "DICOM" / "S002").glob("*.dcm"))]
    uid = str(t1[0].SeriesInstanceUID)
    for k, ds in enumerate(t2):  # T2 frames into the T1 series: one object, per-frame TR/TE
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[uid, "t2", str(k)])
        ds.InstanceNumber = 100 + k
    legacy_converted(t2 + t1).save_as(tmp_path / "both.dcm", enforce_file_format=True)
    _, sel = _selection(tmp_path)
    assert sel.sagittal_t1 is not None and sel.sagittal_t1.series.series_instance_uid == uid
    assert sel.sagittal_t1.stacks[0].geometry.n_slices == len(t1)
    assert [r["series_instance_uid"] for r in sel.as_dict()["rejected"]] == [uid]
    assert "sagittal T2 (TR" in sel.as_dict()["rejected"][0]["reason"]  # the other part: the T2 frames, classified on their own
    offsets = {sel.sagittal_t1.series.stack_offset, sel.rejected[0].series.stack_offset}
    assert offsets == {0, len(t2)}  # the two parts' stacks never share an index (volume keys, SEG names)
    c = sel.sagittal_t1
    volume = read_volume(c.stacks[0], uid, c.series.description, c.series.stack_offset)
    reference = np.stack([ds.pixel_array for ds in sorted(t1, key=lambda d: float(np.cross(
        d.ImageOrientationPatient[:3], d.ImageOrientationPatient[3:]) @ np.asarray(d.ImagePositionPatient, float)))])
    assert np.array_equal(volume.array, reference.astype(np.float32))


def test_truncated_multiframe_object_is_counted_unreadable(legacy_study, tmp_path):
    data = (legacy_study / "S003.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 4000])
    report = scan_folder(tmp_path)
    assert report.unreadable == 1 and not report.studies


def test_enhanced_fat_suppression_and_inversion_come_from_the_mr_modules(small_study, tmp_path):
    t1 = enhanced_mr(sorted((small_study / "DICOM" / "S003").glob("*.dcm")))
    t1.SpectrallySelectedSuppression = "FAT"  # MR Pulse Sequence module: a fat-saturated T1
    t1.save_as(tmp_path / "t1_fs.dcm", enforce_file_format=True)
    stir = enhanced_mr(sorted((small_study / "DICOM" / "S002").glob("*.dcm")))
    stir.InversionRecovery = "YES"
    stir.SharedFunctionalGroupsSequence[0].MRModifierSequence[0].InversionRecovery = "YES"
    stir.SharedFunctionalGroupsSequence[0].MRModifierSequence[0].InversionTimes = [160.0]
    stir.save_as(tmp_path / "stir.dcm", enforce_file_format=True)
    _, sel = _selection(tmp_path)
    assert sel.sagittal_t1 is None
    reasons = {r["series_instance_uid"]: r["reason"] for r in sel.as_dict()["rejected"]}
    assert reasons[str(t1.SeriesInstanceUID)].startswith("fat-suppressed")
    assert "STIR" in reasons[str(stir.SeriesInstanceUID)]
