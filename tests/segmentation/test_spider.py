"""Vertebral bodies from SPIDER's whole-vertebra labels, and images synthesised from label maps."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from lumbarqi.segmentation.cases import read_case
from lumbarqi.segmentation.spider import CANAL, POSTERIOR_ELEMENTS, SACRUM, prepare_t2space, vertebral_bodies
from lumbarqi.segmentation.synth import synthesise


def _spine(shape=(9, 60, 80)) -> np.ndarray:
    """Canonical RAS+ (R, A, S): two vertebrae (body anterior, arch posterior), a disc, a canal, a sacrum."""
    lab = np.zeros(shape, np.int32)
    lab[:, 20:26, 5:75] = CANAL  # canal: A 20..25, every slice (R) and row (S)
    for value, (lo, hi) in ((1, (10, 28)), (2, (36, 54))):
        lab[2:7, 30:50, lo:hi] = value  # body anterior of the canal
        lab[3:6, 8:20, lo + 4:hi - 4] = value  # posterior arch behind it
        lab[0:2, 24:30, lo + 6:hi - 6] = value  # a pedicle stub lateral of the canal, across its front wall
    lab[2:7, 30:50, 29:35] = 200  # disc between them
    lab[2:7, 30:50, 2:8] = 3  # sacrum-like piece caudal of everything
    return lab


def test_body_is_the_vertebra_anterior_of_the_canal():
    lab = _spine()
    lab[0:2][lab[0:2] == CANAL] = 0  # lateral slices without canal take the nearest slice's wall
    out = vertebral_bodies(lab, [1, 2], lab == CANAL, (1.0, 1.0, 1.0), wall_margin_mm=1.0)
    for value in (1, 2):
        body = out == value
        assert body.any() and np.argwhere(body)[:, 1].min() > 26  # nothing at or behind the wall + 1 mm
        assert (out[(lab == value) & ~body] == POSTERIOR_ELEMENTS).all()
    assert (out[3:6, 8:20, 14:24] == POSTERIOR_ELEMENTS).all()
    assert (out[lab == 200] == 200).all() and (out[lab == CANAL] == CANAL).all()


def test_t2space_case_gets_bodies_sacrum_and_background_arch(tmp_path):
    lab = _spine()
    src_label = np.zeros(lab.shape, np.uint8)
    src_label[np.isin(lab, (1, 2, 3))] = 1
    src_label[lab == 200] = 2
    src_label[lab == CANAL] = 3
    src = tmp_path / "spider_9"
    src.mkdir()
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random(lab.shape).astype(np.float32), np.eye(4)), str(src / "image.nii.gz"))
    nib.save(nib.Nifti1Image(src_label, np.eye(4)), str(src / "label.nii.gz"))
    (src / "meta.json").write_text(json.dumps({"plane": "sagittal", "labels": {"1": "vertebra", "2": "disc", "3": "canal"}}))
    prepare_t2space(src, tmp_path / "out" / "spider_9")
    case = read_case(tmp_path / "out" / "spider_9")
    assert case.structures() == {"vertebral_body", "disc", "posterior_elements", "spinal_canal"}
    assert (case.label[lab == 3] == SACRUM).all() and SACRUM not in case.labels  # kept apart, never taught
    classes = case.class_map(("background", "vertebral_body", "disc", "sacrum"))
    assert (classes[3:6, 8:20, 14:24] == 0).all()  # the arch is background for every class
    assert (classes[lab == 3] == 0).all()


def test_synthesised_image_follows_the_labels():
    rng = np.random.default_rng(1)
    labels = np.zeros((3, 64, 64), np.int32)
    labels[:, 20:40, 10:30] = 1
    labels[:, 20:40, 34:44] = 201
    images = [synthesise(labels, rng, {1}, {201}) for _ in range(12)]
    for img in images:
        assert img.shape == labels.shape and img.dtype == np.float32 and np.isfinite(img).all()
        assert 0.0 <= img.min() and np.percentile(img, 99.5) <= 1.01
    contrasts = [float(img[1][labels[1] == 1].mean() - img[1][labels[1] == 201].mean()) for img in images]
    assert min(contrasts) < 0 < max(contrasts)  # no fixed contrast between tissues: T1, T2 and anything between
