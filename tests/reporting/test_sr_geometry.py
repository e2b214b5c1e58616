"""SR geometry that viewers draw: every finding has a SCOORD on its image, lines as long as the
values they carry, muscle outlines closed on the axial slice used; codes within DICOM's limits."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from lumbarqi import labels as lb
from lumbarqi.morphometry.muscles import mask_outline
from lumbarqi.reporting import codes
from lumbarqi.reporting.seg import stack_plane as seg_plane


def _walk(item):
    for child in getattr(item, "ContentSequence", []) or []:
        yield child
        yield from _walk(child)


def _concept(item) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue)


def finding_name(groups) -> str:
    """The finding's own tracking identifier (without a viewer tool prefix)."""
    idents = [str(i.TextValue) for g in groups for i in g.ContentSequence if _concept(i) == "112039"]
    return min(idents, key=len).split(":")[-1]


def groups_by_tracking_uid(sr) -> dict[str, list]:
    """Imaging Measurements' groups (DCM 125007) merged by Tracking UID, as viewers merge them."""
    imaging = next(i for i in sr.ContentSequence if _concept(i) == "126010")
    out: dict[str, list] = {}
    for g in imaging.ContentSequence:
        if _concept(g) != "125007":
            continue
        uid = next(str(i.UID) for i in g.ContentSequence if _concept(i) == "112040")
        out.setdefault(uid, []).append(g)
    return out


@pytest.fixture(scope="module")
def sr(written):
    return pydicom.dcmread(written[0] / "dicom" / "sr_measurements.dcm")


def _image_of(scoord, phantom_inputs):
    ref = scoord.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    for dss in phantom_inputs.source_datasets.values():
        for ds in dss:
            if ds.SOPInstanceUID == ref:
                return ds
    raise AssertionError(f"SCOORD references an unknown image {ref}")


def _length_mm(scoord, image) -> float:
    xy = np.asarray(scoord.GraphicData, float).reshape(-1, 2)
    row_mm, col_mm = (float(v) for v in image.PixelSpacing)
    return float(np.linalg.norm(np.diff(xy, axis=0) * [col_mm, row_mm], axis=1).sum())


def test_every_finding_has_a_place_on_an_image(sr):
    merged = groups_by_tracking_uid(sr)
    assert merged
    for groups in merged.values():
        scoords = [i for g in groups for i in _walk(g) if i.ValueType == "SCOORD"]
        ident = finding_name(groups)
        assert scoords, f"{ident}: no SCOORD, a viewer has nothing to draw"
        for s in scoords:
            assert s.RelationshipType == "INFERRED FROM" and s.ContentSequence[0].RelationshipType == "SELECTED FROM"


def test_height_lines_are_as_long_as_their_values(sr, phantom_inputs):
    res = phantom_inputs.results
    sag_uid = res["geometry"]["discs"]["L4/L5"]["series_instance_uid"]
    checked = 0
    for groups in groups_by_tracking_uid(sr).values():
        ident = finding_name(groups)
        section = "discs" if ident.startswith("disc ") else "vertebrae" if ident.startswith("vertebral body ") else None
        if section is None:
            continue
        level = ident.rsplit(" ", 1)[1]
        for g in groups:
            for num in (i for i in g.ContentSequence if i.ValueType == "NUM"):
                key = next((k for k, (name, _) in codes.MEASUREMENT.items() if name.value == _concept(num)), None)
                scoords = [i for i in _walk(num) if i.ValueType == "SCOORD"]
                if key in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "depth_mm"):
                    assert len(scoords) == 1 and scoords[0].GraphicType == "POLYLINE", (ident, key)
                    image = _image_of(scoords[0], phantom_inputs)
                    assert image.SeriesInstanceUID == sag_uid
                    length = _length_mm(scoords[0], image)
                    assert length == pytest.approx(res[section][level][key], abs=0.01), (ident, key)
                    checked += 1
                else:
                    assert not scoords, (ident, key)
    assert checked == 4 * (len(res["discs"]) + len(res["vertebrae"]))


def test_csa_outline_closed_on_the_axial_slice_used(sr, phantom_inputs):
    res = phantom_inputs.results
    area_name = codes.MEASUREMENT["csa_mm2"][0].value
    slice_of = {uid: (lv, k) for lv in phantom_inputs.labelled for k, uid in enumerate(lv.volume.sop_instance_uids)}
    n = 0
    for groups in groups_by_tracking_uid(sr).values():
        ident = finding_name(groups)
        for g in groups:
            for num in (i for i in g.ContentSequence if i.ValueType == "NUM" and _concept(i) == area_name):
                (scoord,) = [i for i in _walk(num) if i.ValueType == "SCOORD"]
                xy = np.asarray(scoord.GraphicData, float).reshape(-1, 2)
                assert scoord.GraphicType == "POLYLINE" and np.allclose(xy[0], xy[-1]) and len(xy) >= 4
                image = _image_of(scoord, phantom_inputs)
                lv, k = slice_of[str(image.SOPInstanceUID)]
                assert seg_plane(lv) == "axial", ident
                muscle = next(m for m, name in codes.MUSCLE_NAMES.items() if ident.startswith(name + " "))
                side = ident[len(codes.MUSCLE_NAMES[muscle]) + 1:].split(" ")[0]
                level = ident.rsplit(" ", 1)[1]
                assert res["geometry"]["muscles"][level][muscle][side]["slice_index"] == k
                # the outline encloses the muscle's pixels on that slice (the CSA itself is read on
                # the plane normal to the spine axis through it)
                row_mm, col_mm = (float(v) for v in image.PixelSpacing)
                x, y = xy[:, 0] * col_mm, xy[:, 1] * row_mm
                area = 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))
                pixels = int((lv.label[k] == lb.MUSCLE_LABEL[(muscle, side)]).sum())
                assert area == pytest.approx(pixels * row_mm * col_mm, rel=0.08, abs=4 * row_mm * col_mm), ident
                n += 1
    assert n == sum(len(s) for m in res["muscles"].values() for s in m.values())


def test_mask_outline_traces_the_mask():
    mask = np.zeros((40, 50), bool)
    mask[10:30, 5:25] = True  # 20 x 20 pixels
    mask[2:4, 40:42] = True  # a smaller second region: not the outline
    xy = mask_outline(mask)
    assert np.allclose(xy[0], xy[-1])
    r, c = xy[:, 0], xy[:, 1]
    area = 0.5 * abs(float(np.dot(c[:-1], r[1:]) - np.dot(c[1:], r[:-1])))
    assert area == pytest.approx(400, rel=0.03) and r.min() >= 9 and c.max() <= 25
    assert mask_outline(np.zeros((5, 5), bool)) is None


def test_loads_one_group_per_task_and_level(sr, phantom_inputs):
    res = phantom_inputs.results
    tasks = {}
    for groups in groups_by_tracking_uid(sr).values():
        for g in groups:
            method = [i for i in g.ContentSequence if _concept(i) == "370129005"]
            if method:
                nums = [_concept(i) for i in g.ContentSequence if i.ValueType == "NUM"]
                assert sorted(nums) == sorted(name.value for name, _ in codes.LOAD.values())
                level = finding_name([g]).rsplit(" ", 1)[1]
                tasks.setdefault(str(method[0].ConceptCodeSequence[0].CodeValue), set()).add(level)
    assert tasks == {codes.task_code(t).value: set(per) for t, per in res["loads"].items()}


def test_codes_within_dicom_limits_and_one_meaning_each(sr):
    meanings: dict[tuple[str, str], str] = {}
    for item in _walk(sr):
        for attr in ("ConceptNameCodeSequence", "ConceptCodeSequence", "MeasurementUnitsCodeSequence"):
            for code in getattr(item, attr, []) or []:
                key = (str(code.CodingSchemeDesignator), str(code.CodeValue))
                assert len(key[1]) <= 16 and len(str(code.CodeMeaning)) <= 64, key
                assert meanings.setdefault(key, str(code.CodeMeaning)) == str(code.CodeMeaning), key
    assert ("99LUMBARQI", "AX-NOT-AT-LEVEL") in meanings  # the flag code that used to be too long
    assert any(_concept(i) == "111028" for i in sr.ContentSequence)  # TID 1600 Image Library


def test_drawn_measurements_carry_their_viewer_tool(sr):
    """Each line or outline is a group of its own, named for the Cornerstone3D tool that shows it
    (OHIF lists only those in its measurement panel), with the finding's tracking UID."""
    tools: dict[str, int] = {}
    for groups in groups_by_tracking_uid(sr).values():
        for g in groups:
            ident = next(str(i.TextValue) for i in g.ContentSequence if _concept(i) == "112039")
            if ident.startswith("Cornerstone3DTools@^0.1.0:"):
                nums = [i for i in g.ContentSequence if i.ValueType == "NUM"]
                assert len(nums) == 1 and [i.ValueType for i in _walk(nums[0])][0] == "SCOORD", ident
                tools[ident.split(":")[1]] = tools.get(ident.split(":")[1], 0) + 1
    assert set(tools) == {"Length", "PlanarFreehandROI", "CobbAngle"} and tools["CobbAngle"] == 1
