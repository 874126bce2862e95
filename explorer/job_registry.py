"""The process-wide registry of training jobs: a cap with a FIFO queue, owners, heartbeats, a reaper.

Configured from the environment (read when the registry is made):
- EXPLORER_MAX_JOBS: jobs training at once (default: one per two cores, at least one);
- EXPLORER_MAX_JOBS_PER_TAB: unfinished jobs (running or queued) one tab may hold (default 4,
  the lecture's ablation);
- EXPLORER_JOB_GRACE_S: seconds without a heartbeat after which a tab counts as closed and its
  unfinished jobs are stopped (default 120).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque

from explorer.data import Dataset
from explorer.training import TrainingJob, TrainSettings


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def default_max_running(cores: int | None = None) -> int:
    """$EXPLORER_MAX_JOBS, else one job per two cores: on 2 cores one job with 2 threads beats
    two jobs sharing them (and leaves the pages a core's worth of slack between its steps)."""
    return _env_int("EXPLORER_MAX_JOBS", max(1, (cores or os.cpu_count() or 1) // 2))


class QueueFull(ValueError):
    """This tab already holds as many unfinished runs as it may."""


class JobRegistry:
    """All training jobs of this process. Thread-safe.

    At most `max_running` jobs run; later ones wait in a FIFO queue and report their position.
    Each running job gets min(its threads, cores // max_running) torch threads. Jobs belong to
    an owner (the tab): at most `max_per_owner` of an owner's jobs may be unfinished at once, so
    one tab cannot fill the queue. The page calls heartbeat(owner) while it polls; a reaper
    thread (running while any job is unfinished) stops the jobs of owners silent for longer
    than the grace period (a closed tab). Finished jobs are kept for comparison and downloads:
    the last `keep_per_owner` of each owner and `keep_total` over all (oldest forgotten first).
    """

    def __init__(self, max_running: int | None = None, *, cores: int | None = None,
                 keep_per_owner: int = 20, grace_seconds: float | None = None,
                 max_per_owner: int | None = None, keep_total: int = 200) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.max_running = max_running or default_max_running(self.cores)
        self.keep_per_owner = keep_per_owner
        self.keep_total = keep_total  # finished jobs kept over all owners (memory bound)
        self.grace_seconds = (grace_seconds if grace_seconds is not None
                              else float(_env_int("EXPLORER_JOB_GRACE_S", 120)))
        self.max_per_owner = max_per_owner or _env_int("EXPLORER_MAX_JOBS_PER_TAB", 4)
        self._lock = threading.RLock()
        self._jobs: dict[str, TrainingJob] = {}  # insertion order = submission order
        self._queue: deque[TrainingJob] = deque()
        self._running: set[str] = set()
        self._heartbeats: dict[str, float] = {}
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # -- submitting and finding jobs -----------------------------------------

    def submit(self, settings: TrainSettings, dataset: Dataset, *, owner: str | None = None) -> str:
        """Queue a run and return its id; it starts at once when a slot is free.

        ValueError when the model cannot take the dataset (checked before anything queues);
        QueueFull when the owner already has max_per_owner unfinished runs.
        """
        self.reap()
        with self._lock:
            if owner is not None and len(self.unfinished_of(owner)) >= self.max_per_owner:
                raise QueueFull(
                    f"This tab already has {self.max_per_owner} runs training or waiting, the "
                    "most one tab may have on a shared server. Stop one, or wait for one to "
                    "finish.")
        threads = max(1, min(settings.threads, self.cores // self.max_running))
        job = TrainingJob(settings, dataset, owner=owner, threads=threads,
                          on_done=self._job_done)
        with self._lock:
            if owner is not None:
                self._heartbeats[owner] = time.monotonic()
                self._forget_old(owner)
            self._jobs[job.job_id] = job
            self._queue.append(job)
            self._start_waiting()
            self._ensure_reaper()
        return job.job_id

    def free_places(self, owner: str) -> int:
        """How many more runs this owner may submit now."""
        return max(0, self.max_per_owner - len(self.unfinished_of(owner)))

    def get(self, job_id: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs_of(self, owner: str) -> list[TrainingJob]:
        with self._lock:
            return [job for job in self._jobs.values() if job.owner == owner]

    def unfinished_of(self, owner: str) -> list[TrainingJob]:
        with self._lock:
            return [job for job in self._jobs.values() if job.owner == owner and not job.done]

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[TrainingJob]:
        with self._lock:
            return [self._jobs[job_id] for job_id in self._running]

    def queued(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._queue)

    def forget(self, job_id: str) -> None:
        """Stop a job (if it is not done) and drop it from the registry."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            job.stop()

    # -- liveness ------------------------------------------------------------

    def heartbeat(self, owner: str) -> None:
        """The owner's tab is alive."""
        with self._lock:
            self._heartbeats[owner] = time.monotonic()

    def reap(self, grace_seconds: float | None = None) -> list[str]:
        """Stop unfinished jobs whose owner sent no heartbeat for grace_seconds; their ids."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        now = time.monotonic()
        with self._lock:
            silent = {owner for owner, beat in self._heartbeats.items() if now - beat > grace}
            orphans = [
                job for job in self._jobs.values()
                if job.owner in silent and not job.done and not job.stop_requested
            ]
        for job in orphans:
            job.stop()
        return [job.job_id for job in orphans]

    def _ensure_reaper(self) -> None:
        """Start the reaper thread if it is not running (caller holds the lock)."""
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap_while_busy, daemon=True,
                                            name="job-reaper")
            self._reaper.start()

    def _reap_while_busy(self) -> None:
        """Reap every quarter of the grace period; end when no job is unfinished."""
        interval = max(0.05, self.grace_seconds / 4)
        while not self._closed.wait(interval):
            self.reap()
            with self._lock:
                if all(job.done for job in self._jobs.values()):
                    self._reaper = None
                    return

    def stop_all(self, timeout: float | None = 10.0) -> bool:
        """Stop every job and the reaper, wait for their threads (tests, shutdown); True if all
        ended."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
            reaper = self._reaper
        for job in jobs:
            job.stop()
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        ended = all(job.join(left()) for job in jobs)
        if reaper is not None:
            reaper.join(left())
            ended = ended and not reaper.is_alive()
        self._closed.clear()  # the registry stays usable: a later submit starts a new reaper
        return ended

    # -- the queue -----------------------------------------------------------

    def _job_done(self, job: TrainingJob) -> None:
        with self._lock:
            self._running.discard(job.job_id)
            with contextlib.suppress(ValueError):
                self._queue.remove(job)
            self._start_waiting()

    def _start_waiting(self) -> None:
        """Start queued jobs while slots are free; renumber the rest (caller holds the lock)."""
        while self._queue and len(self._running) < self.max_running:
            job = self._queue.popleft()
            if job.done:
                continue
            self._running.add(job.job_id)
            job.start()
        for position, job in enumerate(self._queue, start=1):
            job.set_queue_position(position)

    def _forget_old(self, owner: str) -> None:
        """Make room for one more job (caller holds the lock)."""
        done = [job for job in self._jobs.values() if job.owner == owner and job.done]
        for job in done[: max(0, len(done) - self.keep_per_owner + 1)]:
            del self._jobs[job.job_id]
        done = [job for job in self._jobs.values() if job.done]
        for job in done[: max(0, len(done) - self.keep_total + 1)]:
            del self._jobs[job.job_id]
        owners = {job.owner for job in self._jobs.values()} | {owner}
        for silent in set(self._heartbeats) - owners:  # tabs with nothing left here
            del self._heartbeats[silent]


_REGISTRY: JobRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def get_registry() -> JobRegistry:
    """The process-wide registry (the page may also hold it in st.cache_resource)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = JobRegistry()
        return _REGISTRY
