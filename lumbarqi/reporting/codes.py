"""Every coded concept the DICOM outputs use: the one place that owns them.

Standard concepts are SNOMED CT (``SCT``), DICOM (``DCM``), LOINC (``LN``) and
UCUM units. Concepts with no standard code use the local coding scheme
``99LUMBARQI`` (documented in ``docs/dicom_codes.md``; declared in every
object's Coding Scheme Identification Sequence). Segment colours are fixed per
structure so that a viewer shows the same colour for L4 or the left psoas in
every study.
"""
from __future__ import annotations

import colorsys

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.color import CIELabColor
from pydicom.sr.coding import Code

from lumbarqi import labels as lb

LOCAL_SCHEME = "99LUMBARQI"
LOCAL_SCHEME_VERSION = "1.0"


def local(value: str, meaning: str) -> Code:
    """A concept of the local coding scheme."""
    return Code(value, LOCAL_SCHEME, meaning)


def coding_schemes() -> list[CodingSchemeIdentificationItem]:
    """Coding Scheme Identification items declaring the local scheme."""
    return [CodingSchemeIdentificationItem(
        designator=LOCAL_SCHEME, name="lumbarqi local concepts",
        version=LOCAL_SCHEME_VERSION, responsible_organization="lumbarqi project")]


# --- anatomy -------------------------------------------------------------------
ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
VERTEBRAL_BODY = Code("3572006", "SCT", "Vertebral body")
SPINAL_CANAL = Code("61853006", "SCT", "Spinal canal")
VERTEBRAL_ARCH = Code("40265002", "SCT", "Arch of vertebra")  # posterior elements
LUMBAR_SPINE = Code("122496007", "SCT", "Lumbar spine")
SKELETAL_MUSCLE = Code("127954009", "SCT", "Skeletal muscle")
LEFT = Code("7771000", "SCT", "Left")
RIGHT = Code("24028007", "SCT", "Right")
LATERALITY: dict[str, Code] = {"left": LEFT, "right": RIGHT}

VERTEBRA: dict[str, Code] = {
    "T10": Code("7610001", "SCT", "T10 vertebra"),
    "T11": Code("12989004", "SCT", "T11 vertebra"),
    "T12": Code("23215003", "SCT", "T12 vertebra"),
    "L1": Code("66794005", "SCT", "L1 vertebra"),
    "L2": Code("14293000", "SCT", "L2 vertebra"),
    "L3": Code("36470004", "SCT", "L3 vertebra"),
    "L4": Code("11994002", "SCT", "L4 vertebra"),
    "L5": Code("49668003", "SCT", "L5 vertebra"),
    "S1": Code("65985001", "SCT", "S1 vertebra"),
}
DISC: dict[str, Code] = {
    "T10/T11": Code("34959001", "SCT", "T10/T11 disc"),
    "T11/T12": Code("1537001", "SCT", "T11/T12 disc"),
    "T12/L1": Code("76206002", "SCT", "T12/L1 disc"),
    "L1/L2": Code("80064006", "SCT", "L1/L2 disc"),
    "L2/L3": Code("67459009", "SCT", "L2/L3 disc"),
    "L3/L4": Code("62551000", "SCT", "L3/L4 disc"),
    "L4/L5": Code("84020006", "SCT", "L4/L5 disc"),
    "L5/S1": Code("715056000", "SCT", "L5/S1 disc"),
}
#: Multifidus and quadratus lumborum: SNOMED CT body-structure concepts (checked
#: against a SNOMED CT body-site value-set listing). Psoas major: no code could be
#: verified here, so a local concept (parent concept: iliopsoas, SCT 68455001).
MUSCLE: dict[str, Code] = {
    "erector_spinae": Code("44947003", "SCT", "Erector spinae muscle"),
    "multifidus": Code("5709001", "SCT", "Multifidus muscles"),
    "psoas": local("PSOAS-MAJOR", "Psoas major muscle"),
    "quadratus_lumborum": Code("6001004", "SCT", "Quadratus lumborum muscle"),
}
MUSCLE_NAMES: dict[str, str] = {
    "erector_spinae": "erector spinae", "multifidus": "multifidus",
    "psoas": "psoas major", "quadratus_lumborum": "quadratus lumborum",
}

# --- measurements ----------------------------------------------------------------
MM = Code("mm", "UCUM", "millimeter")
MM2 = Code("mm2", "UCUM", "square millimeter")
DEG = Code("deg", "UCUM", "degree")
RATIO = Code("{ratio}", "UCUM", "ratio")
NEWTON = Code("N", "UCUM", "Newton")

#: results.json key -> (concept name, unit). Same concept for discs and vertebrae;
#: the measurement group's finding site says which structure it belongs to.
MEASUREMENT: dict[str, tuple[Code, Code]] = {
    "height_anterior_mm": (local("HEIGHT-ANT", "Anterior height"), MM),
    "height_middle_mm": (local("HEIGHT-MID", "Middle height"), MM),
    "height_posterior_mm": (local("HEIGHT-POST", "Posterior height"), MM),
    "height_mean_mm": (local("HEIGHT-MEAN", "Mean height (area / AP depth)"), MM),
    "height_index": (local("DHI", "Disc height index"), RATIO),
    "depth_mm": (local("AP-DEPTH", "Anteroposterior depth"), MM),
    "wedge_deg": (local("WEDGE", "Wedge angle"), DEG),
    "csa_mm2": (Code("42798000", "SCT", "Area"), MM2),
    "fat_index": (local("FAT-INDEX", "Fat infiltration index"), RATIO),
    "slice_offset_mm": (local("SLICE-OFFSET", "Slice distance from disc mid-plane"), MM),
}
#: centroid_mm is a pair [lateral, anterior]: one concept per component.
CENTROID: tuple[tuple[Code, Code], tuple[Code, Code]] = (
    (local("CENTROID-LAT", "Centroid lateral distance"), MM),
    (local("CENTROID-ANT", "Centroid anterior distance"), MM),
)
LORDOSIS = (local("LORDOSIS-L1S1", "Lumbar lordosis angle L1-S1"), DEG)
DEGENERATED = local("DISC-DEGEN", "Disc degeneration")
PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("272519000", "SCT", "Absent")

LOAD: dict[str, tuple[Code, Code]] = {
    "compression_n": (local("LOAD-COMP", "Compressive force"), NEWTON),
    "shear_ap_n": (local("LOAD-SHEAR-AP", "Anterior-posterior shear force"), NEWTON),
    "shear_lateral_n": (local("LOAD-SHEAR-LAT", "Lateral shear force"), NEWTON),
}
TASK: dict[str, Code] = {
    "standing": local("TASK-STAND", "Relaxed standing"),
    "flexion_30": local("TASK-FLEX30", "Trunk flexion 30 degrees"),
    "flexion_60": local("TASK-FLEX60", "Trunk flexion 60 degrees"),
    "extension_20": local("TASK-EXT20", "Trunk extension 20 degrees"),
    "lateral_bend_20": local("TASK-LATBEND20", "Lateral bend 20 degrees"),
    "hold_10kg": local("TASK-HOLD10KG", "Holding 10 kg in front of the body"),
}
QUALITY_FLAG = local("QUALITY-FLAG", "Quality flag")
#: TID 1500 report-level container for evaluations that concern no one structure.
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")

#: DICOM limits: Code Value (SH) 16 characters, Code Meaning (LO) 64.
MAX_CODE_VALUE, MAX_CODE_MEANING = 16, 64


def task_code(task: str) -> Code:
    """Concept of a loading task (unknown task names get a derived local code)."""
    if task in TASK:
        return TASK[task]
    return local(short_value("TASK-" + task.upper().replace("_", "")), _meaning(task.replace("_", " ")))


#: results.json flag code -> (code value <= 16 characters, meaning <= 64 characters). One
#: fixed meaning per code: the flag's own message (which names the level and structure)
#: stays in results.json and the PDF; the SR says which structure through its group.
FLAG: dict[str, tuple[str, str]] = {
    "axial_not_reaching_level": ("AX-NOT-AT-LEVEL", "No axial slice reaches the disc level"),
    "biomech_balance_limited": ("BM-BALANCE-LIM", "Muscle forces could not fully balance the load"),
    "biomech_base_model_posture": ("BM-BASE-POSTURE", "Load model uses the base model posture"),
    "biomech_muscle_saturated": ("BM-MUSCLE-SAT", "A muscle reached its maximum force"),
    "biomech_task_failed": ("BM-TASK-FAILED", "Load calculation for a task failed"),
    "biomech_task_unsolved": ("BM-TASK-UNSOLVED", "Load calculation for a task did not converge"),
    "bodies_split": ("BODIES-SPLIT", "A vertebral body mask was split in two"),
    "csa_oblique_estimate": ("CSA-OBLIQUE-EST", "Cross-sectional area estimated from an oblique slice"),
    "disc_missing": ("DISC-MISSING", "Disc not found between two vertebral bodies"),
    "duplicate_slices": ("DUPLICATE-SLICES", "Duplicate slices in a series"),
    "fat_calibration": ("FAT-CALIBRATION", "Fat and lean muscle signal calibration failed"),
    "lateral_coverage": ("LATERAL-COVERAGE", "Structure reaches the first or last sagittal slice"),
    "level_above_t10": ("LEVEL-ABOVE-T10", "Levels above T10 are not named"),
    "level_missing": ("LEVEL-MISSING", "Level not in the sagittal label map"),
    "low_confidence_segmentation": ("LOW-CONFIDENCE", "Low segmentation confidence: check the outline"),
    "missing_slices": ("MISSING-SLICES", "Slices missing from a series: interpolated, not measured"),
    "muscle_missing": ("MUSCLE-MISSING", "Muscle not found near the chosen axial slice"),
    "no_axial_t1": ("NO-AXIAL-T1", "No axial T1-weighted series"),
    "no_sagittal_t1": ("NO-SAGITTAL-T1", "No sagittal T1-weighted series"),
    "not_fully_in_fov": ("NOT-IN-FOV", "Structure touches the edge of the image"),
    "not_measurable": ("NOT-MEASURABLE", "Measurement not possible"),
    "other_studies_ignored": ("OTHER-STUDIES", "Images of other studies were ignored"),
    "out_of_range": ("OUT-OF-RANGE", "Value outside the plausible range"),
    "phantom_input": ("PHANTOM-INPUT", "Synthetic phantom study"),
    "sacrum_not_in_fov": ("SACRUM-NOT-SEEN", "Sacrum not in the field of view"),
    "sacrum_partial": ("SACRUM-PARTIAL", "Sacrum only partly in the field of view"),
    "transitional_anatomy": ("TRANSITIONAL", "Possible lumbosacral transitional anatomy"),
    "uneven_slice_spacing": ("UNEVEN-SPACING", "Uneven slice spacing"),
    "unreadable_images": ("UNREADABLE-IMGS", "Some images could not be read"),
    "unsupported_images": ("UNSUPPORTED-IMGS", "Some images are of an unsupported kind"),
}


def short_value(value: str) -> str:
    """A code value of at most 16 characters: as is when short, else a prefix and a hash."""
    value = "".join(c if c.isalnum() or c in "-." else "-" for c in value.upper()) or "FLAG"
    if len(value) <= MAX_CODE_VALUE:
        return value
    import hashlib

    return f"{value[:11].rstrip('-')}-{hashlib.sha1(value.encode()).hexdigest()[:4].upper()}"


def _meaning(text: str) -> str:
    """A Code Meaning of at most 64 characters, cut at a word boundary when longer."""
    text = " ".join(text.replace("\\", "/").split())
    if len(text) <= MAX_CODE_MEANING:
        return text
    return text[:MAX_CODE_MEANING + 1].rsplit(" ", 1)[0].rstrip(",;:")


def flag_code(code: str) -> Code:
    """Local concept of one quality flag code (fixed meaning per code)."""
    if code in FLAG:
        value, meaning = FLAG[code]
        return local(value, meaning)
    return local(short_value(code), _meaning(code.replace("_", " ").capitalize()))


def flag_name(value: str) -> str:
    """The results.json flag code of a flag concept value (unknown values: lower case)."""
    return next((k for k, (v, _) in FLAG.items() if v == value), value.lower().replace("-", "_"))


# --- procedure, algorithm family ----------------------------------------------
PROCEDURE = Code("18756-7", "LN", "MRI Spine Report")
ALGORITHM_FAMILY = Code("123110", "DCM", "Artificial Intelligence")  # CID 7162


# --- segments ------------------------------------------------------------------
def segment_concepts(label: int) -> tuple[Code, Code, list[Code], str | None, str]:
    """(category, property type, anatomic regions, laterality, label text) of a label number."""
    names = lb.label_names()
    if label not in names:
        raise KeyError(f"label {label} has no name in lumbarqi.labels")
    name = names[label]
    structure, level, side = lb.structure_of(name)
    if structure == "vertebral_body" and level in VERTEBRA:
        if level == "S1":
            return ANATOMICAL_STRUCTURE, VERTEBRA["S1"], [LUMBAR_SPINE], None, "S1 (sacrum)"
        return ANATOMICAL_STRUCTURE, VERTEBRAL_BODY, [VERTEBRA[level]], None, f"{level} vertebral body"
    if structure == "disc" and level in DISC:
        return ANATOMICAL_STRUCTURE, DISC[level], [DISC[level]], None, f"{level} disc"
    if structure in MUSCLE:
        text = f"{MUSCLE_NAMES[structure]}, {side}" if side else MUSCLE_NAMES[structure]
        return ANATOMICAL_STRUCTURE, MUSCLE[structure], [LUMBAR_SPINE], side, text
    if label == lb.CANAL_LABEL:
        return ANATOMICAL_STRUCTURE, SPINAL_CANAL, [LUMBAR_SPINE], None, "spinal canal"
    if label == lb.POSTERIOR_ELEMENTS_LABEL:
        return ANATOMICAL_STRUCTURE, VERTEBRAL_ARCH, [LUMBAR_SPINE], None, "posterior elements"
    raise KeyError(f"label {label} ({name}) has no DICOM code")


_MUSCLE_HUE = {"erector_spinae": 0.0, "multifidus": 0.12, "psoas": 0.55, "quadratus_lumborum": 0.78}


def segment_rgb(label: int) -> tuple[int, int, int]:
    """Fixed display colour (0-255 RGB) of a label number, the same in every study."""
    names = lb.label_names()
    structure, level, side = lb.structure_of(names.get(label, ""))
    if structure == "vertebral_body":  # warm yellows/oranges alternating by level
        i = lb.VERTEBRAE.index(level) if level in lb.VERTEBRAE else 0
        h, s, v = (0.11 + 0.04 * (i % 2), 0.55 + 0.05 * (i % 3), 0.95)
    elif structure == "disc":  # blues/cyans alternating by level
        i = lb.DISCS.index(level) if level in lb.DISCS else 0
        h, s, v = (0.50 + 0.06 * (i % 2), 0.85, 0.95)
    elif structure in _MUSCLE_HUE:
        h, s, v = (_MUSCLE_HUE[structure], 0.75, 0.95 if side == "left" else 0.7)
    elif label == lb.CANAL_LABEL:
        h, s, v = (0.33, 0.6, 0.85)
    else:
        h, s, v = (0.0, 0.0, 0.75)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(round(255 * r)), int(round(255 * g)), int(round(255 * b))


def segment_colour(label: int) -> CIELabColor:
    """Fixed display colour of a label number as the CIELab value SEG stores."""
    return CIELabColor.from_rgb(*segment_rgb(label))
