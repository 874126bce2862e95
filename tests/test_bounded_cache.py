"""The shared bounded cache: limits in entries and bytes, one computation per key, LRU order."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from explorer.jobs.bounded_cache import BoundedCache, nbytes


def test_nbytes_counts_arrays_and_tensors_inside_containers():
    @dataclass
    class Pair:
        a: np.ndarray
        b: torch.Tensor

    value = {"x": np.zeros(10, np.float32), "y": [torch.zeros(4, dtype=torch.float64), b"abc"],
             "z": Pair(np.zeros(2, np.uint8), torch.zeros(3, dtype=torch.int16)), "n": 5}
    assert nbytes(value) == 40 + 32 + 3 + 2 + 6


def test_entries_limit_drops_the_least_recently_used():
    cache: BoundedCache = BoundedCache(max_entries=2, max_bytes=10**9)
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("b", lambda: 2)
    cache.get_or_compute("a", lambda: pytest.fail("a is cached"))  # a is now the newest
    cache.get_or_compute("c", lambda: 3)  # drops b
    assert cache.get_or_compute("a", lambda: -1) == 1
    assert cache.get_or_compute("b", lambda: -2) == -2
    assert cache.stats()["entries"] == 2


def test_bytes_limit_holds_and_oversized_values_are_not_kept():
    cache: BoundedCache = BoundedCache(max_entries=100, max_bytes=1000)
    for i in range(10):
        cache.get_or_compute(i, lambda: np.zeros(300, np.uint8))
    assert cache.stats()["bytes"] <= 1000
    assert cache.stats()["entries"] == 3
    big = cache.get_or_compute("big", lambda: np.zeros(5000, np.uint8))
    assert big.nbytes == 5000  # returned to the caller
    assert cache.stats()["bytes"] <= 1000


def test_concurrent_askers_of_one_key_compute_it_once():
    cache: BoundedCache = BoundedCache(max_entries=4, max_bytes=10**6)
    calls = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "value"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["value"] * 8
    assert len(calls) == 1
    assert cache.stats()["misses"] == 1 and cache.stats()["hits"] == 7


def test_a_failed_computation_is_not_cached_and_can_be_retried():
    cache: BoundedCache = BoundedCache(max_entries=4, max_bytes=10**6)

    def fail() -> int:
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 7) == 7


def test_discard_forgets_one_entry_and_values_lists_the_rest():
    cache = BoundedCache(max_entries=4, max_bytes=1 << 20)
    for key in "abc":
        cache.get_or_compute(key, lambda key=key: np.zeros(8) + ord(key))
    cache.discard("b")
    cache.discard("missing")
    assert [int(v[0]) for v in cache.values()] == [ord("a"), ord("c")]
    assert cache.stats()["bytes"] == 2 * 64
    assert int(cache.get_or_compute("b", lambda: np.ones(8))[0]) == 1  # computed afresh
