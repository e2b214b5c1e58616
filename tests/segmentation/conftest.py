"""Tiny synthetic case folders and a tiny TorchScript model for the segmentation tests."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lumbarqi.segmentation.network import ModelConfig, build_network, save_torchscript  # noqa: E402


def write_case(folder: Path, seed: int = 0, shape=(48, 40, 12)) -> Path:
    """A sagittal-like case, array axes (I, P, L) like the shared data, 1 mm voxels.

    Three bright "vertebral bodies" labelled L3, L4, L5 stacked along axis 0.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    image = rng.normal(50, 5, shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    for k, top in enumerate((6, 18, 30)):  # axis 0 runs superior -> inferior
        label[top:top + 8, 12:30, 3:10] = k + 1
    image[label > 0] += 100
    # voxel (i, j, k) -> RAS: i inferior, j posterior, k left
    affine = np.array([[0, 0, -1.0, 10], [0, -1.0, 0, 20], [-1.0, 0, 0, 30], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(image, affine), str(folder / "image.nii.gz"))
    nib.save(nib.Nifti1Image(label, affine), str(folder / "label.nii.gz"))
    meta = {"modality": "MR", "plane": "sagittal", "spacing_mm": [1, 1, 1],
            "labels": {"1": "L3", "2": "L4", "3": "L5"}}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Folder holding two tiny labelled cases."""
    root = tmp_path / "data"
    write_case(root / "case_a", seed=1)
    write_case(root / "case_b", seed=2)
    return root


def tiny_config(task: str = "vertebrae") -> ModelConfig:
    """A very small network configuration (fast on CPU)."""
    return ModelConfig(task=task, classes=("background", "vertebral_body", "disc", "sacrum"),
                       plane="sagittal", patch_size=(32, 32), channels=(4, 8, 16), strides=(2, 2),
                       num_res_units=1, trained_classes=("background", "vertebral_body"),
                       max_components={"sacrum": 1})


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    """A fresh tiny configuration."""
    return tiny_config()


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """A saved untrained tiny vertebrae model folder."""
    import torch

    torch.manual_seed(0)
    cfg = tiny_config()
    folder = tmp_path / "models" / "vertebrae"
    save_torchscript(build_network(cfg), cfg, folder)
    return folder
