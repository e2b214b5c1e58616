"""Text layout on A4 matplotlib pages: measured text, wrapped paragraphs and tables that never overlap.

Everything is placed top-down with a cursor in inches from the top of the page; a
block that does not fit starts a new page (``Flow.ensure``), and a table longer than
the room left continues on the next page with its header repeated. Widths are
measured with the figure's renderer, so cells are cut (with "...") rather than
running into the next column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

A4_IN = (8.27, 11.69)
MARGIN_IN = 0.45
#: PDF text as TrueType (not Type 3): copy-paste, search and pdftotext word boxes work.
RC: Any = {"pdf.fonttype": 42, "font.family": "DejaVu Sans"}  # matplotlib rc settings


def text_width_in(fig, text: str, size: float, weight: str = "normal") -> float:
    """Rendered width (inches) of ``text`` at ``size`` points."""
    renderer = fig.canvas.get_renderer()
    w, _, _ = renderer.get_text_width_height_descent(text, FontProperties(size=size, weight=weight), ismath=False)
    return w / fig.dpi


def fit_text(fig, text: str, width_in: float, size: float, weight: str = "normal") -> str:
    """``text`` cut with '...' so that it fits ``width_in``."""
    if text_width_in(fig, text, size, weight) <= width_in:
        return text
    while text and text_width_in(fig, text + "...", size, weight) > width_in:
        text = text[:-1]
    return text.rstrip() + "..."


def wrap_text(fig, text: str, width_in: float, size: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width_in``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and text_width_in(fig, trial, size) > width_in:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return [fit_text(fig, ln, width_in, size) for ln in lines]


@dataclass
class Column:
    header: str
    width_in: float
    align: str = "center"  # left | center | right


@dataclass
class Flow:
    """A multi-page PDF written top-down; ``y`` is the cursor (inches from the top)."""

    pdf: PdfPages
    footer: str = ""
    fig: Any = None  # the current page (matplotlib Figure), None between pages
    y: float = MARGIN_IN
    pages: int = 0

    @property
    def width(self) -> float:
        return A4_IN[0] - 2 * MARGIN_IN

    @property
    def bottom(self) -> float:
        return A4_IN[1] - MARGIN_IN - 0.25  # room for the page footer

    def new_page(self) -> None:
        self.finish_page()
        self.fig = plt.figure(figsize=A4_IN)
        self.pages += 1
        self.y = MARGIN_IN

    def finish_page(self) -> None:
        if self.fig is None:
            return
        fig = self.fig
        fig.text(MARGIN_IN / A4_IN[0], 0.35 / A4_IN[1], self.footer, fontsize=6, color="0.35")
        fig.text(1 - MARGIN_IN / A4_IN[0], 0.35 / A4_IN[1], f"page {self.pages}", fontsize=6, color="0.35", ha="right")
        self.pdf.savefig(fig)
        plt.close(fig)
        self.fig = None

    def ensure(self, height_in: float) -> None:
        """Start a new page unless ``height_in`` fits below the cursor."""
        if self.fig is None or self.y + height_in > self.bottom:
            self.new_page()

    def fy(self, y_in: float) -> float:
        """Figure fraction of a position ``y_in`` inches from the top."""
        return 1 - y_in / A4_IN[1]

    def fx(self, x_in: float) -> float:
        return x_in / A4_IN[0]

    def text(self, x_in: float, text: str, size: float = 8, **kw) -> None:
        """One line at the cursor (top-aligned), then move the cursor down by one line."""
        self.fig.text(self.fx(x_in), self.fy(self.y), text, fontsize=size, va="top", **kw)
        self.y += size * 1.45 / 72

    def heading(self, text: str, size: float = 10) -> None:
        self.ensure(size * 1.6 / 72 + 0.3)
        self.y += 0.06
        self.text(MARGIN_IN, text, size, fontweight="bold")

    def paragraph(self, text: str, size: float = 7.5, x_in: float = MARGIN_IN, width_in: float | None = None,
                  bullet: str = "", **kw) -> None:
        """Wrapped text; continues on a new page when needed."""
        width_in = width_in or (A4_IN[0] - MARGIN_IN - x_in)
        indent = text_width_in(self.fig, bullet + " ", size) if bullet else 0.0
        for i, line in enumerate(wrap_text(self.fig, text, width_in - indent, size)):
            self.ensure(size * 1.45 / 72)
            if bullet and i == 0:
                self.fig.text(self.fx(x_in), self.fy(self.y), bullet, fontsize=size, va="top", **kw)
            self.text(x_in + indent, line, size, **kw)

    def table(self, columns: list[Column], rows: list[list[str]], x_in: float = MARGIN_IN, size: float = 7,
              title: str = "", highlight: list[list[bool]] | None = None) -> None:
        """A table with a bold header and light row shading, split across pages when long."""
        row_h = size * 1.55 / 72
        i = 0
        first = True
        while first or i < len(rows):
            need = row_h * (2 + (1 if title else 0)) + 0.05
            self.ensure(need)
            if title:
                self.text(x_in, title + ("" if first else " (continued)"), size + 1.5, fontweight="bold")
                self.y += 0.02
            self._row(columns, [c.header for c in columns], x_in, size, row_h, bold=True)
            line_y = self.fy(self.y)
            self.fig.add_artist(plt.Line2D([self.fx(x_in), self.fx(x_in + sum(c.width_in for c in columns))],
                                           [line_y, line_y], color="0.3", lw=0.6))
            if not rows:
                self.text(x_in + 0.05, "not measured", size, color="0.4")
            while i < len(rows) and self.y + row_h <= self.bottom:
                if i % 2 == 0:
                    self.fig.add_artist(Rectangle((self.fx(x_in), self.fy(self.y + row_h)),
                                                  sum(c.width_in for c in columns) / A4_IN[0], row_h / A4_IN[1],
                                                  color="0.93", lw=0, zorder=0))
                self._row(columns, rows[i], x_in, size, row_h, marks=highlight[i] if highlight else None)
                i += 1
            first = False
            if i < len(rows):
                self.new_page()
        self.y += 0.08

    def _row(self, columns: list[Column], cells: list[str], x_in: float, size: float, row_h: float,
             bold: bool = False, marks: list[bool] | None = None) -> None:
        x = x_in
        pad = 0.04
        for j, (col, cell) in enumerate(zip(columns, cells, strict=False)):
            weight = "bold" if bold or (marks and marks[j]) else "normal"
            text = fit_text(self.fig, str(cell), col.width_in - 2 * pad, size, weight)
            if col.align == "left":
                tx, ha = x + pad, "left"
            elif col.align == "right":
                tx, ha = x + col.width_in - pad, "right"
            else:
                tx, ha = x + col.width_in / 2, "center"
            color = "#b00020" if marks and marks[j] else "black"
            self.fig.text(self.fx(tx), self.fy(self.y + row_h * 0.5), text, fontsize=size, ha=ha, va="center",
                          fontweight=weight, color=color)
            x += col.width_in
        self.y += row_h
