"""2D (2.5D) slice training of a task's network, with partial-label losses.

Loss = cross-entropy + soft Dice, both aware of partial labels: where a class
is unavailable (the case does not label it there), background and that class
are merged (marginal cross-entropy) and the class's Dice ignores those pixels.
Fixed seeds, an EMA of the weights is what gets saved (TorchScript +
``config.json``), the loss log goes to ``train_log.csv``.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig, make_batch
from .cases import find_cases
from .checkpoint import TrainState, load_checkpoint, save_checkpoint
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
    resume: bool = False  # continue from ``<out>/checkpoint.pt`` (weights, optimiser, iteration, RNG)
    device: str = "cpu"
    checkpoint_minutes: float = 5.0
    validate_minutes: float = 10.0  # validation Dice on the held-out real cases this often (0: only at the end)
    class_share: dict[str, float] = field(default_factory=dict)  # class -> share of each batch from cases labelling it


def case_weights(cases: list, classes: tuple[str, ...], class_share: dict[str, float]) -> np.ndarray | None:
    """Sampling probability per training case so that cases labelling a class fill its share of a batch.

    ``class_share`` maps a class name (e.g. ``sacrum``) to the fraction of patches drawn from the
    cases that label it; the remaining cases share the rest evenly. None: every case equally likely.
    """
    if not class_share:
        return None
    n = len(cases)
    weights = np.zeros(n)
    claimed = np.zeros(n, dtype=bool)
    for name, share in class_share.items():
        if name not in classes:
            raise ValueError(f"--class-share {name}: not a class of this task ({', '.join(classes[1:])})")
        members = np.array([bool(c.labelled[classes.index(name)]) and not claimed[i] for i, c in enumerate(cases)])
        if not members.any():
            raise ValueError(f"--class-share {name}: no training case labels {name}")
        weights[members] = share / members.sum()
        claimed |= members
    rest = ~claimed
    if rest.any():
        weights[rest] = max(0.0, 1.0 - weights.sum()) / rest.sum()
    return weights / weights.sum()


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

    Either the named ``holdout`` cases, or, with ``fold`` K, the cases of every
    ``folds``-th patient of each ``--data`` folder (sorted by name) starting at
    the K-th, so that adding another data folder does not move the split of the
    others (:func:`patient_fold`: SPIDER patients by their number, so one
    patient's T1, T2 and 3D T2 are on the same side in every folder).
    """
    paths = [p for g in groups for p in g]
    if fold is not None and not holdout:
        if not 0 <= fold < folds:
            raise ValueError(f"--fold must be in 0..{folds - 1}")
        test = [p for g in groups for p in g if patient_fold(p.name, g, folds) == fold]
        return [p for p in paths if p not in test], test
    if holdout:
        names = set(holdout)
        unknown = names - {p.name for p in paths}
        if unknown:
            raise ValueError(f"held-out cases not found in --data: {', '.join(sorted(unknown))}")
        test = [p for p in paths if p.name in names]
    else:
        test = []
    return [p for p in paths if p not in test], test


_SPIDER_PATIENT = re.compile(r"^spider_(\d+)(?:_|$)")


_PHANTOM_STUDY = re.compile(r"^(?:phantom_)?(\d+)_S\d+")  # scripts/collect_phantom_cases.py: phantom_<seed>_<series>


def patient_of(name: str) -> str:
    """The patient a case folder belongs to: ``spider_<n>`` for SPIDER series, ``phantom_<seed>`` for the
    series of one phantom study, else the case name."""
    m = _SPIDER_PATIENT.match(name)
    if m:
        return f"spider_{m.group(1)}"
    m = _PHANTOM_STUDY.match(name)
    return f"phantom_{m.group(1)}" if m else name


def patient_fold(name: str, group: list[Path], folds: int) -> int:
    """Fold of a case: SPIDER patient number modulo ``folds``; else the patient's rank in its folder."""
    m = _SPIDER_PATIENT.match(name)
    if m:
        return int(m.group(1)) % folds
    patients = sorted({patient_of(p.name) for p in group})
    return patients.index(patient_of(name)) % folds


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


def _validate(opts: TrainOptions, cfg: ModelConfig, ema: torch.nn.Module, out: Path, real_heldout: list[str]) -> dict:
    """Save the EMA weights to ``out`` and score them on the held-out real cases (the product's inference)."""
    from .evaluate import evaluate

    save_torchscript(copy.deepcopy(ema).cpu(), cfg, out)
    if not real_heldout:
        return {}
    result = evaluate(cfg.task, opts.data, out, cases=real_heldout)
    return {k: v for k, v in result["mean_dice"].items() if v is not None}


def _csv_log(path: Path, resume: bool, header: list[str]):
    """(open file, csv writer) of a log: appended to when resuming, with its header whenever it starts empty."""
    append = resume and path.is_file() and path.stat().st_size > 0
    file = path.open("a" if append else "w", newline="")
    writer = csv.writer(file)
    if not append:
        writer.writerow(header)
        file.flush()
    return file, writer


def _lr(opts: TrainOptions, step_in_run: int, progress: float) -> float:
    """Warm-up over 50 steps, then polynomial decay over this run's budget (a resumed run restarts the
    schedule from ``opts.lr``: warm restarts)."""
    return opts.lr * (min(1.0, (step_in_run + 1) / 50) if step_in_run < 50 else (1 - progress) ** 0.9)


def _step(net: torch.nn.Module, ema: torch.nn.Module, optim: torch.optim.Optimizer, batch: tuple, iteration: int
          ) -> tuple[float, float, float]:
    """One optimiser step on ``batch`` (x, target, available) and the EMA update; returns (loss, ce, dice loss)."""
    x, target, available = batch
    ce, dl = marginal_loss(net(x), target, available)
    loss = ce + dl
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    optim.step()
    decay = min(0.998, (1 + iteration) / (10 + iteration))
    with torch.no_grad():
        for pe, pn in zip(ema.parameters(), net.parameters(), strict=True):
            pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
        for be, bn in zip(ema.buffers(), net.buffers(), strict=True):
            be.copy_(bn)
    if not math.isfinite(loss.item()):
        raise RuntimeError(f"loss is not finite at iteration {iteration}")
    return loss.item(), ce.item(), dl.item()


def train(opts: TrainOptions, cfg: ModelConfig | None = None, log=print) -> dict:
    """Train a task's network; returns a summary dict (also written as ``train_summary.json``).

    Checkpoints every ``checkpoint_minutes`` and at the end; with ``resume`` the run goes on from
    ``<out>/checkpoint.pt``. Every ``validate_minutes`` the EMA weights are saved and scored on the
    held-out cases that have real images (``val_log.csv``).
    """
    torch.set_num_threads(max(1, opts.threads))
    device = torch.device(opts.device)
    rng = _seed(opts.seed)
    cfg = cfg or default_config(opts.task)
    groups = collect_cases(opts.data)
    train_paths, test_paths = split_cases(groups, opts.holdout, opts.fold, opts.folds)
    log(f"{len(train_paths)} training cases, {len(test_paths)} held out: "
        f"{', '.join(p.name for p in test_paths) or '-'}")
    cases = load_slice_cases(train_paths, cfg, log=log)
    if not cases:
        raise ValueError(f"no training case labels any of {', '.join(cfg.classes[1:])}")
    real_heldout = [p.name for p in test_paths if not json.loads((p / "meta.json").read_text()).get("synthesise")]
    labelled = np.any([c.labelled for c in cases], axis=0)
    cfg.trained_classes = tuple(c for c, ok in zip(cfg.classes, labelled, strict=True) if ok)
    aug = AugmentConfig()
    weights = case_weights(cases, cfg.classes, opts.class_share)
    if weights is not None:
        log("batch shares: " + ", ".join(f"{k} {v:.0%}" for k, v in opts.class_share.items()))
    net = build_network(cfg).to(device)
    if opts.init and not opts.resume:
        start_from = torch.jit.load(str(Path(opts.init) / cfg.model_file), map_location="cpu")
        net.load_state_dict(start_from.state_dict())
        log(f"starting from the weights in {opts.init}")
    ema = copy.deepcopy(net)
    for p in ema.parameters():
        p.requires_grad_(False)
    n_params = count_parameters(net)
    optim = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=1e-4)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    state = TrainState(trained_classes=cfg.trained_classes)
    if opts.resume:
        state = load_checkpoint(out, net, ema, optim, rng, opts.device)
        log(f"resumed at iteration {state.iteration} ({state.seconds / 60:.1f} min trained)")
    log(f"network: {n_params} parameters, classes {cfg.classes}, trained {cfg.trained_classes}, device {device}")
    fg_slices = sum(max(1, c.fg_slices.size) for c in cases)
    iters_per_epoch = max(1, fg_slices // opts.batch_size)
    run_iters = (opts.epochs or 0) * iters_per_epoch
    budget_s = (opts.minutes or 0) * 60.0
    if not run_iters and not budget_s:
        raise ValueError("give --epochs or --minutes")
    log_file, writer = _csv_log(out / "train_log.csv", opts.resume, ["iteration", "epoch", "seconds", "lr", "loss", "ce", "dice_loss"])
    val_file, val_writer = _csv_log(out / "val_log.csv", opts.resume, ["iteration", "seconds", "structure", "dice"])
    start, step, running = time.time(), 0, []
    last_ck = last_val = start
    net.train()
    while True:
        progress = (time.time() - start) / budget_s if budget_s else step / run_iters
        if progress >= 1.0:
            break
        lr = _lr(opts, step, progress)
        for g in optim.param_groups:
            g["lr"] = lr
        batch = tuple(t.to(device) for t in make_batch(cases, cfg, aug, rng, opts.batch_size, weights=weights))
        running.append(_step(net, ema, optim, batch, state.iteration))
        step += 1
        state.iteration += 1
        now = time.time()
        seconds = state.seconds + now - start
        if step % opts.log_every == 0:
            m = np.mean(running, axis=0)
            running = []
            writer.writerow([state.iteration, round(state.iteration / iters_per_epoch, 2), round(seconds, 1),
                             f"{lr:.2e}", *(f"{v:.4f}" for v in m)])
            log_file.flush()
            log(f"it {state.iteration} ep {state.iteration / iters_per_epoch:.1f} {seconds:.0f}s lr {lr:.1e} "
                f"loss {m[0]:.4f} ce {m[1]:.4f} dice {m[2]:.4f}")
        if now - last_ck >= opts.checkpoint_minutes * 60:
            save_checkpoint(out, net, ema, optim, TrainState(state.iteration, seconds, cfg.trained_classes), rng)
            last_ck = now
        if opts.validate_minutes and now - last_val >= opts.validate_minutes * 60:
            _log_validation(opts, cfg, ema, out, real_heldout, state.iteration, seconds, val_writer, val_file, log)
            last_val = time.time()
    state.seconds += time.time() - start
    save_checkpoint(out, net, ema, optim, state, rng)
    cfg.notes = {
        "train_cases": [p.name for p in train_paths],
        "heldout_cases": [p.name for p in test_paths],
        "data": [str(d) for d in opts.data],
        "iterations": state.iteration, "epochs": round(state.iteration / iters_per_epoch, 2),
        "batch_size": opts.batch_size, "train_seconds": round(state.seconds, 1), "parameters": n_params,
        "seed": opts.seed, "augmentation": asdict(aug), "weights": "exponential moving average",
        "init": opts.init, "lr": opts.lr, "fold": opts.fold, "folds": opts.folds, "class_share": opts.class_share,
    }
    val = _log_validation(opts, cfg, ema, out, real_heldout, state.iteration, state.seconds, val_writer, val_file, log)
    log_file.close()
    val_file.close()
    summary = {"task": cfg.task, "out": str(out), **cfg.notes, "validation_dice": val}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"saved {out / cfg.model_file} after {state.iteration} iterations, {state.seconds / 60:.1f} min in all")
    return summary


def _log_validation(opts: TrainOptions, cfg: ModelConfig, ema: torch.nn.Module, out: Path, real_heldout: list[str],
                    iteration: int, seconds: float, writer, file, log) -> dict:
    val = _validate(opts, cfg, ema, out, real_heldout)
    for structure, d in val.items():
        writer.writerow([iteration, round(seconds, 1), structure, d])
    file.flush()
    if val:
        log(f"validation at it {iteration} on {len(real_heldout)} held-out real cases: "
            + ", ".join(f"{k} {v:.3f}" for k, v in val.items()))
    return val
