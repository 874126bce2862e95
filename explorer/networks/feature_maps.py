"""Feature maps and kernels as numbers and pictures: statistics, strongest channels, grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from explorer.images.plots import image_grid


def _feature_map(activation: torch.Tensor | np.ndarray) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) -> (C, H, W) float32 numpy."""
    if isinstance(activation, torch.Tensor):
        activation = activation.detach().cpu().numpy()
    values = np.asarray(activation, dtype=np.float32)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 3:
        raise ValueError(f"An activation must be (1, C, H, W) or (C, H, W); got {values.shape}.")
    return values


def channel_stats(activation: torch.Tensor | np.ndarray) -> dict[str, float | np.ndarray]:
    """Statistics of a feature map (1, C, H, W): for the layer and per channel.

    Keys: "mean", "min", "max", "zero_fraction" (floats, over the whole layer); "channel_mean",
    "channel_max", "channel_zero_fraction" (arrays (C,)). After a ReLU zero_fraction is the share
    of units that are off.
    """
    values = _feature_map(activation)  # (C, H, W)
    flat = values.reshape(values.shape[0], -1)  # (C, H * W)
    zeros = flat == 0
    finite = np.isfinite(flat)
    if finite.all():
        layer_mean, layer_min, layer_max = float(flat.mean()), float(flat.min()), float(flat.max())
        channel_mean, channel_max = flat.mean(axis=1), flat.max(axis=1)
    else:  # NaN / inf (weights too large): statistics of the finite values, NaN where none
        masked = np.ma.masked_array(flat, mask=~finite)
        layer_mean, layer_min, layer_max = (
            float(np.ma.filled(f(), np.nan)) for f in (masked.mean, masked.min, masked.max))
        channel_mean = np.ma.filled(masked.mean(axis=1), np.nan).astype(np.float32)
        channel_max = np.ma.filled(masked.max(axis=1), np.nan).astype(np.float32)
    return {
        "mean": layer_mean,
        "min": layer_min,
        "max": layer_max,
        "zero_fraction": float(zeros.mean()),
        "non_finite": int(finite.size - np.count_nonzero(finite)),  # NaN or +-inf values
        "channel_mean": channel_mean,
        "channel_max": channel_max,
        "channel_zero_fraction": zeros.mean(axis=1),
    }


def strongest_channels(activation: torch.Tensor | np.ndarray, n: int = 8) -> list[int]:
    """Indices of the n channels with the largest mean activation, strongest first (a channel
    whose mean is NaN comes last)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, sorted last
        means = _feature_map(activation).astype(np.float64).mean(axis=(1, 2))  # (C,)
    order = np.argsort(-np.nan_to_num(means, nan=-np.inf), kind="stable")
    return [int(i) for i in order[: max(0, n)]]


def channel_grid(
    activation: torch.Tensor | np.ndarray,
    channels: Sequence[int] | None = None,
    columns: int = 8,
    scale: int = 1,
) -> np.ndarray:
    """Feature maps (1, C, H, W) as one grey mosaic (H', W', 3) uint8, each channel stretched to
    its own [min, max] (a constant channel is black); `channels` picks and orders them.
    Non-finite values: +inf white, -inf and NaN black (the range is that of the finite ones)."""
    values = _feature_map(activation)  # (C, H, W)
    if channels is not None:
        values = values[list(channels)]
    values = finite_values(values)
    low = values.min(axis=(1, 2), keepdims=True)  # (C, 1, 1)
    span = values.max(axis=(1, 2), keepdims=True) - low
    tiles = (values - low) / np.where(span > 0, span, 1.0)  # (C, H, W) in [0, 1]
    return image_grid(tiles[..., None], columns=columns, scale=scale)  # (C, H, W, 1) -> mosaic


def finite_values(values: np.ndarray) -> np.ndarray:
    """Maps (C, H, W) for display: per channel, +inf -> the largest finite value, -inf and NaN
    -> the smallest (0 for a channel without any). The array itself when all are finite."""
    values = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(values)
    if finite.all():
        return values
    axes = tuple(range(1, values.ndim))
    low = np.where(finite, values, np.inf).min(axis=axes, keepdims=True)
    high = np.where(finite, values, -np.inf).max(axis=axes, keepdims=True)
    low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 0.0)
    shown = np.where(np.isposinf(values), high, values)
    return np.where(np.isnan(shown) | np.isneginf(shown), low, shown).astype(np.float32)


def first_layer_kernels(model: nn.Module, layer_name: str | None = None) -> np.ndarray:
    """Weights (C_out, C_in, K_h, K_w) float32 of the named Conv2d, or of the first Conv2d."""
    if layer_name is None:
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is None:
            raise ValueError("The model has no Conv2d layer.")
    else:
        try:
            conv = model.get_submodule(layer_name)
        except AttributeError as exc:
            raise ValueError(f"The model has no layer {layer_name!r}.") from exc
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"{layer_name!r} is a {type(conv).__name__}, not a Conv2d.")
    return conv.weight.detach().to(torch.float32).cpu().numpy().copy()
