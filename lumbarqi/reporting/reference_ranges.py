"""Published reference figures the report compares a study with, each with its source.

Every number below is taken from the paper named next to it; the report prints the
same references as numbered footnotes (``REFERENCES``). None of them is a diagnostic
threshold for this product: they put a measurement in context.

[1] Zhang F, Zhang K, Tian HJ, Wu AM, Cheng XF, Zhou TJ, Zhao J. Correlation between
    lumbar intervertebral disc height and lumbar spine sagittal alignment among
    asymptomatic Asian young adults. J Orthop Surg Res 2018;13:34
    (doi:10.1186/s13018-018-0737-x). 169 asymptomatic volunteers, intervertebral disc
    height on the mid-sagittal MRI section; reference value ranges (abstract):
    L1/2 6.25-10.99, L2/3 6.97-12.08, L3/4 7.42-13.3, L4/5 7.76-14.57,
    L5/S1 7.11-13.12 mm. Compared with lumbarqi's middle disc height (50 % of the AP depth).
[2] Fortin M, Lazary A, Varga PP, McCall I, Battie MC. Paraspinal muscle asymmetry and
    fat infiltration in patients with symptomatic disc herniation. Eur Spine J
    2016;25:1452-1459 (doi:10.1007/s00586-016-4503-7). T2 axial MRI at the centre of each
    disc, 33 patients with an L4-L5 disc herniation; CSA per side, mean +- SD, as
    tabulated in Kalichman L, Carmeli E, Been E. The association between imaging
    parameters of the paraspinal muscles, spinal degeneration, and low back pain.
    Biomed Res Int 2017;2017:2562957, Table 1: multifidus 6.5 +- 1.4 cm2 (L3-L4),
    9.6 +- 2.1 cm2 (L4-L5); erector spinae 20.0 +- 4.4 cm2 (L3-L4), 16.3 +- 4.1 cm2 (L4-L5).
    The report shows mean +- 2 SD.
[3] Genant HK, Wu CY, van Kuijk C, Nevitt MC. Vertebral fracture assessment using a
    semiquantitative technique. J Bone Miner Res 1993;8:1137-1148. Grade 1 (mild)
    deformity: 20-25 % reduction of anterior, middle or posterior vertebral height;
    grade 2: 25-40 %; grade 3: more than 40 %. lumbarqi reports the loss within one body
    (smallest of its three heights against the largest).
[4] Wilke HJ, Neef P, Caimi M, Hoogland T, Claes LE. New in vivo measurements of pressures
    in the intervertebral disc in daily life. Spine 1999;24:755-762. L4/L5 intradiscal
    pressure: relaxed standing 0.5 MPa, standing flexed forward 1.1 MPa (the numbers live
    in ``lumbarqi/biomech/data/anatomy.json`` with the same reference).
[5] Nachemson A. Lumbar intradiscal pressure. Experimental studies on post-mortem
    material. Acta Orthop Scand Suppl 1960;43:1-104. Pressure about 1.5 x the mean axial
    stress, so force ~= 0.66 x pressure x disc area (area from this subject's L4/L5 disc).
[6] Stokes M, Rankin G, Newham DJ. Ultrasound imaging of lumbar multifidus muscle: normal
    reference ranges for measurements and practical guidance on the technique. Man Ther
    2005;10:116-126. 120 healthy adults: multifidus CSA symmetric between sides within 10 %.
"""
from __future__ import annotations

from dataclasses import dataclass

REFERENCES: dict[int, str] = {
    1: "Zhang F, Zhang K, Tian HJ, et al. Correlation between lumbar intervertebral disc height and lumbar "
       "spine sagittal alignment among asymptomatic Asian young adults. J Orthop Surg Res 2018;13:34 "
       "(mid-sagittal MRI, 169 asymptomatic adults; reference value ranges).",
    2: "Fortin M, Lazary A, Varga PP, McCall I, Battie MC. Paraspinal muscle asymmetry and fat infiltration in "
       "patients with symptomatic disc herniation. Eur Spine J 2016;25:1452-1459 (axial MRI at disc centre, "
       "33 patients; values as tabulated by Kalichman L et al., Biomed Res Int 2017:2562957); shown as mean +/- 2 SD.",
    3: "Genant HK, Wu CY, van Kuijk C, Nevitt MC. Vertebral fracture assessment using a semiquantitative "
       "technique. J Bone Miner Res 1993;8:1137-1148 (height loss of 20 % or more: grade 1 deformity or worse).",
    4: "Wilke HJ, Neef P, Caimi M, Hoogland T, Claes LE. New in vivo measurements of pressures in the "
       "intervertebral disc in daily life. Spine 1999;24:755-762 (L4/L5: 0.5 MPa standing, 1.1 MPa flexed).",
    5: "Nachemson A. Lumbar intradiscal pressure. Acta Orthop Scand Suppl 1960;43:1-104 "
       "(force = 0.66 x pressure x disc area; disc area from this subject's L4/L5 depth).",
    6: "Stokes M, Rankin G, Newham DJ. Ultrasound imaging of lumbar multifidus muscle: normal reference ranges "
       "for measurements and practical guidance on the technique. Man Ther 2005;10:116-126 (healthy adults: "
       "left and right multifidus CSA within 10 %).",
}


@dataclass(frozen=True)
class Range:
    """A reference interval ``[low, high]`` in ``unit`` and the footnote number of its source."""

    low: float
    high: float
    unit: str
    ref: int
    digits: int = 1  # as published

    def assess(self, value: float | None) -> str:
        """'low', 'high' or '' (within the range, or no value)."""
        if value is None:
            return ""
        return "low" if value < self.low else "high" if value > self.high else ""

    def text(self) -> str:
        return f"{self.low:.{self.digits}f}-{self.high:.{self.digits}f}"


#: [1] Mid-sagittal disc height reference value ranges (mm) by level.
DISC_HEIGHT_MM: dict[str, Range] = {
    "L1/L2": Range(6.25, 10.99, "mm", 1, 2), "L2/L3": Range(6.97, 12.08, "mm", 1, 2),
    "L3/L4": Range(7.42, 13.3, "mm", 1, 2), "L4/L5": Range(7.76, 14.57, "mm", 1, 2),
    "L5/S1": Range(7.11, 13.12, "mm", 1, 2),
}

#: [2] Paraspinal CSA per side (cm2): (mean, SD) by (muscle, level).
_CSA_MEAN_SD_CM2: dict[tuple[str, str], tuple[float, float]] = {
    ("multifidus", "L3/L4"): (6.5, 1.4), ("multifidus", "L4/L5"): (9.6, 2.1),
    ("erector_spinae", "L3/L4"): (20.0, 4.4), ("erector_spinae", "L4/L5"): (16.3, 4.1),
}
CSA_CM2: dict[tuple[str, str], Range] = {
    key: Range(round(m - 2 * sd, 2), round(m + 2 * sd, 2), "cm2", 2) for key, (m, sd) in _CSA_MEAN_SD_CM2.items()
}

#: [3] Height loss within one vertebral body from which Genant grades a deformity (fraction).
VERTEBRAL_HEIGHT_LOSS_GRADE1 = 0.20
VERTEBRAL_REF = 3

#: [6] Left/right multifidus CSA difference (fraction of the larger side) beyond healthy symmetry.
MULTIFIDUS_ASYMMETRY = 0.10
ASYMMETRY_REF = 6

#: [4] Tasks of results.json ``loads`` with a Wilke 1999 L4/L5 pressure (key in anatomy.json).
WILKE_TASKS: dict[str, str] = {"standing": "standing", "flexion_30": "flexed"}
WILKE_REF, NACHEMSON_REF = 4, 5


def disc_height_range(level: str) -> Range | None:
    return DISC_HEIGHT_MM.get(level)


def csa_range(muscle: str, level: str) -> Range | None:
    return CSA_CM2.get((muscle, level))


def vertebral_height_loss(entry: dict) -> float | None:
    """1 - smallest/largest of the anterior, middle and posterior heights of one body (fraction)."""
    found = [entry.get(k) for k in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm")]
    heights = [float(h) for h in found if isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0]
    if len(heights) < 2:
        return None
    return 1.0 - min(heights) / max(heights)


def wilke_l45_n(task: str, l45_depth_mm: float | None) -> float | None:
    """Wilke's L4/L5 pressure for ``task`` as a compressive force (N) on this subject's disc, or None."""
    if task not in WILKE_TASKS or not isinstance(l45_depth_mm, (int, float)) or l45_depth_mm <= 0:
        return None
    from lumbarqi.biomech.anatomy import wilke_force_n

    return float(wilke_force_n(WILKE_TASKS[task], float(l45_depth_mm)))
