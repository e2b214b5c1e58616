"""Tissue classes of the phantom and their MR signal per contrast.

Signals are relative to fat = 1.0 (the design notes, "How lumbar MRI looks"): a
range per tissue, from which each study draws its own value so that no two
scanners look the same.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class Tissue(IntEnum):
    AIR = 0
    FAT = 1
    MUSCLE = 2
    VISCERA = 3
    MARROW = 4
    CORTEX = 5
    NUCLEUS = 6
    ANNULUS = 7
    CSF = 8
    NERVE = 9
    NUCLEUS_DEGENERATED = 10
    KIDNEY = 11
    FLOW_VOID = 12
    BOWEL = 13
    POSTERIOR_BONE = 14


N_TISSUES = len(Tissue)

# (low, high) relative signal per contrast.
_SIGNAL: dict[str, dict[Tissue, tuple[float, float]]] = {
    "T1": {
        Tissue.AIR: (0.0, 0.0), Tissue.FAT: (0.95, 1.0), Tissue.MUSCLE: (0.28, 0.35),
        Tissue.VISCERA: (0.3, 0.45), Tissue.MARROW: (0.6, 0.85), Tissue.CORTEX: (0.02, 0.08),
        Tissue.NUCLEUS: (0.3, 0.4), Tissue.ANNULUS: (0.2, 0.28), Tissue.CSF: (0.1, 0.15),
        Tissue.NERVE: (0.35, 0.45), Tissue.NUCLEUS_DEGENERATED: (0.22, 0.27),
        Tissue.KIDNEY: (0.35, 0.45), Tissue.FLOW_VOID: (0.0, 0.05), Tissue.BOWEL: (0.15, 0.3),
        Tissue.POSTERIOR_BONE: (0.4, 0.55),
    },
    "T2": {
        Tissue.AIR: (0.0, 0.0), Tissue.FAT: (0.7, 0.9), Tissue.MUSCLE: (0.2, 0.25),
        Tissue.VISCERA: (0.35, 0.6), Tissue.MARROW: (0.4, 0.55), Tissue.CORTEX: (0.02, 0.08),
        Tissue.NUCLEUS: (0.7, 0.9), Tissue.ANNULUS: (0.15, 0.25), Tissue.CSF: (1.0, 1.1),
        Tissue.NERVE: (0.35, 0.45), Tissue.NUCLEUS_DEGENERATED: (0.2, 0.3),
        Tissue.KIDNEY: (0.6, 0.8), Tissue.FLOW_VOID: (0.0, 0.05), Tissue.BOWEL: (0.3, 0.8),
        Tissue.POSTERIOR_BONE: (0.3, 0.4),
    },
    "STIR": {
        Tissue.AIR: (0.0, 0.0), Tissue.FAT: (0.03, 0.07), Tissue.MUSCLE: (0.18, 0.22),
        Tissue.VISCERA: (0.3, 0.6), Tissue.MARROW: (0.15, 0.25), Tissue.CORTEX: (0.02, 0.06),
        Tissue.NUCLEUS: (0.6, 0.8), Tissue.ANNULUS: (0.13, 0.17), Tissue.CSF: (0.95, 1.0),
        Tissue.NERVE: (0.28, 0.32), Tissue.NUCLEUS_DEGENERATED: (0.18, 0.22),
        Tissue.KIDNEY: (0.6, 0.8), Tissue.FLOW_VOID: (0.0, 0.04), Tissue.BOWEL: (0.3, 0.8),
        Tissue.POSTERIOR_BONE: (0.12, 0.2),
    },
    # gradient-echo localizer: bright fat, middling water
    "GRE": {
        Tissue.AIR: (0.0, 0.0), Tissue.FAT: (0.9, 1.0), Tissue.MUSCLE: (0.35, 0.45),
        Tissue.VISCERA: (0.4, 0.5), Tissue.MARROW: (0.5, 0.7), Tissue.CORTEX: (0.02, 0.08),
        Tissue.NUCLEUS: (0.5, 0.6), Tissue.ANNULUS: (0.3, 0.35), Tissue.CSF: (0.4, 0.5),
        Tissue.NERVE: (0.4, 0.45), Tissue.NUCLEUS_DEGENERATED: (0.3, 0.35),
        Tissue.KIDNEY: (0.45, 0.55), Tissue.FLOW_VOID: (0.6, 0.9), Tissue.BOWEL: (0.3, 0.5),
        Tissue.POSTERIOR_BONE: (0.35, 0.5),
    },
}


def signal_table(contrast: str, rng: np.random.Generator) -> np.ndarray:
    """Per-tissue signal for one series, drawn within the contrast's ranges."""
    table = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, (lo, hi) in _SIGNAL[contrast].items():
        table[int(tissue)] = rng.uniform(lo, hi)
    return table
