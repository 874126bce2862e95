"""Jobs compute at a lower CPU priority than the pages, so a class's training soaks up the
cores the pages leave idle instead of slowing every click (Linux thread niceness)."""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

DEFAULT_NICE = 10  # CFS weight 110 against the pages' 1024: a page gets ~90 % of a busy core


def job_niceness() -> int:
    """$EXPLORER_JOB_NICE (0 = jobs compete with the pages as equals; at most 19), else 10."""
    value = os.environ.get("EXPLORER_JOB_NICE", "").strip()
    try:
        return min(max(int(value), 0), 19) if value else DEFAULT_NICE
    except ValueError:
        return DEFAULT_NICE


def lower_this_thread(niceness: int | None = None) -> bool:
    """Raise the calling thread's nice value by `niceness` (default job_niceness()).

    On Linux nice is a property of each thread (its TID), and threads it starts afterwards
    (torch's OpenMP workers) inherit it; the process's other threads keep theirs. A thread can
    always lower its own priority without privileges, and never raise it back, so this is
    called only from a job's own worker thread, which ends with the job. Elsewhere (macOS,
    Windows) it does nothing. Returns whether the priority was changed."""
    step = job_niceness() if niceness is None else niceness
    if step <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(current + step, 19))
    except OSError as error:  # a sandbox that forbids it: the job runs at the pages' priority
        log.info("could not lower the job thread's priority: %s", error)
        return False
    return True
