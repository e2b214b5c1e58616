"""The validation figure: per measurement family, a scatter (auto vs reference) and a Bland-Altman plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_figure(values: dict[str, tuple[list[float], list[float], list[str]]], stats: dict[str, dict], paths: list[Path]) -> None:
    """Write the figure to each of ``paths`` (format from the suffix: .png, .pdf)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = [f for f in sorted(values) if len(values[f][0]) >= 2]
    if not fams:
        fams = sorted(values)
    per_row = 3
    rows = max(1, int(np.ceil(len(fams) / per_row)))
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(4.2 * per_row * 2 / 2 * 1.0 + 6, 2.6 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for i, f in enumerate(fams):
        a, r = np.asarray(values[f][0], float), np.asarray(values[f][1], float)
        s = stats.get(f, {})
        ax1, ax2 = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        for ax in (ax1, ax2):
            ax.set_visible(True)
            ax.tick_params(labelsize=6)
        lo, hi = float(min(a.min(), r.min())), float(max(a.max(), r.max()))
        ax1.plot([lo, hi], [lo, hi], color="0.6", lw=0.8)
        ax1.scatter(r, a, s=6, alpha=0.7)
        rtxt = "n/a" if s.get("pearson_r") is None else f"{s['pearson_r']:.3f}"
        itxt = "n/a" if s.get("icc_2_1") is None else f"{s['icc_2_1']:.3f}"
        ax1.set_title(f"{f}\nR={rtxt} ICC={itxt} n={len(a)}", fontsize=6)
        ax1.set_xlabel("reference", fontsize=6)
        ax1.set_ylabel("automatic", fontsize=6)
        mean, diff = (a + r) / 2, a - r
        ax2.scatter(mean, diff, s=6, alpha=0.7)
        for y, style in ((s.get("bias", 0.0), "-"), (s.get("loa_low", 0.0), "--"), (s.get("loa_high", 0.0), "--")):
            ax2.axhline(y, color="C3", ls=style, lw=0.8)
        ax2.set_title(f"Bland-Altman: bias {s.get('bias', 0):.3g}, LoA [{s.get('loa_low', 0):.3g}, {s.get('loa_high', 0):.3g}]", fontsize=6)
        ax2.set_xlabel("mean", fontsize=6)
        ax2.set_ylabel("auto - ref", fontsize=6)
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
