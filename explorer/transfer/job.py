"""Background transfer-learning jobs (one strategy each), their snapshots and comparisons."""

from __future__ import annotations

import math
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.jobs.control import DONE_STATES, JobControl
from explorer.training.compute import thread_budget
from explorer.training.evaluation import EVAL_BATCH, eval_indices
from explorer.transfer.adapt import (
    STRATEGIES,
    Adapted,
    LayerState,
    TransferSettings,
    adapt,
    find_head,
    input_size,
    layer_plan,
    parameter_counts,
)
from explorer.transfer.backbones import Backbone, backbone_input
from explorer.transfer.features import FEATURE_CACHE, FeatureCache, cached_features
from explorer.transfer.tasks import TransferTask, example_image, per_class_subset

MAX_EVALUATIONS = 25  # test-curve points per run: every ceil(epochs / 25) epochs, and the last
HEAD_THREADS = 1  # a linear head on cached features: one thread (a team only spins on tiny ops)


@dataclass(frozen=True)
class EpochPoint:
    epoch: int  # epochs done
    seconds: float  # training time so far (train features included, evaluations excluded)
    train_loss: float  # mean over the epoch's batches
    train_accuracy: float
    test_loss: float | None  # on the fixed test subset, at evaluation epochs only
    test_accuracy: float | None


@dataclass(frozen=True)
class TransferSnapshot:
    """A consistent, immutable copy of a job's progress; cheap enough to poll twice a second."""

    job_id: str
    owner: str | None
    state: str  # queued, running, paused, finished, stopped, failed
    phase: str  # queued, preparing, features, training, evaluating, done
    message: str
    settings: TransferSettings
    strategy: str
    strategy_label: str
    backbone: str  # its label
    backbone_pretrained: bool  # False: random weights (the notes say so)
    task: str
    classes: tuple[str, ...]
    examples_per_class: dict[str, int]  # training images of each class actually used
    train_images: int
    test_images: int
    evaluated_on_training: bool  # the test split is the training examples (see notes)
    notes: tuple[str, ...]  # cautions for the page
    queue_position: int | None
    threads: int
    epoch: int
    planned_epochs: int
    progress: float  # 0..1, by epochs or by the time budget, whichever is further
    features_done: int  # training images whose features are ready (frozen + cache)
    features_total: int
    features_cached: int  # of those, found in the cache (computed by an earlier job)
    elapsed_seconds: float  # since the start, pauses excluded
    feature_seconds: float  # computing the training images' features
    train_seconds: float  # features + training steps (the budget), evaluations excluded
    images_per_second: float  # training steps only
    history: tuple[EpochPoint, ...]
    trainable_parameters: int
    frozen_parameters: int
    final_test_loss: float | None
    final_test_accuracy: float | None  # on the whole test split, when finished
    confusion: np.ndarray | None  # (classes, classes), rows = true, at the end

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def evaluations(self) -> tuple[EpochPoint, ...]:
        """The epochs with a test measurement (the test-accuracy curve)."""
        return tuple(p for p in self.history if p.test_accuracy is not None)

    @property
    def test_accuracy(self) -> float | None:
        """The final accuracy, else the latest measured one."""
        if self.final_test_accuracy is not None:
            return self.final_test_accuracy
        points = self.evaluations
        return points[-1].test_accuracy if points else None


class _Stopped(Exception):
    """Raised inside the worker when stop() was asked for."""


class _Clock:
    """Seconds of activity: wall time minus pauses."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._paused

    def add_pause(self, seconds: float) -> None:
        self._paused += seconds


class TransferJob(JobControl):
    """One strategy on one task in a daemon thread; the page polls snapshot().

    The same interface as training.TrainingJob (start, pause, resume, stop, join, done,
    stop_requested, set_queue_position, state, snapshot, model, job_id, owner, threads), so
    a job registry can queue both. The worker never calls streamlit: it writes numbers under
    a lock. `model` is the adapted network (eval mode, CPU) once the job has ended with one.
    """

    THREAD_PREFIX = "transfer"
    KIND = "transfer"
    SHARED_FIELDS = ("backbone",)  # sent once to a Ray cluster for all jobs (jobs.remote)
    PROCESS_FIELDS = ("cache",)  # the process's feature cache

    def __init__(self, settings: TransferSettings, backbone: Backbone, task: TransferTask, *,
                 job_id: str | None = None, owner: str | None = None,
                 threads: int | None = None,
                 on_done: Callable[[TransferJob], None] | None = None,
                 cache: FeatureCache = FEATURE_CACHE) -> None:
        self.size = input_size(backbone, settings)  # ValueError now, not in the worker
        find_head(backbone.model)
        self.settings = settings
        self.backbone = backbone
        self.task = per_class_subset(task, settings.examples_per_class, settings.seed)
        data = self.task.dataset
        if data.num_classes < 2 or len(data.train_labels) == 0 or len(data.test_labels) == 0:
            raise ValueError("The task needs at least 2 classes and both train and test images.")
        self.plan: tuple[LayerState, ...] = layer_plan(backbone, settings.strategy,
                                                       data.num_classes)
        self.trainable_parameters, self.frozen_parameters = parameter_counts(self.plan)
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.owner = owner
        self.threads = max(1, min(threads or settings.threads, os.cpu_count() or 1))
        self.cache = cache
        self.model: nn.Module | None = None
        self.adapted: Adapted | None = None
        self.error: str | None = None
        self._init_control(on_done)
        self._cached = settings.strategy == "frozen" and settings.cache_features
        notes = list(self.task.notes)
        if self.task.caution:
            notes.append(self.task.caution)
        if not backbone.pretrained and STRATEGIES[settings.strategy].pretrained:
            notes.append(f"{backbone.label} has random weights (no trained weights found), so "
                         "this strategy transfers nothing.")
        self._notes = tuple(notes)
        self._phase = "queued"
        self._epoch = 0
        self._progress = 0.0
        self._features = (0, len(data.train_labels) if self._cached else 0, 0)
        self._elapsed = self._feature_seconds = self._eval_seconds = self._step_seconds = 0.0
        self._train_seconds = 0.0  # the budget's clock at the last step (see snapshot)
        self._images = 0
        self._history: list[EpochPoint] = []
        self._final: tuple[float, float, np.ndarray] | None = None

    def _restore_process_fields(self) -> None:
        self.cache = FEATURE_CACHE  # a copy in another process uses that process's cache

    def _on_start(self) -> None:
        self._phase = "preparing"

    def _on_stopped_in_queue(self) -> None:
        self._phase = "done"

    def predict(self, image: object) -> tuple[tuple[str, float], ...]:
        """(class name, probability) for a new picture (H, W, 3) or (H, W), uint8 or float in
        [0, 1], most probable first. ValueError when the job has no network yet or the picture
        is not one (transfer_tasks.example_image's messages)."""
        if self.model is None:
            raise ValueError("This job has no adapted network yet: let it finish (or stop it).")
        pixels = example_image(image, self.size[0], "The picture")[None]  # (1, 3, H, W) uint8
        with torch.inference_mode():
            logits = self.model(backbone_input(self.backbone, pixels, self.size))  # (1, classes)
        probabilities = torch.softmax(logits[0].double(), dim=0).tolist()
        ranked = sorted(zip(self.task.classes, probabilities, strict=True), key=lambda p: -p[1])
        return tuple(ranked)

    def snapshot(self) -> TransferSnapshot:
        s, data = self.settings, self.task.dataset
        with self._lock:
            final = self._final
            return TransferSnapshot(
                job_id=self.job_id, owner=self.owner, state=self._state, phase=self._phase,
                message=self._message, settings=s, strategy=s.strategy,
                strategy_label=STRATEGIES[s.strategy].label, backbone=self.backbone.label,
                backbone_pretrained=self.backbone.pretrained, task=self.task.name,
                classes=data.classes, examples_per_class=self.task.examples_per_class(),
                train_images=len(data.train_labels), test_images=len(data.test_labels),
                evaluated_on_training=self.task.evaluated_on_training, notes=self._notes,
                queue_position=self._queue_position, threads=self.threads, epoch=self._epoch,
                planned_epochs=s.epochs, progress=self._progress,
                features_done=self._features[0], features_total=self._features[1],
                features_cached=self._features[2], elapsed_seconds=self._elapsed,
                feature_seconds=self._feature_seconds,
                # as the budget counted it at the last step: an evaluation after it adds to
                # _eval_seconds but not to _elapsed, so their difference would shrink
                train_seconds=max(self._train_seconds, self._elapsed - self._eval_seconds),
                images_per_second=self._images / self._step_seconds if self._step_seconds else 0.0,
                history=tuple(self._history), trainable_parameters=self.trainable_parameters,
                frozen_parameters=self.frozen_parameters,
                final_test_loss=None if final is None else final[0],
                final_test_accuracy=None if final is None else final[1],
                confusion=None if final is None else final[2].copy(),
            )

    # -- the worker ----------------------------------------------------------

    def _run(self) -> None:
        try:
            with thread_budget(self.threads):
                self._train()
        except _Stopped:
            self._set("stopped", "done", f"stopped at epoch {self._epoch}")
        except Exception as exc:  # a bug or bad data: report it, never kill the server
            self.error = traceback.format_exc()
            self._set("failed", "done", f"{type(exc).__name__}: {exc}")
        finally:
            if self.adapted is not None:
                self.model = self.adapted.model.eval()
            self._finish()

    def _set(self, state: str, phase: str, message: str) -> None:
        with self._lock:
            self._state, self._phase, self._message = state, phase, message

    def _wait_if_paused(self, clock: _Clock) -> None:
        if self._stop.is_set():
            raise _Stopped
        if self._may_run.is_set():
            return
        with self._lock:
            phase = self._phase
        self._set("paused", phase, f"paused at epoch {self._epoch}")
        started = time.perf_counter()
        self._may_run.wait()  # stop() sets it too
        clock.add_pause(time.perf_counter() - started)
        if self._stop.is_set():
            raise _Stopped
        self._set("running", phase, "")

    def _progress_at(self, epochs: float, train_seconds: float) -> float:
        by_time = train_seconds / self.settings.max_seconds if self.settings.max_seconds else 0.0
        return min(1.0, max(epochs / self.settings.epochs, by_time))

    def _train(self) -> None:
        s, data, backbone = self.settings, self.task.dataset, self.backbone
        adapted = adapt(backbone, s.strategy, data.num_classes, seed=s.seed)
        self.adapted = adapted
        clock = _Clock()
        labels, count = data.train_labels, len(data.train_labels)
        subset = eval_indices(data, s.eval_subset)

        if self._cached:
            self._set("running", "features", "computing the backbone's features once per image")

            def step(done: int, missing: int) -> None:
                with self._lock:  # images found in the cache count as done from the start
                    self._features = (count - missing + done, count, count - missing)
                    self._elapsed = clock.elapsed()
                self._wait_if_paused(clock)

            train_x, hits = cached_features(adapted, backbone, data.train_images, self.size,
                                            cache=self.cache, step=step)
            with self._lock:
                self._features = (count, count, hits)
                self._feature_seconds = self._elapsed = clock.elapsed()
            started = time.perf_counter()
            test_x, _ = cached_features(adapted, backbone, data.test_images, self.size,
                                        cache=self.cache)
            with self._lock:
                self._eval_seconds += time.perf_counter() - started
            torch.set_num_threads(HEAD_THREADS)  # this thread only; thread_budget restores
        else:
            train_x, test_x = data.train_images, None

        def forward(x: torch.Tensor) -> torch.Tensor:
            if self._cached:
                return adapted.head_module()(x)  # (B, D) features -> (B, classes)
            return adapted.model(backbone_input(backbone, x, self.size))

        trainable = [p for p in adapted.model.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(trainable, lr=s.lr)
        generator = torch.Generator().manual_seed(s.seed)  # batch order
        batch = min(s.batch_size, count)
        every = max(1, math.ceil(s.epochs / MAX_EVALUATIONS))
        self._set("running", "training", "")
        for epoch in range(1, s.epochs + 1):
            adapted.set_train_mode()
            order = torch.randperm(count, generator=generator)
            total, correct, seen, out_of_time = 0.0, 0, 0, False
            for first in range(0, count, batch):
                self._wait_if_paused(clock)
                index = order[first : first + batch]
                started = time.perf_counter()
                logits = forward(train_x[index])
                loss = F.cross_entropy(logits, labels[index])
                value = loss.item()
                if not math.isfinite(value):
                    self._set("failed", "done", f"The loss became NaN or infinite in epoch "
                              f"{epoch}: the learning rate {s.lr:g} is too high; try "
                              f"{s.lr / 10:g}.")
                    return
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += value * len(index)
                correct += int((logits.argmax(1) == labels[index]).sum())
                seen += len(index)
                now = clock.elapsed()
                with self._lock:
                    self._step_seconds += time.perf_counter() - started
                    self._images += len(index)
                    self._elapsed = now
                    train_seconds = self._train_seconds = now - self._eval_seconds
                    self._progress = self._progress_at(epoch - 1 + seen / count, train_seconds)
                if s.max_seconds is not None and train_seconds >= s.max_seconds:
                    out_of_time = True
                    break
            measured = epoch % every == 0 or epoch == s.epochs or out_of_time
            test = self._evaluate(forward, adapted, test_x, subset) if measured else None
            with self._lock:
                self._epoch = epoch
                self._history.append(EpochPoint(
                    epoch, train_seconds, total / seen, correct / seen,
                    None if test is None else test[0], None if test is None else test[1]))
            if out_of_time:
                break

        self._set("running", "evaluating", "evaluating on the whole test split")
        loss, accuracy, predicted = self._scores(forward, adapted, test_x,
                                                 torch.arange(len(data.test_labels)))
        k = data.num_classes
        confusion = torch.bincount(data.test_labels * k + predicted, minlength=k * k)
        reason = ("time budget reached" if s.max_seconds is not None and self._epoch < s.epochs
                  else f"{self._epoch} epochs done")
        with self._lock:
            self._final = (loss, accuracy, confusion.view(k, k).numpy().copy())
            self._progress = 1.0
            self._state, self._phase = "finished", "done"
            self._message = f"finished: test accuracy {accuracy:.1%} ({reason})"

    @torch.inference_mode()
    def _scores(self, forward: Callable[[torch.Tensor], torch.Tensor], adapted: Adapted,
                test_x: torch.Tensor | None,
                indices: torch.Tensor) -> tuple[float, float, torch.Tensor]:
        """(mean loss, accuracy, predictions) on the test images `indices`, in eval mode."""
        data = self.task.dataset
        adapted.model.eval()
        total, predictions = 0.0, []
        for first in range(0, len(indices), EVAL_BATCH):
            if self._stop.is_set():
                raise _Stopped
            index = indices[first : first + EVAL_BATCH]
            x = test_x[index] if test_x is not None else data.test_images[index]
            logits = forward(x)
            total += F.cross_entropy(logits, data.test_labels[index], reduction="sum").item()
            predictions.append(logits.argmax(1))
        predicted = torch.cat(predictions)
        accuracy = float((predicted == data.test_labels[indices]).float().mean())
        return total / len(indices), accuracy, predicted

    def _evaluate(self, forward: Callable[[torch.Tensor], torch.Tensor], adapted: Adapted,
                  test_x: torch.Tensor | None, subset: torch.Tensor) -> tuple[float, float]:
        started = time.perf_counter()
        loss, accuracy, _ = self._scores(forward, adapted, test_x, subset)
        with self._lock:
            self._eval_seconds += time.perf_counter() - started
        return loss, accuracy
