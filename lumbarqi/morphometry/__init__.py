"""Morphometry: disc heights, vertebral bodies, lordosis and muscle areas from label maps.

Entry points: :func:`lumbarqi.morphometry.spine.measure_spine` and
:func:`lumbarqi.morphometry.muscles.measure_muscles`; their outputs use the
results.json keys of docs/results.md (``discs``, ``vertebrae``, ``lordosis_deg``,
``muscles``, ``flags``).
"""
