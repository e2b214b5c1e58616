"""What both load solvers share (lumbarqi's own model and a shipped base model): the residual limit
and the rounding of loads for results.json. A leaf module: imported by api and base_model, imports neither."""
from __future__ import annotations

from typing import TYPE_CHECKING

from lumbarqi.biomech.anatomy import LEVELS

if TYPE_CHECKING:
    from lumbarqi.biomech.solver import SolveResult

#: A task whose muscles leave more than this moment unbalanced (N m) is reported as not solved.
MAX_RESIDUAL_NM = 2.0


def format_loads(result: SolveResult, body_weight_n: float) -> dict[str, dict[str, float]]:
    """Round loads (N, 1 decimal) and add body-weight multiples (3 decimals)."""
    out = {}
    for level in sorted(result.loads, key=LEVELS.index):
        vals = result.loads[level]
        row = {k: round(v, 1) for k, v in vals.items()}
        row.update({k.replace("_n", "_bw"): round(v / body_weight_n, 3) for k, v in vals.items()})
        out[level] = row
    return out
