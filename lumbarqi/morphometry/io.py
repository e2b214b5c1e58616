"""Label maps on disk <-> arrays with their patient geometry (for checks and validation).

NIfTI label maps are written by the phantom and by the product as arrays laid
out ``[col, row, slice]`` with a RAS affine (:meth:`StackGeometry.nifti_affine`);
here they come back as ``[slice, row, col]`` with the LPS :class:`StackGeometry`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lumbarqi.geometry import LPS_TO_RAS, StackGeometry, vec3


def geometry_from_nifti_affine(affine: np.ndarray, shape_kij: tuple[int, int, int]) -> StackGeometry:
    """The LPS stack geometry of a ``[col, row, slice]`` NIfTI array with RAS ``affine``.

    The slice thickness is not stored in NIfTI: it is set to the slice spacing.
    """
    lps = np.linalg.inv(LPS_TO_RAS) @ np.asarray(affine, float)
    col_vec, row_vec, slice_vec = lps[:3, 0], lps[:3, 1], lps[:3, 2]  # per array axis (col, row, slice)
    cs, rs, ss = (float(np.linalg.norm(v)) for v in (col_vec, row_vec, slice_vec))
    row_dir, col_dir = col_vec / cs, row_vec / rs  # DICOM row cosine: direction of growing column index
    if np.dot(np.cross(row_dir, col_dir), slice_vec) < 0:
        raise ValueError("slice axis runs against row x column: not a lumbarqi NIfTI layout")
    n, rows, cols = shape_kij
    return StackGeometry(
        origin=vec3(lps[:3, 3]), row_dir=vec3(row_dir),
        col_dir=vec3(col_dir), rows=int(rows), cols=int(cols), n_slices=int(n),
        row_spacing_mm=rs, col_spacing_mm=cs, slice_spacing_mm=ss, slice_thickness_mm=ss,
    )


def read_label_nifti(path: Path) -> tuple[np.ndarray, StackGeometry]:
    """(uint8 label ``[slice, row, col]``, LPS geometry) of a lumbarqi NIfTI label map."""
    import nibabel as nib

    img: Any = nib.load(str(path))  # a Nifti1Image
    data = np.asarray(img.dataobj).astype(np.uint8).transpose(2, 1, 0)
    return np.ascontiguousarray(data), geometry_from_nifti_affine(img.affine, data.shape)
