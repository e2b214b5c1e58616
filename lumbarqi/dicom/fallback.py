"""When a selected series' pixels cannot be read, use the next candidate series of the same role.

The selection ranks every series that meets a role's conditions
(:attr:`lumbarqi.dicom.selection.Selection.alternatives`); pixels are read only
after that. A chosen series whose pixels cannot be decoded (corrupt or
truncated data, a transfer syntax without a decoder) is moved to the rejected
series with the reason, the next candidate takes its place, and the run says
so: a ``series_fallback`` flag in results.json and a warning in the log.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from lumbarqi.dicom.selection import Choice, Selection
from lumbarqi.errors import LumbarqiError
from lumbarqi.results import flag
from lumbarqi.volume import SeriesVolume

log = logging.getLogger("lumbarqi")

PLANES = {"sagittal_t1": "sagittal", "axial_t1": "axial"}


def _name(c: Choice) -> str:
    number = c.series.first.get("SeriesNumber")
    details = [f"series {number}"] if number not in (None, "") else []
    details += [c.weighting] if c.weighting else []
    return f"{c.series.description!r}" + (f" ({', '.join(details)})" if details else "")


def first_readable(candidates: list[Choice], read: Callable[[Choice], list[SeriesVolume]]
                   ) -> tuple[Choice | None, list[SeriesVolume], list[tuple[Choice, str]]]:
    """(candidate used, its volumes, [(candidate that failed, why)]) trying ``candidates`` in order.

    ``read`` returns a candidate's volumes or raises LumbarqiError; a candidate
    giving no volume at all counts as failed.
    """
    failures: list[tuple[Choice, str]] = []
    for c in candidates:
        try:
            volumes = read(c)
        except LumbarqiError as exc:
            failures.append((c, str(exc)))
            continue
        if volumes:
            return c, volumes, failures
        failures.append((c, "no stack could be read"))
    return None, [], failures


def record_fallback(results: dict, selection: Selection, role: str, used: Choice, failures: list[tuple[Choice, str]]) -> None:
    """The failed candidates become rejected series, ``used`` takes the role; flag and log it."""
    used_series = {id(used.series)}
    failed_series = {id(c.series) for c, _ in failures}
    selection.rejected = [c for c in selection.rejected if id(c.series) not in used_series | failed_series]
    selection.rejected += [Choice(c.series, "rejected", f"pixels could not be read: {why}") for c, why in failures]
    if role == "sagittal_t1":
        selection.sagittal_t1 = used
    else:
        selection.axial_t1 = [c for c in selection.axial_t1 if id(c.series) not in failed_series] + [used]
    selection.alternatives[role] = [c for c in selection.alternatives.get(role, []) if c is not used and id(c.series) not in failed_series]
    results["series"] = selection.as_dict()
    plane = PLANES.get(role, role)
    failed = "; ".join(f"{_name(c)}: {why}" for c, why in failures)
    message = f"the selected {plane} series could not be read ({failed}); the next {plane} candidate {_name(used)} was used instead"
    flag(results, "series_fallback", message)
    log.warning("%s", message)
