"""The background TrainingJob: its loop, pause and stop, evaluations, snapshots; submit_training."""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.jobs.control import DONE_STATES, JobControl
from explorer.jobs.fair_share import Turns, get_turns
from explorer.jobs.registry import JobRegistry
from explorer.training.batches import Batches, check_fits, data_problem, seeded_model
from explorer.training.compute import thread_budget, train_device
from explorer.training.data import Dataset
from explorer.training.evaluation import eval_indices, predict, report_errors
from explorer.training.identity import run_key
from explorer.training.nets import first_conv
from explorer.training.settings import (
    OPTIMISERS,
    SCHEDULES,
    TIME_TICKS,
    TrainSettings,
)
from explorer.training.snapshot import EvalPoint, JobSnapshot, LossCurve, Misclassified


class _Stopped(Exception):
    """Raised inside the loop when stop() was asked for."""


class TrainingJob(JobControl):
    """One training run in a daemon thread; the page polls snapshot().

    The loop reports, it does not render: it writes numbers under a lock and never calls
    streamlit. Control is through threading.Events checked before every step. A NaN or
    infinite loss stops the run as "failed" before the bad step touches the weights.

    After the run, `model` is the trained network (eval mode, contiguous memory) for finished,
    stopped and NaN-failed runs; state_dict() works at any time (a copy taken between steps).
    """

    THREAD_PREFIX = "training"
    KIND = "training"
    SHARED_FIELDS = ("dataset",)  # sent once to a Ray cluster for all jobs (jobs.remote)
    takes_turns = True  # shares the cores with the other live runs (jobs.fair_share)
    # this process's: its turns, the step lock, the model while it trains (maybe on a GPU)
    PROCESS_FIELDS = ("_turns", "_model_lock", "_live_model")

    def __init__(
        self,
        settings: TrainSettings,
        dataset: Dataset,
        *,
        job_id: str | None = None,
        owner: str | None = None,
        threads: int | None = None,
        on_done: Callable[[TrainingJob], None] | None = None,
        turns: Turns | None = None,
    ) -> None:
        check_fits(settings, dataset)
        self.settings = settings
        self.dataset = dataset
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.owner = owner
        self._turns = turns or get_turns()  # the process's, unless a test brings its own
        # never more torch threads than a turn's share of the cores (slots compute at once):
        # a bigger team only oversubscribes them
        per_turn = max(1, (os.cpu_count() or 1) // self._turns.slots)
        self.threads = max(1, min(threads or settings.threads, per_turn))
        self.device = train_device()
        self.model: nn.Module | None = None  # on the CPU once the run has ended
        self.error: str | None = None  # traceback of an unexpected exception
        self._init_control(on_done)
        self._model_lock = threading.Lock()  # held during each optimiser step
        self._live_model: nn.Module | None = None

        train_count = len(dataset.train_labels)
        self._batch = min(settings.batch_size, train_count)
        self._steps_per_epoch = max(1, train_count // self._batch)  # full batches only
        self._planned = (
            settings.epochs * self._steps_per_epoch if settings.epochs is not None else None
        )
        every = settings.eval_every
        self._eval_steps = (
            every if isinstance(every, int) else max(1, round(every * self._steps_per_epoch))
        )

        self._step = 0
        self._images = 0
        self._elapsed = 0.0
        self._eval_seconds = 0.0
        self._progress = 0.0
        self._rate = 0.0
        self._curve = LossCurve()
        self._evaluations: list[EvalPoint] = []
        self._kernels: np.ndarray | None = None
        self._confusion: np.ndarray | None = None
        self._confusion_images = 0
        self._misclassified: tuple[Misclassified, ...] = ()
        self._final: tuple[float, float] | None = None

    def _restore_process_fields(self) -> None:
        """A copy in another process (a Ray worker) takes turns there, on its device."""
        self._turns = get_turns()
        self._model_lock = threading.Lock()
        self._live_model = None
        if not self.done:
            self.device = train_device()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights (contiguous), taken between steps; {} before the start."""
        model = self.model if self.model is not None else self._live_model
        if model is None:
            return {}
        with self._model_lock:
            return {
                key: value.detach().to("cpu", copy=True).contiguous()
                for key, value in model.state_dict().items()
            }

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            steps_done = self._step
            train_seconds = self._elapsed - self._eval_seconds
            return JobSnapshot(
                job_id=self.job_id,
                owner=self.owner,
                state=self._state,
                message=self._message,
                settings=self.settings,
                dataset=self.dataset.name,
                classes=self.dataset.classes,
                queue_position=self._queue_position,
                threads=self.threads,
                step=steps_done,
                epoch=steps_done / self._steps_per_epoch,
                steps_per_epoch=self._steps_per_epoch,
                planned_steps=self._planned,
                images_seen=self._images,
                elapsed_seconds=self._elapsed,
                train_seconds=train_seconds,
                images_per_second=self._rate,
                eta_seconds=self._eta(),
                progress=self._progress,
                curve_steps=tuple(self._curve.steps),
                curve_losses=tuple(self._curve.losses),
                curve_learning_rates=tuple(self._curve.rates),
                evaluations=tuple(self._evaluations),
                kernels=None if self._kernels is None else self._kernels.copy(),
                confusion=None if self._confusion is None else self._confusion.copy(),
                confusion_images=self._confusion_images,
                misclassified=self._misclassified,
                final_test_loss=None if self._final is None else self._final[0],
                final_test_accuracy=None if self._final is None else self._final[1],
            )

    def _eta(self) -> float | None:
        """Seconds left (caller holds the lock), extrapolated from the time taken so far."""
        if self._state in DONE_STATES or self._state == "queued" or self._step == 0:
            return None
        if self._progress <= 0:
            return None
        # Progress is linear in steps or in time, so elapsed / progress extrapolates both; the
        # clock counts this run's own computing, so divide by its current share of the cores.
        computing_left = self._elapsed * (1 - self._progress) / self._progress
        share = self._turns.share(self.job_id)
        return max(0.0, computing_left / share if share else computing_left)

    # -- the worker ----------------------------------------------------------

    def _run(self) -> None:
        self._turns.join(self.job_id)
        try:
            with thread_budget(self.threads):
                self._train()
        except _Stopped:
            self._set_state("stopped", f"stopped at step {self._step}")
        except Exception as exc:  # a bug or bad data: report it, never kill the server
            self.error = traceback.format_exc()
            self._set_state("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._turns.leave(self.job_id)
            if self._live_model is not None:
                with self._model_lock:
                    model = self._live_model.eval().to("cpu")  # the pages run it on the CPU
                    self.model = model.to(memory_format=torch.contiguous_format)
            self._finish()

    def _set_state(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message

    def _wait_if_paused(self, clock: _Clock) -> None:
        """Block while paused; raise _Stopped when stop() was called."""
        if self._stop.is_set():
            raise _Stopped
        if self._may_run.is_set():
            return
        clock.pause()
        self._turns.release(self.job_id)  # a paused run holds no turn
        self._set_state("paused", f"paused at step {self._step}")
        self._may_run.wait()  # stop() sets it too
        if self._stop.is_set():
            raise _Stopped
        clock.resume()
        self._set_state("running", "")

    def _train(self) -> None:
        s, data = self.settings, self.dataset
        generator = torch.Generator().manual_seed(s.seed)  # batch order and augmentation
        model = seeded_model(s, data).to(self.device)
        self._live_model = model
        optimiser = OPTIMISERS[s.optimiser].make(model.parameters(), s.learning_rate,
                                                 s.weight_decay)
        ticks = self._planned if self._planned is not None else TIME_TICKS
        scheduler = SCHEDULES[s.schedule].make(optimiser, ticks, s.learning_rate)
        batches = Batches(data, s.augmentation, self.device)
        subset = eval_indices(data, s.eval_subset)
        # The subset once, ready to use: 1,000 CIFAR-size images are 12 MB of float32.
        subset_x = batches.prepare(data.test_images[subset])
        subset_y = data.test_labels[subset].to(self.device)
        train_count = len(data.train_labels)
        # Dropout draws from torch's global generator: repeatable only when a job runs alone.
        torch.manual_seed(s.seed)
        clock = _Clock()
        running_loss, running_correct, running_seen = 0.0, 0, 0
        window_images, window_start = 0, 0.0  # throughput window, in training seconds
        self._set_state("running", "")

        last = False
        epochs = range(s.epochs) if s.epochs is not None else itertools.count()
        for _epoch in epochs:
            if last:
                break
            order = torch.randperm(train_count, generator=generator)
            for first in range(0, self._steps_per_epoch * self._batch, self._batch):
                self._wait_if_paused(clock)
                self._wait_turn(clock)
                index = order[first : first + self._batch]
                x = batches.prepare(data.train_images[index], augment=True, generator=generator)
                y = data.train_labels[index].to(self.device)
                with self._model_lock:
                    logits = model(x)  # (B, classes)
                    loss = F.cross_entropy(logits, y)
                    value = loss.item()  # on CPU the sync is free; the curve needs every step
                    if not math.isfinite(value):
                        self._set_state("failed", data_problem(x, data)
                                        or _diverged_message(self._step + 1, s, x))
                        return
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                rate = optimiser.param_groups[0]["lr"]
                correct = int((logits.argmax(1) == y).sum())
                running_loss += value * len(y)
                running_correct += correct
                running_seen += len(y)
                window_images += len(y)

                # Advance the schedule to this step's share of the plan (or of the time budget).
                now = clock.elapsed()
                step = self._step + 1
                progress = self._progress_at(step, now)
                target = min(ticks, round(progress * ticks))
                while scheduler.last_epoch < target:
                    scheduler.step()

                with self._lock:
                    self._step = step
                    self._images += len(y)
                    self._elapsed = now
                    self._progress = progress
                    self._curve.add(step, value, rate)
                    train_time = now - self._eval_seconds - window_start
                    if train_time > 0.5 or self._rate == 0:  # refresh the throughput reading
                        self._rate = window_images / max(train_time, 1e-9)
                        window_images, window_start = 0, now - self._eval_seconds

                last = progress >= 1
                if step % self._eval_steps == 0 or last:
                    started = time.perf_counter()
                    self._evaluate(model, subset, subset_x, subset_y, step, rate,
                                   running_loss / running_seen, running_correct / running_seen)
                    spent = time.perf_counter() - started
                    with self._lock:
                        self._eval_seconds += spent
                    running_loss, running_correct, running_seen = 0.0, 0, 0
                if last:
                    break

        self._wait_turn(clock)
        self._final_evaluation(model, batches, subset)
        reason = "time budget reached" if self._progress_by_time() else "all epochs done"
        self._set_state("finished", f"finished after {self._step} steps ({reason})")

    def _wait_turn(self, clock: _Clock) -> None:
        """Wait for this job's turn on the cores (jobs.fair_share); the clock stops meanwhile,
        so a time budget counts this run's own computing, not the class's queue."""
        clock.pause()
        try:
            if not self._turns.wait_turn(self.job_id, self._stop):
                raise _Stopped
        finally:
            clock.resume()

    def _progress_at(self, step: int, seconds: float) -> float:
        by_steps = step / self._planned if self._planned else 0.0
        by_time = seconds / self.settings.max_seconds if self.settings.max_seconds else 0.0
        return min(1.0, max(by_steps, by_time))

    def _progress_by_time(self) -> bool:
        if not self.settings.max_seconds:
            return False
        return self._planned is None or self._step < self._planned

    def _evaluate(self, model: nn.Module, indices: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  step: int, rate: float, train_loss: float, train_accuracy: float) -> None:
        test_loss, predicted, confidence = predict(model, x, y)
        y = y.cpu()
        confusion, examples = report_errors(self.dataset.num_classes, indices, y, predicted,
                                            confidence)
        kernels = first_conv(model).weight.detach().cpu().contiguous().numpy().copy()
        with self._lock:
            self._evaluations.append(EvalPoint(
                step=step,
                epoch=step / self._steps_per_epoch,
                seconds=self._elapsed,
                learning_rate=rate,
                train_loss=train_loss,
                train_accuracy=train_accuracy,
                test_loss=test_loss,
                test_accuracy=float((predicted == y).float().mean()),
            ))
            self._kernels = kernels
            self._confusion, self._misclassified = confusion, examples
            self._confusion_images = len(y)

    def _final_evaluation(self, model: nn.Module, batches: Batches, subset: torch.Tensor) -> None:
        """Loss and accuracy on the whole test split (the subset's numbers when it is all)."""
        data = self.dataset
        self._set_state("running", "evaluating on the full test split")
        if len(subset) == len(data.test_labels):
            point = self._evaluations[-1]
            with self._lock:
                self._final = (point.test_loss, point.test_accuracy)
            return
        losses, predictions, confidences, count = 0.0, [], [], len(data.test_labels)
        chunk = 4096  # converts 4,096 images at a time: bounded memory on CIFAR's 10,000
        for first in range(0, count, chunk):
            if self._stop.is_set():
                raise _Stopped
            x = batches.prepare(data.test_images[first : first + chunk])
            y = data.test_labels[first : first + chunk].to(self.device)
            loss, predicted, confidence = predict(model, x, y)
            losses += loss * len(y)
            predictions.append(predicted)
            confidences.append(confidence)
        predicted, confidence = torch.cat(predictions), torch.cat(confidences)
        y = data.test_labels
        confusion, examples = report_errors(data.num_classes, torch.arange(count), y, predicted,
                                            confidence)
        with self._lock:
            self._final = (losses / count, float((predicted == y).float().mean()))
            self._confusion, self._misclassified = confusion, examples
            self._confusion_images = count


class _Clock:
    """Seconds of activity: wall time minus pauses."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._paused_at: float | None = None
        self._paused = 0.0

    def pause(self) -> None:
        self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused += time.perf_counter() - self._paused_at
            self._paused_at = None

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._paused


def _diverged_message(step: int, settings: TrainSettings, x: torch.Tensor | None = None) -> str:
    if step == 1:  # no update has happened yet: the learning rate cannot be the cause
        spread = ("" if x is None else
                  f" The normalised inputs range from {x.min().item():.3g} to "
                  f"{x.max().item():.3g}.")
        return (
            "The loss was NaN or infinite at the very first step, before any weight was "
            "updated: the data (or the model's size) is the cause, not the learning rate."
            f"{spread} Check the images: values far outside about -10..10 after "
            "normalisation mean a channel is (nearly) constant or an image is broken."
        )
    return (
        f"The loss became NaN or infinite at step {step}: training diverged. The learning rate "
        f"{settings.learning_rate:g} is probably too high; try {settings.learning_rate / 10:g} "
        "(or run the learning-rate range test)."
    )


def submit_training(registry: JobRegistry, settings: TrainSettings, dataset: Dataset, *,
                    owner: str | None = None, browser: str | None = None,
                    share: bool = True) -> str:
    """Queue a Train-page run in the registry and return its id (see JobRegistry.submit_job).
    With share, a run identical to a running or finished one joins it (training.identity).
    ValueError when the model cannot take the dataset (checked before anything queues)."""
    return registry.submit_job(
        lambda threads, on_done: TrainingJob(settings, dataset, owner=owner,
                                             threads=threads, on_done=on_done),
        threads=settings.threads, owner=owner, browser=browser,
        key=run_key(settings, dataset) if share else None)
