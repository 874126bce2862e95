"""Occlusion sensitivity: how much a class's probability drops when a grey patch hides each place."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer import activations

MAX_POSITIONS = 256  # patches per map (forward passes): every button's work is bounded before it starts
MAX_MULTIPLY_ADDS = 8e11  # per map: VGG16 at 224 x 224 (15.5 G per pass) gets 51 positions,
# its default 7 x 7 grid (about 10 s of one 2-core server); smaller networks get MAX_POSITIONS
BATCH = 32  # occluded copies per forward pass at most
CHUNK_SECONDS = 0.25  # ... and fewer when a pass is slow: each chunk takes the server's heavy-work
# slot on its own, so another student's single prediction waits for one chunk, not the whole map


def position_limit(multiply_adds: float) -> int:
    """Patch positions allowed for a network that needs `multiply_adds` per image."""
    if not multiply_adds > 0:
        return MAX_POSITIONS
    return int(max(1, min(MAX_POSITIONS, MAX_MULTIPLY_ADDS // multiply_adds)))


@dataclass(frozen=True)
class OcclusionMap:
    drop: np.ndarray  # (rows, cols) probability of the class without occlusion minus with it
    base_probability: float  # the class's probability for the whole image
    class_index: int
    patch: int
    stride: int
    upsampled: np.ndarray  # (H, W) each pixel: the mean drop of the patches that covered it


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the patches along one side: every stride, the last flush."""
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion_map(model: nn.Module, x: torch.Tensor, class_index: int, *, patch: int,
                  stride: int, fill: torch.Tensor | float = 0.0,
                  max_positions: int = MAX_POSITIONS) -> OcclusionMap:
    """Slide a patch x patch square of `fill` (the network input's value for grey: 0 for a
    normalised input at the dataset mean) over x (1, C, H, W) and record the drop in softmax
    probability of class_index at each position. ValueError for settings that do not fit,
    among them more than max_positions positions (see position_limit)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"Give one image (1, C, H, W); got {tuple(x.shape)}.")
    _, _, height, width = x.shape
    if not 1 <= patch <= max(height, width):
        raise ValueError(f"The patch must be 1 to {max(height, width)} pixels; got {patch}.")
    if not 1 <= stride <= max(height, width):
        raise ValueError(f"The stride must be 1 to {max(height, width)} pixels; got {stride}.")
    rows, cols = positions(height, patch, stride), positions(width, patch, stride)
    limit = min(max_positions, MAX_POSITIONS)
    if len(rows) * len(cols) > limit:
        raise ValueError(f"{len(rows) * len(cols):,} patch positions; at most {limit:,} for this "
                         "network: use a larger stride.")
    with torch.no_grad():
        started = time.perf_counter()
        logits = activations.forward(model, x)
        one_pass = time.perf_counter() - started
        batch_size = int(max(1, min(BATCH, CHUNK_SECONDS // max(one_pass, 1e-9))))
        if not 0 <= class_index < logits.shape[1]:
            raise ValueError(f"Class {class_index} does not exist (0 to {logits.shape[1] - 1}).")
        base = float(torch.softmax(logits.double(), 1)[0, class_index])
        spots = [(r, c) for r in rows for c in cols]
        drops = []
        for start in range(0, len(spots), batch_size):
            chunk = spots[start:start + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for i, (r, c) in enumerate(chunk):
                batch[i, :, r:r + patch, c:c + patch] = fill
            probabilities = torch.softmax(activations.forward(model, batch).double(), 1)
            drops.append(base - probabilities[:, class_index])
    drop = torch.cat(drops).numpy().reshape(len(rows), len(cols)).astype(np.float32)
    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for (r, c), value in zip(spots, drop.ravel(), strict=True):
        total[r:r + patch, c:c + patch] += value
        count[r:r + patch, c:c + patch] += 1
    upsampled = (total / np.maximum(count, 1)).astype(np.float32)
    return OcclusionMap(drop, base, class_index, patch, stride, upsampled)
