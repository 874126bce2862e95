"""Residual vs plain (the degradation problem): a shallow plain CNN, a deep plain CNN and the
same deep CNN with residual blocks, and the unravelled view's path counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.gradients.data import BatchStream, deep_dataset
from explorer.jobs.concurrency import RNG_LOCK, heavy_work


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm; with `residual` the input is added back before the
    last ReLU (He et al. 2015): relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, width: int, *, residual: bool, batch_norm: bool = True) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(width)) if batch_norm else nn.Identity
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn1 = norm()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))  # (B, C, H, W)
        return torch.relu(x + out if self.residual else out)


class BlockNet(nn.Module):
    """stem (conv 3x3 stride 2 -> BN -> ReLU -> 2x2 max pool: 32x32 -> 8x8), `blocks` Blocks,
    global average pooling, a linear classifier: 2 x blocks + 2 weight layers."""

    def __init__(self, blocks: int, width: int, *, residual: bool, batch_norm: bool = True,
                 in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=not batch_norm),
            nn.BatchNorm2d(width) if batch_norm else nn.Identity(), nn.ReLU(), nn.MaxPool2d(2))
        self.blocks = nn.Sequential(*[Block(width, residual=residual, batch_norm=batch_norm)
                                      for _ in range(blocks)])
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


# ---------------------------------------------------------------- the three networks

MAX_BLOCKS = 24  # 50 weight layers
MAX_COMPARE_STEPS = 600
MAX_COMPARE_WIDTH = 32


@dataclass(frozen=True)
class Variant:
    label: str
    deep: bool  # deep_blocks blocks, else shallow_blocks
    residual: bool
    colour: str


VARIANTS: dict[str, Variant] = {
    "shallow": Variant("shallow plain", False, False, "#2ca02c"),
    "plain": Variant("deep plain", True, False, "#d62728"),
    "residual": Variant("deep residual", True, True, "#1f77b4"),
}


@dataclass(frozen=True)
class CompareSettings:
    """The three networks' sizes and how they train (Adam, the same batches for all three)."""

    shallow_blocks: int = 1
    deep_blocks: int = 20
    width: int = 8
    steps: int = 300
    learning_rate: float = 1e-3
    batch_size: int = 64
    eval_every: int = 20
    eval_images: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("shallow_blocks", "deep_blocks", "width", "steps", "batch_size",
                     "eval_every", "eval_images", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number; got {value!r}.")
        if not 1 <= self.shallow_blocks < self.deep_blocks <= MAX_BLOCKS:
            raise ValueError(f"Blocks: the shallow net needs at least 1 and fewer than the deep "
                             f"one, the deep one at most {MAX_BLOCKS}; got "
                             f"{self.shallow_blocks} and {self.deep_blocks}.")
        if not 4 <= self.width <= MAX_COMPARE_WIDTH:
            raise ValueError(f"The width must be 4 to {MAX_COMPARE_WIDTH}; got {self.width}.")
        if not 1 <= self.steps <= MAX_COMPARE_STEPS:
            raise ValueError(f"Steps must be 1 to {MAX_COMPARE_STEPS}; got {self.steps}.")
        if not (isinstance(self.learning_rate, int | float) and math.isfinite(self.learning_rate)
                and 0 < self.learning_rate <= 1):
            raise ValueError(f"The learning rate must be in (0, 1]; got {self.learning_rate!r}.")
        if not 2 <= self.batch_size <= 256:
            raise ValueError(f"The batch size must be 2 to 256; got {self.batch_size}.")
        if not 1 <= self.eval_every <= self.steps or not 10 <= self.eval_images <= 2000:
            raise ValueError("eval_every must be 1 to steps, eval_images 10 to 2,000.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"The seed must be 0 to 2**31 - 1; got {self.seed}.")

    def blocks(self, variant: str) -> int:
        return self.deep_blocks if VARIANTS[variant].deep else self.shallow_blocks


def weight_layers(blocks: int) -> int:
    """Conv and linear layers of a BlockNet: the stem, two per block, the classifier."""
    return 2 * blocks + 2


def build_variant(variant: str, settings: CompareSettings, *, in_channels: int = 3,
                  num_classes: int = 10) -> BlockNet:
    """The variant's network, seeded by settings.seed (PyTorch's default initialisation)."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown network {variant!r}; choose one of {', '.join(VARIANTS)}.")
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return BlockNet(settings.blocks(variant), settings.width,
                        residual=VARIANTS[variant].residual, in_channels=in_channels,
                        num_classes=num_classes)


def training_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of the images (x: (N, C, H, W)) the model gets wrong, in eval mode (batch norm's
    running statistics), 250 images at a time; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            wrong = sum(int((model(x[i:i + 250]).argmax(1) != y[i:i + 250]).sum())
                        for i in range(0, len(y), 250))
    finally:
        model.train(was_training)
    return wrong / len(y)


# ---------------------------------------------------------------- the unravelled view


def path_lengths(blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """The unravelled view (Veit et al. 2016): each of the `blocks` residual blocks is either
    passed through its residual branch or skipped, so there are 2^blocks paths, and
    C(blocks, k) of them go through exactly k branches. Returns (k = 0..blocks, counts) as
    exact integers (object array for large counts)."""
    from scipy.special import comb

    if not 1 <= blocks <= 200:
        raise ValueError(f"blocks must be 1 to 200; got {blocks}.")
    lengths = np.arange(blocks + 1)
    counts = np.array([comb(blocks, k, exact=True) for k in lengths], dtype=object)
    return lengths, counts


def central_paths(blocks: int, share: float = 0.95) -> tuple[int, int]:
    """The narrowest range of path lengths around blocks / 2 that holds `share` of all paths
    (the binomial's central interval, scipy.stats)."""
    from scipy.stats import binom

    low, high = binom.interval(share, blocks, 0.5)
    return int(low), int(high)


def conv_gradient_norms(variant: str, settings: CompareSettings, x: torch.Tensor,
                        y: torch.Tensor) -> np.ndarray:
    """‖dL/dW‖ of each conv layer of the untrained network, first to last, on one batch (x
    normalised (B, 3, 32, 32), y (B,)): do the gradients vanish before training starts?"""
    model = build_variant(variant, settings)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return np.array([m.weight.grad.norm().item() for m in model.modules()
                     if isinstance(m, nn.Conv2d)])


def first_over_last(settings: CompareSettings) -> dict[str, float]:
    """Each untrained network's first / last conv gradient norm on the first training batch
    of Shapes (seeded), in one of the server's heavy-work slots."""
    x, y = BatchStream(deep_dataset(), settings.batch_size, settings.seed).next()
    with heavy_work():
        norms = {variant: conv_gradient_norms(variant, settings, x, y) for variant in VARIANTS}
    return {variant: float(n[0] / n[-1]) for variant, n in norms.items()}
