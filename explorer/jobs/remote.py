"""Jobs on Ray workers: a JobHost actor runs one job, a RemoteJob stands in for it in a registry.

The registry's job interface (start, pause, resume, stop, join, done, state, snapshot, ...) is
the same for both engines. With Ray, the registry builds the job as usual but does not start it
here: `RayEngine.make` wraps it in a RemoteJob, whose start() sends a copy (JobControl's
__getstate__) to a new detached, named JobHost actor with the job's num_cpus / num_gpus. The
engine polls every live actor's snapshot twice a second; the pages read the last one. When the
job ends, its final copy (weights, curves) comes back and the RemoteJob answers from it, like a
local job that has ended.

A run outlives the web replica that started it: the actor is detached and named
"<owner tag>.<job id>" in the namespace "cnn-explorer", so another replica finds it by its
owner (a reloaded tab) or its id (a view-only link) and follows it (adopt). An actor nobody
polls stops its job after `orphan_seconds` (like the registry's reaper); once its job has
ended it leaves (freeing its CPUs) a few seconds after a follower fetched the result, or after
`linger_seconds` when nobody did (its replica went away before the end).

Big inputs that many jobs share (a dataset, a pretrained backbone: a class's SHARED_FIELDS) go
to the object store once per object and reach each actor by reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import ray

from explorer.jobs.control import JobControl

NAMESPACE = "cnn-explorer"
POLL_SECONDS = 0.5  # how often the engine asks every live actor for its snapshot
FETCHED_LINGER_SECONDS = 1.0  # then the actor leaves and frees its CPUs for the next job
WAITING = "waiting for a free worker on the Ray cluster"
LOST = ("The Ray worker running this job stopped (its machine or process went away). "
        "Start it again.")


def owner_tag(owner: str | None) -> str:
    """The actor-name prefix for an owner: a digest, so the secret token never appears."""
    return "none" if owner is None else hashlib.sha256(owner.encode()).hexdigest()[:16]


def job_state(job: JobControl, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job as data for another process (JobControl.__getstate__), less `without`."""
    state = job.__getstate__()
    for name in without:
        state.pop(name, None)
    return state


def job_from_state(cls: type, state: dict[str, Any], shared: dict[str, Any]) -> Any:
    """A job of class `cls` from job_state's data and the shared fields it left out."""
    job = cls.__new__(cls)
    job.__setstate__({**state, **shared})
    return job


class JobHost:
    """The Ray actor that runs one job (made with ray.remote(JobHost) by RayEngine)."""

    def __init__(self, cls: type, state: dict[str, Any], shared: dict[str, Any],
                 threads: int, meta: dict[str, Any], orphan_seconds: float,
                 linger_seconds: float) -> None:
        shared = {name: ray.get(value) if isinstance(value, ray.ObjectRef) else value
                  for name, value in shared.items()}  # refs inside a dict are not resolved
        self._job = job_from_state(cls, state, shared)
        self._job.threads = threads
        self._shared = tuple(shared)
        self._meta = meta
        self._orphan, self._linger = orphan_seconds, linger_seconds
        self._last_poll = time.monotonic()
        self._fetched = False
        threading.Thread(target=self._watch, daemon=True, name="job-host-watch").start()

    def start(self) -> None:
        self._job.start()

    def pause(self) -> None:
        self._job.pause()

    def resume(self) -> None:
        self._job.resume()

    def stop(self) -> None:
        self._job.stop()

    def step_once(self) -> None:
        """One more batch, then paused (jobs that step: the playground's)."""
        self._job.step_once()

    def poll(self) -> dict[str, Any]:
        """What the pages read of a running job."""
        self._last_poll = time.monotonic()
        job = self._job
        return {"snapshot": job.snapshot(), "state": job.state, "done": job.done,
                "stop_requested": job.stop_requested, "pause_requested": job.pause_requested}

    def status(self) -> str:
        """The job's state, for monitoring: asking does not count as following it."""
        return self._job.state

    def result(self) -> dict[str, Any]:
        """The ended job's data without its shared fields (the caller has them)."""
        self._last_poll = time.monotonic()
        self._fetched = True
        return job_state(self._job, self._shared)

    def describe(self) -> tuple[dict[str, Any], type, dict[str, Any]]:
        """(meta, class, the whole job's data) for a replica that adopts this job."""
        self._last_poll = time.monotonic()
        return self._meta, type(self._job), job_state(self._job)

    def _watch(self) -> None:
        """Stop a job nobody follows; leave once an ended job has waited long enough."""
        while True:
            time.sleep(0.25)
            silent = time.monotonic() - self._last_poll
            if not self._job.done and silent > self._orphan:
                self._job.stop()
            # an actor holds its CPUs until it leaves: once a follower has fetched the result,
            # the others (polling twice a second) have a few seconds to fetch theirs
            linger = min(self._linger, FETCHED_LINGER_SECONDS) if self._fetched else self._linger
            if self._job.done and silent > linger:
                ray.kill(ray.get_runtime_context().current_actor)
                return


class RemoteJob:
    """A job that runs in a JobHost actor, with the registry's job interface.

    Before it starts (and for everything that does not change while it runs: settings,
    owner, dataset, network ...) it answers from `template`, the job as built here; while it
    runs, from the engine's last poll; once it has ended, from its final copy.
    """

    takes_turns = True  # Ray places it on a worker with room; the registry only caps live runs

    def __init__(self, engine: RayEngine, template: JobControl,
                 on_done: Callable[[Any], None] | None, *, actor: Any = None,
                 browser: str | None = None) -> None:
        self._engine, self._template, self._on_done = engine, template, on_done
        self.browser = browser  # the owner's browser key, kept with the actor (see claim)
        self.job_id, self.owner, self.KIND = template.job_id, template.owner, template.KIND
        self._lock = threading.Lock()
        self._actor = actor
        self._poll: dict[str, Any] | None = None
        self._final: JobControl | None = None
        self._lost: str | None = None
        self._done = threading.Event()
        self._stop_asked = False
        if actor is not None:
            engine.watch(self)

    def __getattr__(self, name: str) -> Any:  # only for names not defined here
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._final if self._final is not None else self._template, name)

    @property
    def actor(self) -> Any:
        return self._actor

    # -- control ---------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._actor is not None or self._template.done:
                return
            self._actor = self._engine.host(self._template, self.browser)
        self._actor.start.remote()
        self._engine.watch(self)

    def stop(self) -> None:
        self._stop_asked = True
        with self._lock:
            actor = self._actor
        if actor is None:
            self._template.stop()  # never started: ends here at once
            self._ended()
            return
        if self._poll is None and not self._done.is_set():  # no worker took it: nothing ran
            # Ended here before the kill: the poller's question to the waiting actor is answered
            # by "actor died" once it is killed, and that must not read as a lost worker.
            self._engine.forget(self)
            self._template.stop()
            self._ended()
            with _quiet():
                ray.kill(actor)
        elif not self._done.is_set():
            with _quiet():
                actor.stop.remote()

    def pause(self) -> None:
        if self._actor is not None:
            self._actor.pause.remote()

    def resume(self) -> None:
        if self._actor is not None:
            self._actor.resume.remote()

    def step_once(self) -> None:
        """One more batch, then paused: on the actor, or in the copy it will start from."""
        with self._lock:
            actor = self._actor
        if actor is not None:
            actor.step_once.remote()
        else:
            self._template.step_once()  # its pause and pending step travel with the copy

    def join(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def set_queue_position(self, position: int | None) -> None:
        self._template.set_queue_position(position)

    # -- what the pages read -----------------------------------------------------

    @property
    def model(self) -> Any:
        return None if self._final is None else self._final.model

    @property
    def state(self) -> str:
        if self._lost is not None:
            return "failed"
        if self._final is not None:
            return self._final.state
        return self._poll["state"] if self._poll else self._template.state

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_asked or bool(self._poll and self._poll["stop_requested"])

    @property
    def pause_requested(self) -> bool:
        return bool(self._poll and self._poll["pause_requested"]) and not self.done

    @property
    def error(self) -> str | None:
        if self._lost is not None:
            return self._lost
        return (self._final or self._template).error

    def snapshot(self) -> Any:
        if self._final is not None:
            return self._final.snapshot()
        shown = self._poll["snapshot"] if self._poll else self._template.snapshot()
        if self._lost is not None:
            return dataclasses.replace(shown, state="failed", message=self._lost)
        if self._poll is None and self._actor is not None:  # created, no worker has it yet
            return dataclasses.replace(shown, message=WAITING)
        return shown

    # -- for the engine ----------------------------------------------------------------

    def update(self, polled: dict[str, Any]) -> None:
        self._poll = polled

    def finish(self, final: JobControl | None, lost: str | None = None) -> None:
        """The job ended there: keep its final copy (or why it was lost) and tell the registry."""
        if self._done.is_set():  # stopped here while it waited for a worker
            return
        self._final, self._lost = final, lost
        self._ended()

    def _ended(self) -> None:
        if not self._done.is_set():
            self._done.set()
            if self._on_done is not None:
                self._on_done(self)


class _quiet:
    """Ignore Ray's errors about an actor that is already gone."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, ray.exceptions.RayError)


class RayEngine:
    """Jobs as Ray actors on a cluster this process is connected to (ray.init done)."""

    remote = True
    name = "ray"

    def __init__(self, address: str, *, cpus_per_job: float = 1.0, gpus_per_job: float = 0.0,
                 orphan_seconds: float = 120.0, linger_seconds: float = 120.0) -> None:
        self.address = address
        self.cpus_per_job, self.gpus_per_job = cpus_per_job, gpus_per_job
        self.orphan_seconds, self.linger_seconds = orphan_seconds, linger_seconds
        self._actor_class = ray.remote(JobHost)
        self._lock = threading.Lock()
        self._live: dict[int, RemoteJob] = {}  # id(job): several registries may follow one run
        self._asked: dict[int, tuple[Any, RemoteJob]] = {}  # id(job) -> its unanswered poll
        self._shared: dict[int, tuple[weakref.ref | None, Any, Any]] = {}
        self._poller: threading.Thread | None = None

    def describe(self) -> str:
        gpus = f" and {self.gpus_per_job:g} GPU" if self.gpus_per_job else ""
        return f"the Ray cluster at {self.address}, {self.cpus_per_job:g} CPU{gpus} a run"

    def make(self, factory: Callable[[int, Any], Any], threads: int,
             on_done: Callable[[Any], None], browser: str | None = None) -> RemoteJob:
        """The job factory(threads, on_done) builds, to run on the cluster with this engine's
        CPUs a job as its torch threads (`threads`, the local share, does not apply there)."""
        template = factory(max(1, int(self.cpus_per_job)), None)
        return RemoteJob(self, template, on_done, browser=browser)

    def host(self, template: JobControl, browser: str | None) -> Any:
        """A new JobHost actor holding a copy of `template` (not started yet)."""
        fields = tuple(getattr(template, "SHARED_FIELDS", ()))
        shared = {name: self._put(getattr(template, name)) for name in fields}
        meta = {"owner": template.owner, "browser": browser, "kind": template.KIND}
        options = {"name": f"{owner_tag(template.owner)}.{template.job_id}",
                   "namespace": NAMESPACE, "lifetime": "detached", "max_restarts": 0,
                   "num_cpus": self.cpus_per_job, "num_gpus": self.gpus_per_job,
                   "max_concurrency": 4}  # a poll is answered while a stop waits
        return self._actor_class.options(**options).remote(
            type(template), job_state(template, fields), shared,
            max(1, int(self.cpus_per_job)), meta, self.orphan_seconds, self.linger_seconds)

    def _put(self, value: Any) -> Any:
        """One object-store copy per shared object (a dataset, a backbone) while it lives."""
        with self._lock:
            known = self._shared.get(id(value))
            if known is not None and (known[0] is None or known[0]() is value):
                return known[2]
            try:
                alive = weakref.ref(value)
            except TypeError:
                alive = None
            reference = ray.put(value)
            self._shared[id(value)] = (alive, value if alive is None else None, reference)
            for key in [key for key, (ref, _, _) in self._shared.items()
                        if ref is not None and ref() is None]:
                del self._shared[key]
            return reference

    # -- following jobs --------------------------------------------------------

    def watch(self, job: RemoteJob) -> None:
        with self._lock:
            self._live[id(job)] = job
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll_forever, daemon=True,
                                                name="ray-job-poller")
                self._poller.start()

    def _poll_forever(self) -> None:
        while True:
            with self._lock:
                live = list(self._live.values())
                if not live:
                    self._poller = None
                    return
            started = time.monotonic()
            self.poll_once(live)
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))

    def poll_once(self, live: list[RemoteJob]) -> None:
        """Ask every live actor for its snapshot (one question outstanding per actor: one still
        waiting for a worker answers when it has one); fetch the ended ones' final copies."""
        if not ray.is_initialized():  # disconnected (shut down): nothing will answer again
            for job in live:
                self.forget(job)
                job.finish(None, LOST)
            return
        for job in live:
            if id(job) in self._asked:
                continue
            try:
                self._asked[id(job)] = (job.actor.poll.remote(), job)
            except Exception:  # noqa: BLE001 - Ray raises a plain Exception for a dead actor
                self.forget(job)
                job.finish(None, LOST)
        refs = {ref: job for ref, job in self._asked.values()}
        if not refs:
            return
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=POLL_SECONDS)
        for ref in ready:
            job = refs[ref]
            self._asked.pop(id(job), None)
            try:
                polled = ray.get(ref)
                job.update(polled)
                if polled["done"]:
                    self._fetch(job)
            except ray.exceptions.RayError:
                self.forget(job)
                job.finish(None, LOST)

    def _fetch(self, job: RemoteJob) -> None:
        template = job._template
        fields = tuple(getattr(template, "SHARED_FIELDS", ()))
        state = ray.get(job.actor.result.remote())
        final = job_from_state(type(template), state,
                               {name: getattr(template, name) for name in fields})
        self.forget(job)
        job.finish(final)

    def forget(self, job: RemoteJob) -> None:
        with self._lock:
            self._live.pop(id(job), None)
        self._asked.pop(id(job), None)

    # -- jobs another replica started ---------------------------------------------

    def names(self) -> list[str]:
        return ray.util.list_named_actors()

    def find(self, job_id: str) -> str | None:
        """The actor name of the job with this id, if one runs or waits on the cluster."""
        return next((name for name in self.names() if name.endswith(f".{job_id}")), None)

    def find_for_owner(self, owner: str) -> list[str]:
        tag = owner_tag(owner) + "."
        return [name for name in self.names() if name.startswith(tag)]

    def adopt(self, name: str, on_done: Callable[[Any], None]) -> tuple[RemoteJob, dict] | None:
        """Follow the job in actor `name` from here: (its RemoteJob, its meta), None if gone."""
        try:
            actor = ray.get_actor(name, namespace=NAMESPACE)
            meta, cls, state = ray.get(actor.describe.remote(), timeout=30)
        except (ValueError, ray.exceptions.RayError):
            return None
        template = job_from_state(cls, state, {})
        return RemoteJob(self, template, on_done, actor=actor), meta

