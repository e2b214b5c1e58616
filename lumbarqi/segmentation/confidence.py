"""When not to trust a segmentation: per-structure confidence against calibrated thresholds.

The confidence of a structure is the mean, over the voxels the network labels as
that structure, of the largest softmax probability (0-1; computed at inference,
:class:`lumbarqi.segmentation.inference.Segmentation`). It is written to
``results.json`` as ``segmentation_confidence``. Below the structure's
threshold a ``low_confidence_segmentation`` flag names it; the report shows it
in plain words.

Thresholds (``LOW_CONFIDENCE_BELOW``) were calibrated on held-out cases as the
confidence under which a case's Dice fell below 0.80 more often than not
(see ``models/*/MODEL_CARD.md``, "Confidence"). A structure without a threshold
is never flagged.
"""
from __future__ import annotations

#: structure -> confidence (mean max-softmax, 0-1) below which its mask is not to be trusted
LOW_CONFIDENCE_BELOW: dict[str, float] = {
    "vertebral_body": 0.90,
    "disc": 0.85,
    "sacrum": 0.85,
    "erector_spinae": 0.85,
    "multifidus": 0.85,
    "psoas": 0.85,
    "quadratus_lumborum": 0.80,
}

FLAG = "low_confidence_segmentation"


def low_confidence(confidence: dict[str, float], thresholds: dict[str, float] | None = None) -> list[tuple[str, float, float]]:
    """(structure, confidence, threshold) of every structure under its threshold, in the order given."""
    limits = LOW_CONFIDENCE_BELOW if thresholds is None else thresholds
    return [(s, float(c), limits[s]) for s, c in confidence.items() if s in limits and float(c) < limits[s]]


def low_confidence_flags(confidence: dict[str, float], thresholds: dict[str, float] | None = None) -> list[dict]:
    """``low_confidence_segmentation`` flags (results.json layout) for the structures under threshold."""
    return [{"code": FLAG, "level": None, "structure": s,
             "message": f"the network is unsure of the {s.replace('_', ' ')} mask (confidence {c:.2f}, "
                        f"threshold {t:.2f}): check its outline before using its measurements"}
            for s, c, t in low_confidence(confidence, thresholds)]
