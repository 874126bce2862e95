"""Jobs compute at a lower CPU priority than the pages (explorer.jobs.priority)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from explorer.jobs import priority
from explorer.jobs.registry import JobRegistry
from explorer.training.job import TrainingJob
from tests.test_training import finish, quadrant_dataset, tiny_settings

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="thread niceness is Linux's")


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.parametrize(("value", "expected"), [
    ("", priority.DEFAULT_NICE), ("0", 0), ("5", 5), ("40", 19), ("-3", 0), ("fast", 10)])
def test_the_niceness_comes_from_the_environment_within_0_to_19(monkeypatch, value, expected):
    monkeypatch.setenv("EXPLORER_JOB_NICE", value)
    assert priority.job_niceness() == expected


@linux_only
def test_lowering_changes_only_the_calling_thread():
    start = _nice_of_this_thread()
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["lowered"] = priority.lower_this_thread(7)
        seen["nice"] = _nice_of_this_thread()
        inner = threading.Thread(target=lambda: seen.setdefault("child", _nice_of_this_thread()))
        inner.start()  # a thread it starts (torch's OpenMP workers) inherits it
        inner.join()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"lowered": True, "nice": min(start + 7, 19), "child": min(start + 7, 19)}
    assert _nice_of_this_thread() == start  # the pages' threads keep theirs
    assert priority.lower_this_thread(0) is False


@linux_only
def test_a_training_job_runs_at_the_lower_priority(monkeypatch):
    monkeypatch.setenv("EXPLORER_JOB_NICE", "4")
    start = _nice_of_this_thread()
    seen: list[int] = []

    class Recording(TrainingJob):
        def _run(self) -> None:
            seen.append(_nice_of_this_thread())
            super()._run()

    registry = JobRegistry(max_running=1)
    job_id = registry.submit_job(
        lambda threads, on_done: Recording(tiny_settings(epochs=1), quadrant_dataset(),
                                           owner="tab", threads=threads, on_done=on_done),
        threads=1, owner="tab")
    finish(registry.get(job_id))
    assert seen == [min(start + 4, 19)]
    assert _nice_of_this_thread() == start
