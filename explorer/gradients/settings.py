"""The deep plain net's settings and registries: activations, depths, widths, and their limits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

MAX_DEPTH = 30
MAX_WIDTH = 64
WIDTHS = (4, 8, 16, 32, 64)
MAX_BATCH = 256
MAX_STEPS = 100  # live training steps: about 10 s at depth 30, width 16 on 2 cores
MAX_LR = 10.0
IMAGE = 32  # Shapes images are 32x32; the first layer's stride 2 makes 16x16 maps
# Bounded work: multiply-adds of one forward pass over the batch. Depth 12, width 16, batch 64
# is 0.42e9 and takes about 0.1 s forward and backward on one idle core; the cap, 4.5e9, takes
# depth 30 x width 32 x batch 64 (4.4e9) and width 64 with batch 16, about 1 s.
MAX_PASS_MACS = 4_500_000_000
# ... and of the live steps together (steps x one pass): about 25 s on one idle core.
MAX_RUN_MACS = 100_000_000_000


@dataclass(frozen=True)
class ActivationSpec:
    label: str
    make: Callable[[], nn.Module]
    max_slope: float  # the largest value of h'(z): the per-layer factor the lecture means
    explanation: str


ACTIVATIONS: dict[str, ActivationSpec] = {
    "sigmoid": ActivationSpec(
        "Sigmoid", nn.Sigmoid, 0.25,
        "σ(z) = 1 / (1 + e^−z): its slope is at most 0.25, so every layer shrinks the gradient."),
    "tanh": ActivationSpec(
        "Tanh", nn.Tanh, 1.0,
        "tanh(z): slope 1 at z = 0, but below 1 everywhere else and near 0 once saturated."),
    "relu": ActivationSpec(
        "ReLU", nn.ReLU, 1.0,
        "max(0, z): slope exactly 0 or 1, so an active path passes the gradient unchanged."),
}


@dataclass(frozen=True)
class DeepSettings:
    """A deep plain CNN on one batch of Shapes: `depth` conv layers (3x3, `width` channels,
    each followed by [batch norm] and the activation; the first one takes the image with
    stride 2, 32x32 -> 16x16), then global average pooling and a linear classifier. With
    `residual`, every layer after the first is a skip connection x + f(x).

    steps / learning_rate: the live training steps (plain SGD, so a layer's change is
    learning_rate times its gradient).
    """

    depth: int = 12
    width: int = 16
    activation: str = "sigmoid"
    batch_norm: bool = False
    residual: bool = False
    batch_size: int = 64
    seed: int = 0
    steps: int = 40
    learning_rate: float = 0.1

    def __post_init__(self) -> None:
        for name in ("depth", "width", "batch_size", "seed", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number; got {value!r}.")
        if not 2 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"The depth must be 2 to {MAX_DEPTH} layers; got {self.depth}.")
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"The width must be 1 to {MAX_WIDTH} channels; got {self.width}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; choose one of "
                             f"{', '.join(ACTIVATIONS)}.")
        if not 2 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"The batch size must be 2 to {MAX_BATCH}; got {self.batch_size}.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"The seed must be 0 to 2**31 - 1; got {self.seed}.")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"Training steps must be 1 to {MAX_STEPS}; got {self.steps}.")
        if not (isinstance(self.learning_rate, int | float) and math.isfinite(self.learning_rate)
                and 0 < self.learning_rate <= MAX_LR):
            raise ValueError(f"The learning rate must be in (0, {MAX_LR:g}]; got "
                             f"{self.learning_rate!r}.")
        if self.macs > MAX_PASS_MACS:
            raise ValueError(
                f"Depth {self.depth} x width {self.width} x batch {self.batch_size} is too much "
                f"work for one pass ({self.macs / 1e9:.1f} billion multiply-adds, the most is "
                f"{MAX_PASS_MACS / 1e9:.0f}): use a smaller width or batch.")

    def check_run(self) -> None:
        """ValueError when the live steps would be too much work (steps x one pass)."""
        if self.steps * self.macs > MAX_RUN_MACS:
            most = max(1, MAX_RUN_MACS // self.macs)
            raise ValueError(
                f"{self.steps} training steps of this network are too much work for a shared "
                f"server; at depth {self.depth}, width {self.width} and batch "
                f"{self.batch_size} at most {most} steps.")

    @property
    def macs(self) -> int:
        """Multiply-adds of one forward pass over the batch: the first layer (3 -> width,
        stride 2) and depth - 1 layers width -> width, 3x3 on 16x16 maps."""
        positions = (IMAGE // 2) ** 2
        per_image = positions * 9 * self.width * (3 + (self.depth - 1) * self.width)
        return per_image * self.batch_size

    @property
    def label(self) -> str:
        parts = [f"{self.depth} layers", ACTIVATIONS[self.activation].label]
        if self.batch_norm:
            parts.append("batch norm")
        if self.residual:
            parts.append("skip connections")
        return ", ".join(parts)
