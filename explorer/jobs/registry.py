"""The process-wide registry of background jobs (training, transfer, ...): a cap with a FIFO queue, owners, heartbeats, a reaper.

Runs belong to their owner: a secret token of the browser tab that started them (never shown
to anyone else), bound to the browser that presented it first.

Identical runs are trained once: a job submitted with a key (everything its result depends on,
e.g. explorer.training.identity.run_key) joins the running, queued or finished job with the
same key instead of starting another. The tabs that share a job are its members; each sees it
as its own run, Stop detaches one member (leave), and the job stops when no member is left. Only the owner controls a run
(owned); anyone who has a run's public id may look at it read-only (view); an owner may share
a finished run, so it appears in the model lists of the tabs that opened its link
(finished_visible_to).

Configured from the environment (read when the registry is made):
- EXPLORER_MAX_JOBS: jobs that compute without taking turns (transfer, feature
  visualisation) running at once (default: one per two cores, at least one);
- EXPLORER_MAX_LIVE_RUNS: jobs that take turns on the cores (training: jobs.fair_share) live at
  once, all progressing (default 32; beyond it they queue);
- EXPLORER_MAX_JOBS_PER_TAB: unfinished jobs (running or queued) one tab may hold (default 4,
  the lecture's ablation);
- EXPLORER_JOB_GRACE_S: seconds without a heartbeat after which a tab counts as closed and its
  unfinished jobs are stopped (default 120).
- EXPLORER_RAY_ADDRESS: run jobs on a Ray cluster instead of this process (jobs.engines); a
  tab reloaded on another web replica then finds its runs there (claim, view).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from explorer.jobs.engines import get_engine
from explorer.jobs.limits import (  # noqa: F401 - default_max_running: the tests ask
    _env_int,
    default_max_live,
    default_max_running,
    takes_turns,
)
from explorer.jobs.tokens import is_token

# Any job with JobControl's interface (start, stop, done, owner, job_id, KIND, model, state,
# snapshot, set_queue_position) and an on_done callback: TrainingJob, TransferJob, VisJob, or
# a jobs.remote.RemoteJob standing in for one of them on a Ray cluster.
Job = Any
# make(threads, on_done) -> an unstarted job
JobFactory = Callable[[int, Callable[[Job], None]], Job]


class QueueFull(ValueError):
    """This tab already holds as many unfinished runs as it may."""


USABLE_STATES = frozenset({"finished", "stopped"})  # done runs whose weights are worth a look


class JobRegistry:
    """All training jobs of this process. Thread-safe.

    Jobs that take turns on the cores (training) all run, up to `max_live` of them, and share
    the cores through jobs.fair_share; other jobs run at most `max_running` at once. Later ones
    wait in a FIFO queue and report their position. Each job gets min(its threads,
    cores // max_running) torch threads. Jobs belong to
    an owner (the tab): at most `max_per_owner` of an owner's jobs may be unfinished at once, so
    one tab cannot fill the queue. The page calls heartbeat(owner) while it polls; a reaper
    thread (running while any job is unfinished) stops the jobs of owners silent for longer
    than the grace period (a closed tab). Finished jobs are kept for comparison and downloads:
    the last `keep_per_owner` of each owner and `keep_total` over all (oldest forgotten first).
    """

    def __init__(self, max_running: int | None = None, *, cores: int | None = None,
                 keep_per_owner: int = 20, grace_seconds: float | None = None,
                 max_per_owner: int | None = None, keep_total: int = 200,
                 max_live: int | None = None, engine: Any = None) -> None:
        self.engine = engine if engine is not None else get_engine()  # jobs.engines
        self.cores = cores or os.cpu_count() or 1
        self.max_running = max_running or default_max_running(self.cores)
        self.max_live = max_live or default_max_live()
        self.keep_per_owner = keep_per_owner
        self.keep_total = keep_total  # finished jobs kept over all owners (memory bound)
        self.grace_seconds = (grace_seconds if grace_seconds is not None
                              else float(_env_int("EXPLORER_JOB_GRACE_S", 120)))
        self.max_per_owner = max_per_owner or _env_int("EXPLORER_MAX_JOBS_PER_TAB", 4)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}  # insertion order = submission order
        self._queue: deque[Job] = deque()
        self._running: set[str] = set()
        self._heartbeats: dict[str, float] = {}
        self._browsers: dict[str, str | None] = {}  # owner -> browser key at its first run
        self._shared: set[str] = set()  # job ids their owners shared
        self._viewers: dict[str, set[str]] = {}  # shared job id -> owners who opened its link
        self._members: dict[str, set[str]] = {}  # job id -> the tabs following it (owner first)
        self._by_key: dict[str, str] = {}  # run key -> the job that computes it
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # -- submitting and finding jobs -----------------------------------------

    def submit_job(self, make: JobFactory, *, threads: int, owner: str | None = None,
                   browser: str | None = None, key: str | None = None) -> str:
        """Queue the job make(threads, on_done) builds and return its id; it starts at once
        when a slot is free. Every kind of job shares the same slots and per-tab limit.

        browser: the key (browser_key) of the browser the owner's tab runs in; an owner's first
        run binds the owner to it (see claim). key: what the job's result depends on; a job
        with the same key that is running, queued or finished (not failed, not stopped) is
        joined instead: its id comes back and `owner` becomes one of its members. QueueFull
        when the owner already has max_per_owner unfinished runs; make's own errors
        (ValueError) before anything queues.
        """
        self.reap()
        with self._lock:
            joined = self._join(key, owner, browser)
            if joined is not None:
                return joined
            if owner is not None and len(self.unfinished_of(owner)) >= self.max_per_owner:
                raise self._full()
        job = self.engine.make(make, max(1, min(threads, self.cores // self.max_running)),
                               self._job_done, browser)
        with self._lock:
            joined = self._join(key, owner, browser)  # an identical run submitted meanwhile
            if joined is not None:
                return joined
            if owner is not None:
                self._heartbeats[owner] = time.monotonic()
                self._forget_old(owner)
                self._browsers.setdefault(owner, browser)
                self._members[job.job_id] = {owner}
            if key is not None:
                self._by_key[key] = job.job_id
            self._jobs[job.job_id] = job
            self._queue.append(job)
            self._start_waiting()
            self._ensure_reaper()
        return job.job_id

    def _full(self) -> QueueFull:
        return QueueFull(
            f"This tab already has {self.max_per_owner} runs training or waiting, the most one "
            "tab may have on a shared server. Stop one, or wait for one to finish.")

    def _join(self, key: str | None, owner: str | None, browser: str | None) -> str | None:
        """The id of the joinable job with this key, `owner` now among its members; None when
        there is none (caller holds the lock). QueueFull when joining an unfinished run would
        take the owner past its limit."""
        job = self._jobs.get(self._by_key.get(key, "")) if key is not None else None
        if job is None or job.stop_requested or job.state in ("failed", "stopped"):
            return None
        if owner is not None:
            members = self._members.setdefault(job.job_id, set())
            if owner not in members:
                if not job.done and len(self.unfinished_of(owner)) >= self.max_per_owner:
                    raise self._full()
                members.add(owner)
            self._heartbeats[owner] = time.monotonic()
            self._browsers.setdefault(owner, browser)
        return job.job_id

    def members(self, job_id: str) -> frozenset[str]:
        """The tabs that follow this job (its owner and those who joined it)."""
        with self._lock:
            return frozenset(self._members.get(job_id, ()))

    def _is_member(self, job: Job, owner: str | None) -> bool:
        """Does `owner` follow this job? Its members once it has them, else its owner."""
        if owner is None:
            return False
        members = self._members.get(job.job_id)
        return owner in members if members is not None else job.owner == owner

    def leave(self, job_id: str, owner: str | None) -> bool | None:
        """A member stops following a job: None when `owner` is not a member; True when that
        stopped the job (nobody follows it any more), False when it goes on for the others."""
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None or not self._is_member(job, owner):
                return None
            members = self._members.setdefault(job_id, {job.owner} if job.owner else set())
            members.discard(owner)
            if members:
                return False
        job.stop()
        return True

    def stop_for(self, job_id: str, owner: str | None) -> bool | None:
        """Stop as one member presses it: a job others follow goes on without this member
        (False), a job nobody else follows stops (True); None when `owner` is not a member."""
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None or not self._is_member(job, owner):
                return None
            if len(self._members.get(job_id, ())) > 1:
                return self.leave(job_id, owner)
        job.stop()
        return True

    def followed_by_several(self, job_id: str) -> bool:
        """Do several tabs follow this job (so pausing it would pause theirs)?"""
        with self._lock:
            return len(self._members.get(job_id, ())) > 1

    def free_places(self, owner: str) -> int:
        """How many more runs this owner may submit now."""
        return max(0, self.max_per_owner - len(self.unfinished_of(owner)))

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs_of(self, owner: str, kind: str | None = None) -> list[Job]:
        """The owner's jobs, oldest first; only those of `kind` (a job class's KIND) when given."""
        with self._lock:
            return [job for job in self._jobs.values()
                    if self._is_member(job, owner) and (kind is None or kind == job.KIND)]

    def unfinished_of(self, owner: str) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values()
                    if self._is_member(job, owner) and not job.done]

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        with self._lock:
            return [self._jobs[job_id] for job_id in self._running]

    def queued(self) -> list[Job]:
        with self._lock:
            return list(self._queue)

    def forget(self, job_id: str) -> None:
        """Stop a job (if it is not done) and drop it from the registry."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            self._drop_sharing(job_id)
        if job is not None:
            job.stop()

    # -- who may do what -----------------------------------------------------

    def claim(self, owner: str, browser: str | None) -> bool:
        """May a new session take on this owner token (a reloaded tab whose link carries it)?

        Yes when the token has runs here and was bound to the same browser (both None when no
        browser key exists: no XSRF cookie). A link copied into another browser carries the
        token but not the browser, and gets no. Tokens this registry never issued runs to get
        no: a tab without runs has nothing to find again.
        """
        if not is_token(owner):
            return False
        with self._lock:
            known = owner in self._browsers
        if not known:
            self._adopt_owner(owner)
        with self._lock:
            return owner in self._browsers and self._browsers[owner] == browser

    def _adopt_owner(self, owner: str) -> None:
        """Follow the owner's jobs that another replica started on the engine's cluster."""
        for name in self.engine.find_for_owner(owner):
            adopted = self.engine.adopt(name, self._job_done)
            if adopted is not None:
                job, meta = adopted
                self._follow(job, owners={owner}, browser=(owner, meta.get("browser")))

    def _adopt(self, job_id: str) -> Job | None:
        """The job with this id that another replica started on the engine's cluster."""
        name = self.engine.find(job_id)
        adopted = self.engine.adopt(name, self._job_done) if name is not None else None
        if adopted is None:
            return None
        job, meta = adopted
        owners = {meta["owner"]} if meta.get("owner") else set()
        return self._follow(job, owners=owners, browser=None)

    def _follow(self, job: Job, *, owners: set[str], browser: tuple[str, Any] | None) -> Job:
        """Register an adopted job as running here (it runs there already)."""
        with self._lock:
            known = self._jobs.get(job.job_id)
            if known is not None:
                return known
            self._jobs[job.job_id] = job
            self._members[job.job_id] = set(owners)
            self._running.add(job.job_id)
            now = time.monotonic()
            for owner in owners:
                self._heartbeats.setdefault(owner, now)
            if browser is not None:
                self._browsers.setdefault(*browser)
            self._ensure_reaper()
        return job

    def owned(self, job_id: str, owner: str | None) -> Job | None:
        """The job if `owner` is one of its members (and may control it), else None."""
        if owner is None:
            return None
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            return job if job is not None and self._is_member(job, owner) else None

    def view(self, job_id: str, viewer: str | None) -> Job | None:
        """The job for read-only display to anyone who has its id (None when there is none).

        A shared run opened this way joins the viewer's model list (finished_visible_to).
        """
        if not isinstance(job_id, str) or len(job_id) > 64:
            return None
        if self.engine.remote and self.get(job_id) is None and job_id.isalnum():
            self._adopt(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and viewer is not None and not self._is_member(job, viewer) \
                    and job_id in self._shared:
                self._viewers.setdefault(job_id, set()).add(viewer)
            return job

    def share(self, job_id: str, owner: str | None) -> bool:
        """The owner shares a run: its view-only link puts it in the model lists of the tabs
        that open it. False (nothing changes) when `owner` does not own it."""
        with self._lock:
            if self.owned(job_id, owner) is None:
                return False
            self._shared.add(job_id)
            return True

    def is_shared(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._shared

    def visible_to(self, job_id: str, owner: str | None) -> Job | None:
        """The run if it belongs in `owner`'s model lists: their own, or shared with them
        (shared by its owner and opened through its link). No side effects."""
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None or owner is None:
                return None
            if self._is_member(job, owner) or owner in self._viewers.get(job_id, ()):
                return job
            return None

    def finished_visible_to(self, owner: str | None, kind: str | None = None) -> list[Job]:
        """Done runs with weights (finished, or stopped part-way; never failed ones) that
        `owner` may pick in a model list: their own and those shared with them, oldest first.
        None (a tab that never opened the Train page) sees none."""
        if owner is None:
            return []
        with self._lock:
            candidates = [job for job in self._jobs.values()
                          if self.visible_to(job.job_id, owner) is not None]
        return [job for job in candidates
                if job.done and job.model is not None and job.state in USABLE_STATES
                and (kind is None or kind == job.KIND)]

    def _drop_sharing(self, job_id: str) -> None:
        """Forget who a job was shared with (caller holds the lock)."""
        self._shared.discard(job_id)
        self._viewers.pop(job_id, None)
        self._members.pop(job_id, None)
        for key in [key for key, known in self._by_key.items() if known == job_id]:
            del self._by_key[key]

    # -- liveness ------------------------------------------------------------

    def heartbeat(self, owner: str) -> None:
        """The owner's tab is alive (ignored for owners without runs here: a tab that only
        looks at another's run keeps nothing alive and leaves nothing behind)."""
        with self._lock:
            if owner in self._browsers:
                self._heartbeats[owner] = time.monotonic()

    def reap(self, grace_seconds: float | None = None) -> list[str]:
        """Stop unfinished jobs all of whose members sent no heartbeat for grace_seconds (a
        shared job goes on while one member's tab is open); their ids."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        now = time.monotonic()
        with self._lock:
            silent = {owner for owner, beat in self._heartbeats.items() if now - beat > grace}
            orphans = [
                job for job in self._jobs.values()
                if not job.done and not job.stop_requested and job.owner is not None
                and self._members.get(job.job_id, {job.owner}) <= silent
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

    def _job_done(self, job: Job) -> None:
        with self._lock:
            self._running.discard(job.job_id)
            with contextlib.suppress(ValueError):
                self._queue.remove(job)
            self._start_waiting()

    def _start_waiting(self) -> None:
        """Start queued jobs while slots are free; renumber the rest (caller holds the lock)."""
        running = [self._jobs[job_id] for job_id in self._running if job_id in self._jobs]
        live = sum(takes_turns(job) for job in running)
        computing = len(running) - live
        for job in list(self._queue):
            if job.done:
                self._queue.remove(job)
                continue
            if takes_turns(job) and live < self.max_live:
                live += 1
            elif not takes_turns(job) and computing < self.max_running:
                computing += 1
            else:
                continue  # waits for a place of its kind; the others may still start
            self._queue.remove(job)
            self._running.add(job.job_id)
            job.start()
        for position, job in enumerate(self._queue, start=1):
            job.set_queue_position(position)

    def _forget_old(self, owner: str) -> None:
        """Make room for one more job (caller holds the lock). The owner leaves its oldest
        finished jobs; a job is forgotten once no member is left."""
        done = [job for job in self._jobs.values() if self._is_member(job, owner) and job.done]
        for job in done[: max(0, len(done) - self.keep_per_owner + 1)]:
            members = self._members.get(job.job_id, set())
            members.discard(owner)
            if not members:
                del self._jobs[job.job_id]
                self._drop_sharing(job.job_id)
        done = [job for job in self._jobs.values() if job.done]
        for job in done[: max(0, len(done) - self.keep_total + 1)]:
            del self._jobs[job.job_id]
            self._drop_sharing(job.job_id)
        owners = {job.owner for job in self._jobs.values()} | {owner}
        owners |= {member for members in self._members.values() for member in members}
        for silent in set(self._heartbeats) - owners:  # tabs with nothing left here
            del self._heartbeats[silent]
        for silent in set(self._browsers) - owners:
            del self._browsers[silent]


_REGISTRY: JobRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def get_registry() -> JobRegistry:
    """The process-wide registry (the page may also hold it in st.cache_resource)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = JobRegistry()
        return _REGISTRY
