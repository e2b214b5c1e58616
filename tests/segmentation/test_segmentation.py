"""Fast tests of the segmentation core: cases, losses, inference geometry, evaluation JSON, CLI."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lumbarqi.segmentation import cli
from lumbarqi.segmentation.augment import AugmentConfig, make_batch
from lumbarqi.segmentation.cases import fold_label_name, read_case
from lumbarqi.segmentation.evaluate import dice, drop_unlabelled_instances, evaluate
from lumbarqi.segmentation.inference import SegmentationEngine, from_canonical, to_canonical
from lumbarqi.segmentation.network import ModelConfig, load_model
from lumbarqi.segmentation.slices import to_slices
from lumbarqi.segmentation.training import TrainOptions, marginal_loss, split_cases, train

ROOT = Path(__file__).resolve().parents[2]


def test_dice_values():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert dice(a, b) == 1.0
    a[:2] = True  # 8 voxels
    assert dice(a, b) == 0.0
    b[1:3] = True  # 8 voxels, 4 shared
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0


def test_fold_label_names():
    assert fold_label_name("L4") == ("vertebral_body", "L4", None)
    assert fold_label_name("S1") == ("sacrum", "S1", None)
    assert fold_label_name("L4/L5") == ("disc", "L4/L5", None)
    assert fold_label_name("vertebral body 3 (counted from the top of the field of view)")[0] == "vertebral_body"
    assert fold_label_name("erector spinae, left") == ("erector_spinae", None, "left")
    assert fold_label_name("autochthon, right")[0] == "autochthon"  # model-made ES + multifidus: no class


def test_read_case_is_canonical(data_dir):
    case = read_case(data_dir / "case_a")
    assert case.image.shape == (12, 40, 48)  # (I, P, L) -> (R, A, S)
    assert np.allclose(np.diag(case.affine_ras)[:3], 1.0)
    assert case.structures() == {"vertebral_body"}
    # the most superior labelled body is L3 (value 1): highest S index
    s_of = {v: np.argwhere(case.label == v)[:, 2].mean() for v in (1, 2, 3)}
    assert s_of[1] > s_of[2] > s_of[3]


def test_partial_label_masks(data_dir, tiny_cfg):
    sc = to_slices(read_case(data_dir / "case_a"), tiny_cfg)
    assert list(sc.labelled) == [True, True, False, False]
    avail = sc.available(int(sc.fg_slices[0]))
    assert avail[0].all() and not avail[2].any()
    # L5 labelled: caudal side stays available; cranial of L3 (+3 mm) does not
    assert avail[1][:, 0].all() and not avail[1][:, -1].all()


def test_marginal_loss_ignores_unlabelled_class():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 2] = 10.0  # confident "class 2" on background pixels
    target = torch.zeros(1, 2, 2, dtype=torch.long)
    avail = torch.ones(1, 3, 2, 2, dtype=torch.bool)
    ce_labelled, _ = marginal_loss(logits, target, avail)
    avail[:, 2] = False
    ce_partial, _ = marginal_loss(logits, target, avail)
    assert ce_labelled.item() > 5.0
    assert ce_partial.item() < 1e-3


def test_batch_shapes(data_dir, tiny_cfg):
    cfg = tiny_cfg
    cases = [to_slices(read_case(data_dir / "case_a"), cfg)]
    x, t, a = make_batch(cases, cfg, AugmentConfig(), np.random.default_rng(0), 3)
    assert x.shape == (3, 3, 32, 32) and t.shape == (3, 32, 32) and a.shape == (3, 4, 32, 32)
    assert torch.isfinite(x).all() and a[:, 0].all()


def test_split_is_per_folder():
    g1 = [Path(f"a{i}") for i in range(10)]
    g2 = [Path(f"b{i}") for i in range(3)]
    train_p, test_p = split_cases([g1, g2], [], 0, 5)
    assert [p.name for p in test_p] == ["a0", "a5", "b0"]
    assert len(train_p) == 10


def test_orientation_round_trip():
    vol = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    affine_lps = np.array([[0, 0, 1.0, 0], [2.0, 0, 0, 0], [0, -3.0, 0, 0], [0, 0, 0, 1]])
    canon, ornt, spacing = to_canonical(vol, affine_lps)
    assert spacing == (1.0, 2.0, 3.0)
    assert np.array_equal(from_canonical(canon, ornt), vol)


def test_inference_returns_input_geometry(tiny_model):
    engine = SegmentationEngine(tiny_model, device="cpu")
    vol = np.random.default_rng(0).normal(size=(7, 30, 26)).astype(np.float32)
    # oblique-free but permuted and anisotropic: 4 mm slices along axis 0 (sagittal-like LPS)
    affine = np.array([[4.0, 0, 0, -20], [0, 0, 0.8, -50], [0, -0.8, 0, 100], [0, 0, 0, 1]])
    seg = engine.segment(vol, affine)
    assert seg.labels.shape == vol.shape and seg.labels.dtype == np.uint8
    assert set(np.unique(seg.labels)) <= {0, 1}  # untrained disc/sacrum folded into background
    assert all(0.0 <= v <= 1.0 for v in seg.confidence.values())


def test_evaluate_json_shape(data_dir, tiny_model):
    result = evaluate("vertebrae", [str(data_dir)], tiny_model)
    assert set(result) == {"task", "cases", "mean_dice", "level_accuracy"}
    assert result["task"] == "vertebrae"
    assert [c["case"] for c in result["cases"]] == ["case_a", "case_b"]
    for entry in result["cases"]:
        assert {"case", "dice", "level_accuracy"} <= set(entry)
        assert set(entry["dice"]) == {"vertebral_body"}
        assert 0.0 <= entry["dice"]["vertebral_body"] <= 1.0
        assert set(entry["dice_per_level"]) == {"L3", "L4", "L5"}
    assert set(result["mean_dice"]) == {"vertebral_body", "all"}
    json.dumps(result)


def test_drop_unlabelled_instances():
    ref = np.zeros((4, 4, 30), bool)
    ref[:, :, 5:10] = True
    pred = ref.copy()
    pred[:, :, 20:25] = True  # an unlabelled vertebra above
    pred[:, :, 0:2] = True  # something below
    kept = drop_unlabelled_instances(pred, ref, caudal_too=False)
    assert not kept[:, :, 20:25].any() and kept[:, :, 0:2].all()
    assert not drop_unlabelled_instances(pred, ref, caudal_too=True)[:, :, 0:2].any()


def test_train_few_steps_saves_torchscript(data_dir, tmp_path, tiny_cfg):
    out = tmp_path / "trained"
    opts = TrainOptions(task="vertebrae", data=[str(data_dir)], out=str(out), epochs=1,
                        batch_size=2, holdout=["case_b"], log_every=1)
    summary = train(opts, cfg=tiny_cfg, log=lambda m: None)
    assert summary["heldout_cases"] == ["case_b"] and summary["iterations"] >= 1
    module, cfg = load_model(out)
    assert cfg.trained_classes == ("background", "vertebral_body")
    assert module(torch.zeros(1, 3, 32, 32)).shape == (1, 4, 32, 32)
    assert (out / "train_log.csv").read_text().startswith("iteration,")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="lumbarqi")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_subcommands(sub)
    return parser.parse_args(argv)


def test_cli_bad_data_is_one_line(capsys, tmp_path):
    args = _parse(["evaluate", "--task", "vertebrae", "--data", str(tmp_path / "missing")])
    assert args.func(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err
    args = _parse(["train", "--task", "discs", "--data", str(tmp_path)])
    assert args.func(args) == 2
    assert "--epochs" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["vertebrae", "discs", "muscles"])
def test_committed_model_loads_and_runs(task):
    folder = ROOT / "models" / task
    assert (folder / "config.json").is_file() and (folder / "model.ts").is_file(), f"no committed {task} model"
    module, cfg = load_model(folder)
    assert isinstance(cfg, ModelConfig) and cfg.task == task
    y = module(torch.zeros(1, cfg.in_channels, 64, 64))
    assert y.shape == (1, len(cfg.classes), 64, 64) and torch.isfinite(y).all()
    if task == "discs":  # the disc segmenter keeps the disc class of a sagittal network
        assert "disc" in cfg.trained_classes and cfg.plane == "sagittal"
