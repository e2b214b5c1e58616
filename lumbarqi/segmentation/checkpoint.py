"""Training checkpoints: everything a stopped training run needs to go on where it was.

``<out>/checkpoint.pt`` holds the network and its exponential moving average,
the optimiser's state, the iteration count, the training seconds so far, and the
states of the three random generators (numpy's Generator, torch's, Python's), so
``lumbarqi train ... --resume`` continues the same run: the next batch is the one
the stopped run would have drawn. Written atomically (a temporary file, then
renamed): a run killed while saving leaves the previous checkpoint whole.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainState:
    """Where a training run stands: iterations done, training seconds, the classes it trains."""

    iteration: int = 0
    seconds: float = 0.0
    trained_classes: tuple[str, ...] = ()


def save_checkpoint(out: Path, net: torch.nn.Module, ema: torch.nn.Module, optim: torch.optim.Optimizer,
                    state: TrainState, rng: np.random.Generator) -> Path:
    """Write ``out/checkpoint.pt`` atomically; returns its path."""
    path = Path(out) / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    torch.save({
        "net": net.state_dict(), "ema": ema.state_dict(), "optim": optim.state_dict(),
        "iteration": state.iteration, "seconds": state.seconds, "trained_classes": list(state.trained_classes),
        "rng_numpy": rng.bit_generator.state, "rng_torch": torch.get_rng_state(), "rng_python": random.getstate(),
    }, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(out: Path, net: torch.nn.Module, ema: torch.nn.Module, optim: torch.optim.Optimizer,
                    rng: np.random.Generator, device: str = "cpu") -> TrainState:
    """Restore weights, optimiser and random generators from ``out/checkpoint.pt``."""
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {path}")
    ck = torch.load(path, map_location=device, weights_only=False)
    net.load_state_dict(ck["net"])
    ema.load_state_dict(ck["ema"])
    optim.load_state_dict(ck["optim"])
    rng.bit_generator.state = ck["rng_numpy"]
    torch.set_rng_state(ck["rng_torch"].cpu())
    random.setstate(ck["rng_python"])
    return TrainState(int(ck["iteration"]), float(ck["seconds"]), tuple(ck.get("trained_classes") or ()))
