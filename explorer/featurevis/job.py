"""Feature visualisation as a background job: the page polls snapshots while the images form."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.featurevis.optimise import VisResult, VisSettings, visualise
from explorer.jobs.control import DONE_STATES, JobControl
from explorer.training.compute import thread_budget

SNAPSHOT_EVERY = 4  # steps between image copies for the page (a copy is cheap; PNGs are not)


@dataclass(frozen=True)
class VisSnapshot:
    job_id: str
    state: str  # queued, running, finished, stopped, failed
    message: str
    network: str
    layer: str
    units: tuple[int, ...]
    settings: VisSettings
    step: int
    queue_position: int | None
    images: np.ndarray | None  # (N, H, W, 3) float32 in [0, 1], the latest copy
    values: np.ndarray | None  # (N,) the objective at that step
    history: np.ndarray  # (steps, N)
    elapsed_seconds: float

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


class VisJob(JobControl):
    """One visualisation in a daemon thread, with the job registry's interface (start, stop,
    done, state, join, set_queue_position, snapshot, owner, job_id, threads, model = None: it
    makes no network for the model lists)."""

    THREAD_PREFIX = "featurevis"
    KIND = "featurevis"
    SHARED_FIELDS = ("_model",)  # sent once to a Ray cluster for all jobs (jobs.remote)
    model = None

    def __init__(self, model: nn.Module, network: str, layer: str, units: Sequence[int], *,
                 mean: Sequence[float], std: Sequence[float], settings: VisSettings,
                 owner: str | None = None, threads: int = 1,
                 on_done: Callable[[VisJob], None] | None = None,
                 examples: torch.Tensor | None = None) -> None:
        self.job_id = uuid.uuid4().hex[:12]
        self.owner, self.threads = owner, max(1, threads)
        self._model, self.network, self.layer = model, network, layer
        self.units = tuple(int(u) for u in units)
        self._mean, self._std, self.settings = tuple(mean), tuple(std), settings
        self._examples = examples  # (M, 3, H, W): the pictures a "best example" start picks from
        self._init_control(on_done)
        self._step, self._images, self._values = 0, None, None
        self._history: list[np.ndarray] = []
        self._started: float | None = None
        self._elapsed = 0.0
        self.result: VisResult | None = None
        self.error: str | None = None

    def _on_start(self) -> None:
        self._message = "optimising"
        self._started = time.monotonic()

    def snapshot(self) -> VisSnapshot:
        with self._lock:
            elapsed = self._elapsed if self.done or self._started is None \
                else time.monotonic() - self._started
            return VisSnapshot(
                self.job_id, self._state, self._message, self.network, self.layer, self.units,
                self.settings, self._step, self._queue_position, self._images, self._values,
                np.asarray(self._history, dtype=np.float32).reshape(-1, len(self.units)),
                elapsed)

    # -- the worker -----------------------------------------------------------

    def _on_step(self, step: int, images: torch.Tensor, values: torch.Tensor) -> None:
        with self._lock:
            self._step = step
            self._history.append(values.numpy().copy())
            if step % SNAPSHOT_EVERY == 0 or step == self.settings.steps:
                self._images = images.permute(0, 2, 3, 1).numpy().copy()
                self._values = values.numpy().copy()

    def _run(self) -> None:
        try:
            with thread_budget(self.threads):
                result = visualise(self._model, self.layer, self.units, mean=self._mean,
                                   std=self._std, settings=self.settings, on_step=self._on_step,
                                   should_stop=self._stop.is_set, examples=self._examples)
            with self._lock:
                self.result = result
                self._images, self._values = result.images, result.values
                self._state = "stopped" if result.stopped else "finished"
                self._message = (f"stopped after {result.steps_done} steps" if result.stopped
                                 else f"finished {result.steps_done} steps")
        except Exception as exc:  # a bug or an odd network: report it, never kill the server
            self.error = traceback.format_exc()
            with self._lock:
                self._state, self._message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self._started is not None:
                self._elapsed = time.monotonic() - self._started
        super()._finish()
