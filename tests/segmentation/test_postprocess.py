"""Post-processing of the networks' output (lumbarqi.segmentation.postprocess): pure functions."""
import numpy as np

from lumbarqi import labels as L
from lumbarqi.geometry import StackGeometry
from lumbarqi.segmentation.postprocess import SAGITTAL_CLASSES, caudal_sacrum, lateralise_muscles
from lumbarqi.volume import SeriesVolume


def _volume(shape, row_dir, col_dir, origin=(0.0, 0.0, 0.0)) -> SeriesVolume:
    geom = StackGeometry(origin=origin, row_dir=row_dir, col_dir=col_dir, rows=shape[1], cols=shape[2], n_slices=shape[0],
                         row_spacing_mm=1.0, col_spacing_mm=1.0, slice_spacing_mm=1.0, slice_thickness_mm=1.0)
    return SeriesVolume(np.zeros(shape, np.float32), geom, "1.2.3", "test")


def test_lateralise_muscles_sides_from_patient_x():
    vol = _volume((1, 4, 10), row_dir=(1.0, 0.0, 0.0), col_dir=(0.0, 1.0, 0.0))  # columns run along patient x (+x: left)
    classes = np.zeros((1, 4, 10), np.uint8)
    classes[0, :, 1] = 1  # erector spinae at x = 1
    classes[0, :, 8] = 1  # and at x = 8
    names = ("background", "erector_spinae")
    out = lateralise_muscles(vol, classes, names, midline_x=5.0)
    assert set(np.unique(out[0, :, 8])) == {L.MUSCLE_LABEL[("erector_spinae", "left")]}
    assert set(np.unique(out[0, :, 1])) == {L.MUSCLE_LABEL[("erector_spinae", "right")]}
    assert (out[classes == 0] == 0).all()
    assert np.array_equal(lateralise_muscles(vol, classes, names, None), out)  # the median x as midline: the same here
    assert not lateralise_muscles(vol, np.zeros_like(classes), names, None).any()


def test_caudal_sacrum_drops_a_false_sacrum_above_the_lowest_disc():
    # rows run caudally (patient -z), columns along y: a column of bodies and discs, the sacrum at the bottom
    vol = _volume((3, 60, 10), row_dir=(0.0, 1.0, 0.0), col_dir=(0.0, 0.0, -1.0), origin=(0.0, 0.0, 100.0))
    body, disc, sacrum = (SAGITTAL_CLASSES[k] for k in ("vertebral_body", "disc", "sacrum"))
    classes = np.zeros((3, 60, 10), np.uint8)
    for top in (0, 13, 26):
        classes[:, top:top + 10] = body
        classes[:, top + 10:top + 13] = disc
    classes[:, 39:51] = sacrum
    classes[:, 1:4, 0:3] = sacrum  # a false sacrum inside the top body
    out = caudal_sacrum(classes, vol)
    assert (out[:, 1:4, 0:3] == 0).all()
    assert (out[:, 39:51] == sacrum).all()
    assert np.array_equal(out[classes != sacrum], classes[classes != sacrum])
    assert np.array_equal(caudal_sacrum(np.zeros_like(classes), vol), np.zeros_like(classes))
