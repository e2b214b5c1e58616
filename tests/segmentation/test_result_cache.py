"""Engines holding the same network share one pass per input (lumbarqi.segmentation.result_cache)."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from lumbarqi.segmentation import result_cache
from lumbarqi.segmentation.inference import SegmentationEngine

AFFINE = np.diag([3.0, 1.0, 1.0, 1.0])


def _counting(engine: SegmentationEngine, calls: list[str], name: str) -> None:
    inner = engine._segment

    def counted(*args):
        calls.append(name)
        return inner(*args)

    engine._segment = counted  # type: ignore[method-assign]


@pytest.fixture
def two_folders(tiny_model: Path) -> tuple[Path, Path]:
    """The tiny model, and a copy of it saved as another task (same weights and settings)."""
    twin = tiny_model.parent / "discs"
    shutil.copytree(tiny_model, twin)
    cfg = json.loads((twin / "config.json").read_text())
    cfg["task"] = "discs"
    (twin / "config.json").write_text(json.dumps(cfg))
    return tiny_model, twin


def test_same_network_same_volume_runs_once(two_folders):
    result_cache.clear()
    a, b = (SegmentationEngine(f, device="cpu") for f in two_folders)
    assert a.digest == b.digest
    calls: list[str] = []
    _counting(a, calls, "a")
    _counting(b, calls, "b")
    vol = np.random.default_rng(0).normal(size=(6, 40, 32)).astype(np.float32)
    threads = [threading.Thread(target=e.segment, args=(vol, AFFINE)) for e in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    first, second = a.segment(vol, AFFINE), b.segment(vol, AFFINE)
    assert len(calls) == 1
    assert np.array_equal(first.labels, second.labels) and not first.labels.flags.writeable
    first.confidence["x"] = 1.0  # a caller's confidence dict is its own
    assert "x" not in second.confidence


def test_other_volume_or_weights_compute_again(two_folders, tiny_cfg):
    import torch

    from lumbarqi.segmentation.network import build_network, save_torchscript

    result_cache.clear()
    a = SegmentationEngine(two_folders[0], device="cpu")
    calls: list[str] = []
    _counting(a, calls, "a")
    vol = np.random.default_rng(0).normal(size=(6, 40, 32)).astype(np.float32)
    a.segment(vol, AFFINE)
    changed = vol.copy()
    changed[0, 0, 0] += 1.0
    a.segment(changed, AFFINE)
    a.segment(vol, np.diag([2.0, 1.0, 1.0, 1.0]))
    assert len(calls) == 3
    torch.manual_seed(1)
    other = Path(two_folders[0]).parent / "other"
    save_torchscript(build_network(tiny_cfg), tiny_cfg, other)
    assert SegmentationEngine(other, device="cpu").digest != a.digest
