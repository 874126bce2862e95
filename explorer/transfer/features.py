"""Cached backbone features (what a new head receives), computed once per image."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from explorer.transfer.adapt import Adapted
from explorer.transfer.backbones import Backbone, backbone_input


def image_digests(images: torch.Tensor) -> list[bytes]:
    """One 16-byte BLAKE2b digest per image (N, C, H, W) uint8: the cache's notion of "the
    same image"."""
    flat = images.reshape(len(images), -1).contiguous().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


@torch.inference_mode()
def head_inputs(adapted: Adapted, x: torch.Tensor) -> torch.Tensor:
    """What the head receives for a prepared batch x: (B, D) features, in eval mode."""
    captured: list[torch.Tensor] = []
    hook = adapted.head_module().register_forward_hook(
        lambda _module, inputs, _output: captured.append(inputs[0].detach()))
    modes = [(module, module.training) for module in adapted.model.modules()]
    adapted.model.eval()
    try:
        adapted.model(x)
    finally:
        hook.remove()
        for module, training in modes:  # each layer's own mode back (frozen ones stay eval)
            module.training = training
    return captured[0].reshape(len(x), -1).float().cpu()


class FeatureCache:
    """Features (the head's input) per (backbone, input size, image), least recently used
    dropped beyond `max_bytes`. Thread-safe; two jobs may compute the same image once each."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, tuple[int, int], bytes], torch.Tensor] = \
            OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def lookup(self, backbone: Backbone, size: tuple[int, int],
               digests: list[bytes]) -> list[torch.Tensor | None]:
        with self._lock:
            found = []
            for digest in digests:
                key = (backbone.fingerprint, tuple(size), digest)
                value = self._entries.get(key)
                if value is not None:
                    self._entries.move_to_end(key)
                found.append(value)
            return found

    def store(self, backbone: Backbone, size: tuple[int, int], digests: list[bytes],
              features: torch.Tensor) -> None:
        with self._lock:
            for digest, row in zip(digests, features, strict=True):
                key = (backbone.fingerprint, tuple(size), digest)
                if key not in self._entries:
                    self._entries[key] = row.clone()  # (D,), not a view of the whole batch
                    self._bytes += row.numel() * row.element_size()
            while self._bytes > self.max_bytes and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.numel() * dropped.element_size()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes,
                    "max_bytes": self.max_bytes}


FEATURE_CACHE = FeatureCache()
FEATURE_BATCH = 64


def cached_features(adapted: Adapted, backbone: Backbone, images: torch.Tensor,
                    size: tuple[int, int], *, cache: FeatureCache = FEATURE_CACHE,
                    batch: int = FEATURE_BATCH,
                    step: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, int]:
    """(features (N, D), how many were already cached) of images (N, C, h, w) uint8.

    Only images the cache lacks go through the network, in batches; `step(done, missing)` is
    called after each batch (it may raise to stop). `adapted` must still hold the backbone's
    weights below its head (a "frozen" copy)."""
    digests = image_digests(images)
    found = cache.lookup(backbone, size, digests)
    missing = [i for i, value in enumerate(found) if value is None]
    computed: dict[int, torch.Tensor] = {}
    for first in range(0, len(missing), batch):
        index = missing[first : first + batch]
        features = head_inputs(adapted, backbone_input(backbone, images[index], size))
        cache.store(backbone, size, [digests[i] for i in index], features)
        computed.update(zip(index, features, strict=True))
        if step is not None:
            step(first + len(index), len(missing))
    rows = [value if value is not None else computed[i] for i, value in enumerate(found)]
    if not rows:
        return torch.zeros(0, adapted.features), 0
    return torch.stack(rows), len(images) - len(missing)
