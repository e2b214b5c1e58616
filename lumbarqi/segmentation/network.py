"""The 2D (2.5D) segmentation network: configuration, factory, intensity normalisation.

One network per task. It sees ``2 * context + 1`` neighbouring slices of one
plane as input channels (the centre slice in the middle, neighbours
``context_mm`` apart in patient space), at a fixed in-plane pixel spacing
(``spacing_mm``, mm), and predicts per-pixel class logits for the centre slice.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

CONFIG_FILE = "config.json"
MODEL_FILE = "model.ts"

#: Classes per task; index 0 is background.
TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "vertebrae": ("background", "vertebral_body", "disc", "sacrum"),
    "discs": ("background", "disc"),
    "muscles": ("background", "erector_spinae", "multifidus", "psoas", "quadratus_lumborum"),
}
TASK_PLANE: dict[str, str] = {"vertebrae": "sagittal", "discs": "sagittal", "muscles": "axial"}


@dataclass
class ModelConfig:
    """Everything needed to rebuild, feed and post-process a task's network.

    Units: ``spacing_mm`` in-plane pixel size (mm, along the two in-plane
    canonical axes); ``context_mm`` distance between the centre slice and
    each neighbour channel (mm); ``patch_size`` training crop in pixels.
    ``trained_classes`` lists the classes the training data actually labelled;
    the others are folded into background at inference.
    ``max_components``: per class, how many 3D connected components to keep
    after inference (0 = any number, filtered by ``min_component_fraction`` of
    the largest).
    """

    task: str
    classes: tuple[str, ...]
    plane: str
    spacing_mm: tuple[float, float] = (1.0, 1.0)
    patch_size: tuple[int, int] = (160, 160)
    context: int = 1
    context_mm: float = 4.0
    norm_percentiles: tuple[float, float] = (0.5, 99.5)
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 2
    trained_classes: tuple[str, ...] = ()
    max_components: dict[str, int] = field(default_factory=dict)
    min_component_fraction: float = 0.1
    tta_flip: bool = True
    model_file: str = MODEL_FILE
    version: str = "0.1.0"
    notes: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        """Number of input slices (channels)."""
        return 2 * self.context + 1

    def to_json(self) -> str:
        """JSON text of the configuration."""
        return json.dumps(asdict(self), indent=1)

    def save(self, folder: str | Path) -> Path:
        """Write ``config.json`` into ``folder``."""
        path = Path(folder) / CONFIG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Rebuild from a dictionary (tuples restored, unknown keys ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("classes", "spacing_mm", "patch_size", "norm_percentiles", "channels",
                    "strides", "trained_classes"):
            if key in kwargs and isinstance(kwargs[key], list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def load(cls, folder: str | Path) -> ModelConfig:
        """Read ``config.json`` from a model folder."""
        return cls.from_dict(json.loads((Path(folder) / CONFIG_FILE).read_text()))


def default_config(task: str) -> ModelConfig:
    """The default configuration of a task (vertebrae, discs, muscles)."""
    if task not in TASK_CLASSES:
        raise ValueError(f"unknown task {task!r} (choose from {', '.join(TASK_CLASSES)})")
    if task == "muscles":
        return ModelConfig(
            task=task, classes=TASK_CLASSES[task], plane="axial", spacing_mm=(1.25, 1.25),
            patch_size=(192, 192), context_mm=5.0, tta_flip=True,
            max_components={c: 2 for c in TASK_CLASSES[task][1:]},  # left + right
        )
    return ModelConfig(
        task=task, classes=TASK_CLASSES[task], plane=TASK_PLANE[task],
        max_components={"sacrum": 1},
    )


def build_network(cfg: ModelConfig) -> torch.nn.Module:
    """A MONAI 2D residual UNet (about 1.6 M parameters with the defaults)."""
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=cfg.in_channels,
        out_channels=len(cfg.classes),
        channels=cfg.channels,
        strides=cfg.strides,
        num_res_units=cfg.num_res_units,
        norm="instance",
    )


def count_parameters(net: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def normalise(volume: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scale intensities so the volume's low/high percentiles map to 0/1 (float32).

    Percentiles are taken over non-zero voxels (zero padding outside the
    field of view does not count); values are clipped to [-0.5, 1.5].
    """
    data = np.asarray(volume, dtype=np.float32)
    sample = data[data != 0] if np.any(data != 0) else data.ravel()
    if sample.size > 2_000_000:
        sample = sample[:: sample.size // 1_000_000]
    lo, hi = np.percentile(sample, percentiles)
    if not np.isfinite(hi - lo) or hi - lo < 1e-6:
        hi = lo + 1.0
    return np.clip((data - lo) / (hi - lo), -0.5, 1.5).astype(np.float32)


def save_torchscript(net: torch.nn.Module, cfg: ModelConfig, folder: str | Path) -> Path:
    """Script (or, failing that, trace) the network and save it with its config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = net.eval().cpu()
    try:
        module = torch.jit.script(net)
    except Exception:  # pragma: no cover - depends on MONAI internals
        example = torch.zeros(1, cfg.in_channels, *cfg.patch_size)
        module = torch.jit.trace(net, example)
    path = folder / cfg.model_file
    module.save(str(path))
    cfg.save(folder)
    return path


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> tuple[torch.jit.ScriptModule, ModelConfig]:
    """Load ``model.ts`` + ``config.json`` from a model folder."""
    folder = Path(folder)
    cfg = ModelConfig.load(folder)
    path = folder / cfg.model_file
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    module = torch.jit.load(str(path), map_location=device).eval()
    return module, cfg
