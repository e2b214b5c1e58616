import nibabel as nib
import numpy as np

from lumbarqi.geometry import plane_stack


def _oblique_stack():
    row = np.array([1.0, 0.0, 0.0])
    normal = np.array([0.0, -0.3, 0.95])
    normal /= np.linalg.norm(normal)
    return plane_stack(np.array([5.0, 20.0, -80.0]), row, np.cross(normal, row), (240.0, 200.0), (120, 100), 5, 4.4, 4.0)


def test_voxel_lps_round_trip():
    g = _oblique_stack()
    ijk = np.array([[0, 0, 0], [4, 119, 99], [2.5, 60.2, 10.7]])
    assert np.allclose(g.lps_to_voxel(g.voxel_to_lps(ijk)), ijk)


def test_stack_centred_and_normal_is_row_cross_col():
    g = _oblique_stack()
    assert np.allclose(g.centre, [5.0, 20.0, -80.0])
    assert np.allclose(g.normal, np.cross(g.row_dir, g.col_dir))
    assert g.row_spacing_mm == 2.0 and g.col_spacing_mm == 2.0


def test_nifti_affine_maps_same_voxel_to_same_point():
    g = _oblique_stack()
    img = nib.Nifti1Image(np.zeros((g.cols, g.rows, g.n_slices), np.uint8), g.nifti_affine())
    # NIfTI voxel (col, row, slice) in RAS == DICOM voxel (slice, row, col) in LPS, x and y flipped
    ras = nib.affines.apply_affine(img.affine, [7, 33, 3])
    lps = g.voxel_to_lps(np.array([[3, 33, 7]]))[0]
    assert np.allclose(ras, lps * [-1, -1, 1])
