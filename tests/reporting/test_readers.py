"""Independent readers of the SEG and SR: dcmqi (segimage2itkimage, tid1500reader) and DCMTK.

dcmqi is pinned in the dev extra (PyPI ``dcmqi``, its binaries land in the venv);
DCMTK comes from Debian (``dcmtk`` in the Makefile's DEB_PACKAGES). Debian
bookworm's DCMTK 3.6.7 predates Label Map Segmentation Storage: it reads the
BINARY variant cleanly and, for LABELMAP, complains only about the Referenced
Segment items that point at that SOP class (asserted exactly below).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from lumbarqi import labels as lb
from lumbarqi.reporting import codes
from lumbarqi.reporting.sr_geometry import VIEWER_TOOL_TAG

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
SEGIMAGE2ITK, TID1500READER = BIN / "segimage2itkimage", BIN / "tid1500reader"
DSRDUMP, DSR2XML, XML2DSR = (shutil.which(t) for t in ("dsrdump", "dsr2xml", "xml2dsr"))
needs_dcmqi = pytest.mark.skipif(not TID1500READER.exists(), reason="dcmqi (PyPI) not installed")
needs_dcmtk = pytest.mark.skipif(not (DSRDUMP and DSR2XML and XML2DSR), reason="DCMTK (Debian dcmtk) not installed")
LABEL_MAP_SEG = "1.2.840.10008.5.1.4.1.1.66.7"

_QUANTITY = {name.value: key for key, (name, _) in {**codes.MEASUREMENT, **codes.LOAD}.items()}
_CENTROID = {name.value: i for i, (name, _) in enumerate(codes.CENTROID)}
_TASK = {c.value: t for t, c in codes.TASK.items()}
_MUSCLE = {f"{name} ": m for m, name in codes.MUSCLE_NAMES.items()}


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd)


def finding_name(tracking_identifier: str) -> str:
    """"disc L4/L5" from "disc L4/L5" or "Cornerstone3DTools@^0.1.0:Length:disc L4/L5"."""
    if tracking_identifier.startswith(VIEWER_TOOL_TAG + ":"):
        return tracking_identifier.split(":", 2)[2]
    return tracking_identifier


def target_of(group: dict, out: dict) -> dict:
    """The results.json entry a tid1500reader measurement group describes."""
    ident = finding_name(group["TrackingIdentifier"])
    level = ident.rsplit(" ", 1)[-1]
    if ident.startswith("loads "):
        task = _TASK[group["measurementMethod"]["CodeValue"]]  # the task, read at the group level
        return out["loads"].setdefault(task, {}).setdefault(level, {})
    if ident.startswith("disc "):
        return out["discs"].setdefault(level, {})
    if ident.startswith("vertebral body "):
        return out["vertebrae"].setdefault(level, {})
    if ident == "lumbar lordosis":
        return out
    prefix = next(p for p in _MUSCLE if ident.startswith(p))
    side = ident[len(prefix):].split(" ")[0]
    return out["muscles"].setdefault(level, {}).setdefault(_MUSCLE[prefix], {}).setdefault(side, {})


def dcmqi_measurements(sr_path: Path, tmp: Path) -> tuple[dict, dict]:
    """(results-like dict from tid1500reader's JSON, the JSON itself); each value must come once."""
    meta = tmp / "sr.json"
    proc = run(TID1500READER, "--inputDICOM", sr_path, "--outputMetadata", meta)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(meta.read_text())
    out: dict = {"discs": {}, "vertebrae": {}, "muscles": {}, "loads": {}}
    for group in doc["Measurements"]:
        target = target_of(group, out)
        for item in group["measurementItems"]:
            code, value = item["quantity"]["CodeValue"], float(item["value"])
            if code == codes.LORDOSIS[0].value:
                key, slot = "lordosis_deg", None
            elif code in _CENTROID:
                key, slot = "centroid_mm", _CENTROID[code]
            else:
                key, slot = _QUANTITY[code], None
            if slot is None:
                assert key not in target, (group["TrackingIdentifier"], key, "twice")
                target[key] = value
            else:
                target.setdefault(key, [None, None])[slot] = value
    return out, doc


@needs_dcmqi
def test_dcmqi_tid1500reader_equals_results(written, phantom_inputs, tmp_path):
    out, _ = written
    got, doc = dcmqi_measurements(out / "dicom" / "sr_measurements.dcm", tmp_path)
    res = phantom_inputs.results
    for section in ("discs", "vertebrae"):
        assert set(got[section]) == set(res[section])
        for level, values in res[section].items():
            assert got[section][level] == pytest.approx(values), (section, level)
    assert got["lordosis_deg"] == pytest.approx(res["lordosis_deg"])
    for level, per_muscle in res["muscles"].items():
        for m, per_side in per_muscle.items():
            for side, values in per_side.items():
                got_m = got["muscles"][level][m][side]
                assert set(got_m) == set(values) - {"csa_cm2"}, (level, m, side)  # csa_mm2 carries it
                for key, v in got_m.items():
                    assert v == pytest.approx(values[key]), (level, m, side, key)
    assert set(got["loads"]) == set(res["loads"])  # every task kept apart, none lost
    for task, per_level in res["loads"].items():
        assert set(got["loads"][task]) == set(per_level)
        for level, values in per_level.items():
            assert got["loads"][task][level] == pytest.approx(values), (task, level)
    # dcmqi lists the image library (TID 1600: every source image) and the SEGs referenced
    sources = {str(ds.SOPInstanceUID) for dss in phantom_inputs.source_datasets.values() for ds in dss}
    seg_uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                for p in (out / "dicom").glob("seg_*.dcm")}
    assert set(doc["imageLibrary"]) == sources | seg_uids


@needs_dcmqi
@pytest.mark.parametrize("variant", ["labelmap", "binary"])
def test_dcmqi_segimage2itkimage_voxel_counts(variant, written, written_binary, phantom_inputs, tmp_path):
    out, _ = written if variant == "labelmap" else written_binary
    text_to_label = {codes.segment_concepts(v)[4]: v for v in lb.label_names()
                     if _has_concepts(v)}
    by_series = {(lv.volume.series_instance_uid, lv.volume.stack_index): lv for lv in phantom_inputs.labelled}
    segs = sorted((out / "dicom").glob("seg_*.dcm"))
    assert segs
    for path in segs:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        stack = int(path.stem.rsplit("stack", 1)[1]) - 1
        lv = by_series[(ds.ReferencedSeriesSequence[0].SeriesInstanceUID, stack)]
        folder = tmp_path / path.stem
        folder.mkdir()
        proc = run(SEGIMAGE2ITK, "-t", "nii", "--inputDICOM", path, "--outputDirectory", folder)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
        meta = json.loads((folder / "meta.json").read_text())
        counted = {}
        for index, attributes in enumerate(meta["segmentAttributes"], start=1):
            image = np.asarray(nib.load(str(folder / f"{index}.nii.gz")).dataobj)
            for a in attributes:
                counted[text_to_label[a["SegmentLabel"]]] = int((image == a["labelID"]).sum())
        present = [int(v) for v in np.unique(lv.label) if v and _has_concepts(int(v))]
        assert counted == {v: int((lv.label == v).sum()) for v in present}, path.name


def _has_concepts(label: int) -> bool:
    try:
        codes.segment_concepts(label)
    except KeyError:
        return False
    return True


def _dsrdump(path: Path, *options: str) -> subprocess.CompletedProcess:
    return run(DSRDUMP, *options, path)


@needs_dcmtk
def test_dcmtk_reads_sr_and_xml_schema_clean(written_binary, tmp_path):
    out, _ = written_binary
    sr = out / "dicom" / "sr_measurements.dcm"
    dump = _dsrdump(sr)
    assert dump.returncode == 0 and dump.stderr == "", dump.stderr[-2000:]
    assert "Imaging Measurement Report" in dump.stdout and "SCOORD" in dump.stdout
    xml = tmp_path / "sr.xml"
    proc = run(DSR2XML, "+Xs", "+Xn", sr, xml)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    # +Vs validates against the schema that the document names ("dsr2xml.xsd", resolved next
    # to it); without that file xml2dsr silently skips validation, hence the copy and the check
    shutil.copy(next(Path("/usr/share").glob("dcmtk*/dsr2xml.xsd")), tmp_path / "dsr2xml.xsd")
    proc = run(XML2DSR, "+Vs", xml.name, "back.dcm", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    assert _dsrdump(tmp_path / "back.dcm").stdout.count("SCOORD") == dump.stdout.count("SCOORD")
    text = xml.read_text()
    assert "<value>LOAD-COMP</value>" in text
    (tmp_path / "long.xml").write_text(text.replace("<value>LOAD-COMP</value>", "<value>LOAD-COMPRESSION-FORCE</value>", 1))
    proc = run(XML2DSR, "+Vs", "long.xml", "long.dcm", cwd=tmp_path)  # a 20-character code value
    assert proc.returncode != 0 and "does not validate" in proc.stderr


@needs_dcmtk
def test_dcmtk_labelmap_sr_only_unknown_sop_class(written, tmp_path):
    """DCMTK 3.6.7 does not know Label Map Segmentation Storage: its only complaints about the
    LABELMAP report are the Referenced Segment items pointing at such a SEG, nothing else."""
    sr_path = written[0] / "dicom" / "sr_measurements.dcm"
    sr = pydicom.dcmread(sr_path)
    n_refs = sum(1 for item in _walk(sr) if item.ValueType == "IMAGE" and
                 item.ReferencedSOPSequence[0].ReferencedSOPClassUID == LABEL_MAP_SEG)
    assert n_refs > 0
    dump = _dsrdump(sr_path, "-Ev")  # accept the item values it cannot check
    assert dump.returncode == 0
    lines = dump.stderr.splitlines()
    assert len(lines) == 2 * n_refs and all(
        "unknown image SOP class" in line or "invalid/incomplete content item IMAGE" in line for line in lines), lines[:6]


def _walk(item):
    for child in getattr(item, "ContentSequence", []) or []:
        yield child
        yield from _walk(child)
