"""Muscle CSA, centroids and slice placement against phantom truth (truth masks as input)."""
from __future__ import annotations

import numpy as np
import pytest

from lumbarqi.morphometry.muscles import SpineAxis, fat_normalised, fat_threshold
from lumbarqi.morphometry.truthcheck import check_study


@pytest.fixture(scope="module")
def result(small_study):
    return check_study(small_study)


def test_levels_and_slices_as_truth(result, small_truth):
    assert result["morphometry"]["naming_accuracy"] == 1.0
    assert set(result["muscles"]) == set(small_truth["muscles"])
    for lev, info in small_truth["phantom"]["muscle_slices"].items():
        mine = result["morphometry"]["muscle_slices"][lev]
        assert (mine["series_instance_uid"], mine["stack"], mine["slice_index"]) == (info["series_instance_uid"], info["stack"], info["slice_index"])
        assert mine["offset_mm"] == pytest.approx(info["offset_mm"], abs=0.5)
        assert mine["tilt_deg"] == pytest.approx(info["tilt_deg"], abs=2.0)


def test_csa_and_centroids_match_truth(result, small_truth):
    errors, centroid = [], []
    for lev, muscles in small_truth["muscles"].items():
        for m, sides in muscles.items():
            for side, t in sides.items():
                if t["csa_mm2"] < 100:
                    continue
                r = result["muscles"][lev][m][side]
                errors.append(r["csa_mm2"] / t["csa_mm2"] - 1)
                centroid.append(np.subtract(r["centroid_mm"], t["centroid_mm"]))
                assert r["csa_cm2"] == pytest.approx(r["csa_mm2"] / 100, abs=0.001)
                assert r["slice_offset_mm"] == pytest.approx(t["slice_offset_mm"], abs=0.5)
    assert len(errors) >= 12
    assert np.median(np.abs(errors)) <= 0.03
    assert np.median(np.abs(centroid)) <= 1.0


def test_fat_index_tracks_truth(result, small_truth):
    diffs = [result["muscles"][lev][m][s]["fat_index"] - t["fat_index"]
             for lev, ms in small_truth["muscles"].items() for m, ss in ms.items() for s, t in ss.items()
             if "fat_index" in result["muscles"][lev].get(m, {}).get(s, {})]
    assert len(diffs) >= 12
    assert np.median(np.abs(diffs)) <= 0.08  # small preset: coarse pixels; clinical median ~0.02


def test_fat_calibration_removes_a_coil_gradient():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:200, 0:200]
    body = (rows - 100) ** 2 / 90**2 + (cols - 100) ** 2 / 95**2 <= 1
    inner = (rows - 100) ** 2 / 70**2 + (cols - 100) ** 2 / 75**2 <= 1
    label = np.zeros((200, 200), np.uint8)
    muscle = ((rows - 150) ** 2 + (cols - 100) ** 2) <= 20**2
    label[muscle] = 21
    tissue = np.where(body, 1.0, 0.0)
    tissue[inner] = 0.4
    fat_spots = muscle & (rng.random((200, 200)) < 0.2)
    tissue[muscle] = np.where(fat_spots[muscle], 1.0, 0.3)
    image = tissue * np.exp(0.8 * (rows - 100) / 100) * 1000 + rng.normal(0, 5, tissue.shape)
    norm = fat_normalised(np.abs(image), label, 1.0, 1.0)
    thr = fat_threshold(norm, label)
    assert thr == pytest.approx(0.65, abs=0.05)
    assert (norm[muscle] > thr).mean() == pytest.approx(fat_spots[muscle].mean(), abs=0.02)


def test_spine_axis_tangent_on_a_circle():
    s = np.linspace(0, np.pi / 3, 8)
    pts = np.column_stack([np.zeros_like(s), 200 * (1 - np.cos(s)), 200 * np.sin(s)])
    axis = SpineAxis(pts)
    mid = pts[4]
    point, tangent = axis.crossing(mid, np.array([0.0, np.sin(s[4]), np.cos(s[4])]) * -1 + 0, mid)
    expected = np.array([0.0, np.sin(s[4]), np.cos(s[4])])
    assert abs(tangent @ expected) > 0.999
    assert np.linalg.norm(point - mid) < 0.5
