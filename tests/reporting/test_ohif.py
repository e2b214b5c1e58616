"""A real viewer: the pinned OHIF package (npm ``@ohif/app``), served against the test Orthanc's
DICOMweb, driven in headless Debian chromium by puppeteer-core (tests/viewer/ohif_check.mjs).

The processed phantom study goes into Orthanc; the viewer opens it, loads the SR (accepting its
offer to track the measurements) and the sagittal SEG; the page must list every disc/body
height, AP depth, muscle CSA and the lordosis with the values of results.json, draw them, and
list the segments. A report without SCOORDs must fail the same check. Screenshots are kept in
``tests/viewer/artifacts/`` (or ``$LUMBARQI_TEST_ARTIFACTS``).
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from test_pacs import ORTHANC, Orthanc, dicomweb_plugin
from viewer_server import VIEWER_DIR, ViewerServer, ohif_installed

from lumbarqi.reporting import codes, send_stow
from lumbarqi.reporting.seg import stack_plane

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node")
ARTIFACTS = Path(os.environ.get("LUMBARQI_TEST_ARTIFACTS", VIEWER_DIR / "artifacts"))
SR_NAME = "lumbarqi measurements (TID 1500)"
SEG_NAME = "lumbarqi SEG t1_tse_sag"
BROKEN_SR_NAME = "lumbarqi measurements, no SCOORD"
PDF_NAME = "lumbarqi report (PDF)"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (ohif_installed() and NODE and Path(CHROMIUM).exists() and (VIEWER_DIR / "node_modules").is_dir()),
    reason="viewer test needs `make viewer-deps` (OHIF, puppeteer-core) and Debian chromium, nodejs")]


@pytest.fixture(scope="module")
def viewer(tmp_path_factory, phantom_inputs, written):
    """Orthanc holding the study, its outputs and a broken SR; OHIF in front of it."""
    plugin = dicomweb_plugin()
    if not Path(ORTHANC).exists() or plugin is None:
        pytest.skip("Debian packages orthanc and orthanc-dicomweb are not installed")
    pacs = Orthanc(tmp_path_factory.mktemp("orthanc_ohif"), plugin)
    broken = tmp_path_factory.mktemp("broken") / "sr_no_scoord.dcm"
    without_scoords(written[0] / "dicom" / "sr_measurements.dcm", broken)
    outputs = sorted((written[0] / "dicom").glob("*.dcm"))
    files = phantom_inputs.all_files + outputs + [broken]
    assert send_stow(files, pacs.url + "/dicom-web") == len(files)
    server = ViewerServer(pacs.url)
    yield server
    server.stop()
    pacs.stop()


def without_scoords(src: Path, dst: Path) -> None:
    """The same report with every SCOORD removed (what lumbarqi wrote before issue 16), as a
    new instance in its own series."""
    ds = pydicom.dcmread(src)

    def strip(item) -> None:
        seq = getattr(item, "ContentSequence", None)
        if seq is None:
            return
        kept = [c for c in seq if c.ValueType != "SCOORD"]
        if kept:
            item.ContentSequence = pydicom.Sequence(kept)
        else:
            del item.ContentSequence
        for c in kept:
            strip(c)

    strip(ds)
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesDescription, ds.SeriesNumber = BROKEN_SR_NAME, 1999
    ds.save_as(dst, enforce_file_format=True)


def run_viewer(viewer: ViewerServer, study_uid: str, sr_name: str, shots: Path, seg_name: str = SEG_NAME,
               pdf_name: str = "-") -> dict:
    """What the page showed (tests/viewer/ohif_check.mjs's JSON report)."""
    shots.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([NODE, str(VIEWER_DIR / "ohif_check.mjs"), viewer.url, study_uid, str(shots), sr_name, seg_name, pdf_name],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    (shots / "page_report.json").write_text(json.dumps(report, indent=1))
    return report


def _primary(m: dict) -> str:
    return json.loads(m["displayText"])["primary"][0].strip() if m["displayText"] else ""


def same_values(listed: list[dict], expected: list[float], unit: str) -> bool:
    """The viewer's listed values (3 significant digits, e.g. "11.4 mm", "1396") = the expected ones."""
    shown = sorted(float(_primary(m).removesuffix(unit).strip()) for m in listed)
    want = sorted(expected)
    return len(shown) == len(want) and all(
        abs(a - b) <= 0.5 * 10 ** (np.floor(np.log10(abs(b))) - 2) + 1e-9 for a, b in zip(shown, want, strict=False))


def close(shown: float, value: float, rel: float = 0.0) -> bool:
    """``shown`` is ``value`` to the viewer's 3 significant digits (or within ``rel``)."""
    return abs(shown - value) <= max(0.5 * 10 ** (np.floor(np.log10(abs(value))) - 2), rel * abs(value)) + 1e-9


def outline_areas(sr_path: Path) -> list[tuple[float, float]]:
    """(reported CSA, area of its drawn outline on the axial image) per muscle, mm2, from the SR."""
    sr = pydicom.dcmread(sr_path)
    images = {}
    out = []

    def walk(item):
        for c in getattr(item, "ContentSequence", []) or []:
            yield c
            yield from walk(c)
    area_code = codes.MEASUREMENT["csa_mm2"][0].value
    for num in (i for i in walk(sr) if i.ValueType == "NUM" and i.ConceptNameCodeSequence[0].CodeValue == area_code):
        scoord = next(c for c in num.ContentSequence if c.ValueType == "SCOORD")
        uid = scoord.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        row_mm, col_mm = images.setdefault(uid, _spacing(sr, uid))
        xy = np.asarray(scoord.GraphicData, float).reshape(-1, 2) * [col_mm, row_mm]
        poly = 0.5 * abs(float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1])))
        out.append((float(num.MeasuredValueSequence[0].NumericValue), poly))
    return out


def _spacing(sr, uid: str) -> tuple[float, float]:
    """(row, column) pixel spacing (mm) of a referenced image, from the report's image library (TID 1600)."""
    lib = next(i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "111028")
    for group in lib.ContentSequence:
        for entry in group.ContentSequence:
            if entry.ValueType == "IMAGE" and entry.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == uid:
                num = {c.ConceptNameCodeSequence[0].CodeValue: float(c.MeasuredValueSequence[0].NumericValue)
                       for c in entry.ContentSequence if c.ValueType == "NUM"}
                return num["111066"], num["111026"]  # vertical (between rows), horizontal
    raise AssertionError(f"image {uid} not in the image library")


def check_viewer_report(report: dict, results: dict, expected_segments: list[str], axial_series: set[str],
                        outlines: list[tuple[float, float]]) -> dict:
    """Assert that the viewer listed and drew the measurements and listed the segments; returns counts."""
    assert not report["pageErrors"], report["pageErrors"][:3]
    assert not [e for e in report["errors"] if "driver:" in e or "TypeError" in e], report["errors"][:3]
    sr = report["sr"]
    assert sr and sr["displaySet"]["isLoaded"], "the SR did not load"
    n_findings = sr["displaySet"]["measurements"]
    assert n_findings > 0 and sr["displaySet"]["loaded"] == n_findings, sr["displaySet"]
    assert len(sr["annotations"]) == n_findings  # every finding drawn on its image
    assert sr["prompted"], "the viewer did not offer to track the report's measurements"
    listed = sr["listed"]
    assert sr["panel"] == f"Measurements ({len(listed)})"
    tools = Counter(m["toolName"] for m in listed)
    # disc and vertebral body heights (anterior, middle, posterior) and AP depth: Length tools
    keys = ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "depth_mm")
    lengths = [v[k] for sec in ("discs", "vertebrae") for v in results[sec].values() for k in keys if k in v]
    assert same_values([m for m in listed if m["toolName"] == "Length"], lengths, "mm")
    # every muscle CSA: its outline (PlanarFreehandROI) listed with the reported CSA; once the viewer
    # has rendered an outline it shows its own area of that outline on the axial image instead
    shown = [float(_primary(m).removesuffix("mm²").strip()) for m in listed if m["toolName"] == "PlanarFreehandROI"]
    assert len(shown) == len(outlines) and all(
        any(close(v, csa) or close(v, in_slice, 0.02) for csa, in_slice in outlines) for v in shown), (shown, outlines)
    assert any(close(v, csa) for v in shown for csa, _ in outlines)
    assert tools["CobbAngle"] == (1 if "lordosis_deg" in results else 0)
    # drawn: the jump to a muscle outline shows an axial image with its outlines and areas
    assert sr["axial"] and any(f"/series/{uid}/" in (sr["axial"]["imageId"] or "") for uid in axial_series)
    assert sum("Area:" in t for t in sr["axial"]["svgText"]) >= 1
    seg = report["seg"]
    segs = [s for s in seg["segmentations"] if s["label"] == SEG_NAME]
    assert segs, f"segmentation {SEG_NAME!r} not listed"
    listed_segments = [x for x in segs[0]["segments"] if x != "Background"]
    assert listed_segments == expected_segments
    assert all(name in seg["panelText"] for name in expected_segments[:5])
    return {"findings_drawn": n_findings, "listed": len(listed), **tools, "segments": len(listed_segments)}


def axial_series(phantom_inputs) -> set[str]:
    return {lv.volume.series_instance_uid for lv in phantom_inputs.labelled if stack_plane(lv) == "axial"}


def expected_sagittal_segments(phantom_inputs) -> list[str]:
    sag = next(lv for lv in phantom_inputs.labelled if stack_plane(lv) == "sagittal")
    labels = [int(v) for v in np.unique(sag.label) if v]
    out = []
    for v in labels:
        try:
            out.append(codes.segment_concepts(v)[4])
        except KeyError:
            continue
    return out


def test_ohif_lists_and_draws_measurements_and_segments(viewer, phantom_inputs, written):
    res = copy.deepcopy(phantom_inputs.results)
    report = run_viewer(viewer, res["study_instance_uid"], SR_NAME, ARTIFACTS / "ohif", pdf_name=PDF_NAME)
    counts = check_viewer_report(report, res, expected_sagittal_segments(phantom_inputs), axial_series(phantom_inputs),
                                 outline_areas(written[0] / "dicom" / "sr_measurements.dcm"))
    (ARTIFACTS / "ohif" / "counts.json").write_text(json.dumps(counts, indent=1))
    assert {Path(p).name for p in report["screenshots"]} >= {"ohif_sr_sagittal.png", "ohif_measurements.png",
                                                             "ohif_csa_axial.png", "ohif_seg.png", "ohif_pdf.png"}
    # the Encapsulated PDF opens in its viewport (fetched as bulk data: Orthanc renders no PDF)
    assert report.get("pdf") and report["pdf"]["status"] == 200 and report["pdf"]["head"] == "%PDF-", report.get("pdf")


def test_ohif_check_fails_on_sr_without_scoord(viewer, phantom_inputs, written):
    """The pre-issue-16 report (no SCOORD anywhere): the same check must fail."""
    res = phantom_inputs.results
    report = run_viewer(viewer, res["study_instance_uid"], BROKEN_SR_NAME, ARTIFACTS / "ohif_broken", seg_name="-")
    with pytest.raises(AssertionError):
        check_viewer_report(report, res, expected_sagittal_segments(phantom_inputs), axial_series(phantom_inputs),
                                 outline_areas(written[0] / "dicom" / "sr_measurements.dcm"))
    # and it fails for the reason a user sees: nothing drawn, nothing to track
    sr = report["sr"] or {}
    assert not sr.get("annotations") and not sr.get("listed")
    assert re.search(r"Measurements \(0\)|^None$", str(sr.get("panel")))
