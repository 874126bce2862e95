"""How many jobs a registry runs at once and keeps per tab, from the environment (see registry)."""

from __future__ import annotations

import os
from typing import Any


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def default_max_running(cores: int | None = None) -> int:
    """$EXPLORER_MAX_JOBS, else one job per two cores: on 2 cores one job with 2 threads beats
    two jobs sharing them (and leaves the pages a core's worth of slack between its steps)."""
    return _env_int("EXPLORER_MAX_JOBS", max(1, (cores or os.cpu_count() or 1) // 2))


def default_max_live() -> int:
    """$EXPLORER_MAX_LIVE_RUNS, else 32: a class's distinct runs all live at once. A live run
    of the default CNN costs about 60 MB of resident memory (benchmarks/class_train.py), so
    32 bound a process's runs at about 2 GB; more wait in the queue."""
    return _env_int("EXPLORER_MAX_LIVE_RUNS", 32)


def takes_turns(job: Any) -> bool:
    """Does the job share the cores through jobs.fair_share (and so never waits in the queue
    for a compute slot, only for a live place)?"""
    return bool(getattr(job, "takes_turns", False))
