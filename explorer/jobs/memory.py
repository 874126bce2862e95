"""Keep Python's garbage collector cheap on a server that holds torch and models in memory.

Streamlit runs `gc.collect(2)` after every script run (`runner.postScriptGC`). A full collection
walks every object the collector tracks: with torch, torchvision, plotly and a few models loaded
that is about 465,000 objects and 210 ms, after every click of every student (measured: 59 % of
the server's CPU under a class's load). Almost all of those objects live as long as the process
(modules, model layers, cached figures' templates), so after they appear we move them to the
collector's permanent generation with `gc.freeze()`: later collections skip them (0.1-5 ms) and
still find every cycle made afterwards, so memory stays bounded.

The forced collection itself is rate-limited too. Even with the freezes, one after every run
cost about 17 ms holding the GIL, 9 times a second under a class's load (~15 % of a core: py-spy,
benchmarks/class_load.py). So .streamlit/config.toml turns Streamlit's off (`postScriptGC =
false`) and a daemon thread runs one at most every COLLECT_INTERVAL_S seconds instead, when a
script ran since the last (`collect_soon()`). Python's own generational collections go on as
always, and reference cycles are freed within seconds.

We freeze only after something long-lived appeared (a new module imported, a model loaded) and
collect first, so no garbage is frozen. Objects of live sessions frozen at that moment are freed
by reference counting as usual; only a reference cycle among them would outlive its session, and
there are few freezes in a process's life (each import wave and each model load), so that cost
is bounded.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from dataclasses import dataclass

_LOCK = threading.Lock()


@dataclass
class _FreezeState:
    modules: int = 0  # len(sys.modules) at the last freeze
    loads: int = 0  # long-lived loads announced by note_long_lived() at the last freeze
    pending_loads: int = 0
    freezes: int = 0
    seconds: float = 0.0  # total time spent collecting before freezes
    runs_since_collect: int = 0  # script runs since the last full collection


_state = _FreezeState()
COLLECT_INTERVAL_S = 2.0
_collector: threading.Thread | None = None


def note_long_lived() -> None:
    """Announce that objects which live as long as the process were just made (a model loaded)."""
    with _LOCK:
        _state.pending_loads += 1


def freeze_long_lived() -> bool:
    """Collect, then freeze, if modules were imported or models loaded since the last freeze.

    Cheap when nothing changed (two integer comparisons); call it after every script run.
    Returns True when it froze.
    """
    with _LOCK:
        if len(sys.modules) == _state.modules and _state.pending_loads == _state.loads:
            return False
        start = time.perf_counter()
        gc.collect()  # nothing that is already garbage may be frozen
        gc.freeze()
        _state.modules = len(sys.modules)
        _state.loads = _state.pending_loads
        _state.freezes += 1
        _state.seconds += time.perf_counter() - start
        return True


def collect_soon() -> None:
    """Ask for a full collection within COLLECT_INTERVAL_S seconds; call it after every script
    run. One daemon thread collects at most that often, after the run's last message went out
    (Streamlit's own collection also ran after it), so no student's rerun waits for it."""
    global _collector
    with _LOCK:
        _state.runs_since_collect += 1
        if _collector is None:
            _collector = threading.Thread(target=_collect_forever, name="explorer-gc",
                                          daemon=True)
            _collector.start()


def _collect_forever() -> None:
    while True:
        time.sleep(COLLECT_INTERVAL_S)
        collect_if_needed()


def collect_if_needed() -> bool:
    """A full collection if a script ran since the last one; True when it collected."""
    with _LOCK:
        if _state.runs_since_collect == 0:
            return False
        _state.runs_since_collect = 0
    gc.collect()
    return True


@dataclass(frozen=True)
class GcStats:
    frozen: int  # objects in the permanent generation
    tracked: int  # objects a full collection still walks
    freezes: int
    freeze_seconds: float


def stats() -> GcStats:
    """What the collector holds now (for the environment panel and benchmarks)."""
    with _LOCK:
        return GcStats(
            frozen=gc.get_freeze_count(),
            tracked=len(gc.get_objects()),  # frozen objects are not listed
            freezes=_state.freezes,
            freeze_seconds=_state.seconds,
        )


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives threads that allocate at once their own arenas (up to eight per core), and
    memory freed in an arena mostly stays resident. With a class's training runs live at once,
    each in its thread, that cost about 30 MB per live run: benchmarks/class_train.py, 30
    students, 93 -> 63 MB per live run and a peak of 2.2 -> 1.8 GB with two arenas, no slower.
    True when the cap was set; False where it is set by the environment or there is no glibc.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl and others: no mallopt of this kind
        return False
