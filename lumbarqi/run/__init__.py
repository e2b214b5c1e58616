"""Putting a run together: the run's state and stages, the ``lumbarqi run`` command, cohorts and benchmarks.

Nothing here imports holoscan, ``app/`` or ``operators/``: the application graph registers
its runner (:mod:`lumbarqi.run.launch`), so the dependencies point one way,
app -> operators -> lumbarqi.
"""
