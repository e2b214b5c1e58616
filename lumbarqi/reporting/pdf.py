"""The report people read: a PDF (matplotlib) with PNG copies of its overlays.

Page 1 (``pdf_summary``): key numbers by level against published reference ranges
(``reference_ranges``, cited as numbered footnotes), notes in plain words, the
mid-sagittal overlay with level names and the axial overlays at L4/L5 and L5/S1.
Detail pages: every measurement and every note; one axial overlay per level; disc
height and muscle CSA charts against the ranges; loads per task and level.
Text is placed by measured width (``layout``), so no two texts overlap.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from lumbarqi import labels as lb  # noqa: E402
from lumbarqi.reporting import codes  # noqa: E402
from lumbarqi.reporting import reference_ranges as refs  # noqa: E402
from lumbarqi.reporting.figures import (  # noqa: E402
    cm2,
    csa_chart,
    disc_chart,
    draw_overlay,
    loads_chart,
    mid_sagittal_index,
    save_overlay,
)
from lumbarqi.reporting.findings import notes  # noqa: E402
from lumbarqi.reporting.layout import A4_IN, MARGIN_IN, RC, Column, Flow  # noqa: E402
from lumbarqi.reporting.pdf_summary import fmt, page_summary  # noqa: E402
from lumbarqi.volume import LabelledVolume  # noqa: E402

FOOTER = "lumbarqi - research use - reference numbers [n] are listed on page 1"


def _page_measurements(flow: Flow, results: dict) -> None:
    flow.new_page()
    flow.text(MARGIN_IN, "Measurements in full", 12, fontweight="bold")
    flow.paragraph("Heights at 10 % (anterior), 50 % (middle) and 90 % (posterior) of the AP depth, in the "
                   "segment's own frame; DHI: disc height index, mean disc height over the mean height of the vertebral body above.", 7)
    discs = results.get("discs") or {}
    rows = []
    for lvl in lb.REPORTED_DISCS:
        if lvl in discs:
            d = discs[lvl]
            r = refs.disc_height_range(lvl)
            rows.append([lvl, fmt(d.get("height_anterior_mm")), fmt(d.get("height_middle_mm")),
                         fmt(d.get("height_posterior_mm")), fmt(d.get("height_mean_mm")), fmt(d.get("height_index"), 2),
                         fmt(d.get("depth_mm")), f"{r.text()} [{r.ref}]" if r else "-"])
    flow.table([Column("disc", 0.7), Column("anterior", 0.8), Column("middle", 0.8), Column("posterior", 0.8),
                Column("mean", 0.7), Column("DHI", 0.6), Column("depth", 0.7), Column("reference (middle)", 1.5)],
               rows, title="Discs (mm)")
    rows = []
    for name, v in (results.get("vertebrae") or {}).items():
        loss = refs.vertebral_height_loss(v)
        rows.append([name, fmt(v.get("height_anterior_mm")), fmt(v.get("height_middle_mm")),
                     fmt(v.get("height_posterior_mm")), fmt(v.get("depth_mm")), fmt(v.get("wedge_deg")),
                     fmt(100 * loss, 0) if loss is not None else "-"])
    flow.table([Column("body", 0.7), Column("anterior", 0.9), Column("middle", 0.9), Column("posterior", 0.9),
                Column("depth", 0.9), Column("wedge deg", 0.9), Column(f"height loss % [{refs.VERTEBRAL_REF}]", 1.5)],
               rows, title="Vertebral bodies (mm)")
    rows = []
    for lvl in lb.REPORTED_DISCS:
        for m, sides in ((results.get("muscles") or {}).get(lvl) or {}).items():
            left, right = sides.get("left") or {}, sides.get("right") or {}
            off = left.get("slice_offset_mm", right.get("slice_offset_mm"))
            rows.append([lvl, codes.MUSCLE_NAMES.get(m, m), fmt(cm2(left)), fmt(cm2(right)),
                         fmt(left.get("fat_index"), 2), fmt(right.get("fat_index"), 2), fmt(off)])
    flow.table([Column("level", 0.7), Column("muscle", 1.5), Column("CSA left cm2", 1.0), Column("CSA right cm2", 1.0),
                Column("fat left", 0.8), Column("fat right", 0.8), Column("slice from disc mm", 1.3)],
               rows, title="Paraspinal muscles")
    flow.text(MARGIN_IN, f"Lordosis L1-S1: {fmt(results.get('lordosis_deg'))} deg", 7.5)


def _page_notes(flow: Flow, results: dict) -> None:
    all_notes = notes(results)
    flow.heading(f"All notes ({len(all_notes)})")
    for note in all_notes or ["none"]:
        flow.paragraph(note, 7.5, bullet="-")


def _page_axial(pdf: PdfPages, axial: list[tuple[str, LabelledVolume, int]], results: dict, png_dir: Path,
                page: int) -> list[Path]:
    if not axial:
        return []
    n = len(axial)
    cols = 1 if n <= 3 else 2
    nrows = int(np.ceil(n / cols))
    fig = plt.figure(figsize=A4_IN)
    gs = fig.add_gridspec(nrows, cols, left=0.06, right=0.94, top=0.93, bottom=0.08, hspace=0.25, wspace=0.08)
    pngs = []
    for i, (level, lv, k) in enumerate(axial):
        ax = fig.add_subplot(gs[i // cols, i % cols])
        offset = _first_offset((results.get("muscles") or {}).get(level) or {})
        title = f"{level}: stack {lv.volume.stack_index + 1}, slice {k + 1}" + (
            f", {offset:+.1f} mm from the disc" if offset is not None else "")
        draw_overlay(ax, lv, k, title, False)
        pngs.append(save_overlay(lv, k, title, False, png_dir / f"axial_{level.replace('/', '-')}.png"))
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(codes.segment_rgb(lb.MUSCLE_LABEL[(m, "left")])) / 255)
               for m in lb.MUSCLES]
    fig.legend(handles, [codes.MUSCLE_NAMES[m] for m in lb.MUSCLES], loc="lower center", ncol=4, fontsize=8,
               bbox_to_anchor=(0.5, 0.035), frameon=False)
    fig.text(0.06, 0.965, "Axial T1 per level (image left = patient right)", fontsize=11, fontweight="bold")
    _footer(fig, page)
    pdf.savefig(fig)
    plt.close(fig)
    return pngs


def _first_offset(per_muscle: dict) -> float | None:
    for sides in per_muscle.values():
        for entry in sides.values():
            if isinstance(entry.get("slice_offset_mm"), (int, float)):
                return float(entry["slice_offset_mm"])
    return None


def _footer(fig, page: int) -> None:
    fig.text(MARGIN_IN / A4_IN[0], 0.35 / A4_IN[1], FOOTER, fontsize=6, color="0.35")
    fig.text(1 - MARGIN_IN / A4_IN[0], 0.35 / A4_IN[1], f"page {page}", fontsize=6, color="0.35", ha="right")


def _page_charts(pdf: PdfPages, results: dict, page: int) -> None:
    fig = plt.figure(figsize=A4_IN)
    gs = fig.add_gridspec(3, 2, left=0.1, right=0.95, top=0.92, bottom=0.07, hspace=0.45, wspace=0.3,
                          height_ratios=[1.1, 1, 1])
    disc_chart(fig.add_subplot(gs[0, :]), results.get("discs") or {})
    axes = [fig.add_subplot(gs[1 + i // 2, i % 2]) for i in range(len(lb.MUSCLES))]
    csa_chart(axes, results.get("muscles") or {})
    fig.text(0.06, 0.965, "Against published ranges", fontsize=11, fontweight="bold")
    fig.text(0.06, 0.945, f"Green: disc height reference ranges [1]; multifidus and erector spinae CSA, mean +/- 2 SD "
             f"[{refs.CSA_CM2[('multifidus', 'L4/L5')].ref}] (no published range used for psoas and quadratus lumborum).",
             fontsize=7)
    _footer(fig, page)
    pdf.savefig(fig)
    plt.close(fig)


def _page_loads(pdf: PdfPages, results: dict, page: int) -> None:
    loads = results["loads"]
    tasks = list(loads)
    depth = ((results.get("discs") or {}).get("L4/L5") or {}).get("depth_mm")
    fig = plt.figure(figsize=A4_IN)
    gs = fig.add_gridspec(len(tasks), 1, left=0.1, right=0.95, top=0.93, bottom=0.06, hspace=0.6)
    for i, task in enumerate(tasks):
        loads_chart(fig.add_subplot(gs[i, 0]), loads[task], task, refs.wilke_l45_n(task, depth))
    fig.text(0.06, 0.965, "Intervertebral loads per task (model estimate, N)", fontsize=11, fontweight="bold")
    _footer(fig, page)
    pdf.savefig(fig)
    plt.close(fig)


def render_report(path: Path, results: dict, sagittal: LabelledVolume | None,
                  axial: list[tuple[str, LabelledVolume, int]], png_dir: Path) -> list[Path]:
    """Write the PDF to ``path`` (atomically) and the overlay PNGs; returns the PNG paths."""
    png_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pngs: list[Path] = []
    with plt.rc_context(RC), PdfPages(tmp, metadata={"Title": "lumbarqi report", "Creator": "lumbarqi"}) as pdf:
        flow = Flow(pdf, FOOTER)
        page_summary(flow, results, sagittal, axial)
        _page_measurements(flow, results)
        _page_notes(flow, results)
        flow.finish_page()
        page = flow.pages + 1
        pngs += _page_axial(pdf, axial, results, png_dir, page)
        page += bool(axial)
        _page_charts(pdf, results, page)
        if results.get("loads"):
            _page_loads(pdf, results, page + 1)
        if sagittal is not None:
            pngs.insert(0, save_overlay(sagittal, mid_sagittal_index(sagittal), "Mid-sagittal T1", True,
                                        png_dir / "sagittal_mid.png"))
    tmp.replace(path)
    return pngs
