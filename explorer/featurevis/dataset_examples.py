"""Top and bottom dataset examples of a channel: the picture patches that excite it most and least."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.convolution.receptive_field import Field, crop, receptive_field
from explorer.networks import activations

BATCH = 250  # pictures per forward pass


@dataclass(frozen=True)
class Example:
    image: int  # index into the pictures
    row: int  # the unit's position in the layer's map
    col: int
    value: float  # the channel's activation there


@dataclass(frozen=True)
class ChannelExamples:
    channel: int
    top: tuple[Example, ...]  # highest activation anywhere in a picture, one per picture
    bottom: tuple[Example, ...]  # lowest


def channel_examples(model: nn.Module, layer: str, channels: Sequence[int], x: torch.Tensor,
                     k: int = 4) -> list[ChannelExamples]:
    """For each channel, the k pictures of x (N, C, H, W, already normalised for the network)
    whose strongest unit is highest (top) and whose weakest is lowest (bottom), with where."""
    channels = list(channels)
    highs, lows = [], []  # (N, channels) value and flat position
    for start in range(0, len(x), BATCH):
        maps = activations.capture(model, x[start:start + BATCH], [layer])[layer]
        if maps.dim() != 4:
            raise ValueError(f"Layer {layer!r} has no feature maps.")
        flat = maps[:, channels].flatten(2)  # (n, channels, h * w)
        highs.append(flat.max(dim=2))
        lows.append(flat.min(dim=2))
        width = maps.shape[3]
    high_values = torch.cat([h.values for h in highs]).numpy()
    high_where = torch.cat([h.indices for h in highs]).numpy()
    low_values = torch.cat([v.values for v in lows]).numpy()
    low_where = torch.cat([v.indices for v in lows]).numpy()

    def pick(order: np.ndarray, values: np.ndarray, where: np.ndarray, j: int) -> tuple:
        return tuple(Example(int(i), int(where[i, j]) // width, int(where[i, j]) % width,
                             float(values[i, j])) for i in order[:k])

    return [ChannelExamples(channel,
                            pick(np.argsort(-high_values[:, j], kind="stable"), high_values,
                                 high_where, j),
                            pick(np.argsort(low_values[:, j], kind="stable"), low_values,
                                 low_where, j))
            for j, channel in enumerate(channels)]


def example_crops(pictures: np.ndarray, field: Field,
                  examples: Sequence[Example]) -> list[np.ndarray]:
    """The part of each picture (N, H, W, 3) the example's unit sees (grey beyond the edges)."""
    return [crop(pictures[e.image], field.box(e.row, e.col)) for e in examples]


def field_or_none(model: nn.Module, layer: str) -> Field | None:
    """The layer's receptive field, or None when its units see the whole picture."""
    try:
        return receptive_field(model, layer)
    except ValueError:
        return None
