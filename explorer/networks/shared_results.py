"""Results every session of the server shares: predictions, activations and Grad-CAM per (network,
image), and each network's layer table.

Students of one class mostly look at the same networks and built-in images, so a result is
computed once and reused by all of them, inside bounded caches (see explorer.jobs.bounded_cache).
Budgets: $EXPLORER_CAPTURE_CACHE_MB (default 768) for captured activations, 32 entries at most;
predictions (the preprocessed input and the top-k) 256 entries and 64 MB at most; Grad-CAM maps
64 entries, 64 MB; layer tables 16; occlusion maps being computed in the background 16.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref

import numpy as np
import torch
from torch import nn

from explorer.jobs.bounded_cache import BoundedCache, array_digest
from explorer.networks import activations, gradcam, layer_costs, occlusion, predictions, zoo

MB = 2**20


def capture_budget_bytes() -> int:
    configured = os.environ.get("EXPLORER_CAPTURE_CACHE_MB", "").strip()
    megabytes = int(configured) if configured.isdigit() else 768
    return megabytes * MB


PREDICTIONS: BoundedCache = BoundedCache(max_entries=256, max_bytes=64 * MB)
CAPTURES: BoundedCache = BoundedCache(max_entries=32, max_bytes=capture_budget_bytes())
GRAD_CAMS: BoundedCache = BoundedCache(max_entries=64, max_bytes=64 * MB)
LAYER_TABLES: BoundedCache = BoundedCache(max_entries=16, max_bytes=16 * MB)
OCCLUSIONS: BoundedCache = BoundedCache(max_entries=16, max_bytes=16 * MB)

_TOKENS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
_TOKENS_LOCK = threading.Lock()


def model_token(model: nn.Module) -> str:
    """A name unique to this model object for the process's life (ids can be reused; this not)."""
    with _TOKENS_LOCK:
        return _TOKENS.setdefault(model, uuid.uuid4().hex)


def _key(loaded: zoo.LoadedModel, image: np.ndarray) -> tuple[str, str]:
    return model_token(loaded.model), array_digest(image)


def prediction(loaded: zoo.LoadedModel, image: np.ndarray,
               k: int = 5) -> tuple[torch.Tensor, predictions.Prediction]:
    """(preprocessed input (1, C, H, W), top-k) for `image`, computed once per server."""
    return PREDICTIONS.get_or_compute(
        (*_key(loaded, image), k),
        lambda: (predictions.preprocess(loaded, image), predictions.predict(loaded, image, k=k)),
    )


def captured(loaded: zoo.LoadedModel, x: torch.Tensor,
             image: np.ndarray) -> dict[str, torch.Tensor]:
    """Every default layer's activation for `image` ({name: (1, C, H, W)}), once per server."""

    def compute() -> dict[str, torch.Tensor]:
        layers = activations.default_layers(loaded.model, tuple(x.shape))
        return activations.capture(loaded.model, x, layers)

    return CAPTURES.get_or_compute(_key(loaded, image), compute)


def grad_cam(loaded: zoo.LoadedModel, x: torch.Tensor, image: np.ndarray, layer: str,
             class_index: int) -> gradcam.GradCam:
    """Grad-CAM of `image` (preprocessed: x) for one class at one layer, once per server (a
    forward and a backward pass: 0.6 s for VGG16 here)."""
    return GRAD_CAMS.get_or_compute(
        (*_key(loaded, image), layer, int(class_index)),
        lambda: gradcam.grad_cam(loaded.model, x, layer, class_index),
    )


def layer_table(loaded: zoo.LoadedModel) -> list[layer_costs.LayerRow]:
    """The network's layer table for its input size: one forward pass with hooks, once per
    server and network instead of on every rerun of the Architecture tab."""
    shape = (1, *loaded.input_shape)
    return LAYER_TABLES.get_or_compute(
        (model_token(loaded.model), shape),
        lambda: layer_costs.layer_table(loaded.model, shape),
    )


def occlusion_run(loaded: zoo.LoadedModel, x: torch.Tensor, image: np.ndarray, class_index: int,
                  patch: int, stride: int, max_positions: int) -> occlusion.OcclusionRun:
    """The occlusion map of `image` for these settings, started in the background once per
    server; sessions asking for the same map watch the same run fill in. A run that was
    abandoned (nobody looked) starts again."""
    key = (*_key(loaded, image), int(class_index), int(patch), int(stride), int(max_positions))

    def start() -> occlusion.OcclusionRun:
        return occlusion.OcclusionRun(loaded.model, x, class_index, patch=patch, stride=stride,
                                      max_positions=max_positions).start()

    run = OCCLUSIONS.get_or_compute(key, start)
    if run.abandoned:
        OCCLUSIONS.discard(key)
        run = OCCLUSIONS.get_or_compute(key, start)
    run.touch()
    return run
