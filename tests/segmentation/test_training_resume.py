"""Resumable training, patient-wise folds, validation during training."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from conftest import write_case

from lumbarqi.segmentation.checkpoint import CHECKPOINT, TrainState, load_checkpoint, save_checkpoint
from lumbarqi.segmentation.network import build_network
from lumbarqi.segmentation.training import TrainOptions, patient_of, split_cases, train


def test_checkpoint_restores_weights_optimiser_and_random_state(tmp_path, tiny_cfg):
    net, ema = build_network(tiny_cfg), build_network(tiny_cfg)
    optim = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.zeros(1, 3, 32, 32)).sum().backward()
    optim.step()
    rng = np.random.default_rng(5)
    rng.random(3)
    save_checkpoint(tmp_path, net, ema, optim, TrainState(17, 42.5, ("background", "disc")), rng)
    want_numpy, want_torch = rng.random(4), torch.rand(3)
    assert not (tmp_path / "checkpoint.tmp").exists() and (tmp_path / CHECKPOINT).is_file()

    net2, ema2 = build_network(tiny_cfg), build_network(tiny_cfg)
    optim2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
    rng2 = np.random.default_rng(999)
    torch.manual_seed(999)
    state = load_checkpoint(tmp_path, net2, ema2, optim2, rng2)
    assert (state.iteration, state.seconds, state.trained_classes) == (17, 42.5, ("background", "disc"))
    assert np.array_equal(rng2.random(4), want_numpy) and torch.equal(torch.rand(3), want_torch)
    for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert optim2.state_dict()["state"][0]["step"] == optim.state_dict()["state"][0]["step"]


def test_resume_goes_on_from_the_checkpoint(data_dir, tmp_path, tiny_cfg):
    out = tmp_path / "m"
    opts = TrainOptions(task="vertebrae", data=[str(data_dir)], out=str(out), epochs=1, batch_size=2,
                        holdout=["case_b"], log_every=1, validate_minutes=0)
    first = train(opts, cfg=tiny_cfg, log=lambda m: None)
    opts.resume = True
    logs: list[str] = []
    second = train(opts, cfg=tiny_cfg, log=logs.append)
    assert any(line.startswith(f"resumed at iteration {first['iterations']}") for line in logs)
    assert second["iterations"] == 2 * first["iterations"]
    assert second["train_seconds"] >= first["train_seconds"]
    rows = list(csv.reader((out / "train_log.csv").open()))
    assert rows[0][0] == "iteration" and int(rows[-1][0]) == second["iterations"]  # one log, appended
    val = list(csv.DictReader((out / "val_log.csv").open()))  # the held-out real case scored at each end
    assert {r["structure"] for r in val} >= {"vertebral_body"} and len({r["iteration"] for r in val}) == 2
    assert 0.0 <= float(val[-1]["dice"]) <= 1.0 and second["validation_dice"]


def test_folds_keep_a_patient_on_one_side():
    assert patient_of("1003_S006_stack2") == patient_of("1003_S002") == "phantom_1003"
    names = ["spider_104_t1", "spider_104_t2", "spider_105_t2", "spider_110_t2_SPACE", "spider_110"]
    assert {patient_of(n) for n in names} == {"spider_104", "spider_105", "spider_110"}
    groups = [[Path(n) for n in names[:4]], [Path(names[4])], [Path(f"a{i}") for i in range(10)]]
    for fold in range(5):
        train_p, test_p = split_cases(groups, [], fold, 5)
        held = {patient_of(p.name) for p in test_p}
        assert not held & {patient_of(p.name) for p in train_p}
    _, test0 = split_cases(groups, [], 0, 5)
    assert {p.name for p in test0} == {"spider_105_t2", "spider_110_t2_SPACE", "spider_110", "a0", "a5"}  # 105 % 5 == 0


def test_synthesised_cases_train_without_an_image(tmp_path, tiny_cfg):
    case = write_case(tmp_path / "data" / "synth_a", seed=3)
    meta = json.loads((case / "meta.json").read_text())
    (case / "meta.json").write_text(json.dumps({**meta, "synthesise": True}))
    write_case(tmp_path / "data" / "real_b", seed=4)
    opts = TrainOptions(task="vertebrae", data=[str(tmp_path / "data")], out=str(tmp_path / "m"), epochs=1,
                        batch_size=2, holdout=["real_b"], validate_minutes=0)
    summary = train(opts, cfg=tiny_cfg, log=lambda m: None)
    assert summary["train_cases"] == ["synth_a"] and summary["iterations"] >= 1


def test_class_share_fills_its_fraction_of_each_batch():
    from types import SimpleNamespace

    from lumbarqi.segmentation.training import case_weights

    classes = ("background", "vertebral_body", "sacrum")
    with_sacrum = [SimpleNamespace(labelled=np.array([True, True, True]))]
    without = [SimpleNamespace(labelled=np.array([True, True, False])) for _ in range(9)]
    weights = case_weights(with_sacrum + without, classes, {"sacrum": 0.4})
    assert weights is not None
    assert np.isclose(weights[0], 0.4) and np.allclose(weights[1:], 0.6 / 9)
    draws = np.random.default_rng(0).choice(10, size=4000, p=weights)
    assert abs(np.mean(draws == 0) - 0.4) < 0.03
    assert case_weights(without, classes, {}) is None
    try:
        case_weights(without, classes, {"sacrum": 0.4})
    except ValueError as exc:
        assert "no training case labels sacrum" in str(exc)
    else:
        raise AssertionError("a share for a class no case labels must be refused")
