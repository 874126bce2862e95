"""The deep plain net (or with skip connections) and what backprop does in it: per-layer weight
gradient norms and activation statistics on one real batch, all from autograd."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.gradients.data import BatchStream, deep_dataset
from explorer.gradients.settings import ACTIVATIONS, DeepSettings
from explorer.jobs.concurrency import RNG_LOCK, heavy_work
from explorer.training.data import Dataset

FLAT_SHARE = 0.01  # a unit counts as "flat" where h'(z) < 1 % of the activation's largest slope


class Layer(nn.Module):
    """conv 3x3 -> [batch norm] -> activation, and with `skip` the input added back:
    x + h(bn(conv(x)))."""

    def __init__(self, c_in: int, c_out: int, activation: str, *, batch_norm: bool,
                 skip: bool, stride: int = 1) -> None:
        super().__init__()
        # with batch norm the conv's bias is redundant (BN subtracts the mean)
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.act = ACTIVATIONS[activation].make()
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn(self.conv(x)))  # (B, C_out, H, W)
        return x + out if self.skip else out


class DeepNet(nn.Module):
    """`depth` Layers (the first takes the image with stride 2 and never skips: the shapes
    differ), global average pooling, one linear classifier."""

    def __init__(self, settings: DeepSettings, *, in_channels: int, num_classes: int) -> None:
        super().__init__()
        s = settings
        self.layers = nn.ModuleList(
            [Layer(in_channels, s.width, s.activation, batch_norm=s.batch_norm, skip=False,
                   stride=2)]
            + [Layer(s.width, s.width, s.activation, batch_norm=s.batch_norm, skip=s.residual)
               for _ in range(s.depth - 1)])
        self.head = nn.Linear(s.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(dim=(2, 3)))  # global average pool: (B, C) -> (B, classes)

    def conv_weights(self) -> list[nn.Parameter]:
        """Each layer's conv weight, first to last: (C_out, C_in, 3, 3)."""
        return [layer.conv.weight for layer in self.layers]


def build_deep_net(settings: DeepSettings, *, in_channels: int = 3,
                   num_classes: int = 10) -> DeepNet:
    """A fresh DeepNet with PyTorch's default initialisation, seeded by settings.seed (the
    same seed gives the same weights, also with other sessions drawing numbers meanwhile)."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return DeepNet(settings, in_channels=in_channels, num_classes=num_classes)


@dataclass(frozen=True)
class GradientReport:
    """One forward and backward pass, per layer (first to last): arrays of shape (depth,)."""

    gradient_norms: np.ndarray  # ||dL/dW_l||, Frobenius norm of the conv weight's gradient
    weight_norms: np.ndarray  # ||W_l||
    activation_mean: np.ndarray  # mean of the layer's activation output h(z)
    activation_std: np.ndarray
    slope_mean: np.ndarray  # mean of h'(z) over the batch: the activation's gradient factor
    flat_share: np.ndarray  # share of units where h'(z) < FLAT_SHARE x the largest slope
    loss: float
    accuracy: float

    @property
    def ratio(self) -> float:
        """First layer's gradient norm over the last layer's."""
        last = float(self.gradient_norms[-1])
        return float(self.gradient_norms[0]) / last if last > 0 else float("inf")


def _hook_activations(model: DeepNet) -> tuple[list[torch.Tensor], list]:
    captured: list[torch.Tensor] = []
    handles = [layer.act.register_forward_hook(
        lambda _m, inputs, _out: captured.append(inputs[0].detach())) for layer in model.layers]
    return captured, handles


def activation_stats(model: DeepNet, pre_activations: list[torch.Tensor],
                     activation: str) -> tuple[np.ndarray, ...]:
    """Mean and std of h(z), mean of h'(z) (by autograd: h acts element-wise, so the gradient
    of sum h(z) is h'(z)) and the share of flat units, per layer."""
    largest = ACTIVATIONS[activation].max_slope
    means, stds, slopes, flats = [], [], [], []
    for layer, z in zip(model.layers, pre_activations, strict=True):
        z = z.clone().requires_grad_(True)
        h = layer.act(z)
        (slope,) = torch.autograd.grad(h.sum(), z)  # h'(z), element-wise
        means.append(h.mean().item())
        stds.append(h.std().item())
        slopes.append(slope.mean().item())
        flats.append((slope < FLAT_SHARE * largest).float().mean().item())
    return tuple(np.asarray(v, dtype=np.float64) for v in (means, stds, slopes, flats))


def gradient_report(model: DeepNet, x: torch.Tensor, y: torch.Tensor,
                    activation: str) -> GradientReport:
    """Cross-entropy on the batch (x: (B, C, H, W) normalised, y: (B,)), backpropagated; the
    model's gradients are left in .grad (callers step the optimiser with them)."""
    captured, handles = _hook_activations(model)
    try:
        model.zero_grad(set_to_none=True)
        logits = model(x)  # (B, classes)
    finally:
        for handle in handles:
            handle.remove()
    loss = F.cross_entropy(logits, y)
    loss.backward()
    weights = model.conv_weights()
    stats = activation_stats(model, captured, activation)
    return GradientReport(
        gradient_norms=np.array([w.grad.norm().item() for w in weights]),
        weight_norms=np.array([w.detach().norm().item() for w in weights]),
        activation_mean=stats[0], activation_std=stats[1], slope_mean=stats[2],
        flat_share=stats[3], loss=loss.item(),
        accuracy=float((logits.argmax(1) == y).float().mean()))


def measure(settings: DeepSettings, dataset: Dataset | None = None) -> GradientReport:
    """The report for a fresh net on the first seeded batch of Shapes (or `dataset`), in one
    of the server's heavy-work slots."""
    data = dataset if dataset is not None else deep_dataset()
    model = build_deep_net(settings, in_channels=data.channels, num_classes=data.num_classes)
    x, y = BatchStream(data, settings.batch_size, settings.seed).next()
    with heavy_work():
        return gradient_report(model, x, y, settings.activation)
