"""Slice-stack geometry in DICOM patient coordinates (LPS, millimetres).

One module owns how a voxel index maps to the patient: every series, phantom or
clinical, is a :class:`StackGeometry`. Voxel arrays are indexed ``[slice, row,
column]``; ``row_dir`` is the DICOM row direction cosine (the direction in which
the column index grows), ``col_dir`` the column direction cosine (the direction in
which the row index grows), and the slice normal is ``row_dir x col_dir``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

#: LPS -> RAS (NIfTI world) flip.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def unit(v: ArrayLike) -> np.ndarray:
    """Vector scaled to unit length."""
    a = np.asarray(v, dtype=float)
    return a / np.linalg.norm(a)


def vec3(values) -> tuple[float, float, float]:
    """Three floats (a point or a direction, LPS) as the tuple StackGeometry holds."""
    x, y, z = (float(v) for v in values)
    return x, y, z


@dataclass(frozen=True)
class StackGeometry:
    """A stack of parallel, equally spaced slices.

    origin: centre of the first pixel of the first slice (ImagePositionPatient), mm.
    row_dir, col_dir: ImageOrientationPatient row and column cosines.
    row_spacing_mm: distance between rows (along ``col_dir``), PixelSpacing[0].
    col_spacing_mm: distance between columns (along ``row_dir``), PixelSpacing[1].
    slice_spacing_mm: centre-to-centre distance along the normal (may differ from
    the slice thickness when there is a gap).
    """

    origin: tuple[float, float, float]
    row_dir: tuple[float, float, float]
    col_dir: tuple[float, float, float]
    rows: int
    cols: int
    n_slices: int
    row_spacing_mm: float
    col_spacing_mm: float
    slice_spacing_mm: float
    slice_thickness_mm: float

    @property
    def normal(self) -> np.ndarray:
        return np.cross(np.asarray(self.row_dir), np.asarray(self.col_dir))

    def slice_origin(self, k: int | float) -> np.ndarray:
        """ImagePositionPatient of slice ``k`` (mm, LPS)."""
        return np.asarray(self.origin) + k * self.slice_spacing_mm * self.normal

    def slice_centre(self, k: int | float) -> np.ndarray:
        """Patient position of the centre of slice ``k`` (mm, LPS)."""
        return (
            self.slice_origin(k)
            + (self.cols - 1) / 2 * self.col_spacing_mm * np.asarray(self.row_dir)
            + (self.rows - 1) / 2 * self.row_spacing_mm * np.asarray(self.col_dir)
        )

    @property
    def centre(self) -> np.ndarray:
        return self.slice_centre((self.n_slices - 1) / 2)

    def affine(self) -> np.ndarray:
        """4x4 matrix mapping (slice, row, col, 1) to (x, y, z, 1) in LPS mm."""
        a = np.eye(4)
        a[:3, 0] = self.normal * self.slice_spacing_mm
        a[:3, 1] = np.asarray(self.col_dir) * self.row_spacing_mm
        a[:3, 2] = np.asarray(self.row_dir) * self.col_spacing_mm
        a[:3, 3] = self.origin
        return a

    def voxel_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) voxel indices (slice, row, col) -> (N, 3) LPS mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine()[:3, :3].T + self.affine()[:3, 3]

    def lps_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) LPS mm -> (N, 3) fractional voxel indices (slice, row, col)."""
        inv = np.linalg.inv(self.affine())
        xyz = np.asarray(xyz, dtype=float)
        return xyz @ inv[:3, :3].T + inv[:3, 3]

    def nifti_affine(self) -> np.ndarray:
        """RAS affine for a NIfTI array laid out ``[col, row, slice]``."""
        a = self.affine()
        kij_to_jik = np.zeros((4, 4))
        kij_to_jik[0, 2] = kij_to_jik[1, 1] = kij_to_jik[2, 0] = kij_to_jik[3, 3] = 1.0
        return LPS_TO_RAS @ a @ kij_to_jik

    def with_slices(self, n_slices: int, first: float = 0.0) -> StackGeometry:
        """Same orientation, ``n_slices`` slices starting at (fractional) slice ``first``."""
        return replace(self, origin=tuple(self.slice_origin(first)), n_slices=n_slices)


def plane_stack(
    centre: ArrayLike,
    row_dir: ArrayLike,
    col_dir: ArrayLike,
    fov_mm: tuple[float, float],
    matrix: tuple[int, int],
    n_slices: int,
    slice_spacing_mm: float,
    slice_thickness_mm: float,
) -> StackGeometry:
    """Stack centred on ``centre`` with field of view (along col_dir, along row_dir).

    ``matrix`` is (rows, cols). Direction vectors are orthonormalised.
    """
    r = unit(row_dir)
    c = unit(np.asarray(col_dir) - np.dot(col_dir, r) * r)
    rows, cols = matrix
    rs, cs = fov_mm[0] / rows, fov_mm[1] / cols
    n = np.cross(r, c)
    origin = (
        np.asarray(centre, float)
        - (cols - 1) / 2 * cs * r
        - (rows - 1) / 2 * rs * c
        - (n_slices - 1) / 2 * slice_spacing_mm * n
    )
    return StackGeometry(
        origin=vec3(origin),
        row_dir=vec3(r),
        col_dir=vec3(c),
        rows=rows,
        cols=cols,
        n_slices=n_slices,
        row_spacing_mm=float(rs),
        col_spacing_mm=float(cs),
        slice_spacing_mm=float(slice_spacing_mm),
        slice_thickness_mm=float(slice_thickness_mm),
    )
