"""The one-minute report: a PDF (matplotlib) with PNG copies of its overlays.

Page 1: key numbers and the mid-sagittal overlay with level labels; page 2: one
axial overlay per level; page 3: disc height and muscle CSA against published
ranges; page 4 (if loads are present): loads per task and level.

Reference figures are those of ``../shared/data/README.md`` ("Published
reference figures"): disc heights by level (MRI, adults: about 8 mm at L1/L2,
11-14 mm at L4/L5, 11-13 mm at L5/S1), paraspinal CSA (multifidus 5-10 cm2 per
side at L4-L5, erector spinae 15-20 cm2 per side at L3-L4), and the in vivo
L4/L5 intradiscal pressure of Wilke HJ et al., Spine 1999;24:755-762 (0.5 MPa
standing, 1.1 MPa flexed), turned into force with Nachemson's 0.66 x pressure x
disc area on an 1,800 mm2 disc.
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
from lumbarqi.volume import LabelledVolume  # noqa: E402

REFERENCE_NOTE = ("Reference ranges: ../shared/data/README.md 'Published reference figures' "
                  "(disc height and paraspinal CSA, adult MRI); loads: Wilke et al., Spine 1999;24:755-762.")
DISC_HEIGHT_REF_MM: dict[str, tuple[float, float]] = {"L1/L2": (8.0, 8.0), "L4/L5": (11.0, 14.0),
                                                      "L5/S1": (11.0, 13.0)}
CSA_REF_CM2: dict[tuple[str, str], tuple[float, float]] = {("multifidus", "L4/L5"): (5.0, 10.0),
                                                          ("erector_spinae", "L3/L4"): (15.0, 20.0)}
L45_LOAD_REF_N: dict[str, float] = {"standing": 0.66 * 0.5 * 1800, "flexion_30": 0.66 * 1.1 * 1800}
A4 = (8.27, 11.69)


def _window(image: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(image, [1, 99.5])
    return float(lo), float(max(hi, lo + 1e-6))


def _rgba(label: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    out = np.zeros(label.shape + (4,), dtype=float)
    for value in np.unique(label):
        if value == 0 or int(value) not in lb.label_names():
            continue
        r, g, b = codes.segment_rgb(int(value))
        out[label == value] = (r / 255, g / 255, b / 255, alpha)
    return out


def draw_overlay(ax, labelled: LabelledVolume, k: int, title: str, level_labels: bool) -> None:
    """Slice ``k`` with its labels (fixed colours); vertebra and disc names when asked."""
    image, label = labelled.volume.array[k], labelled.label[k]
    g = labelled.volume.geometry
    aspect = g.row_spacing_mm / g.col_spacing_mm
    lo, hi = _window(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="bilinear")
    ax.imshow(_rgba(label), aspect=aspect, interpolation="nearest")
    if level_labels:
        for name, value in {**lb.VERTEBRA_LABEL, **lb.DISC_LABEL}.items():
            rows, cols = np.nonzero(label == value)
            if len(rows):
                ax.text(cols.max() + 4, rows.mean(), name, color="white", fontsize=6 if "/" in name else 7,
                        va="center", fontweight="bold" if "/" not in name else "normal")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def mid_sagittal_index(labelled: LabelledVolume) -> int:
    """Slice with the most vertebral body and disc voxels."""
    spine = [*lb.VERTEBRA_LABEL.values(), *lb.DISC_LABEL.values()]
    counts = np.isin(labelled.label, spine).sum(axis=(1, 2))
    return int(np.argmax(counts)) if counts.any() else labelled.label.shape[0] // 2


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None or isinstance(v, bool) else f"{v:.{digits}f}"


def _table(ax, rows: list[list[str]], header: list[str], title: str, size: float = 7) -> None:
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, loc="left")
    if not rows:
        ax.text(0, 0.5, "not measured", fontsize=8)
        return
    t = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(size)
    t.scale(1, 1.15)


def _page_summary(pdf: PdfPages, results: dict, sagittal: LabelledVolume | None, png_dir: Path) -> list[Path]:
    fig = plt.figure(figsize=A4)
    subject = results.get("subject") or {}
    fig.text(0.05, 0.965, "lumbarqi - quantitative lumbar spine MRI", fontsize=14, fontweight="bold")
    sag = (results.get("series") or {}).get("sagittal_t1") or {}
    fig.text(0.05, 0.945, f"Subject: sex {subject.get('sex', '-')}, height {_fmt(subject.get('height_m'), 2)} m, "
             f"mass {_fmt(subject.get('mass_kg'))} kg ({subject.get('source', '-')});  "
             f"sagittal series: {sag.get('description', '-')};  lordosis L1-S1: "
             f"{_fmt(results.get('lordosis_deg'))} deg", fontsize=8)
    fig.text(0.05, 0.932, "Research use: automatic measurements, check the overlays before use.",
             fontsize=7, style="italic")
    pngs = []
    if sagittal is not None:
        ax = fig.add_axes([0.03, 0.42, 0.45, 0.5])
        draw_overlay(ax, sagittal, mid_sagittal_index(sagittal), "Mid-sagittal T1 with levels", True)
    discs = results.get("discs") or {}
    rows = [[lvl, _fmt(d.get("height_anterior_mm")), _fmt(d.get("height_middle_mm")),
             _fmt(d.get("height_posterior_mm")), _fmt(d.get("height_mean_mm")), _fmt(d.get("height_index"), 2)]
            for lvl, d in discs.items()]
    _table(fig.add_axes([0.52, 0.68, 0.45, 0.23]), rows, ["disc", "ant", "mid", "post", "mean", "DHI"],
           "Disc heights (mm) and disc height index")
    verts = results.get("vertebrae") or {}
    rows = [[lvl, _fmt(v.get("height_anterior_mm")), _fmt(v.get("height_posterior_mm")),
             _fmt(v.get("depth_mm")), _fmt(v.get("wedge_deg"))] for lvl, v in verts.items()]
    _table(fig.add_axes([0.52, 0.5, 0.45, 0.16]), rows, ["body", "ant", "post", "depth", "wedge"],
           "Vertebral bodies (mm, deg)")
    loads = results.get("loads") or {}
    level = "L4/L5" if any("L4/L5" in v for v in loads.values()) else next(
        (lvl for v in loads.values() for lvl in v), None)
    rows = [[task.replace("_", " "), _fmt(v[level].get("compression_n"), 0), _fmt(v[level].get("shear_ap_n"), 0)]
            for task, v in loads.items() if level in v]
    if rows:
        _table(fig.add_axes([0.52, 0.3, 0.45, 0.16]), rows, ["task", "compression", "AP shear"],
               f"Model loads at {level} (N)")
    rows = []
    for lvl, per_muscle in (results.get("muscles") or {}).items():
        for m, sides in per_muscle.items():
            left, right = sides.get("left") or {}, sides.get("right") or {}
            rows.append([lvl, codes.MUSCLE_NAMES.get(m, m), _fmt(_cm2(left)), _fmt(_cm2(right)),
                         _fmt(left.get("fat_index"), 2), _fmt(right.get("fat_index"), 2)])
    _table(fig.add_axes([0.05, 0.09, 0.9, 0.2]), rows,
           ["level", "muscle", "CSA L (cm2)", "CSA R (cm2)", "fat L", "fat R"], "Paraspinal muscles")
    flags = results.get("flags") or []
    text = "; ".join(f"{f.get('level') or ''} {f.get('message') or f.get('code')}".strip() for f in flags)
    fig.text(0.05, 0.06, "Quality flags: " + (text[:400] if text else "none"), fontsize=7, wrap=True)
    fig.text(0.05, 0.03, REFERENCE_NOTE, fontsize=6)
    pdf.savefig(fig)
    plt.close(fig)
    if sagittal is not None:
        pngs.append(_save_overlay(sagittal, mid_sagittal_index(sagittal), "Mid-sagittal T1", True,
                                  png_dir / "sagittal_mid.png"))
    return pngs


def _cm2(entry: dict) -> float | None:
    if isinstance(entry.get("csa_cm2"), (int, float)):
        return float(entry["csa_cm2"])
    return float(entry["csa_mm2"]) / 100 if isinstance(entry.get("csa_mm2"), (int, float)) else None


def _save_overlay(labelled: LabelledVolume, k: int, title: str, levels: bool, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5), dpi=150)
    draw_overlay(ax, labelled, k, title, levels)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def _page_axial(pdf: PdfPages, axial: list[tuple[str, LabelledVolume, int]], results: dict,
                png_dir: Path) -> list[Path]:
    if not axial:
        return []
    n = len(axial)
    cols = 1 if n <= 3 else 2
    nrows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=A4, squeeze=False)
    pngs = []
    for ax, (level, lv, k) in zip(axes.flat, axial):
        offset = _first_offset((results.get("muscles") or {}).get(level) or {})
        title = f"{level}: axial stack {lv.volume.stack_index + 1}, slice {k + 1}" + (
            f" ({offset:+.1f} mm from disc)" if offset is not None else "")
        draw_overlay(ax, lv, k, title, False)
        pngs.append(_save_overlay(lv, k, title, False, png_dir / f"axial_{level.replace('/', '-')}.png"))
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(codes.segment_rgb(lb.MUSCLE_LABEL[(m, "left")])) / 255)
               for m in lb.MUSCLES]
    fig.legend(handles, [codes.MUSCLE_NAMES[m] for m in lb.MUSCLES], loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Axial T1 per level (image left = patient right)", fontsize=11)
    pdf.savefig(fig)
    plt.close(fig)
    return pngs


def _first_offset(per_muscle: dict) -> float | None:
    for sides in per_muscle.values():
        for entry in sides.values():
            if isinstance(entry.get("slice_offset_mm"), (int, float)):
                return float(entry["slice_offset_mm"])
    return None


def _page_reference(pdf: PdfPages, results: dict) -> None:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=A4)
    discs = results.get("discs") or {}
    levels = [lvl for lvl in lb.REPORTED_DISCS if lvl in discs or lvl in DISC_HEIGHT_REF_MM]
    x = np.arange(len(levels))
    for i, lvl in enumerate(levels):
        if lvl in DISC_HEIGHT_REF_MM:
            lo, hi = DISC_HEIGHT_REF_MM[lvl]
            ax1.add_patch(plt.Rectangle((i - 0.3, lo - 0.25 * (lo == hi)), 0.6, max(hi - lo, 0.5),
                                        color="tab:green", alpha=0.25, lw=0))
        d = discs.get(lvl) or {}
        for key, marker in (("height_anterior_mm", "^"), ("height_mean_mm", "o"), ("height_posterior_mm", "v")):
            if isinstance(d.get(key), (int, float)):
                ax1.plot(i, d[key], marker, color="tab:blue" if key == "height_mean_mm" else "tab:gray")
    ax1.set_xticks(x, levels)
    ax1.set_ylabel("disc height (mm)")
    ax1.set_title("Disc height (^ anterior, o mean, v posterior) vs published adult MRI range (green)",
                  fontsize=9)
    ax1.set_xlim(-0.6, len(levels) - 0.4)
    names, values, refs = [], [], []
    for lvl, per_muscle in (results.get("muscles") or {}).items():
        for m, sides in per_muscle.items():
            for side in ("left", "right"):
                v = _cm2(sides.get(side) or {})
                if v is not None:
                    names.append(f"{lvl}\n{codes.MUSCLE_NAMES.get(m, m)}\n{side[0].upper()}")
                    values.append(v)
                    refs.append(CSA_REF_CM2.get((m, lvl)))
    ax2.bar(np.arange(len(values)), values, color="tab:red", alpha=0.7)
    for i, ref in enumerate(refs):
        if ref:
            ax2.add_patch(plt.Rectangle((i - 0.45, ref[0]), 0.9, ref[1] - ref[0], color="tab:green",
                                        alpha=0.3, lw=0))
    ax2.set_xticks(np.arange(len(values)), names, fontsize=5)
    ax2.set_ylabel("CSA (cm2)")
    ax2.set_title("Muscle CSA; green: published range (multifidus L4-L5, erector spinae L3-L4)", fontsize=9)
    fig.text(0.05, 0.02, REFERENCE_NOTE, fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    pdf.savefig(fig)
    plt.close(fig)


def _page_loads(pdf: PdfPages, loads: dict) -> None:
    tasks = list(loads)
    fig, axes = plt.subplots(len(tasks), 1, figsize=A4, squeeze=False, sharex=True)
    for ax, task in zip(axes[:, 0], tasks):
        per_level = loads[task]
        levels = [lvl for lvl in lb.REPORTED_DISCS if lvl in per_level]
        x = np.arange(len(levels))
        comp = [per_level[lvl].get("compression_n", np.nan) for lvl in levels]
        shear = [per_level[lvl].get("shear_ap_n", np.nan) for lvl in levels]
        ax.bar(x - 0.2, comp, 0.4, label="compression")
        ax.bar(x + 0.2, shear, 0.4, label="AP shear")
        if task in L45_LOAD_REF_N and "L4/L5" in levels:
            ax.plot(levels.index("L4/L5"), L45_LOAD_REF_N[task], "k*", ms=10, label="Wilke 1999 (L4/L5)")
        ax.set_xticks(x, levels)
        ax.set_ylabel("N")
        ax.set_title(task.replace("_", " "), fontsize=9)
        top = np.nanmax([*comp, *shear, L45_LOAD_REF_N.get(task, 0.0), 1.0])
        ax.set_ylim(min(0.0, float(np.nanmin([*shear, 0.0]))) * 1.1, top * 1.35)
        ax.legend(fontsize=6, loc="upper left", ncol=3)
    fig.suptitle("Intervertebral loads per task (model estimate)", fontsize=11)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def render_report(path: Path, results: dict, sagittal: LabelledVolume | None,
                  axial: list[tuple[str, LabelledVolume, int]], png_dir: Path) -> list[Path]:
    """Write the PDF to ``path`` (atomically) and the overlay PNGs; returns the PNG paths."""
    png_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with PdfPages(tmp, metadata={"Title": "lumbarqi report", "Creator": "lumbarqi"}) as pdf:
        pngs = _page_summary(pdf, results, sagittal, png_dir)
        pngs += _page_axial(pdf, axial, results, png_dir)
        _page_reference(pdf, results)
        if results.get("loads"):
            _page_loads(pdf, results["loads"])
    tmp.replace(path)
    return pngs
