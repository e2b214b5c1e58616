"""2D (2.5D) slice training of a task's network, with partial-label losses.

Loss = cross-entropy + soft Dice, both aware of partial labels: where a class
is unavailable (the case does not label it there), background and that class
are merged (marginal cross-entropy) and the class's Dice ignores those pixels.
Fixed seeds, an EMA of the weights is what gets saved (TorchScript +
``config.json``), the loss log goes to ``train_log.csv``.
"""
from __future__ import annotations

import csv
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig, make_batch
from .cases import find_cases
from .network import ModelConfig, build_network, count_parameters, default_config, save_torchscript
from .slices import load_slice_cases


@dataclass
class TrainOptions:
    """How long and how to train. ``minutes`` wins over ``epochs`` when both are set."""

    task: str
    data: list[str]
    out: str
    epochs: int | None = None
    minutes: float | None = None
    holdout: list[str] = field(default_factory=list)
    fold: int | None = None
    folds: int = 5
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0
    threads: int = 2
    log_every: int = 20
    init: str | None = None  # model folder whose weights to start from


def marginal_loss(logits: torch.Tensor, target: torch.Tensor, available: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, 1 - mean Dice) under partial labels.

    ``logits`` (B, C, H, W); ``target`` (B, H, W) class indices; ``available``
    (B, C, H, W) bool, where class c is labelled (channel 0 always True).
    A background pixel is scored on the summed probability of background and
    every class unavailable there.
    """
    logp = F.log_softmax(logits, dim=1)
    group = ~available
    group[:, 0] = True
    merged = torch.logsumexp(logp.masked_fill(~group, float("-inf")), dim=1)
    picked = logp.gather(1, target[:, None])[:, 0]
    ce = torch.where(target == 0, -merged, -picked).mean()
    prob = logp.exp()
    dices = []
    for c in range(1, logits.shape[1]):
        av = available[:, c].float()
        if av.sum() == 0:
            continue
        t = (target == c).float() * av
        p = prob[:, c] * av
        if t.sum() == 0 and p.detach().sum() < 1:
            continue
        dices.append((2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1))
    dice_loss = 1 - torch.stack(dices).mean() if dices else logits.sum() * 0
    return ce, dice_loss


def split_cases(groups: list[list[Path]], holdout: list[str], fold: int | None, folds: int
                ) -> tuple[list[Path], list[Path]]:
    """(train, held-out) case folders.

    Either the named ``holdout`` cases, or, with ``fold`` K, every ``folds``-th
    case of each ``--data`` folder (sorted by name) starting at the K-th, so
    that adding another data folder does not move the split of the others.
    """
    paths = [p for g in groups for p in g]
    if holdout:
        names = set(holdout)
        unknown = names - {p.name for p in paths}
        if unknown:
            raise ValueError(f"held-out cases not found in --data: {', '.join(sorted(unknown))}")
        test = [p for p in paths if p.name in names]
    elif fold is not None:
        if not 0 <= fold < folds:
            raise ValueError(f"--fold must be in 0..{folds - 1}")
        test = [p for g in groups for p in sorted(g, key=lambda q: q.name)[fold::folds]]
    else:
        test = []
    return [p for p in paths if p not in test], test


def collect_cases(data: list[str]) -> list[list[Path]]:
    """Case folders under each ``--data`` folder (one list per folder; duplicate names refused)."""
    groups = [find_cases(root) for root in data]
    names = [p.name for g in groups for p in g]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"case names occur twice across --data: {', '.join(dup)}")
    if not names:
        raise ValueError("no case folders (image.nii.gz + meta.json) under --data")
    return groups


def _seed(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def train(opts: TrainOptions, cfg: ModelConfig | None = None, log=print) -> dict:
    """Train a task's network; returns a summary dict (also written as ``train_summary.json``)."""
    torch.set_num_threads(max(1, opts.threads))
    rng = _seed(opts.seed)
    cfg = cfg or default_config(opts.task)
    groups = collect_cases(opts.data)
    train_paths, test_paths = split_cases(groups, opts.holdout, opts.fold, opts.folds)
    log(f"{len(train_paths)} training cases, {len(test_paths)} held out: "
        f"{', '.join(p.name for p in test_paths) or '-'}")
    cases = load_slice_cases(train_paths, cfg, log=log)
    if not cases:
        raise ValueError(f"no training case labels any of {', '.join(cfg.classes[1:])}")
    labelled = np.any([c.labelled for c in cases], axis=0)
    cfg.trained_classes = tuple(c for c, ok in zip(cfg.classes, labelled) if ok)
    aug = AugmentConfig()
    net = build_network(cfg)
    if opts.init:
        start_from = torch.jit.load(str(Path(opts.init) / cfg.model_file), map_location="cpu")
        net.load_state_dict(start_from.state_dict())
        log(f"starting from the weights in {opts.init}")
    ema = build_network(cfg)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    n_params = count_parameters(net)
    log(f"network: {n_params} parameters, classes {cfg.classes}, trained {cfg.trained_classes}")
    optim = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=1e-4)
    fg_slices = sum(max(1, c.fg_slices.size) for c in cases)
    iters_per_epoch = max(1, fg_slices // opts.batch_size)
    total_iters = (opts.epochs or 0) * iters_per_epoch
    budget_s = (opts.minutes or 0) * 60.0
    if not total_iters and not budget_s:
        raise ValueError("give --epochs or --minutes")
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "train_log.csv").open("w", newline="")
    writer = csv.writer(log_file)
    writer.writerow(["iteration", "epoch", "seconds", "lr", "loss", "ce", "dice_loss"])
    start = time.time()
    it, running = 0, []
    net.train()
    while True:
        elapsed = time.time() - start
        progress = elapsed / budget_s if budget_s else it / total_iters
        if progress >= 1.0:
            break
        lr = opts.lr * (min(1.0, (it + 1) / 50) if it < 50 else (1 - progress) ** 0.9)
        for g in optim.param_groups:
            g["lr"] = lr
        x, target, available = make_batch(cases, cfg, aug, rng, opts.batch_size)
        ce, dl = marginal_loss(net(x), target, available)
        loss = ce + dl
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optim.step()
        decay = min(0.998, (1 + it) / (10 + it))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
            for be, bn in zip(ema.buffers(), net.buffers()):
                be.copy_(bn)
        running.append((loss.item(), ce.item(), dl.item()))
        it += 1
        if it % opts.log_every == 0:
            m = np.mean(running, axis=0)
            running = []
            writer.writerow([it, round(it / iters_per_epoch, 2), round(time.time() - start, 1),
                             f"{lr:.2e}", *(f"{v:.4f}" for v in m)])
            log_file.flush()
            log(f"it {it} ep {it / iters_per_epoch:.1f} {time.time() - start:.0f}s lr {lr:.1e} "
                f"loss {m[0]:.4f} ce {m[1]:.4f} dice {m[2]:.4f}")
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"loss is not finite at iteration {it}")
    log_file.close()
    seconds = time.time() - start
    cfg.notes = {
        "train_cases": [p.name for p in train_paths],
        "heldout_cases": [p.name for p in test_paths],
        "data": [str(d) for d in opts.data],
        "iterations": it, "epochs": round(it / iters_per_epoch, 2), "batch_size": opts.batch_size,
        "train_seconds": round(seconds, 1), "parameters": n_params, "seed": opts.seed,
        "augmentation": asdict(aug), "weights": "exponential moving average",
        "init": opts.init, "lr": opts.lr,
    }
    save_torchscript(ema, cfg, out)
    summary = {"task": cfg.task, "out": str(out), **cfg.notes}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"saved {out / cfg.model_file} after {it} iterations, {seconds / 60:.1f} min")
    return summary
