"""Read case folders (``<case>/image.nii.gz``, ``label.nii.gz``, ``meta.json``).

A case folder is laid out like ``../shared/data`` (and like the phantom's
output). Volumes are reoriented to the closest canonical orientation, RAS+
(nibabel's world frame: increasing axis 0 points to the patient's Right,
axis 1 Anterior, axis 2 Superior), so that:

* sagittal slices are ``volume[i, :, :]`` (in-plane axes A, S),
* axial slices are ``volume[:, :, k]`` (in-plane axes R, A),
* the cranio-caudal axis is always axis 2.

Label numbers in ``label.nii.gz`` are folded into structures through
``lumbarqi.labels.structure_of``; each structure is a class index of a task
(see :mod:`lumbarqi.segmentation.network`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from lumbarqi.labels import structure_of

#: Row flip between nibabel's RAS world frame and DICOM patient LPS (mm).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

_VB_NAME = re.compile(r"^vertebral body\b", re.IGNORECASE)


@dataclass
class LabelInfo:
    """What one label number of a case means."""

    value: int
    name: str
    structure: str
    level: str | None
    side: str | None


@dataclass
class Case:
    """One case in canonical RAS+ voxel order.

    ``image`` is float32, ``label`` the original label numbers (uint16),
    ``affine_ras`` the voxel->RAS (mm) affine of the reoriented arrays,
    ``spacing`` the voxel size in mm along the three canonical axes.
    """

    name: str
    path: Path
    image: np.ndarray
    label: np.ndarray | None
    affine_ras: np.ndarray
    spacing: tuple[float, float, float]
    labels: dict[int, LabelInfo] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def affine_lps(self) -> np.ndarray:
        """Voxel -> patient LPS (mm) affine of the canonical arrays."""
        return RAS_TO_LPS @ self.affine_ras

    @property
    def plane(self) -> str | None:
        """``"sagittal"`` / ``"axial"`` / ``"coronal"`` as meta.json states, else None."""
        plane = self.meta.get("plane")
        return str(plane).lower() if plane else None

    def structures(self) -> set[str]:
        """Structures this case labels (after folding level and side)."""
        return {info.structure for info in self.labels.values()}

    def structure_mask(self, structure: str) -> np.ndarray:
        """Boolean mask of every label value folded into ``structure``."""
        if self.label is None:
            raise ValueError(f"case {self.name} has no label")
        values = [v for v, info in self.labels.items() if info.structure == structure]
        return np.isin(self.label, values)

    def class_map(self, classes: tuple[str, ...]) -> np.ndarray:
        """uint8 map of class indices (``classes[0]`` is background)."""
        if self.label is None:
            raise ValueError(f"case {self.name} has no label")
        lut = np.zeros(int(self.label.max()) + 1, dtype=np.uint8)
        for value, info in self.labels.items():
            if info.structure in classes and value < lut.size:
                lut[value] = classes.index(info.structure)
        return lut[self.label]


def fold_label_name(name: str) -> tuple[str, str | None, str | None]:
    """(structure, level, side) of a meta.json label name.

    Wraps :func:`lumbarqi.labels.structure_of`, adding the name the shared
    data uses that it does not know ("vertebral body 3 (counted from the top
    ...)": vertebral body, no level), and naming the "S1" vertebra ``sacrum``
    as the segmentation classes do. Other names pass through unchanged, so
    TotalSegmentator's "autochthon" (erector spinae + transversospinalis) and
    "iliopsoas" match no class and are never trained on.
    """
    if _VB_NAME.match(name.strip()):
        return "vertebral_body", None, None
    structure, level, side = structure_of(name)
    if structure == "vertebral_body" and level is not None and level.startswith("S"):
        return "sacrum", level, None  # lumbarqi.labels: "S1" stands for the sacrum
    return structure, level, side


def is_case_dir(path: Path) -> bool:
    """True if ``path`` holds ``image.nii.gz`` and ``meta.json``."""
    return (path / "image.nii.gz").is_file() and (path / "meta.json").is_file()


def find_cases(root: str | Path) -> list[Path]:
    """Case folders under ``root`` (``root`` itself, its children or grandchildren), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if is_case_dir(root):
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and is_case_dir(p))
    if not found:
        found = sorted(p for p in root.glob("*/*") if p.is_dir() and is_case_dir(p))
    return found


def read_case(path: str | Path, with_label: bool = True) -> Case:
    """Load a case folder and reorient it to canonical RAS+."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    img = nib.as_closest_canonical(nib.load(str(path / "image.nii.gz")))
    image = np.asarray(img.dataobj, dtype=np.float32)
    if image.ndim == 4:
        image = image[..., 0]
    label = None
    label_file = path / "label.nii.gz"
    if with_label and label_file.is_file():
        lab = nib.as_closest_canonical(nib.load(str(label_file)))
        if lab.shape[:3] != image.shape:
            raise ValueError(f"{path}: label shape {lab.shape} != image shape {image.shape}")
        label = np.asarray(lab.dataobj).astype(np.uint16)
    labels: dict[int, LabelInfo] = {}
    for key, name in (meta.get("labels") or {}).items():
        structure, level, side = fold_label_name(str(name))
        labels[int(key)] = LabelInfo(int(key), str(name), structure, level, side)
    spacing = tuple(float(s) for s in np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0)))
    return Case(
        name=path.name,
        path=path,
        image=image,
        label=label,
        affine_ras=np.asarray(img.affine, dtype=np.float64),
        spacing=spacing,  # type: ignore[arg-type]
        labels=labels,
        meta=meta,
    )


def slice_axis(plane: str) -> int:
    """Canonical (RAS+) axis along which 2D slices of ``plane`` are stacked."""
    try:
        return {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    except KeyError:
        raise ValueError(f"unknown plane {plane!r} (sagittal, coronal or axial)") from None
