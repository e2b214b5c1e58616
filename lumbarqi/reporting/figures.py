"""Figures of the report: label overlays (sagittal with level names that never overlap, axial) and charts.

Image axes follow the DICOM display: columns to the right, rows down; on the sagittal
T1 anterior is on the image left, on the axial T1 the patient's right is on the image left.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lumbarqi import labels as lb  # noqa: E402
from lumbarqi.reporting import codes  # noqa: E402
from lumbarqi.reporting import reference_ranges as refs  # noqa: E402
from lumbarqi.volume import LabelledVolume  # noqa: E402

LABEL_PT = 6.5
#: Dark box behind a level name: readable on any tissue, and the name stays text (searchable, checkable).
_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "black", "alpha": 0.6, "lw": 0}


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


def mid_sagittal_index(labelled: LabelledVolume) -> int:
    """Slice with the most vertebral body and disc voxels (never a missing slice: it has no image)."""
    spine = [*lb.VERTEBRA_LABEL.values(), *lb.DISC_LABEL.values()]
    counts = np.isin(labelled.label, spine).sum(axis=(1, 2))
    vol = labelled.volume
    counts[list(vol.missing_slices)] = -1
    return int(np.argmax(counts)) if (counts > 0).any() else vol.nearest_with_image(labelled.label.shape[0] // 2)


def spread(wanted: list[float], gap: float, low: float, high: float) -> list[float]:
    """Positions as close as possible to ``wanted`` (sorted ascending) but at least ``gap`` apart, within [low, high]."""
    out: list[float] = []
    for w in wanted:
        out.append(max(w, out[-1] + gap) if out else max(w, low))
    overflow = (out[-1] - high) if out else 0.0
    if overflow > 0:  # push the column back up, keeping the gaps
        for i in range(len(out) - 1, -1, -1):
            limit = high if i == len(out) - 1 else out[i + 1] - gap
            out[i] = min(out[i], limit)
    return out


def _level_labels(ax, label: np.ndarray, row_pt: float) -> None:
    """Vertebra names right of the bodies, disc names left of the discs, each column spread apart."""
    rows_total = label.shape[0]
    gap = LABEL_PT * 1.5 / row_pt  # in image rows
    for names, side in ((lb.VERTEBRA_LABEL, "right"), (lb.DISC_LABEL, "left")):
        items = []
        for name, value in names.items():
            rr, cc = np.nonzero(label == value)
            if len(rr):
                items.append((float(rr.mean()), name, float(cc.max() if side == "right" else cc.min())))
        items.sort()
        ys = spread([y for y, _, _ in items], gap, gap / 2, rows_total - gap / 2)
        if not items:
            continue
        anchor = max(x for _, _, x in items) + 6 if side == "right" else min(x for _, _, x in items) - 6
        for (y0, name, x0), y in zip(items, ys, strict=False):
            ax.annotate(name, xy=(x0, y0), xytext=(anchor, y), color="white", fontsize=LABEL_PT,
                        fontweight="bold" if side == "right" else "normal", va="center",
                        ha="left" if side == "right" else "right", bbox=_BOX,
                        arrowprops={"arrowstyle": "-", "color": "white", "lw": 0.5, "alpha": 0.8})


def draw_overlay(ax, labelled: LabelledVolume, k: int, title: str, level_labels: bool) -> None:
    """Slice ``k`` with its labels (fixed colours); vertebra and disc names when asked."""
    image, label = labelled.volume.array[k], labelled.label[k]
    g = labelled.volume.geometry
    aspect = g.row_spacing_mm / g.col_spacing_mm
    lo, hi = _window(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="bilinear")
    ax.imshow(_rgba(label), aspect=aspect, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    if level_labels:
        ax.apply_aspect()
        height_pt = ax.get_position().height * ax.figure.get_figheight() * 72
        _level_labels(ax, label, height_pt / label.shape[0])


def save_overlay(labelled: LabelledVolume, k: int, title: str, levels: bool, path: Path) -> Path:
    """One overlay as a PNG (5 x 5 in, 150 dpi), written via a temporary name."""
    fig, ax = plt.subplots(figsize=(5, 5), dpi=150)
    draw_overlay(ax, labelled, k, title, levels)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def cm2(entry: dict) -> float | None:
    """Muscle CSA (cm2) of one results.json muscle entry."""
    if isinstance(entry.get("csa_cm2"), (int, float)):
        return float(entry["csa_cm2"])
    return float(entry["csa_mm2"]) / 100 if isinstance(entry.get("csa_mm2"), (int, float)) else None


def disc_chart(ax, discs: dict) -> None:
    """Disc heights by level against the reference ranges of [1] (green)."""
    levels = [lvl for lvl in lb.REPORTED_DISCS if lvl in discs or lvl in refs.DISC_HEIGHT_MM]
    for i, lvl in enumerate(levels):
        r = refs.disc_height_range(lvl)
        if r:
            ax.add_patch(plt.Rectangle((i - 0.3, r.low), 0.6, r.high - r.low, color="tab:green", alpha=0.25, lw=0))
        d = discs.get(lvl) or {}
        for key, marker, color in (("height_anterior_mm", "^", "0.5"), ("height_middle_mm", "o", "tab:blue"),
                                   ("height_posterior_mm", "v", "0.5")):
            if isinstance(d.get(key), (int, float)):
                ax.plot(i, d[key], marker, color=color, ms=5)
    ax.set_xticks(np.arange(len(levels)), levels, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_ylabel("disc height (mm)", fontsize=7)
    ax.set_title(f"Disc height: ^ anterior, o middle, v posterior; green: reference range [{refs.DISC_HEIGHT_MM['L4/L5'].ref}]",
                 fontsize=8, loc="left")


def csa_chart(axes, muscles: dict) -> None:
    """One panel per muscle: left and right CSA by level (horizontal bars), reference of [2] in green."""
    levels = [lvl for lvl in lb.REPORTED_DISCS if lvl in muscles]
    for ax, m in zip(axes, lb.MUSCLES, strict=False):
        y = np.arange(len(levels))
        for j, (side, color) in enumerate((("left", "tab:red"), ("right", "tab:orange"))):
            vals = [cm2(((muscles.get(lvl) or {}).get(m) or {}).get(side) or {}) for lvl in levels]
            ax.barh(y + (j - 0.5) * 0.38, [v if v is not None else 0 for v in vals], 0.36, color=color,
                    label=side, alpha=0.85)
        for i, lvl in enumerate(levels):
            r = refs.csa_range(m, lvl)
            if r:
                ax.add_patch(plt.Rectangle((r.low, i - 0.45), r.high - r.low, 0.9, color="tab:green", alpha=0.2, lw=0))
        ax.set_yticks(y, levels, fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=6.5)
        ax.set_xlabel("CSA per side (cm2)", fontsize=7)
        ax.set_title(codes.MUSCLE_NAMES.get(m, m), fontsize=8)
    if len(axes):
        axes[0].legend(fontsize=6, loc="lower right")


def loads_chart(ax, per_level: dict, task: str, reference_n: float | None) -> None:
    """Compression and AP shear by level for one task; Wilke's L4/L5 figure as a star."""
    levels = [lvl for lvl in lb.REPORTED_DISCS if lvl in per_level]
    x = np.arange(len(levels))
    comp = [per_level[lvl].get("compression_n", np.nan) for lvl in levels]
    shear = [per_level[lvl].get("shear_ap_n", np.nan) for lvl in levels]
    ax.bar(x - 0.2, comp, 0.4, label="compression")
    ax.bar(x + 0.2, shear, 0.4, label="AP shear")
    if reference_n is not None and "L4/L5" in levels:
        ax.plot(levels.index("L4/L5"), reference_n, "k*", ms=9, label=f"Wilke [{refs.WILKE_REF}] at L4/L5")
    ax.set_xticks(x, levels, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("N", fontsize=7)
    ax.set_title(task.replace("_", " "), fontsize=8, loc="left")
    top = np.nanmax([*comp, *shear, reference_n or 0.0, 1.0])
    ax.set_ylim(min(0.0, float(np.nanmin([*shear, 0.0]))) * 1.15, top * 1.45)
    ax.legend(fontsize=6, loc="upper right", ncol=3, frameon=False)
