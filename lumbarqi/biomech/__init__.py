"""Subject-specific OpenSim models of lumbar spine loading (no holoscan import).

Entry point: :func:`lumbarqi.biomech.api.compute_loads` (re-exported lazily, so that importing
the package does not import OpenSim).
"""
from __future__ import annotations


def compute_loads(*args, **kwargs):
    """See :func:`lumbarqi.biomech.api.compute_loads`."""
    from lumbarqi.biomech.api import compute_loads as _compute_loads

    return _compute_loads(*args, **kwargs)
