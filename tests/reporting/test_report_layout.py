"""The PDF report as a reader sees it: no overlapping words, nothing off the page, no file paths, cited ranges.

Words and their boxes come from poppler's ``pdftotext -bbox`` (the text a viewer draws),
so a level name on the sagittal figure, a table cell and a note all count.
"""
from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from lumbarqi.reporting.pdf import render_report
from lumbarqi.reporting.reference_ranges import REFERENCES

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
#: What a development or file-system path looks like (level names such as L4/L5 are not paths).
PATH_LIKE = re.compile(r"(\.\.?/|~/|(?:^|\s)/[A-Za-z_]|\b[\w-]+\.(?:md|py|json|csv|gz|nii|txt|dcm)\b|[A-Za-z]:\\)")


def pdf_pages(pdf: Path) -> list[dict]:
    """Per page: width, height and words [(x0, y0, x1, y1, text)] in PDF points, origin top-left."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [{"width": float(w), "height": float(h),
             "words": [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in WORD.findall(body)]}
            for w, h, body in PAGE.findall(xml)]


def overlapping_words(words: list[tuple], shrink: float = 0.15) -> list[tuple[str, str]]:
    """Pairs of words whose boxes (trimmed by ``shrink`` of their height top and bottom) intersect."""
    boxes = []
    for x0, y0, x1, y1, t in words:
        dy = (y1 - y0) * shrink
        boxes.append((x0 + 0.3, y0 + dy, x1 - 0.3, y1 - dy, t))
    boxes.sort()
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b[0] >= a[2]:
                break
            if min(a[3], b[3]) - max(a[1], b[1]) > 0 and min(a[2], b[2]) - max(a[0], b[0]) > 0:
                pairs.append((a[4], b[4]))
    return pairs


def check_layout(pdf: Path) -> list[dict]:
    pages = pdf_pages(pdf)
    assert pages, "no pages"
    for n, page in enumerate(pages, 1):
        assert overlapping_words(page["words"]) == [], f"page {n}: overlapping text"
        off = [w[4] for w in page["words"] if w[0] < 0 or w[1] < 0 or w[2] > page["width"] or w[3] > page["height"]]
        assert off == [], f"page {n}: text off the page"
        text = " ".join(w[4] for w in page["words"])
        assert not PATH_LIKE.search(text), f"page {n}: path-like text {PATH_LIKE.search(text).group(0)!r}"
    return pages


def test_overlap_detector_finds_overlaps():
    """The checker itself: two words drawn on top of each other are found, neighbours on a line are not."""
    words = [(10, 10, 40, 20, "L4/L5"), (41, 10, 70, 20, "disc"), (30, 12, 60, 22, "flag")]
    assert {frozenset(p) for p in overlapping_words(words)} == {frozenset(("L4/L5", "flag")), frozenset(("disc", "flag"))}
    assert overlapping_words(words[:2]) == []
    assert PATH_LIKE.search("see ../shared/data/README.md") and not PATH_LIKE.search("L4/L5 and L5/S1 at 1.5 mm")


def test_report_pages_readable(written, phantom_inputs):
    out, _ = written
    pages = check_layout(out / "report.pdf")
    first = " ".join(w[4] for w in pages[0]["words"])
    for heading in ("Disc height", "Vertebral bodies", "Paraspinal CSA", "Disc compression", "Notes"):
        assert heading in first
    for name in ("T12", "L1", "L5", "L4/L5", "L5/S1"):  # level names on the sagittal figure are text
        assert sum(w[4] == name for w in pages[0]["words"]) >= 2, name
    for n, ref in REFERENCES.items():  # every reference is printed on page 1, by first author
        assert f"[{n}]" in first and ref.split(".")[0] in first
    assert "Zhang F" in first and "Wilke HJ" in first
    # the notes are the flags in plain words (grouped), not codes
    assert "Segmentation uncertain (L5/S1)" in first and "low_confidence" not in first
    all_text = " ".join(w[4] for p in pages for w in p["words"])
    assert "All notes" in all_text and "Against published ranges" in all_text


def test_encapsulated_pdf_is_the_report(written):
    out, _ = written
    ds = pydicom.dcmread(out / "dicom" / "report_pdf.dcm")
    doc = bytes(ds.EncapsulatedDocument)
    pdf = (out / "report.pdf").read_bytes()
    assert doc[:len(pdf)] == pdf and len(doc) - len(pdf) in (0, 1) and ds.EncapsulatedDocumentLength == len(pdf)


def test_crowded_report_still_readable(phantom_inputs, tmp_path):
    """Many long flags and a long series name: notes move to the detail pages, nothing overlaps."""
    from lumbarqi.reporting.figures import mid_sagittal_index
    from lumbarqi.reporting.seg import stack_plane

    results = copy.deepcopy(phantom_inputs.results)
    results["series"] = {"sagittal_t1": {"description": "T1 TSE SAG long vendor protocol name " * 4}}
    results["flags"] = [{"code": f"kind_{i % 9}", "level": lvl, "structure": "disc",
                         "message": f"{lvl} " + "a rather long explanation of what went wrong here " * (1 + i % 3)}
                        for i, lvl in enumerate(["L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1"] * 8)]
    sag = next(lv for lv in phantom_inputs.labelled if stack_plane(lv) == "sagittal")
    axial = [lv for lv in phantom_inputs.labelled if stack_plane(lv) != "sagittal"]
    levels = [lvl for lvl in results["muscles"]][:2]
    k = axial[0].label.shape[0] // 2
    render_report(tmp_path / "report.pdf", results, sag, [(lvl, axial[0], k) for lvl in levels], tmp_path / "png")
    pages = check_layout(tmp_path / "report.pdf")
    first = " ".join(w[4] for w in pages[0]["words"])
    assert re.search(r"\d+ more note\(s\) on the detail pages", first)
    assert mid_sagittal_index(sag) >= 0


def test_report_without_images_or_measurements(tmp_path):
    """A run that measured nothing still gets a readable report saying so."""
    results = {"schema_version": "1.0", "flags": [{"code": "not_measurable", "message": "no sagittal T1 stack"}]}
    assert render_report(tmp_path / "r.pdf", results, None, [], tmp_path / "png") == []
    first = " ".join(w[4] for w in check_layout(tmp_path / "r.pdf")[0]["words"])
    assert "No overlay" in first and "Not measured: no sagittal T1 stack." in first
