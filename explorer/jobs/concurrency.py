"""Process-wide limits for work that many sessions share: heavy torch passes and seeded RNG use.

Streamlit runs every session's script in its own thread of one process. torch's intra-op
threads are process-wide, so two 2-thread forward passes on 2 cores do not take twice as long,
they collapse (OpenMP teams spin against each other: ResNet18's p90 went from 28 to 172 ms
when another process took a core). `heavy_work()` lets at most `heavy_slots()` such passes run
at once; the others wait their turn (the page shows Streamlit's running indicator meanwhile)
instead of thrashing. It is re-entrant per thread, so a function holding a slot may call another that
asks for one.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

# Seeding torch's global generator and drawing from it must not interleave with another
# thread doing the same (a seeded model would get another's numbers): one lock for all of it.
RNG_LOCK = threading.RLock()


def heavy_slots() -> int:
    """$EXPLORER_HEAVY_SLOTS, else one pass per two cores (at least one)."""
    configured = os.environ.get("EXPLORER_HEAVY_SLOTS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass
class _Counters:
    entered: int = 0
    waited: int = 0  # entries that found every slot taken
    wait_seconds: float = 0.0


class FairSlots:
    """A counting semaphore that serves waiters in the order they came: a slot released while
    others wait goes to the first of them, so a thread that releases and asks again (a job
    working in steps) queues behind them instead of taking the slot straight back."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._lock = threading.Lock()
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, blocking: bool = True) -> bool:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
            if not blocking:
                return False
            ticket = threading.Event()
            self._waiters.append(ticket)
        ticket.wait()  # release() hands the slot over: it stays taken
        return True

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._free += 1


_SLOTS = FairSlots(heavy_slots())
_HELD = threading.local()  # .depth: nesting in this thread
_COUNTERS = _Counters()
_COUNTERS_LOCK = threading.Lock()


@contextlib.contextmanager
def heavy_work() -> Iterator[None]:
    """Hold one of the server's heavy-work slots for the body (re-entrant within a thread)."""
    depth = getattr(_HELD, "depth", 0)
    if depth:
        _HELD.depth = depth + 1
        try:
            yield
        finally:
            _HELD.depth = depth
        return
    start = time.perf_counter()
    waited = not _SLOTS.acquire(blocking=False)
    if waited:
        _SLOTS.acquire()
    with _COUNTERS_LOCK:
        _COUNTERS.entered += 1
        _COUNTERS.waited += waited
        _COUNTERS.wait_seconds += time.perf_counter() - start
    _HELD.depth = 1
    try:
        yield
    finally:
        _HELD.depth = 0
        _SLOTS.release()


def heavy_work_counters() -> dict[str, float]:
    """How often heavy work ran and waited since the process started (for benchmarks)."""
    with _COUNTERS_LOCK:
        return {"entered": _COUNTERS.entered, "waited": _COUNTERS.waited,
                "wait_seconds": round(_COUNTERS.wait_seconds, 3)}
