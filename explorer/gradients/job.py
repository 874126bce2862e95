"""Deep networks trained live as background jobs: a few SGD steps of the deep plain net
(per-layer gradient norms and weight changes), and one residual-vs-plain run per job."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from explorer.gradients.data import BatchStream, deep_dataset
from explorer.gradients.deepnet import build_deep_net, gradient_report
from explorer.gradients.residual import CompareSettings, build_variant, training_error
from explorer.gradients.settings import DeepSettings
from explorer.jobs.control import DONE_STATES, JobControl
from explorer.jobs.fair_share import get_turns
from explorer.training.compute import thread_budget
from explorer.training.data import Dataset


class _Stopped(Exception):
    """Raised inside the loop when stop() was asked for."""


class _StepJob(JobControl):
    """A job that works in short steps and takes turns on the cores with the training runs
    (jobs.fair_share), so several of them progress side by side; pause and stop between steps.
    A subclass sets `total_steps`, and writes `_prepare()` and `_one_step(step)`."""

    takes_turns = True
    SHARED_FIELDS = ("dataset",)  # sent once to a Ray cluster for all jobs (jobs.remote)
    model = None  # nothing for the model lists
    # made by _prepare for the run only, dropped when it ends
    RUN_FIELDS = ("_model", "_optimiser", "_batches", "_start", "_moved", "_subset")
    total_steps: int
    dataset: Dataset

    def _init_job(self, owner: str | None, threads: int,
                  on_done: Callable[[Any], None] | None) -> None:
        self.job_id = uuid.uuid4().hex[:12]
        self.owner, self.threads = owner, max(1, threads)
        self.error: str | None = None
        self._step = 0
        self._started: float | None = None
        self._elapsed = 0.0
        self._init_control(on_done)

    def _on_start(self) -> None:
        self._started = time.monotonic()

    def _seconds(self) -> float:
        """Running time so far (caller holds the lock)."""
        if self._state in DONE_STATES or self._started is None:
            return self._elapsed
        return time.monotonic() - self._started

    def _set(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message

    def _wait(self, turns) -> None:
        """Pause while asked (holding no turn), then wait for a turn; _Stopped on stop()."""
        if not self._may_run.is_set():
            turns.release(self.job_id)
            self._set("paused", f"paused at step {self._step}")
            self._may_run.wait()
            self._set("running", "")
        if self._stop.is_set() or not turns.wait_turn(self.job_id, self._stop):
            raise _Stopped

    def _run(self) -> None:
        turns = get_turns()
        turns.join(self.job_id)
        try:
            with thread_budget(self.threads):
                self._prepare()
                self._set("running", "")
                for step in range(1, self.total_steps + 1):
                    self._wait(turns)
                    self._one_step(step)
                    with self._lock:
                        self._step = step
            self._set("finished", f"finished {self.total_steps} steps")
        except _Stopped:
            self._set("stopped", f"stopped at step {self._step}")
        except Exception as exc:  # a bug or a bad setting: report it, never kill the server
            self.error = traceback.format_exc()
            self._set("failed", f"{type(exc).__name__}: {exc}")
        finally:
            turns.leave(self.job_id)
            for name in self.RUN_FIELDS:  # the run's working state: memory, and copies
                self.__dict__.pop(name, None)  # to another process stay small
            with self._lock:
                if self._started is not None:
                    self._elapsed = time.monotonic() - self._started
            self._finish()

    def _prepare(self) -> None:
        raise NotImplementedError

    def _one_step(self, step: int) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------- vanishing gradients, live


@dataclass(frozen=True)
class StepsSnapshot:
    job_id: str
    state: str
    message: str
    settings: DeepSettings
    step: int
    queue_position: int | None
    losses: np.ndarray  # (steps,) the batch's loss before each update
    gradient_norms: np.ndarray  # (steps, depth) ||dL/dW_l|| at each step
    changes: np.ndarray  # (steps, depth) ||W_l(t) - W_l(0)|| / ||W_l(0)|| after each step,
    # from the updates summed in float64
    elapsed_seconds: float

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


class GradientStepsJob(_StepJob):
    """settings.steps plain SGD steps of the deep net on Shapes batches; per step, each layer's
    gradient norm and how far its weights have moved from where they started."""

    THREAD_PREFIX = "gradients"
    KIND = "gradients"

    def __init__(self, settings: DeepSettings, *, dataset: Dataset | None = None,
                 owner: str | None = None, threads: int = 1,
                 on_done: Callable[[Any], None] | None = None) -> None:
        settings.check_run()
        self.settings = settings
        self.dataset = dataset if dataset is not None else deep_dataset()
        self.total_steps = settings.steps
        self._losses: list[float] = []
        self._norms: list[np.ndarray] = []
        self._changes: list[np.ndarray] = []
        self._init_job(owner, threads, on_done)

    def snapshot(self) -> StepsSnapshot:
        depth = self.settings.depth
        with self._lock:
            return StepsSnapshot(
                self.job_id, self._state, self._message, self.settings, self._step,
                self._queue_position, np.asarray(self._losses, dtype=np.float64),
                np.asarray(self._norms, dtype=np.float64).reshape(-1, depth),
                np.asarray(self._changes, dtype=np.float64).reshape(-1, depth),
                self._seconds())

    def _prepare(self) -> None:
        s = self.settings
        self._model = build_deep_net(s, in_channels=self.dataset.channels,
                                     num_classes=self.dataset.num_classes)
        weights = self._model.conv_weights()
        self._start = [w.detach().double().norm().item() for w in weights]  # ||W_l(0)||
        # the SGD updates summed in float64: float32 weights lose an update smaller than
        # about 6e-8 of the weight in rounding, and the first layers' are far smaller
        self._moved = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
        self._optimiser = torch.optim.SGD(self._model.parameters(), lr=s.learning_rate)
        self._batches = BatchStream(self.dataset, s.batch_size, s.seed)

    def _one_step(self, step: int) -> None:
        x, y = self._batches.next()
        report = gradient_report(self._model, x, y, self.settings.activation)
        rate = self.settings.learning_rate
        with torch.no_grad():
            for moved, w in zip(self._moved, self._model.conv_weights(), strict=True):
                moved.add_(w.grad.double(), alpha=-rate)  # plain SGD: ΔW = −lr · dL/dW
            changes = np.array([moved.norm().item() / max(start, 1e-30)
                                for moved, start in zip(self._moved, self._start, strict=True)])
        self._optimiser.step()
        with self._lock:
            self._losses.append(report.loss)
            self._norms.append(report.gradient_norms)
            self._changes.append(changes)


# ---------------------------------------------------------------- residual vs plain


@dataclass(frozen=True)
class CompareSnapshot:
    job_id: str
    state: str
    message: str
    variant: str
    settings: CompareSettings
    step: int
    queue_position: int | None
    eval_steps: np.ndarray  # (evaluations,) the steps at which the training error was measured
    train_errors: np.ndarray  # (evaluations,) error on the fixed training subset
    losses: np.ndarray  # (steps,) batch loss
    elapsed_seconds: float

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


class CompareJob(_StepJob):
    """One of the residual-vs-plain networks trained for settings.steps steps; its training
    error on a fixed subset of the training images every settings.eval_every steps."""

    THREAD_PREFIX = "residual"
    KIND = "residual"

    def __init__(self, variant: str, settings: CompareSettings, *,
                 dataset: Dataset | None = None, owner: str | None = None, threads: int = 1,
                 on_done: Callable[[Any], None] | None = None) -> None:
        self.variant, self.settings = variant, settings
        self.dataset = dataset if dataset is not None else deep_dataset()
        self.total_steps = settings.steps
        self._eval_steps: list[int] = []
        self._errors: list[float] = []
        self._losses: list[float] = []
        self._init_job(owner, threads, on_done)

    def snapshot(self) -> CompareSnapshot:
        with self._lock:
            return CompareSnapshot(
                self.job_id, self._state, self._message, self.variant, self.settings,
                self._step, self._queue_position, np.asarray(self._eval_steps, dtype=np.int64),
                np.asarray(self._errors, dtype=np.float64),
                np.asarray(self._losses, dtype=np.float64), self._seconds())

    def _prepare(self) -> None:
        s = self.settings
        self._model = build_variant(self.variant, s, in_channels=self.dataset.channels,
                                    num_classes=self.dataset.num_classes)
        self._optimiser = torch.optim.Adam(self._model.parameters(), lr=s.learning_rate)
        self._batches = BatchStream(self.dataset, s.batch_size, s.seed)
        self._subset = BatchStream(self.dataset, s.eval_images, s.seed + 1).next()
        self._evaluate(0)

    def _evaluate(self, step: int) -> None:
        error = training_error(self._model, *self._subset)
        with self._lock:
            self._eval_steps.append(step)
            self._errors.append(error)

    def _one_step(self, step: int) -> None:
        x, y = self._batches.next()
        self._model.train()
        loss = F.cross_entropy(self._model(x), y)
        self._optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self._optimiser.step()
        with self._lock:
            self._losses.append(loss.item())
        if step % self.settings.eval_every == 0 or step == self.total_steps:
            self._evaluate(step)
