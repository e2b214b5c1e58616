"""Comprehensive 3D SR with a TID 1500 Measurement Report, built with highdicom.

One measurement group per structure and level: discs and vertebral bodies on the
sagittal stack, each muscle and side on the axial slice of its disc level, and
one group per loading task and disc (the task as the group's measurement
method, so every TID 1500 reader keeps it). Each group carries a tracking
identifier and UID, finding sites (structure, level, laterality), a reference to
its SEG segment with the source images, the measurements of ``results.json``
(each, where it has a place on an image, with its SCOORD: see
:mod:`lumbarqi.reporting.sr_geometry`) and the quality flags as qualitative
evaluations; flags of no one structure sit in the report's Qualitative
Evaluations container. The report has a TID 1600 image library.
:func:`read_measurements` turns a report back into the ``results.json`` layout.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sr.codedict import codes as dcm_codes
from pydicom.uid import generate_uid

import lumbarqi
from lumbarqi import labels as lb
from lumbarqi.reporting import codes
from lumbarqi.reporting.multiframe_source import library_entry_source
from lumbarqi.reporting.seg import MANUFACTURER, SegInfo, model_identity, stack_plane
from lumbarqi.reporting.sr_geometry import CLOSED_POLYLINE, VIEWER_TOOL_TAG, GeometryIndex, viewer_tool

Group = (hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
         | hd.sr.MeasurementsAndQualitativeEvaluations)
SR_SERIES_NUMBER = 1900


def _num(value: Any) -> float | None:
    """A finite number or None (booleans and text are not measurements)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if np.isfinite(value) else None


def _measurements(values: dict, coords: dict | None = None) -> list[hd.sr.Measurement]:
    """TID 300 measurements of one results entry; ``coords``: results key -> its SCOORD."""
    out = []
    coords = coords or {}
    for key, (name, unit) in codes.MEASUREMENT.items():
        v = _num(values.get(key))
        if v is not None:
            ref = [coords[key]] if key in coords else None
            out.append(hd.sr.Measurement(name=name, value=v, unit=unit, referenced_coordinates=ref))
    centroid = values.get("centroid_mm")
    if isinstance(centroid, (list, tuple)) and len(centroid) == 2:
        for (name, unit), v in zip(codes.CENTROID, centroid, strict=False):
            if _num(v) is not None:
                out.append(hd.sr.Measurement(name=name, value=float(v), unit=unit))
    return out


def sagittal_seg(segs: list[SegInfo], results: dict) -> SegInfo | None:
    uid = ((results.get("series") or {}).get("sagittal_t1") or {}).get("series_instance_uid")
    for s in segs:
        if uid and s.labelled.volume.series_instance_uid == uid:
            return s
    return next((s for s in segs if stack_plane(s.labelled) == "sagittal"), None)


def _centroid_lps(seg: SegInfo, label: int) -> np.ndarray | None:
    idx = np.argwhere(seg.labelled.label == label)
    if len(idx) == 0:
        return None
    return seg.labelled.volume.geometry.voxel_to_lps(idx.mean(axis=0, keepdims=True))[0]


def locate_level_slice(level: str, entry: dict, segs: list[SegInfo],
                       sagittal: SegInfo | None) -> tuple[SegInfo, int] | None:
    """(axial SEG, slice index) on which a disc level's muscles were measured.

    Uses explicit ``series_instance_uid``/``stack``/``slice_index`` in the muscle
    entry when present, else the axial slice nearest the disc centroid of the
    sagittal labels, else the axial slice with most disc voxels.
    """
    axial = [s for s in segs if stack_plane(s.labelled) == "axial"]
    if "series_instance_uid" in entry and "slice_index" in entry:
        for s in axial:
            v = s.labelled.volume
            if v.series_instance_uid == entry["series_instance_uid"] and \
                    v.stack_index == int(entry.get("stack", 0)):
                return s, int(entry["slice_index"])
    label = lb.DISC_LABEL.get(level)
    centre = _centroid_lps(sagittal, label) if (sagittal and label) else None
    best = None
    if centre is not None:
        for s in axial:
            g = s.labelled.volume.geometry
            k, r, c = g.lps_to_voxel(centre[None])[0]
            if not (-0.5 <= r <= g.rows - 0.5 and -0.5 <= c <= g.cols - 0.5):
                continue
            kk = int(np.clip(round(k), 0, g.n_slices - 1))
            kk = kk if s.labelled.volume.has_image(kk) else s.labelled.volume.nearest_with_image(k)
            dist = abs(k - kk) * g.slice_spacing_mm
            if best is None or dist < best[0]:
                best = (dist, s, kk)
    if best is not None:
        return best[1], best[2]
    for s in axial:
        if label is not None and s.slices_of_label.get(label):
            areas = (s.labelled.label == label).sum(axis=(1, 2)).astype(float)
            areas[list(s.labelled.volume.missing_slices)] = -1.0
            return s, int(np.argmax(areas))
    return None


def _sources(kind, seg: SegInfo, slices: list[int]) -> list:
    """Source image items for ``slices`` (missing slices left out, the middle one when none is left): one per
    image, or one per multi-frame object with its frame numbers."""
    slices = seg.labelled.volume.with_images(slices) or [seg.middle()]
    if not seg.source_frames:
        return [kind.from_source_image(seg.image(k)) for k in slices]
    by_uid: dict[str, list[int]] = {}
    for k in slices:
        by_uid.setdefault(str(seg.image(k).SOPInstanceUID), []).append(k)
    return [kind.from_source_image(seg.image(ks[0]), referenced_frame_numbers=seg.frames_of(ks))
            for ks in by_uid.values()]


def _frame_numbers(ref: Dataset) -> list[int] | None:
    """Referenced Frame Number(s) of a referenced SOP item as a list (None: single-frame)."""
    value = ref.get("ReferencedFrameNumber")
    if value is None:
        return None
    return [int(v) for v in (value if isinstance(value, MultiValue | list) else [value])]


class _Builder:
    """Collects measurement groups; one instance per report."""

    def __init__(self, results: dict, segs: list[SegInfo], models_dir: Path | None):
        self.results = results
        self.study_uid = str(results.get("study_instance_uid") or "")
        self.segs = segs
        self.sagittal = sagittal_seg(segs, results)
        self.models_dir = models_dir
        self.groups: dict[str, dict] = {}  # tracking id -> group kwargs
        self.geo = GeometryIndex(results.get("geometry"), segs)
        self.report_flags: list[hd.sr.QualitativeEvaluation] = []  # flags of no one structure

    def algorithm(self, task: str) -> hd.sr.AlgorithmIdentification:
        name, version = model_identity(task, self.models_dir)
        return hd.sr.AlgorithmIdentification(name=name, version=version)

    def group(self, ident: str, finding_type, sites: list[hd.sr.FindingSite], task: str,
              seg: SegInfo | None, label: int | None, slices: list[int] | None,
              method: Any = None) -> dict:
        """Create (or return) the kwargs of one group, referencing its SEG segment."""
        if ident in self.groups:
            return self.groups[ident]
        uid = generate_uid(entropy_srcs=[self.study_uid, "lumbarqi", "tracking", ident])
        g: dict[str, Any] = {
            "tracking_identifier": hd.sr.TrackingIdentifier(uid=uid, identifier=ident), "_uid": uid, "_ident": ident,
            "finding_type": finding_type, "finding_sites": sites,
            "finding_category": codes.ANATOMICAL_STRUCTURE,
            "algorithm_id": self.algorithm(task), "measurements": [], "qualitative_evaluations": [],
            "method": method,
        }
        if seg is not None and label in seg.segment_of_label:
            ks = slices if slices is not None else seg.slices_of_label.get(label, [])
            g["referenced_segment"] = hd.sr.ReferencedSegment(
                sop_class_uid=seg.dataset.SOPClassUID, sop_instance_uid=seg.dataset.SOPInstanceUID,
                segment_number=seg.segment_of_label[label],
                source_images=_sources(hd.sr.SourceImageForSegmentation, seg, ks))
        elif seg is not None:
            ks = slices if slices is not None else [seg.middle()]
            g["source_images"] = _sources(hd.sr.SourceImageForMeasurementGroup, seg, ks)
        self.groups[ident] = g
        return g

    def disc(self, level: str) -> dict:
        return self.group(f"disc {level}", codes.DISC.get(level, codes.ANATOMICAL_STRUCTURE),
                          [hd.sr.FindingSite(codes.DISC[level])] if level in codes.DISC else [],
                          "vertebrae", self.sagittal, lb.DISC_LABEL.get(level), None)

    def vertebra(self, level: str) -> dict:
        return self.group(f"vertebral body {level}", codes.VERTEBRAL_BODY,
                          [hd.sr.FindingSite(codes.VERTEBRA[level])] if level in codes.VERTEBRA else [],
                          "vertebrae", self.sagittal, lb.VERTEBRA_LABEL.get(level), None)

    def loads(self, task: str, level: str) -> dict:
        """TID 1501 group of one task's loads on one disc (the task as the group's method), on
        the sagittal image its heights were read on."""
        k = ((self.results.get("geometry") or {}).get("discs") or {}).get(level, {}).get("slice_index")
        mid = [int(k)] if k is not None else ([self.sagittal.middle()] if self.sagittal else None)
        return self.group(f"loads {task} {level}", codes.DISC.get(level, codes.ANATOMICAL_STRUCTURE),
                          [hd.sr.FindingSite(codes.DISC[level])] if level in codes.DISC else [],
                          "biomechanics", self.sagittal, None, mid, method=codes.task_code(task))

    def muscle(self, level: str, muscle: str, side: str, entry: dict) -> dict:
        geo = (((self.results.get("geometry") or {}).get("muscles") or {}).get(level) or {})
        geo = (geo.get(muscle) or {}).get(side) or {}
        where = locate_level_slice(level, geo if "slice_index" in geo else entry, self.segs, self.sagittal)
        seg, k = where if where else (None, None)
        sites = [hd.sr.FindingSite(codes.MUSCLE[muscle], laterality=codes.LATERALITY.get(side))]
        if level in codes.DISC:
            sites.append(hd.sr.FindingSite(codes.DISC[level]))
        return self.group(f"{codes.MUSCLE_NAMES[muscle]} {side} {level}", codes.MUSCLE[muscle], sites,
                          "muscles", seg, lb.MUSCLE_LABEL.get((muscle, side)),
                          [k] if k is not None else None)

    def lordosis(self) -> dict:
        seg = self.sagittal
        mid = [seg.middle()] if seg else None
        g = self.group("lumbar lordosis", codes.LUMBAR_SPINE, [hd.sr.FindingSite(codes.LUMBAR_SPINE)],
                       "vertebrae", seg, None, mid)
        return g

    def build(self) -> list[Group]:
        r = self.results
        for level, values in (r.get("discs") or {}).items():
            g = self.disc(level)
            g["measurements"] += _measurements(values, self.geo.structure("discs", level)[0])
            if isinstance(values.get("degenerated"), bool):
                g["qualitative_evaluations"].append(hd.sr.QualitativeEvaluation(
                    codes.DEGENERATED, codes.PRESENT if values["degenerated"] else codes.ABSENT))
        for level, values in (r.get("vertebrae") or {}).items():
            self.vertebra(level)["measurements"] += _measurements(
                values, self.geo.structure("vertebrae", level)[0])
        if _num(r.get("lordosis_deg")) is not None:
            name, unit = codes.LORDOSIS
            line = self.geo.lordosis()[0].get("lordosis_deg")
            self.lordosis()["measurements"].append(hd.sr.Measurement(
                name=name, value=float(r["lordosis_deg"]), unit=unit,
                referenced_coordinates=[line] if line else None))
        for level, per_muscle in (r.get("muscles") or {}).items():
            for muscle, per_side in per_muscle.items():
                if muscle not in codes.MUSCLE:
                    continue
                for side, values in per_side.items():
                    outline = self.geo.muscle(level, muscle, side)
                    coords = {"csa_mm2": outline.scoord(CLOSED_POLYLINE)} if outline else None
                    self.muscle(level, muscle, side, values)["measurements"] += _measurements(values, coords)
        for task, per_level in (r.get("loads") or {}).items():
            for level, values in per_level.items():
                g = self.loads(task, level)
                centre = self.geo.disc_centre(level)
                for key, (name, unit) in codes.LOAD.items():
                    v = _num(values.get(key))
                    if v is not None:  # the point where the loads act, on the first of them
                        ref = [centre] if centre is not None and not g["measurements"] else None
                        g["measurements"].append(hd.sr.Measurement(
                            name=name, value=v, unit=unit, referenced_coordinates=ref))
        for flag in r.get("flags") or []:
            self.add_flag(flag)
        return [group for g in self.groups.values()
                if g["measurements"] or g["qualitative_evaluations"] for group in self._make(g)]

    def add_flag(self, flag: dict) -> None:
        """A flag goes to the measured group(s) of its structure, else to the report level."""
        qe = hd.sr.QualitativeEvaluation(codes.QUALITY_FLAG, codes.flag_code(str(flag.get("code") or "flag")))
        level, structure = flag.get("level"), str(flag.get("structure") or "")
        muscle, _, side = (x.strip() for x in structure.partition(","))
        measured = lambda ident: ident in self.groups and self.groups[ident]["measurements"]  # noqa: E731
        idents = []
        if level in codes.DISC and structure in ("", "disc"):
            idents = [f"disc {level}"]
        elif level in codes.VERTEBRA and structure in ("", "vertebra", "vertebral_body"):
            idents = [f"vertebral body {level}"]
        elif muscle in codes.MUSCLE:
            name = codes.MUSCLE_NAMES[muscle]
            idents = [i for i in self.groups if i.startswith(f"{name} {side}".strip() + " ")
                      and (not level or i.endswith(f" {level}"))]
        elif structure == "lordosis":
            idents = ["lumbar lordosis"]
        targets = [self.groups[i] for i in idents if measured(i)]
        if not targets:
            self.report_flags.append(qe)
        for g in targets:
            g["qualitative_evaluations"].append(qe)

    @staticmethod
    def _make(g: dict) -> list[Group]:
        """The group(s) of one finding, all with its tracking UID: a TID 1411 (SEG segment) or
        TID 1501 group with the measurements that have no line or outline, and one TID 1501
        group per measurement drawn as a line or outline (TID 1411 carries no per-measurement
        SCOORD), each value once. The drawn groups' tracking identifier starts with the
        viewer tool that shows it (OHIF/Cornerstone3D convention, see docs/ohif.md)."""
        kwargs = {k: v for k, v in g.items() if v is not None and not k.startswith("_")
                  and (v or k == "measurements")}
        drawn = [(m, t) for m in kwargs["measurements"] for t in [viewer_tool(m)] if t]
        rest = [m for m in kwargs["measurements"] if not any(m is d for d, _ in drawn)]
        kwargs["measurements"] = rest
        out: list[Group] = []
        if rest or kwargs.get("qualitative_evaluations") or not drawn:
            cls = (hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations if "referenced_segment" in kwargs
                   else hd.sr.MeasurementsAndQualitativeEvaluations)
            out.append(cls(**kwargs))
        for m, tool in drawn:
            ref = m.referenced_coordinates[0].ContentSequence[0].ReferencedSOPSequence[0]
            out.append(hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=g["_uid"], identifier=f"{VIEWER_TOOL_TAG}:{tool}:{g['_ident']}"),
                finding_type=g["finding_type"], finding_sites=g["finding_sites"] or None,
                finding_category=g["finding_category"], algorithm_id=g["algorithm_id"], measurements=[m],
                source_images=[hd.sr.SourceImageForMeasurementGroup(
                    referenced_sop_class_uid=ref.ReferencedSOPClassUID,
                    referenced_sop_instance_uid=ref.ReferencedSOPInstanceUID,
                    referenced_frame_numbers=_frame_numbers(ref))]))
        return out


def sr_uids(segs: list[SegInfo]) -> tuple[str, str]:
    """(series UID, SOP instance UID) derived from the source images and SEG instances."""
    sources = sorted(str(ds.SOPInstanceUID) for s in segs for ds in s.source_images)
    seg_uids = sorted(str(s.dataset.SOPInstanceUID) for s in segs)
    series = generate_uid(entropy_srcs=[*sources, "lumbarqi", "sr", "series"])
    return series, generate_uid(entropy_srcs=[*sources, *seg_uids, "lumbarqi", "sr"])


def _report_evaluations(flags: list[hd.sr.QualitativeEvaluation]) -> hd.sr.ContainerContentItem:
    """TID 1500 "Qualitative Evaluations" container (UMLS C0034375) of the report-level flags."""
    item = hd.sr.ContainerContentItem(name=codes.QUALITATIVE_EVALUATIONS,
                                      relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    item.ContentSequence = hd.sr.ContentSequence([code for qe in flags for code in qe])
    return item


def build_sr(results: dict, segs: list[SegInfo], models_dir: Path | None = None) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 Measurement Report of one run (same study as the SEGs)."""
    if not segs:
        raise ValueError("no segmentation to reference: the SR needs at least one SEG")
    builder = _Builder(results, segs, models_dir)
    groups = builder.build()
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=["lumbarqi", "device", lumbarqi.__version__]),
        name="lumbarqi", manufacturer_name=MANUFACTURER, model_name="lumbarqi")
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=dcm_codes.DCM.Device, observer_identifying_attributes=device))
    by_uid: dict[str, Dataset] = {}  # a multi-frame source is the source of every slice: once in the library and evidence
    for ds in (ds for s in segs for ds in s.source_images):
        by_uid.setdefault(str(ds.SOPInstanceUID), ds)
    sources = list(by_uid.values())
    report = hd.sr.MeasurementReport(
        observation_context=context, procedure_reported=codes.PROCEDURE,
        imaging_measurements=groups,
        referenced_images=[library_entry_source(ds) for ds in sources])  # TID 1600 image library
    content = report[0]
    if builder.report_flags:
        content.ContentSequence.append(_report_evaluations(builder.report_flags))
    evidence: list[Dataset] = [s.dataset for s in segs] + sources
    series_uid, sop_uid = sr_uids(segs)
    return hd.sr.Comprehensive3DSR(
        evidence=evidence, content=content, series_instance_uid=series_uid,
        series_number=SR_SERIES_NUMBER, sop_instance_uid=sop_uid, instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True,
        series_description="lumbarqi measurements (TID 1500)",
        coding_schemes=codes.coding_schemes())


def _key_of(concept) -> tuple[str, int | None] | None:
    """Concept name -> (results key, centroid component or None)."""
    for key, (name, _) in {**codes.MEASUREMENT, **codes.LOAD}.items():
        if concept == name:
            return key, None
    for i, (name, _) in enumerate(codes.CENTROID):
        if concept == name:
            return "centroid_mm", i
    if concept == codes.LORDOSIS[0]:
        return "lordosis_deg", None
    return None


def _reverse(table: dict, concept) -> str | None:
    return next((k for k, c in table.items() if concept == c), None)


def read_measurements(sr: Dataset) -> dict:
    """The measurements of a lumbarqi SR in the ``results.json`` layout (plus flag codes)."""
    doc = sr if isinstance(sr, hd.sr.Comprehensive3DSR) else hd.sr.Comprehensive3DSR.from_dataset(sr)
    report: Any = doc.content  # a MeasurementReport content sequence (highdicom types it as ContentSequence)
    out: dict[str, Any] = {"discs": {}, "vertebrae": {}, "muscles": {}, "loads": {}, "flags": []}
    groups = report.get_volumetric_roi_measurement_groups() + report.get_image_measurement_groups()
    for g in groups:
        sites = [s.value for s in g.finding_sites]
        lat = [_reverse(codes.LATERALITY, s.laterality) for s in g.finding_sites
               if s.laterality is not None]
        disc = next((d for d in (_reverse(codes.DISC, s) for s in sites) if d), None)
        vert = next((v for v in (_reverse(codes.VERTEBRA, s) for s in sites) if v), None)
        muscle = _reverse(codes.MUSCLE, g.finding_type) if g.finding_type else None
        method = g.method
        if method is not None:  # a loading task's group
            task = _reverse(codes.TASK, method) or method.meaning.replace(" ", "_")
            target = out["loads"].setdefault(task, {}).setdefault(disc, {})
        elif muscle:
            target = out["muscles"].setdefault(disc, {}).setdefault(muscle, {}).setdefault(
                next((x for x in lat if x), None), {})
        elif g.finding_type == codes.VERTEBRAL_BODY:
            target = out["vertebrae"].setdefault(vert, {})
        elif disc:
            target = out["discs"].setdefault(disc, {})
        else:
            target = out
        for m in g.get_measurements():
            found = _key_of(m.name)
            if not found:
                continue
            key, comp = found
            if comp is not None:
                target.setdefault(key, [None, None])[comp] = float(m.value)
            else:
                target[key] = float(m.value)
        for qe in g.get_qualitative_evaluations():
            if qe.name == codes.QUALITY_FLAG:
                out["flags"].append(codes.flag_name(qe.value.value))
            elif qe.name == codes.DEGENERATED:
                target["degenerated"] = qe.value == codes.PRESENT
    for item in doc.ContentSequence:
        name = item.ConceptNameCodeSequence[0]
        if (name.CodeValue, name.CodingSchemeDesignator) == (codes.QUALITATIVE_EVALUATIONS.value, "UMLS"):
            out["flags"] += [codes.flag_name(str(c.ConceptCodeSequence[0].CodeValue))
                             for c in item.ContentSequence if c.ValueType == "CODE"]
    return out
