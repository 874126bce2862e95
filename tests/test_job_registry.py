"""The job registry: queue and cap, per-tab limit, heartbeats and the reaper timer, settings."""

from __future__ import annotations

import threading
import time

import pytest

from explorer import job_registry
from explorer.data import Dataset
from explorer.job_registry import JobRegistry, QueueFull
from tests.test_training import quadrant_dataset, tiny_settings, training_threads, wait_for


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return quadrant_dataset()


@pytest.fixture(autouse=True)
def no_threads_left_behind():
    yield
    for thread in training_threads():
        thread.join(10)
    assert not training_threads()


def test_queue_runs_jobs_one_after_another(tiny):
    registry = JobRegistry(max_running=1)
    first_id = registry.submit(tiny_settings(epochs=1000), tiny, owner="a")
    second_id = registry.submit(tiny_settings(epochs=1), tiny, owner="b")
    first, second = registry.get(first_id), registry.get(second_id)
    assert second.snapshot().state == "queued" and second.snapshot().queue_position == 1
    assert registry.queued() == [second] and registry.running() == [first]
    wait_for(lambda: first.snapshot().step > 0)
    assert second.snapshot().step == 0
    first.stop()
    assert second.join(30)
    assert second.snapshot().state == "finished" and second.snapshot().queue_position is None
    assert registry.jobs_of("a") == [first] and registry.jobs_of("b") == [second]
    assert registry.get("nope") is None
    assert registry.stop_all()


def test_threads_per_job_follow_the_cap(tiny):
    registry = JobRegistry(max_running=2, cores=2)
    job = registry.get(registry.submit(tiny_settings(threads=2, epochs=1), tiny))
    assert job.threads == 1
    assert registry.stop_all()


def test_stopping_a_queued_job_removes_it_from_the_queue(tiny):
    registry = JobRegistry(max_running=1)
    running = registry.get(registry.submit(tiny_settings(epochs=1000), tiny))
    waiting = [registry.get(registry.submit(tiny_settings(), tiny)) for _ in range(2)]
    assert [job.snapshot().queue_position for job in waiting] == [1, 2]
    waiting[0].stop()
    assert waiting[0].snapshot().state == "stopped"
    assert waiting[1].snapshot().queue_position == 1
    running.stop()
    assert waiting[1].join(30) and waiting[1].snapshot().state == "finished"
    assert registry.stop_all()


def test_reap_stops_jobs_of_silent_owners(tiny):
    registry = JobRegistry(max_running=2)
    gone = registry.get(registry.submit(tiny_settings(epochs=1000), tiny, owner="gone"))
    here = registry.get(registry.submit(tiny_settings(epochs=1000), tiny, owner="here"))
    time.sleep(0.2)
    registry.heartbeat("here")
    assert registry.reap(grace_seconds=0.1) == [gone.job_id]
    assert gone.join(10) and gone.snapshot().state == "stopped"
    assert not here.done
    assert registry.stop_all()
    assert not training_threads()


def test_forget_keeps_the_registry_small(tiny):
    registry = JobRegistry(max_running=1, keep_per_owner=2)
    ids = []
    for _ in range(4):
        ids.append(registry.submit(tiny_settings(epochs=1, eval_every=100), tiny, owner="o"))
        registry.get(ids[-1]).join(30)
    assert [job.job_id for job in registry.jobs_of("o")] == ids[-2:]
    registry.forget(ids[-1])
    assert registry.get(ids[-1]) is None


def test_finished_runs_are_bounded_over_all_tabs(tiny):
    registry = JobRegistry(max_running=1, keep_total=3)
    ids = []
    for owner in "abcde":
        ids.append(registry.submit(tiny_settings(epochs=1, eval_every=100), tiny, owner=owner))
        registry.get(ids[-1]).join(30)
    assert [job.job_id for job in registry.jobs()] == ids[-3:]
    assert set(registry._heartbeats) <= {"c", "d", "e"}
    assert registry.stop_all()


def test_a_closed_tabs_run_is_stopped_by_the_timer_without_any_other_visitor(tiny):
    """Nobody polls, nobody submits: the reaper thread alone stops the orphaned run."""
    registry = JobRegistry(max_running=1, grace_seconds=0.2)
    job = registry.get(registry.submit(tiny_settings(epochs=1000), tiny, owner="closed tab"))
    assert job.join(30), "the reaper should have stopped the run"
    assert job.snapshot().state == "stopped"
    wait_for(lambda: not any(t.name == "job-reaper" for t in threading.enumerate()), 30)
    assert registry.stop_all()


def test_heartbeats_keep_a_run_alive_past_the_grace_period(tiny):
    registry = JobRegistry(max_running=1, grace_seconds=0.3)
    job = registry.get(registry.submit(tiny_settings(epochs=1000), tiny, owner="open tab"))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # three grace periods, beating as the page does
        registry.heartbeat("open tab")
        time.sleep(0.05)
    assert not job.done
    assert registry.stop_all()


def test_one_tab_cannot_fill_the_queue(tiny):
    registry = JobRegistry(max_running=1, max_per_owner=4)
    for _ in range(4):  # the ablation: four runs
        registry.submit(tiny_settings(epochs=1000), tiny, owner="tab")
    assert registry.free_places("tab") == 0
    with pytest.raises(QueueFull, match="already has 4 runs"):
        registry.submit(tiny_settings(epochs=1000), tiny, owner="tab")
    assert len(registry.jobs_of("tab")) == 4
    registry.submit(tiny_settings(epochs=1000), tiny, owner="another tab")  # others still may
    registry.jobs_of("tab")[0].stop()
    wait_for(lambda: registry.free_places("tab") == 1)
    registry.submit(tiny_settings(epochs=1000), tiny, owner="tab")  # a place was freed
    assert registry.stop_all()


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 2), (16, 8)])
def test_default_concurrent_runs_are_one_per_two_cores(monkeypatch, cores, expected):
    monkeypatch.delenv("EXPLORER_MAX_JOBS", raising=False)
    assert job_registry.default_max_running(cores) == expected
    assert JobRegistry(cores=cores).max_running == expected


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "3")
    monkeypatch.setenv("EXPLORER_MAX_JOBS_PER_TAB", "2")
    monkeypatch.setenv("EXPLORER_JOB_GRACE_S", "30")
    registry = JobRegistry(cores=2)
    assert (registry.max_running, registry.max_per_owner, registry.grace_seconds) == (3, 2, 30.0)
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "-1")  # nonsense: the default
    assert JobRegistry(cores=2).max_running == 1
