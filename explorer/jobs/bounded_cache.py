"""A process-wide cache bounded in entries and bytes, shared by sessions, computing each key once.

Fifty students on the Pretrained page mostly look at the same few (network, image) pairs: one
capture of VGG16's activations (109 MiB) kept per session would cost 5 GB; kept once per pair,
under a byte budget, it costs one capture per pair actually in use. Two sessions asking for the
same missing key at the same moment compute it once (the second waits for the first).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

V = TypeVar("V")


def nbytes(value: Any) -> int:
    """Bytes held by arrays and tensors inside `value` (dicts, lists, tuples, dataclasses)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch tensor
        return value.element_size() * value.nelement()
    if isinstance(value, Mapping):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(nbytes(getattr(value, name)) for name in value.__dataclass_fields__)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return 0


def array_digest(array: np.ndarray) -> str:
    """A cache key for an array: shape, type and SHA-1 of every byte (Streamlit's own hash, and
    any sampled hash, would miss a one-pixel change)."""
    array = np.ascontiguousarray(array)
    return f"{array.shape}{array.dtype}" + hashlib.sha1(array.tobytes()).hexdigest()


class BoundedCache(Generic[V]):
    """Least-recently-used entries beyond `max_entries` or `max_bytes` are dropped.

    A value bigger than the whole budget is returned but not kept.
    """

    def __init__(self, max_entries: int, max_bytes: int,
                 size: Callable[[V], int] = nbytes) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:  # one computation per key; later askers wait, then find it cached
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return self._entries[key][0]
                self.misses += 1
            try:
                value = compute()
                self._put(key, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value

    def _put(self, key: Hashable, value: V) -> None:
        size = self._size(value)
        with self._lock:
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def discard(self, key: Hashable) -> None:
        """Forget one entry (a later get_or_compute computes it afresh)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bytes -= entry[1]

    def values(self) -> list[V]:
        """The cached values, least recently used first (a snapshot)."""
        with self._lock:
            return [value for value, _ in self._entries.values()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes,
                    "max_entries": self.max_entries, "max_bytes": self.max_bytes,
                    "hits": self.hits, "misses": self.misses}
