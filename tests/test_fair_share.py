"""Turns on the cores: at most `slots` jobs compute, newcomers go first, shares come out equal."""

from __future__ import annotations

import threading
import time

import pytest

from explorer.jobs import fair_share
from explorer.jobs.fair_share import Turns

HANG_SECONDS = 60.0


def worker(turns: Turns, job_id: str, stop: threading.Event, computing: list[int],
           most: list[int], lock: threading.Lock, steps: list[int]) -> None:
    """A job that computes in small steps, asking for its turn before each."""
    turns.join(job_id)
    try:
        while turns.wait_turn(job_id, stop):  # False once stop is set
            with lock:
                computing[0] += 1
                most[0] = max(most[0], computing[0])
            time.sleep(0.002)  # the step's work
            with lock:
                computing[0] -= 1
                steps.append(job_id)
    finally:
        turns.leave(job_id)


def test_at_most_slots_jobs_compute_and_every_job_progresses():
    turns = Turns(slots=2, slice_seconds=0.02)
    stop, lock = threading.Event(), threading.Lock()
    computing, most, steps = [0], [0], []
    names = [f"job{i}" for i in range(6)]
    threads = [threading.Thread(target=worker, args=(turns, n, stop, computing, most, lock, steps))
               for n in names]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline and not all(steps.count(n) >= 3 for n in names):
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(HANG_SECONDS)
    assert all(steps.count(n) >= 3 for n in names), {n: steps.count(n) for n in names}
    assert most[0] <= 2
    assert turns.live() == 0


def test_a_newcomer_gets_a_turn_before_jobs_that_already_had_one():
    turns = Turns(slots=1, slice_seconds=0.05)
    turns.join("old")
    assert turns.wait_turn("old")
    turns.join("new")
    got_turn = threading.Event()

    def newcomer():
        turns.wait_turn("new")
        got_turn.set()

    thread = threading.Thread(target=newcomer)
    thread.start()
    time.sleep(0.06)  # old's slice is over: asking again hands the turn to the newcomer
    old_again = threading.Thread(target=turns.wait_turn, args=("old",))
    old_again.start()
    assert got_turn.wait(HANG_SECONDS)
    turns.release("new")
    old_again.join(HANG_SECONDS)
    assert not old_again.is_alive()
    thread.join(HANG_SECONDS)


def test_a_newcomer_starts_level_with_the_least_served_not_at_zero():
    turns = Turns(slots=1, slice_seconds=0.01)
    turns.join("a")
    turns.wait_turn("a")
    time.sleep(0.05)
    turns.release("a")
    turns.join("b")
    assert turns._members["b"].served == pytest.approx(turns._members["a"].served)


def test_a_stopped_waiter_returns_false_and_leaving_frees_the_slot():
    turns = Turns(slots=1)
    turns.join("holder")
    turns.join("waiter")
    assert turns.wait_turn("holder")
    stop = threading.Event()
    stop.set()
    assert turns.wait_turn("waiter", stop, poll_seconds=0.01) is False
    turns.leave("holder")
    assert turns.wait_turn("waiter")


def test_share_is_the_part_of_the_wall_clock_a_job_computed(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(fair_share.time, "monotonic", lambda: clock[0])
    turns = Turns(slots=1)
    turns.join("a")
    turns.wait_turn("a")
    clock[0] += 1.0
    turns.release("a")
    clock[0] += 3.0  # waited while others computed
    assert turns.share("a") == pytest.approx(0.25)
    assert turns.share("unknown") is None


def test_slots_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_TRAIN_SLOTS", "3")
    assert fair_share.default_slots(2) == 3
    monkeypatch.setenv("EXPLORER_TRAIN_SLOTS", "zero")
    assert fair_share.default_slots(2) == 2  # one per core
    assert fair_share.default_slots(8) == 8
