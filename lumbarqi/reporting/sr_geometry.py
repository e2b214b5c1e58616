"""Where each SR measurement lies on its image: SCOORDs from ``results["geometry"]``.

The morphometry writes patient coordinates (LPS mm) of the lines and outlines it
measured (:func:`lumbarqi.run.measurements.spine_geometry`, ``muscle_geometry``);
here they become 2D spatial coordinates (SCOORD, PS3.3 C.18.6) on the source
image they were read on: disc and vertebral body heights and depth as 2-point
POLYLINEs on the sagittal slice, the lordosis endplates as a 4-point POLYLINE,
a muscle's cross-sectional area as the closed POLYLINE of its outline on the axial
slice used, a disc's loads as a POINT at the disc's centre. Pixel coordinates
follow DICOM: (column, row), (0, 0) the top left corner of the top left pixel,
so the centre of pixel (r, c) is (c + 0.5, r + 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from lumbarqi.reporting.seg import SegInfo

POLYLINE = hd.sr.GraphicTypeValues.POLYLINE
#: 2D SCOORD has no POLYGON: a closed POLYLINE (first point = last, PS3.3 C.18.6.1.2)
CLOSED_POLYLINE = hd.sr.GraphicTypeValues.POLYLINE
POINT = hd.sr.GraphicTypeValues.POINT


@dataclass
class Place:
    """One image (the SEG of its stack and the slice index) and a point set on it."""

    seg: SegInfo
    k: int
    pixels: np.ndarray  # (N, 2) column, row (DICOM SCOORD convention)

    @property
    def image(self) -> Dataset:
        return self.seg.image(self.k)

    def scoord(self, graphic_type: hd.sr.GraphicTypeValues) -> hd.sr.CoordinatesForMeasurement:
        """The SCOORD item (INFERRED FROM, purpose Source) a TID 300 measurement carries."""
        return hd.sr.CoordinatesForMeasurement(
            graphic_type=graphic_type, graphic_data=self.pixels.astype(np.float32),
            source_image=hd.sr.SourceImageForRegion.from_source_image(
                self.image, referenced_frame_numbers=self.seg.frames_of([self.k])))


def _seg_of(segs: list[SegInfo], entry: dict) -> SegInfo | None:
    for s in segs:
        v = s.labelled.volume
        if v.series_instance_uid == entry.get("series_instance_uid") and v.stack_index == int(entry.get("stack", 0)):
            return s
    return None


def place(segs: list[SegInfo], entry: dict, points_lps) -> Place | None:
    """Points (LPS mm) of a geometry entry as pixel coordinates on its slice; None if unplaceable."""
    seg = _seg_of(segs, entry)
    if seg is None or "slice_index" not in entry:
        return None
    pts = np.asarray(points_lps, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.isfinite(pts).all():
        return None
    k = int(entry["slice_index"])
    if not seg.labelled.volume.has_image(k):  # outside the stack, or a missing slice: no image to draw on
        return None
    rkc = seg.labelled.volume.geometry.lps_to_voxel(pts)
    return Place(seg, k, np.column_stack([rkc[:, 2] + 0.5, rkc[:, 1] + 0.5]))


class GeometryIndex:
    """Look-ups of ``results["geometry"]`` by structure, returning SCOORDs per results key."""

    def __init__(self, geometry: dict | None, segs: list[SegInfo]):
        self.geometry = geometry if isinstance(geometry, dict) else {}
        self.segs = segs

    def _lines(self, entry: dict | None) -> tuple[dict[str, hd.sr.CoordinatesForMeasurement], Place | None]:
        out: dict[str, hd.sr.CoordinatesForMeasurement] = {}
        first: Place | None = None
        if not isinstance(entry, dict):
            return out, None
        for key, pts in (entry.get("lines_mm") or {}).items():
            p = place(self.segs, entry, pts)
            if p is not None and len(p.pixels) >= 2:
                out[key] = p.scoord(POLYLINE)
                first = first or p
        return out, first

    def structure(self, section: str, level: str) -> tuple[dict[str, hd.sr.CoordinatesForMeasurement], Place | None]:
        """(results key -> 2-point POLYLINE, a place on the slice) of a disc or vertebral body."""
        return self._lines((self.geometry.get(section) or {}).get(level))

    def lordosis(self) -> tuple[dict[str, hd.sr.CoordinatesForMeasurement], Place | None]:
        return self._lines(self.geometry.get("lordosis"))

    def disc_centre(self, level: str) -> hd.sr.CoordinatesForMeasurement | None:
        """POINT at the mid-point of the disc's middle height line (where its loads act)."""
        entry = (self.geometry.get("discs") or {}).get(level)
        line = ((entry or {}).get("lines_mm") or {}).get("height_middle_mm")
        if not line or not isinstance(entry, dict):
            return None
        p = place(self.segs, entry, [np.mean(np.asarray(line, float), axis=0)])
        return p.scoord(POINT) if p else None

    def muscle(self, level: str, muscle: str, side: str) -> Place | None:
        """The measured muscle's outline on the axial slice used (closed: first point = last)."""
        entry = (((self.geometry.get("muscles") or {}).get(level) or {}).get(muscle) or {}).get(side)
        if not isinstance(entry, dict) or not entry.get("contour_mm"):
            return None
        p = place(self.segs, entry, entry["contour_mm"])
        if p is None or len(p.pixels) < 4:
            return None
        if not np.allclose(p.pixels[0], p.pixels[-1]):
            p.pixels = np.vstack([p.pixels, p.pixels[:1]])
        return p


#: Prefix of the tracking identifiers OHIF (Cornerstone3D adapters) turns into its own tools.
VIEWER_TOOL_TAG = "Cornerstone3DTools@^0.1.0"


def viewer_tool(m: hd.sr.Measurement) -> str | None:
    """The Cornerstone3D tool that shows a measurement's SCOORD: a 2-point line as Length, a
    closed outline as PlanarFreehandROI, the two lordosis endplates as CobbAngle; else None."""
    coords = m.referenced_coordinates
    if not coords or coords[0].GraphicType != "POLYLINE":
        return None
    xy = np.asarray(coords[0].GraphicData, float).reshape(-1, 2)
    if len(xy) == 2:
        return "Length"
    if len(xy) >= 4 and np.allclose(xy[0], xy[-1]):
        return "PlanarFreehandROI"
    return "CobbAngle" if len(xy) == 4 else None


def scoords_of(item) -> list[Dataset]:
    """Every SCOORD content item below a content item (depth first)."""
    out = []
    for child in getattr(item, "ContentSequence", []) or []:
        if child.ValueType == "SCOORD":
            out.append(child)
        out += scoords_of(child)
    return out
