"""Turns on the cores, shared fairly: every running job progresses, at most `slots` compute at once.

A class presses Start within seconds. Run one job after another and the last student waits
minutes for a first curve; run them all as threads at once and 30 jobs fight over 2 cores and
the GIL, and the pages slow down for everyone. Instead every live job takes turns: before a
training step it asks for a turn (Turns.wait_turn); at most `slots` jobs hold one at a time; a
turn lasts `slice_seconds` of work, then the job hands it on if someone waits. The next turn
goes to the waiting job that has had the least compute so far, so shares are equal (like
Linux's CFS, a newcomer starts level with the least-served job, not at zero, or it would starve
the others until it caught up). Jobs that have not had a turn yet go first, and their first
turn ends after one step: a fresh run draws its first curve within a slice or so, then waits
in line like everyone else.

Each job's served seconds and its share of the wall clock (served / live time) give the
page an honest expected finish: the work left divided by the current share.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass


@dataclass
class _Member:
    served: float  # compute seconds received, plus the level it started at
    arrival: int  # tie-break: earlier arrivals first among equals
    first_turn: bool = True
    holding: bool = False
    waiting: bool = False
    turn_started: float = 0.0
    joined_at: float = 0.0
    own_seconds: float = 0.0  # compute actually received (served minus the start level)


def default_slots(cores: int | None = None) -> int:
    """Jobs computing at once: $EXPLORER_TRAIN_SLOTS, else one per core, each with one torch
    thread. Measured on 2 cores (benchmarks/class_train.py, 30 students): the class was done in
    23 s this way, 32 s with one job of two threads at a time, 24 s with every run in its own
    thread (but 1.9 instead of 1.5 GB)."""
    configured = os.environ.get("EXPLORER_TRAIN_SLOTS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, cores or os.cpu_count() or 1)


class Turns:
    """Who may compute now. Thread-safe; one per process (get_turns), or one per test."""

    def __init__(self, slots: int | None = None, slice_seconds: float = 0.25) -> None:
        self.slots = slots or default_slots()
        self.slice_seconds = slice_seconds
        self._condition = threading.Condition()
        self._members: dict[str, _Member] = {}
        self._arrivals = itertools.count()

    # -- membership ------------------------------------------------------------------

    def join(self, job_id: str) -> None:
        """A job goes live: it starts level with the least-served live job (idempotent)."""
        with self._condition:
            if job_id in self._members:
                return
            level = min((m.served for m in self._members.values()), default=0.0)
            self._members[job_id] = _Member(served=level, arrival=next(self._arrivals),
                                            joined_at=time.monotonic())

    def leave(self, job_id: str) -> None:
        """The job ended (or failed): its turn, if it held one, goes to the next in line."""
        with self._condition:
            member = self._members.pop(job_id, None)
            if member is not None:
                self._condition.notify_all()

    # -- turns -----------------------------------------------------------------------

    def wait_turn(self, job_id: str, stop: threading.Event | None = None,
                  poll_seconds: float = 0.1) -> bool:
        """Block until `job_id` may compute (it keeps its turn while its slice lasts and nobody
        waits). False when `stop` was set while waiting (the caller stops). The job must have
        joined."""
        with self._condition:
            member = self._members[job_id]
            if stop is not None and stop.is_set():
                return False
            if member.holding:
                now = time.monotonic()
                slice_over = member.first_turn or now - member.turn_started >= self.slice_seconds
                if not slice_over:
                    return True
                if not self._someone_waits(job_id):
                    self._account(member, now)  # keep the slot: nobody else wants it
                    member.turn_started = now
                    member.first_turn = False
                    return True
                self._release(member, now)
            member.waiting = True
            try:
                while not self._may_take(job_id):
                    if stop is not None and stop.is_set():
                        return False
                    self._condition.wait(poll_seconds)
            finally:
                member.waiting = False
            member.holding = True
            member.turn_started = time.monotonic()
            return True

    def release(self, job_id: str) -> None:
        """Give the turn back early (the job pauses or finishes a phase)."""
        with self._condition:
            member = self._members.get(job_id)
            if member is not None and member.holding:
                self._release(member, time.monotonic())

    def _release(self, member: _Member, now: float) -> None:
        self._account(member, now)
        member.holding = False
        member.first_turn = False
        self._condition.notify_all()

    @staticmethod
    def _account(member: _Member, now: float) -> None:
        spent = max(0.0, now - member.turn_started)
        member.served += spent
        member.own_seconds += spent

    def _someone_waits(self, job_id: str) -> bool:
        return any(m.waiting for key, m in self._members.items() if key != job_id)

    def _may_take(self, job_id: str) -> bool:
        """A free slot, and no waiting job ahead in line: jobs yet to take their first turn
        (first come, first served), then the least served."""
        holding = sum(m.holding for m in self._members.values())
        if holding >= self.slots:
            return False
        line = sorted((not m.first_turn, m.served, m.arrival, key)
                      for key, m in self._members.items() if m.waiting)
        return job_id in [entry[-1] for entry in line[: self.slots - holding]]

    # -- reading ---------------------------------------------------------------------

    def share(self, job_id: str) -> float | None:
        """The job's share of the wall clock since it joined (0..1); None when unknown."""
        with self._condition:
            member = self._members.get(job_id)
            if member is None:
                return None
            now = time.monotonic()
            live = now - member.joined_at
            own = member.own_seconds + (now - member.turn_started if member.holding else 0.0)
            return min(1.0, own / live) if live > 1.0 else None

    def live(self) -> int:
        with self._condition:
            return len(self._members)


_TURNS: Turns | None = None
_TURNS_LOCK = threading.Lock()


def get_turns() -> Turns:
    """The process-wide turns every training job takes."""
    global _TURNS
    with _TURNS_LOCK:
        if _TURNS is None:
            _TURNS = Turns()
        return _TURNS
