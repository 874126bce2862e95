"""Start, pause, stop and wait for a background job: what every kind of job shares with the registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from explorer.jobs.fair_share import get_turns
from explorer.jobs.priority import lower_this_thread

DONE_STATES = frozenset({"finished", "stopped", "failed"})


class JobControl:
    """The control half of a job whose worker is `self._run()` in a daemon thread.

    A subclass calls `_init_control(on_done)` in its constructor, sets `job_id` first, writes
    `_state` and `_message` under `_lock`, calls `_finish()` when its worker ends, and may
    extend `_on_start` / `_on_stopped_in_queue` (both called holding the lock). The job
    registry only uses this interface (start, stop, done, state, set_queue_position, join).
    """

    THREAD_PREFIX = "job"  # worker threads are named "<prefix>-<job id>"
    KIND = "job"  # what the pages ask for (JobRegistry.jobs_of(owner, kind)): one name per class
    # fields that belong to this process (locks, threads, process-wide caches): never copied
    # with the job to another process (see __getstate__); a subclass adds its own and restores
    # them in _restore_process_fields
    PROCESS_FIELDS: tuple[str, ...] = ()
    job_id: str

    def _init_control(self, on_done: Callable[[Any], None] | None) -> None:
        self._on_done = on_done
        self._lock = threading.Lock()  # guards every field a snapshot reads
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._may_run = threading.Event()  # cleared = pause requested
        self._may_run.set()
        self._done = threading.Event()
        self._state, self._message = "queued", "waiting to start"
        self._queue_position: int | None = None

    # -- control (any thread) ------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (once). A job stopped while queued never starts."""
        with self._lock:
            if self._thread is not None or self._state in DONE_STATES:
                return
            self._queue_position = None
            self._state, self._message = "running", "starting"
            self._on_start()
            self._thread = threading.Thread(target=self._work, daemon=True,
                                            name=f"{self.THREAD_PREFIX}-{self.job_id}")
            self._thread.start()

    def pause(self) -> None:
        self._may_run.clear()

    def resume(self) -> None:
        self._may_run.set()

    def stop(self) -> None:
        """Ask the job to end after the current step; a queued job ends at once."""
        self._stop.set()
        self._may_run.set()  # wake a paused worker
        with self._lock:
            never_started = self._thread is None and self._state not in DONE_STATES
            if never_started:
                self._state, self._message = "stopped", "stopped before it started"
                self._queue_position = None
                self._on_stopped_in_queue()
        if never_started:
            self._finish()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        """Pause was asked for and the job has not ended (the worker pauses before its next
        step; the state says "paused" once it has)."""
        return not self._may_run.is_set() and not self._done.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job is done (finished, stopped or failed) and its thread has ended;
        True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._done.wait(timeout):
            return False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            return not thread.is_alive()
        return True

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def set_queue_position(self, position: int | None) -> None:
        with self._lock:
            if self._state == "queued":
                self._queue_position = position
                self._message = f"waiting: number {position} in the queue" if position else ""

    # -- copies for another process (jobs.remote: an unstarted job goes to a Ray worker, the
    # ended job comes back) -------------------------------------------------------

    _CONTROL_FIELDS = ("_lock", "_thread", "_stop", "_may_run", "_done", "_on_done")

    def __getstate__(self) -> dict[str, Any]:
        """Everything but this process's fields; the events travel as flags."""
        dropped = set(self._CONTROL_FIELDS) | set(self.PROCESS_FIELDS)
        with self._lock:
            state = {k: v for k, v in self.__dict__.items() if k not in dropped}
        state["_control_flags"] = (self._stop.is_set(), self._may_run.is_set(),
                                   self._done.is_set())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A copy with fresh locks and events; no worker thread (an ended job's copy is done,
        an unstarted one can be started here) and no on_done callback."""
        stop, may_run, done = state.pop("_control_flags")
        self.__dict__.update(state)
        self._on_done, self._lock, self._thread = None, threading.Lock(), None
        self._stop, self._may_run, self._done = (threading.Event(), threading.Event(),
                                                 threading.Event())
        for event, is_set in ((self._stop, stop), (self._may_run, may_run), (self._done, done)):
            if is_set:
                event.set()
        self._restore_process_fields()

    def _restore_process_fields(self) -> None:
        """Make this process's own PROCESS_FIELDS after a copy arrived."""

    # -- for subclasses --------------------------------------------------------

    def _work(self) -> None:
        """The worker thread. A job that does not take turns itself (takes_turns, see
        jobs.fair_share) holds one turn on the cores for its whole run, so it never computes
        beside a full set of training turns. Every job computes at a lower CPU priority than
        the pages (jobs.priority)."""
        lower_this_thread()
        if getattr(self, "takes_turns", False):
            self._run()
            return
        turns = get_turns()
        turns.join(self.job_id)
        try:
            turns.wait_turn(self.job_id, self._stop)  # False when stopped: _run then ends at once
            self._run()
        finally:
            turns.leave(self.job_id)

    def _run(self) -> None:
        raise NotImplementedError

    def _on_start(self) -> None:
        """Called holding the lock as the worker starts."""

    def _on_stopped_in_queue(self) -> None:
        """Called holding the lock when a queued job is stopped before it started."""

    def _finish(self) -> None:
        self._may_run.set()  # a job that ended with a pause pending is not paused
        self._done.set()
        if self._on_done is not None:
            self._on_done(self)
