"""Cohort QC page: ``OUT/index.html``, one row per study, for reviewing a whole cohort in minutes.

Offline: one HTML file with inline CSS and JS and the overlay thumbnails embedded as
base64 JPEG (each links to its full-size PNG and the study's report in the output
folder). Per study: status, sagittal and axial overlay thumbnails, key numbers, the
segmentation confidence, flags in plain words. A value is highlighted when it lies
outside the cohort's own distribution: robust z = 0.6745 (x - median) / MAD with
|z| > 2.5 (MAD = 0: 1.2533 x mean absolute deviation instead; fewer than 3 values: no
highlighting). Columns sort by clicking their header; ``index.html#sort=KEY`` or
``#sort=-KEY`` opens the page sorted (ascending, descending).

``collect(out_dir)`` reads ``cohort.json`` and every study's ``results.json``;
``build_page(entries)`` is pure (entries in, HTML out); ``write_qc_page(out_dir)`` does both.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lumbarqi.reporting.figures import cm2
from lumbarqi.reporting.findings import flag_headings, plain_flags
from lumbarqi.results import atomic_write_text

Z_LIMIT = 2.5
MIN_VALUES = 3
THUMB_PX = 220


@dataclass
class StudyEntry:
    """One study of the cohort: what the page shows about it."""

    name: str
    status: str  # done | partial | failed | no_input | interrupted
    message: str = ""
    results: dict | None = None
    sagittal_thumb: str | None = None  # data: URI
    axial_thumb: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # sagittal | axial | report -> relative path


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    get: Callable[[dict], float | None]
    digits: int = 1


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _disc(level: str, measure: str) -> Callable[[dict], float | None]:
    return lambda r: _num(((r.get("discs") or {}).get(level) or {}).get(measure))


def _csa(level: str, muscle: str, side: str) -> Callable[[dict], float | None]:
    return lambda r: cm2(((((r.get("muscles") or {}).get(level) or {}).get(muscle) or {}).get(side)) or {})


def _fat(level: str, muscle: str) -> Callable[[dict], float | None]:
    def get(r: dict) -> float | None:
        sides = (((r.get("muscles") or {}).get(level) or {}).get(muscle)) or {}
        found = [_num((sides.get(s) or {}).get("fat_index")) for s in ("left", "right")]
        vals = [v for v in found if v is not None]
        return sum(vals) / len(vals) if vals else None
    return get


def _load(task: str, level: str) -> Callable[[dict], float | None]:
    return lambda r: _num((((r.get("loads") or {}).get(task) or {}).get(level) or {}).get("compression_n"))


def min_confidence(r: dict) -> float | None:
    found = [_num(v) for v in (r.get("segmentation_confidence") or {}).values()]
    vals = [v for v in found if v is not None]
    return min(vals) if vals else None


METRICS: tuple[Metric, ...] = (
    Metric("lordosis", "Lordosis L1-S1", "deg", lambda r: _num(r.get("lordosis_deg"))),
    Metric("disc_l34", "Disc L3/L4", "mm", _disc("L3/L4", "height_middle_mm")),
    Metric("disc_l45", "Disc L4/L5", "mm", _disc("L4/L5", "height_middle_mm")),
    Metric("disc_l5s1", "Disc L5/S1", "mm", _disc("L5/S1", "height_middle_mm")),
    Metric("dhi_l45", "DHI L4/L5", "", _disc("L4/L5", "height_index"), 2),
    Metric("mf_l45_l", "Multifidus L4/L5 L", "cm²", _csa("L4/L5", "multifidus", "left")),
    Metric("mf_l45_r", "Multifidus L4/L5 R", "cm²", _csa("L4/L5", "multifidus", "right")),
    Metric("es_l45_l", "Erector sp. L4/L5 L", "cm²", _csa("L4/L5", "erector_spinae", "left")),
    Metric("es_l45_r", "Erector sp. L4/L5 R", "cm²", _csa("L4/L5", "erector_spinae", "right")),
    Metric("ps_l45_l", "Psoas L4/L5 L", "cm²", _csa("L4/L5", "psoas", "left")),
    Metric("ps_l45_r", "Psoas L4/L5 R", "cm²", _csa("L4/L5", "psoas", "right")),
    Metric("mf_fat_l45", "Multifidus fat L4/L5", "", _fat("L4/L5", "multifidus"), 2),
    Metric("load_l45_stand", "L4/L5 standing", "N", _load("standing", "L4/L5"), 0),
    Metric("load_l45_flex", "L4/L5 flexion 30°", "N", _load("flexion_30", "L4/L5"), 0),
    Metric("load_l5s1_stand", "L5/S1 standing", "N", _load("standing", "L5/S1"), 0),
    Metric("confidence", "Min. confidence", "", min_confidence, 3),
)


def robust_z(values: list[float | None]) -> list[float | None]:
    """Robust z-score of each value against the others' median and MAD (None where no value)."""
    present = [v for v in values if v is not None]
    if len(present) < MIN_VALUES:
        return [None] * len(values)
    med = statistics.median(present)
    mad = statistics.median(abs(v - med) for v in present)
    if mad > 0:
        scale = mad / 0.6745
    else:
        mean_ad = sum(abs(v - med) for v in present) / len(present)
        scale = 1.253314 * mean_ad
    if scale <= 0:
        return [0.0 if v is not None else None for v in values]
    return [None if v is None else (v - med) / scale for v in values]


# --- collecting the per-study files ---------------------------------------------------------------

def thumbnail(png: Path, px: int = THUMB_PX) -> str | None:
    """A PNG as a small base64 JPEG data URI (None when missing or unreadable)."""
    from PIL import Image

    try:
        with Image.open(png) as opened:
            im = opened.convert("RGB")
            im.thumbnail((px, px))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _axial_png(folder: Path) -> Path | None:
    for level in ("L4-L5", "L5-S1", "L3-L4"):
        p = folder / "overlays" / f"axial_{level}.png"
        if p.is_file():
            return p
    return next(iter(sorted((folder / "overlays").glob("axial_*.png"))), None)


def read_study(out_dir: Path, name: str, status: str = "done", message: str = "") -> StudyEntry:
    """The entry of one study folder ``out_dir/name`` (results.json, overlays, report)."""
    folder = Path(out_dir) / name
    entry = StudyEntry(name, status, message)
    try:
        entry.results = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        entry.results = None
    sag = folder / "overlays" / "sagittal_mid.png"
    ax = _axial_png(folder)
    if sag.is_file():
        entry.sagittal_thumb, entry.links["sagittal"] = thumbnail(sag), f"{name}/overlays/{sag.name}"
    if ax is not None:
        entry.axial_thumb, entry.links["axial"] = thumbnail(ax), f"{name}/overlays/{ax.name}"
    if (folder / "report.pdf").is_file():
        entry.links["report"] = f"{name}/report.pdf"
    return entry


def collect(out_dir: Path) -> list[StudyEntry]:
    """Every study of a cohort output folder: those in cohort.json, then any other folder with a results.json."""
    out_dir = Path(out_dir)
    try:
        listed = json.loads((out_dir / "cohort.json").read_text()).get("studies") or []
    except (OSError, ValueError):
        listed = []
    entries, seen = [], set()
    for s in listed:
        name = str(s.get("name"))
        seen.add(name)
        status = str(s.get("status") or "failed")
        has_results = status in ("done", "partial")
        entry = read_study(out_dir, name, status, str(s.get("message") or "")) if has_results else \
            StudyEntry(name, status, str(s.get("message") or ""))
        entries.append(entry)
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in seen and (folder / "results.json").is_file():
            entries.append(read_study(out_dir, folder.name))
    return entries


# --- the page ---------------------------------------------------------------------------------------

_CSS = """
body{font:13px/1.35 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}
p.rule{margin:4px 0;color:#444;max-width:70em}
table{border-collapse:collapse;margin-top:10px}
th,td{border:1px solid #ccc;padding:3px 5px;text-align:right;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;position:sticky;top:0;z-index:1;font-weight:600;white-space:normal;max-width:7em}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.txt,th.txt{text-align:left}
td.img{padding:1px;text-align:center}
td.img img{height:100px;display:block}
td.out{background:#ffd6d6;font-weight:700;color:#900}
tr.failed td{background:#eee;color:#666}
tr.median td{background:#fafae8;font-style:italic}
td.flags{text-align:left;width:24em;max-width:24em;font-size:12px}
td.flags summary{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:23em;cursor:pointer}
td.txt small{display:block;max-width:16em;color:#700}
td.flags ul{margin:2px 0 0 14px;padding:0}
span.status-done{color:#060}span.status-partial{color:#a60}span.status-failed,span.status-no_input{color:#b00}
"""

_JS = """
(function(){
 const table=document.getElementById('qc');const body=table.tBodies[0];
 function val(td){const v=td.getAttribute('data-v');if(v===null||v==='')return null;const n=Number(v);return isNaN(n)?v.toLowerCase():n;}
 function sortBy(th,dir){
  const i=Array.prototype.indexOf.call(th.parentNode.children,th);
  const rows=Array.from(body.querySelectorAll('tr.study'));
  rows.sort(function(a,b){const x=val(a.children[i]),y=val(b.children[i]);
   if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
   if(x<y)return -dir;if(x>y)return dir;return 0;});
  rows.forEach(function(r){body.appendChild(r);});
  table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
  th.classList.add(dir>0?'sorted-asc':'sorted-desc');th.setAttribute('data-dir',dir);
 }
 table.querySelectorAll('th[data-key]').forEach(function(th){
  th.addEventListener('click',function(){const d=Number(th.getAttribute('data-dir')||'-1');sortBy(th,-d);});});
 const only=document.getElementById('only');
 only.addEventListener('change',function(){body.querySelectorAll('tr.study').forEach(function(r){
  r.style.display=(only.checked&&r.getAttribute('data-attention')!=='1')?'none':'';});});
 const m=location.hash.match(/^#sort=(-?)([A-Za-z0-9_]+)$/);
 if(m){const th=table.querySelector('th[data-key="'+m[2]+'"]');if(th){th.click();if(m[1]==='-')th.click();}}
})();
"""


def _fmt(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _img(uri: str | None, link: str | None, alt: str) -> str:
    if not uri:
        return '<td class="img">no image</td>'
    img = f'<img src="{uri}" alt="{html.escape(alt)}">'
    return f'<td class="img"><a href="{html.escape(link)}">{img}</a></td>' if link else f'<td class="img">{img}</td>'


def build_page(entries: list[StudyEntry], title: str = "lumbarqi cohort QC", generated: str | None = None) -> str:
    """The QC page (HTML text) of a cohort: pure, entries in, page out."""
    results = [e.results if e.status in ("done", "partial") and e.results else None for e in entries]
    values = {m.key: [m.get(r) if r else None for r in results] for m in METRICS}
    zs = {k: robust_z(v) for k, v in values.items()}
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    head = ['<th class="txt" data-key="study">Study</th>', '<th class="txt" data-key="status">Status</th>',
            "<th>Sagittal</th>", "<th>Axial</th>"]
    for m in METRICS:
        head.append(f'<th data-key="{m.key}" title="{html.escape(m.label)}">{html.escape(m.label)}'
                    f'{" (" + m.unit + ")" if m.unit else ""}</th>')
    head.append('<th class="txt" data-key="flags">Flags</th>')
    med_cells = '<td class="txt" colspan="4">cohort median (MAD)</td>'
    for m in METRICS:
        present = [v for v in values[m.key] if v is not None]
        if present:
            med = statistics.median(present)
            mad = statistics.median(abs(v - med) for v in present)
            med_cells += f"<td>{_fmt(med, m.digits)} ({_fmt(mad, m.digits)})</td>"
        else:
            med_cells += "<td>-</td>"
    med_cells += "<td></td>"
    rows = []
    for i, e in enumerate(entries):
        r = results[i]
        failed = r is None
        outliers = 0
        cells = [f'<td class="txt" data-v="{html.escape(e.name)}">'
                 + (f'<a href="{html.escape(e.links["report"])}">{html.escape(e.name)}</a>' if "report" in e.links
                    else html.escape(e.name)) + "</td>",
                 f'<td class="txt" data-v="{html.escape(e.status)}"><span class="status-{html.escape(e.status)}">'
                 f'{html.escape(e.status)}</span>' + (f"<br><small>{html.escape(e.message[:200])}</small>" if e.message else "")
                 + "</td>",
                 _img(e.sagittal_thumb, e.links.get("sagittal"), f"{e.name} sagittal overlay"),
                 _img(e.axial_thumb, e.links.get("axial"), f"{e.name} axial overlay")]
        for m in METRICS:
            v, z = values[m.key][i], zs[m.key][i]
            out = z is not None and abs(z) > Z_LIMIT
            outliers += out
            tip = f' title="robust z {z:+.1f}"' if z is not None else ""
            cells.append(f'<td data-v="{"" if v is None else repr(round(v, 6))}"{tip}'
                         f'{" class=out" if out else ""}>{_fmt(v, m.digits)}</td>')
        raw = (r or {}).get("flags") or []
        flags = plain_flags(raw)
        flag_html = "0" if not flags else (
            f"<details><summary>{len(flags)}: {html.escape('; '.join(flag_headings(raw)))}</summary><ul>"
            + "".join(f"<li>{html.escape(f)}</li>" for f in flags) + "</ul></details>")
        cells.append(f'<td class="flags txt" data-v="{len(flags)}">{flag_html}</td>')
        attention = failed or outliers > 0
        rows.append(f'<tr class="study{" failed" if failed else ""}" data-attention="{int(attention)}" '
                    f'data-outliers="{outliers}">' + "".join(cells) + "</tr>")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    when = generated or time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="rule">{len(entries)} studies ({html.escape(summary)}); page made {html.escape(when)}.
Highlighted: a value outside this cohort's own distribution, robust z = 0.6745 &times; (value &minus; median) / MAD
with |z| &gt; {Z_LIMIT} (MAD = 0: 1.2533 &times; mean absolute deviation instead; fewer than {MIN_VALUES} values: none).
Disc heights: middle height (mm); CSA per side (cm²); loads: model compression (N); confidence: the lowest mean
network confidence over the segmented structures (0-1). Click a column header to sort; click a thumbnail for the
full overlay, a study name for its report.</p>
<label><input type="checkbox" id="only"> only studies that failed or have a highlighted value</label>
<table id="qc"><thead><tr>{"".join(head)}</tr></thead>
<tbody><tr class="median">{med_cells}</tr>
{chr(10).join(rows)}
</tbody></table>
<script>{_JS}</script>
</body></html>
"""


def write_qc_page(out_dir: Path) -> Path:
    """Collect the cohort in ``out_dir`` and write ``out_dir/index.html`` (atomically); returns its path."""
    out_dir = Path(out_dir)
    page = build_page(collect(out_dir))
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path
