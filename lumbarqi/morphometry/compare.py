"""Agreement between two sets of measurements (automatic vs reference): the paper's comparison.

Inputs are results.json / truth.json dictionaries (same keys, docs/results.md), so
the comparison is a dictionary walk: every numeric leaf under ``discs``,
``vertebrae``, ``lordosis_deg``, ``muscles`` and ``loads`` becomes a measurement
named by its path, e.g. ``discs.L4/L5.height_mean_mm`` or
``muscles.L4/L5.psoas.left.csa_mm2``; ``centroid_mm`` splits into
``centroid_lateral_mm`` and ``centroid_anterior_mm``. Measurements are pooled
into families over levels, sides and studies (``discs.height_mean_mm``,
``muscles.psoas.csa_mm2``, ...). Per family: n, Pearson R, ICC(2,1) (two-way
random effects, absolute agreement, single measurement; Shrout & Fleiss 1979,
McGraw & Wong's ICC(A,1)), Bland-Altman bias (auto - reference), SD of the
differences and 95 % limits of agreement (bias +- 1.96 SD), median absolute
difference. Dice per structure where both sides list label maps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lumbarqi import labels as L

SECTIONS = ("discs", "vertebrae", "lordosis_deg", "muscles", "loads")


def flatten(results: dict) -> dict[str, float]:
    """Numeric leaves of the measurement sections: path -> value (booleans and flags skipped)."""
    out: dict[str, float] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, (int, float)):
            if np.isfinite(node):
                out[prefix] = float(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k == "centroid_mm" and isinstance(v, (list, tuple)) and len(v) == 2:
                    walk(f"{prefix}.centroid_lateral_mm", v[0])
                    walk(f"{prefix}.centroid_anterior_mm", v[1])
                else:
                    walk(f"{prefix}.{k}" if prefix else str(k), v)

    for section in SECTIONS:
        if section in results:
            walk(section, results[section])
    return out


def family(path: str) -> str:
    """Pool key of a measurement path: section + measure (+ muscle or task)."""
    parts = path.split(".")
    if parts[0] in ("discs", "vertebrae"):
        return f"{parts[0]}.{parts[-1]}"
    if parts[0] == "muscles":
        return f"muscles.{parts[2]}.{parts[-1]}" if len(parts) >= 5 else path
    if parts[0] == "loads":
        return f"loads.{parts[1]}.{parts[-1]}" if len(parts) >= 4 else path
    return path


def icc_2_1(*ratings: np.ndarray) -> float | None:
    """ICC(2,1): two-way random, absolute agreement, single rater; one array per rater."""
    x = np.column_stack(ratings).astype(float)
    n, k = x.shape
    if n < 2:
        return None
    gm = x.mean()
    ssr = k * ((x.mean(axis=1) - gm) ** 2).sum()
    ssc = n * ((x.mean(axis=0) - gm) ** 2).sum()
    sse = ((x - gm) ** 2).sum() - ssr - ssc
    msr, msc, mse = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom > 0 else None


def agreement(auto: np.ndarray, ref: np.ndarray) -> dict:
    """Pearson R, ICC(2,1), Bland-Altman and error summaries of paired values."""
    auto, ref = np.asarray(auto, float), np.asarray(ref, float)
    d = auto - ref
    n = int(len(d))
    out: dict = {"n": n}
    if n == 0:
        return out
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    r = None
    if n >= 3 and auto.std() > 0 and ref.std() > 0:
        r = float(np.corrcoef(auto, ref)[0, 1])
    icc = icc_2_1(auto, ref)
    bias = float(d.mean())
    out.update({
        "pearson_r": None if r is None else round(r, 4), "icc_2_1": None if icc is None else round(icc, 4),
        "bias": round(bias, 4), "sd_diff": round(sd, 4), "loa_low": round(bias - 1.96 * sd, 4), "loa_high": round(bias + 1.96 * sd, 4),
        "median_abs_diff": round(float(np.median(np.abs(d))), 4), "mean_ref": round(float(ref.mean()), 4),
    })
    return out


def paired_values(pairs: list[tuple[dict, dict]]) -> dict[str, tuple[list[float], list[float], list[str]]]:
    """family -> (auto values, reference values, measurement paths with study index)."""
    out: dict[str, tuple[list[float], list[float], list[str]]] = {}
    for i, (auto, ref) in enumerate(pairs):
        fa, fr = flatten(auto), flatten(ref)
        for path in sorted(set(fa) & set(fr)):
            a, r, names = out.setdefault(family(path), ([], [], []))
            a.append(fa[path])
            r.append(fr[path])
            names.append(f"{i}:{path}")
    return out


def dice_maps(auto_map: np.ndarray, ref_map: np.ndarray) -> dict[str, float]:
    """Mean Dice per structure (levels and sides folded, lumbarqi.labels names) of two label maps."""
    if auto_map.shape != ref_map.shape:
        return {}
    names = L.label_names()
    per: dict[str, list[float]] = {}
    for v in sorted(set(np.unique(auto_map).tolist()) | set(np.unique(ref_map).tolist())):
        if v == 0 or v not in names:
            continue
        a, b = auto_map == v, ref_map == v
        structure = L.structure_of(names[v])[0]
        per.setdefault(structure, []).append(float(2 * (a & b).sum() / (a.sum() + b.sum())))
    return {s: round(float(np.mean(v)), 4) for s, v in per.items()}


def label_maps(results: dict) -> dict[str, list[str]]:
    """series uid -> label map paths (results.json ``label_maps`` or truth.json ``phantom.truth_label_maps``)."""
    return results.get("label_maps") or results.get("phantom", {}).get("truth_label_maps") or {}


def pair_dice(auto: dict, auto_dir: Path, ref: dict, ref_dir: Path) -> dict[str, float]:
    """Dice per structure over the label maps both sides list for the same series."""
    from .io import read_label_nifti

    am, rm = label_maps(auto), label_maps(ref)
    per: dict[str, list[float]] = {}
    for uid in sorted(set(am) & set(rm)):
        for pa, pr in zip(am[uid], rm[uid], strict=False):
            fa, fr = auto_dir / pa, ref_dir / pr
            if fa.is_file() and fr.is_file():
                for s, v in dice_maps(read_label_nifti(fa)[0], read_label_nifti(fr)[0]).items():
                    per.setdefault(s, []).append(v)
    return {s: round(float(np.mean(v)), 4) for s, v in per.items()}


def compare(pairs: list[tuple[dict, dict]], dirs: list[tuple[Path, Path]] | None = None) -> dict:
    """The validation report: per family agreement, per study Dice, pooled Dice."""
    families = {f: agreement(np.asarray(a, float), np.asarray(r, float)) for f, (a, r, _) in sorted(paired_values(pairs).items())}
    report: dict = {"pairs": len(pairs), "icc": "ICC(2,1): two-way random effects, absolute agreement, single measurement",
                    "difference": "automatic - reference", "measures": families, "dice": {}}
    if dirs:
        per_study = []
        pooled: dict[str, list[float]] = {}
        for (auto, ref), (ad, rd) in zip(pairs, dirs, strict=False):
            d = pair_dice(auto, ad, ref, rd)
            per_study.append({"auto": str(ad), "reference": str(rd), "dice": d})
            for s, v in d.items():
                pooled.setdefault(s, []).append(v)
        report["dice"] = {"per_study": per_study, "mean": {s: round(float(np.mean(v)), 4) for s, v in pooled.items()}}
    return report
