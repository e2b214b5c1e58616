"""lumbarqi.dicom.stacks: a lost instance inside a stack is bridged (one stack, the gap recorded); larger gaps still split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from lumbarqi.dicom.stacks import Stack, max_missing, missing_slices_message, split_stacks
from lumbarqi.volume import fill_missing

SPACING = 4.4


def _sagittal(n: int, drop: tuple[int, ...] = (), spacing: float = SPACING, extra_gap: dict[int, float] | None = None):
    """Headers of a sagittal stack of ``n`` slices (x = slice position) without the slices ``drop``.

    ``extra_gap``: slice index -> mm added to the position of that slice and every later one.
    """
    out = []
    shift = 0.0
    for k in range(n):
        shift += (extra_gap or {}).get(k, 0.0)
        if k in drop:
            continue
        ds = Dataset()
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        ds.ImagePositionPatient = [20.0 - k * spacing - shift, -120.0, 120.0]  # along the normal (row x column = -x)
        ds.PixelSpacing = [1.0, 1.0]
        ds.Rows, ds.Columns = 64, 64
        ds.SliceThickness = 4.0
        ds.InstanceNumber = k + 1
        out.append((Path(f"{k:03d}.dcm"), ds))
    return out


def _numbers(stack: Stack) -> list[int]:
    return [int(ds.InstanceNumber) for _, ds in stack.instances]


def test_complete_stack_has_no_missing_slices():
    (stack,) = split_stacks(_sagittal(11))
    assert stack.geometry.n_slices == 11 and stack.missing_slices == () and stack.slice_indices == list(range(11))


def test_one_lost_middle_instance_is_one_stack_with_the_gap_recorded():
    (stack,) = split_stacks(_sagittal(16, drop=(7,)))
    assert stack.geometry.n_slices == 16
    assert stack.missing_slices == (7,)
    assert len(stack.instances) == 15 and 7 not in stack.slice_indices
    assert _numbers(stack) == [k + 1 for k in range(16) if k != 7]
    assert stack.geometry.slice_spacing_mm == pytest.approx(SPACING)
    assert stack.geometry.origin[0] == pytest.approx(20.0)
    assert stack.spacing_deviation == pytest.approx(0.0, abs=1e-6) and stack.shear_deg == 0.0
    text = missing_slices_message(stack, "sagittal T1 series 't1'")
    assert text.startswith("sagittal T1 series 't1': slice 8 of 16 missing (lost instance)")


def test_two_lost_instances_in_a_row_are_bridged():
    (stack,) = split_stacks(_sagittal(21, drop=(9, 10)))
    assert stack.geometry.n_slices == 21 and stack.missing_slices == (9, 10)
    assert "slices 10, 11 of 21 missing (lost instances)" in missing_slices_message(stack, "x")


def test_small_stack_may_miss_one_slice():
    assert max_missing(11) == 1 and max_missing(16) == 1 and max_missing(20) == 2
    (stack,) = split_stacks(_sagittal(11, drop=(5,)))
    assert stack.geometry.n_slices == 11 and stack.missing_slices == (5,)


def test_too_many_lost_instances_split_as_before():
    stacks = split_stacks(_sagittal(11, drop=(3, 7)))  # 2 of 11 missing: more than 10 %
    assert [s.geometry.n_slices for s in stacks] == [3, 3, 3]
    assert all(s.missing_slices == () for s in stacks)


def test_three_lost_in_a_row_split():
    stacks = split_stacks(_sagittal(40, drop=(19, 20, 21)))
    assert [s.geometry.n_slices for s in stacks] == [19, 18]
    assert all(s.missing_slices == () for s in stacks)


def test_large_gap_still_splits():
    stacks = split_stacks(_sagittal(16, extra_gap={8: 30.0}))  # a jump of 34 mm: two blocks, nothing lost
    assert [s.geometry.n_slices for s in stacks] == [8, 8]
    assert all(s.missing_slices == () for s in stacks)


def test_gap_not_a_whole_multiple_splits():
    stacks = split_stacks(_sagittal(16, extra_gap={8: 0.6 * SPACING}))  # 1.6 spacings: no slice fits there
    assert [s.geometry.n_slices for s in stacks] == [8, 8]


def test_fill_missing_interpolates_linearly():
    array = np.zeros((6, 2, 2), np.float32)
    for k in (0, 1, 4, 5):
        array[k] = 10.0 * k
    fill_missing(array, (2, 3))
    assert array[2, 0, 0] == pytest.approx(20.0) and array[3, 1, 1] == pytest.approx(30.0)
