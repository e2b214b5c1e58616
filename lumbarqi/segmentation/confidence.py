"""When not to trust a segmentation: per-structure confidence against calibrated thresholds.

The confidence of a structure is the mean, over the voxels the network labels as
that structure, of the largest softmax probability (0-1; computed at inference,
:class:`lumbarqi.segmentation.inference.Segmentation`). It is written to
``results.json`` as ``segmentation_confidence``. Below the structure's
threshold a ``low_confidence_segmentation`` flag names it; the report shows it
in plain words.

Thresholds (``LOW_CONFIDENCE_BELOW``) are calibrated per structure on held-out cases
(``lumbarqi evaluate`` reports each case's Dice and confidence): half-way between the
highest confidence of a case with Dice < 0.80 and the lowest confidence of a case with
Dice >= 0.90, so that on those cases every bad mask is flagged and no good one is.
The figures behind each value are in the model cards (section "Confidence"); they are
few (one real muscle case), so a flag means "look", and no flag is no guarantee.
Structures without real reference masks (sacrum, psoas, quadratus lumborum), and discs
(whose confidence does not separate good from bad masks), have no threshold and are
never flagged.
"""
from __future__ import annotations

from lumbarqi.results import Flag, make_flag

#: structure -> confidence (mean max-softmax, 0-1) below which its mask is not to be trusted
LOW_CONFIDENCE_BELOW: dict[str, float] = {
    # vertebrae model, fold-0 held-out cases (10 real sagittal, 7 SPIDER 3D T2, 12 phantom series): the one case
    # under Dice 0.80 (chu_vb_02, 0.76) at 0.908, the lowest of Dice >= 0.90 at 0.943 (scripts/calibrate_confidence.py)
    "vertebral_body": 0.926,
    # muscles model: real tum_pm_tum01 (never trained on) ES Dice 0.69 at confidence 0.905, MF 0.61 at 0.911;
    # phantom studies (whole pipeline) ES >= 0.957, MF >= 0.946 at Dice >= 0.93
    "erector_spinae": 0.93,
    "multifidus": 0.93,
    # discs model: not separable on the same cases (Dice < 0.80 up to 0.938, Dice >= 0.90 from 0.932): no threshold
}

FLAG = "low_confidence_segmentation"


def low_confidence(confidence: dict[str, float], thresholds: dict[str, float] | None = None) -> list[tuple[str, float, float]]:
    """(structure, confidence, threshold) of every structure under its threshold, in the order given."""
    limits = LOW_CONFIDENCE_BELOW if thresholds is None else thresholds
    return [(s, float(c), limits[s]) for s, c in confidence.items() if s in limits and float(c) < limits[s]]


def low_confidence_flags(confidence: dict[str, float], thresholds: dict[str, float] | None = None) -> list[Flag]:
    """``low_confidence_segmentation`` flags (results.json layout) for the structures under threshold."""
    return [make_flag(FLAG,
                      f"the network is unsure of the {s.replace('_', ' ')} mask (confidence {c:.2f}, "
                      f"threshold {t:.2f}): check its outline before using its measurements",
                      structure=s)
            for s, c, t in low_confidence(confidence, thresholds)]
