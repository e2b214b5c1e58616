"""Page 1 of the report: the key numbers by level against published ranges, notes in plain words, overlays.

Layout (A4 portrait, inches from the top): header; the mid-sagittal overlay with level
names and up to two axial overlays; two columns of small tables (discs, vertebral
bodies | paraspinal CSA, disc compression); the notes; the numbered references. The
notes get the room that is left: those that do not fit are counted and listed in full
on the detail pages.
"""
from __future__ import annotations

from matplotlib.patches import Rectangle

from lumbarqi import labels as lb
from lumbarqi.reporting import codes
from lumbarqi.reporting import reference_ranges as refs
from lumbarqi.reporting.figures import cm2, draw_overlay, mid_sagittal_index
from lumbarqi.reporting.findings import notes
from lumbarqi.reporting.layout import A4_IN, MARGIN_IN, Column, Flow, text_width_in, wrap_text
from lumbarqi.volume import LabelledVolume

SUMMARY_MUSCLES = ("multifidus", "erector_spinae")
SUMMARY_TASKS = ("standing", "flexion_30", "flexion_60", "extension_20", "lateral_bend_20", "hold_10kg")


def fmt(v, digits: int = 1) -> str:
    return "-" if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) else f"{v:.{digits}f}"


def _mark(assessment: str) -> str:
    return {"low": "low", "high": "high"}.get(assessment, "")


def disc_rows(discs: dict) -> tuple[list[list[str]], list[list[bool]]]:
    rows, marks = [], []
    for lvl in lb.REPORTED_DISCS:
        d = discs.get(lvl)
        if d is None:
            continue
        r = refs.disc_height_range(lvl)
        a = r.assess(d.get("height_middle_mm")) if r else ""
        rows.append([lvl, fmt(d.get("height_middle_mm")), fmt(d.get("height_index"), 2),
                     f"{r.text()} [{r.ref}]" if r else "-", _mark(a)])
        marks.append([False, bool(a), False, False, bool(a)])
    return rows, marks


def vertebra_rows(verts: dict) -> tuple[list[list[str]], list[list[bool]]]:
    rows, marks = [], []
    for name, v in verts.items():
        loss = refs.vertebral_height_loss(v)
        bad = loss is not None and loss >= refs.VERTEBRAL_HEIGHT_LOSS_GRADE1
        rows.append([name, fmt(v.get("height_anterior_mm")), fmt(v.get("height_posterior_mm")),
                     fmt(100 * loss, 0) if loss is not None else "-", "deformity?" if bad else ""])
        marks.append([False, False, False, bad, bad])
    return rows, marks


def muscle_rows(muscles: dict, which=SUMMARY_MUSCLES) -> tuple[list[list[str]], list[list[bool]]]:
    rows, marks = [], []
    for lvl in lb.REPORTED_DISCS:
        for m in which:
            sides = ((muscles.get(lvl) or {}).get(m)) or {}
            if not sides:
                continue
            r = refs.csa_range(m, lvl)
            left, right = cm2(sides.get("left") or {}), cm2(sides.get("right") or {})
            a_l, a_r = (r.assess(left), r.assess(right)) if r else ("", "")
            rows.append([lvl, codes.MUSCLE_NAMES.get(m, m), fmt(left), fmt(right), f"{r.text()} [{r.ref}]" if r else "-"])
            marks.append([False, False, bool(a_l), bool(a_r), False])
    return rows, marks


def load_rows(results: dict) -> list[list[str]]:
    loads = results.get("loads") or {}
    depth = ((results.get("discs") or {}).get("L4/L5") or {}).get("depth_mm")
    rows = []
    for task in [t for t in SUMMARY_TASKS if t in loads] + [t for t in loads if t not in SUMMARY_TASKS]:
        per = loads[task]
        ref = refs.wilke_l45_n(task, depth)
        rows.append([task.replace("_", " "), fmt((per.get("L4/L5") or {}).get("compression_n"), 0),
                     fmt((per.get("L5/S1") or {}).get("compression_n"), 0),
                     f"{ref:.0f} [{refs.WILKE_REF},{refs.NACHEMSON_REF}]" if ref else "-"])
    return rows


def _subject_line(results: dict) -> str:
    s = results.get("subject") or {}
    sag = ((results.get("series") or {}).get("sagittal_t1") or {}).get("description") or "-"
    source = {"dicom": "from the DICOM header"}.get(str(s.get("source")), str(s.get("source") or ""))
    return (f"Sex {s.get('sex', '-')}, height {fmt(s.get('height_m'), 2)} m, mass {fmt(s.get('mass_kg'))} kg"
            f"{' (' + source + ')' if source else ''};  lordosis L1-S1 {fmt(results.get('lordosis_deg'))} deg;  "
            f"sagittal series: {str(sag)[:40]}")


def _images(flow: Flow, sagittal: LabelledVolume | None, axial: list[tuple[str, LabelledVolume, int]]) -> None:
    if sagittal is None and not axial:
        flow.text(MARGIN_IN, "No overlay: no segmented sagittal or axial T1 stack (see the notes).", 8)
        return
    fig, top, height = flow.fig, flow.y + 0.22, 4.1  # 0.22 in: the image titles above the axes
    if sagittal is not None:
        ax = fig.add_axes([flow.fx(MARGIN_IN), flow.fy(top + height), 3.9 / A4_IN[0], height / A4_IN[1]])
        ax.set_anchor("N")
        draw_overlay(ax, sagittal, mid_sagittal_index(sagittal), "Mid-sagittal T1 with level names", True)
    preferred = sorted(axial, key=lambda a: (a[0] not in ("L4/L5", "L5/S1"), lb.REPORTED_DISCS.index(a[0])
                                              if a[0] in lb.REPORTED_DISCS else 99))[:2]
    preferred.sort(key=lambda a: lb.REPORTED_DISCS.index(a[0]) if a[0] in lb.REPORTED_DISCS else 99)
    x0, w, h = MARGIN_IN + 4.1, A4_IN[0] - 2 * MARGIN_IN - 4.1, 1.75
    for i, (level, lv, k) in enumerate(preferred):
        y = top + i * (h + 0.3)
        ax = fig.add_axes([flow.fx(x0), flow.fy(y + h), w / A4_IN[0], h / A4_IN[1]])
        ax.set_anchor("N")
        draw_overlay(ax, lv, k, f"Axial T1 at {level} (image left = patient right)", False)
    if preferred:  # colour key of the muscles, one line under the axial images
        swatch_y = top + len(preferred) * (h + 0.3) - 0.1
        x = x0
        for m in lb.MUSCLES:
            rgb = [c / 255 for c in codes.segment_rgb(lb.MUSCLE_LABEL[(m, "left")])]
            fig.add_artist(Rectangle((flow.fx(x), flow.fy(swatch_y + 0.08)), 0.08 / A4_IN[0], 0.08 / A4_IN[1], color=rgb))
            fig.text(flow.fx(x + 0.11), flow.fy(swatch_y + 0.04), codes.MUSCLE_NAMES[m], fontsize=6, va="center")
            x += 0.2 + text_width_in(fig, codes.MUSCLE_NAMES[m], 6)
    flow.y = top + height + 0.15


def reference_lines(flow: Flow, size: float = 5.6) -> list[str]:
    lines = []
    for n, text in refs.REFERENCES.items():
        wrapped = wrap_text(flow.fig, f"[{n}] {text}", flow.width, size)
        lines += wrapped
    return lines


def page_summary(flow: Flow, results: dict, sagittal: LabelledVolume | None,
                 axial: list[tuple[str, LabelledVolume, int]]) -> list[str]:
    """Draw page 1; returns the notes that did not fit (shown in full on the detail pages)."""
    flow.new_page()
    flow.text(MARGIN_IN, "lumbarqi: quantitative lumbar spine MRI", 14, fontweight="bold")
    flow.y += 0.03
    flow.text(MARGIN_IN, _subject_line(results), 7.5)
    flow.paragraph("Research use. Automatic measurements: check the overlays before relying on a number. "
                   "Ranges from the literature [n] put values in context; they are not diagnostic limits.", 6.5,
                   style="italic", color="0.25")
    flow.y += 0.05
    _images(flow, sagittal, axial)
    top = flow.y
    left_w = 3.55
    rows, marks = disc_rows(results.get("discs") or {})
    flow.table([Column("disc", 0.6), Column("middle mm", 0.75), Column("DHI", 0.5), Column("reference mm", 1.15),
                Column("", 0.55)], rows, MARGIN_IN, 6.8, "Disc height (mid-sagittal)", marks)
    rows, marks = vertebra_rows(results.get("vertebrae") or {})
    flow.table([Column("body", 0.6), Column("anterior mm", 0.8), Column("posterior mm", 0.85),
                Column("height loss %", 0.85), Column("", 0.45)], rows, MARGIN_IN, 6.8,
               f"Vertebral bodies [{refs.VERTEBRAL_REF}]", marks)
    bottom_left = flow.y
    flow.y = top
    x1 = MARGIN_IN + left_w + 0.2
    rows, marks = muscle_rows(results.get("muscles") or {})
    flow.table([Column("level", 0.55), Column("muscle", 1.0), Column("left", 0.5), Column("right", 0.5),
                Column("reference", 1.07)], rows, x1, 6.8, "Paraspinal CSA per side (cm2)", marks)
    if results.get("loads"):
        flow.table([Column("task", 1.05), Column("L4/L5", 0.6), Column("L5/S1", 0.6), Column("Wilke L4/L5", 1.37)],
                   load_rows(results), x1, 6.8, "Disc compression, model estimate (N)")
    flow.y = max(flow.y, bottom_left) + 0.02
    refs_lines = reference_lines(flow)
    refs_top = flow.bottom - len(refs_lines) * 5.6 * 1.45 / 72 - 0.05
    flow.text(MARGIN_IN, "Notes", 9, fontweight="bold")
    all_notes = notes(results)
    line_h = 7 * 1.45 / 72
    shown = 0
    for note in all_notes:
        lines = wrap_text(flow.fig, note, flow.width - 0.15, 7)
        reserve = line_h if shown + 1 < len(all_notes) else 0.0  # room for the "more notes" line
        if flow.y + line_h * len(lines) + reserve > refs_top:
            break
        flow.paragraph(note, 7, bullet="-")
        shown += 1
    if not all_notes:
        flow.text(MARGIN_IN, "No value outside the reference ranges and no quality flag.", 7)
    rest = all_notes[shown:]
    if rest:
        flow.text(MARGIN_IN, f"{len(rest)} more note(s) on the detail pages.", 7, style="italic")
    flow.y = refs_top
    for line in refs_lines:
        flow.text(MARGIN_IN, line, 5.6, color="0.2")
    return rest
