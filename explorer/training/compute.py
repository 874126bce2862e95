"""Where jobs train: the torch thread budget of a job's worker and the training device."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch

_THREADS_LOCK = threading.Lock()
_budgets_active = 0
_threads_before = 0


def capped_threads(threads: int) -> int:
    """`threads`, at most $EXPLORER_JOB_THREADS when that is a whole number >= 1 (a server that
    shares its cores with other programs; the tests' two processes on two cores). OpenMP threads
    that outnumber the free cores spin against each other: a small network's step then takes
    ten times longer, not twice."""
    try:
        cap = int(os.environ.get("EXPLORER_JOB_THREADS", "0"))
    except ValueError:
        cap = 0
    return max(1, min(threads, cap) if cap >= 1 else threads)


@contextlib.contextmanager
def thread_budget(threads: int) -> Iterator[None]:
    """Run the body with `threads` torch intra-op threads, then restore the process default.

    What torch.set_num_threads really does (checked here, torch 2.x with OpenMP): it sets the
    calling thread's OpenMP team size and the default for threads started later; threads that
    already run (Streamlit's script threads, another job) keep theirs. So a job's worker calls
    it for itself, and it is a budget, not isolation: two jobs still share the cores. The
    JobRegistry keeps the sum honest by capping concurrent jobs and giving each
    cores // max_running threads. The previous default comes back when the last job ends.
    """
    global _budgets_active, _threads_before
    threads = capped_threads(threads)
    with _THREADS_LOCK:
        if _budgets_active == 0:
            _threads_before = torch.get_num_threads()
        _budgets_active += 1
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _budgets_active -= 1
            if _budgets_active == 0:
                torch.set_num_threads(_threads_before)


def train_device() -> torch.device:
    """Where jobs train: $EXPLORER_TRAIN_DEVICE ("cpu", "cuda", "cuda:1"; default "auto": the
    first CUDA GPU when torch sees one, else the CPU). A GPU that is asked for but absent falls
    back to the CPU."""
    wanted = os.environ.get("EXPLORER_TRAIN_DEVICE", "auto").strip().lower() or "auto"
    if wanted != "cpu" and torch.cuda.is_available():
        try:
            return torch.device("cuda" if wanted == "auto" else wanted)
        except RuntimeError:  # a malformed name such as "cuda:x"
            return torch.device("cuda")
    return torch.device("cpu")
