"""Background training jobs for the Train page: thread budget, device, batches, the job."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.jobs.concurrency import RNG_LOCK
from explorer.jobs.control import DONE_STATES, JobControl
from explorer.jobs.registry import JobRegistry
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.training.data import Dataset
from explorer.training.nets import build_model, feature_sizes, first_conv
from explorer.training.settings import (
    OPTIMISERS,
    SCHEDULES,
    TIME_TICKS,
    TrainSettings,
)

EVAL_BATCH = 256  # evaluation batches stay <= 256 images (bigger ones are no faster here)
MISCLASSIFIED_KEPT = 16
CURVE_POINTS = 2000  # the per-step loss curve is averaged into at most this many points
STD_FLOOR = 1 / 255  # a channel that varies by less than one grey level counts as constant
SMALL_TRAIN_BATCHES = 2  # fewer training images than this many batches earns a warning
DROPPED_SHARE = 0.1  # so does dropping more than this share of the images in every epoch


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------

_THREADS_LOCK = threading.Lock()
_budgets_active = 0
_threads_before = 0


@contextlib.contextmanager
def thread_budget(threads: int) -> Iterator[None]:
    """Run the body with `threads` torch intra-op threads, then restore the process default.

    What torch.set_num_threads really does (checked here, torch 2.x with OpenMP): it sets the
    calling thread's OpenMP team size and the default for threads started later; threads that
    already run (Streamlit's script threads, another job) keep theirs. So a job's worker calls
    it for itself, and it is a budget, not isolation: two jobs still share the cores. The
    JobRegistry keeps the sum honest by capping concurrent jobs and giving each
    cores // max_running threads. The previous default comes back when the last job ends.
    """
    global _budgets_active, _threads_before
    with _THREADS_LOCK:
        if _budgets_active == 0:
            _threads_before = torch.get_num_threads()
        _budgets_active += 1
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _budgets_active -= 1
            if _budgets_active == 0:
                torch.set_num_threads(_threads_before)


def train_device() -> torch.device:
    """Where jobs train: $EXPLORER_TRAIN_DEVICE ("cpu", "cuda", "cuda:1"; default "auto": the
    first CUDA GPU when torch sees one, else the CPU). A GPU that is asked for but absent falls
    back to the CPU."""
    wanted = os.environ.get("EXPLORER_TRAIN_DEVICE", "auto").strip().lower() or "auto"
    if wanted != "cpu" and torch.cuda.is_available():
        try:
            return torch.device("cuda" if wanted == "auto" else wanted)
        except RuntimeError:  # a malformed name such as "cuda:x"
            return torch.device("cuda")
    return torch.device("cpu")


# ---------------------------------------------------------------------------
# Data on the fly: uint8 -> normalised float, channels_last
# ---------------------------------------------------------------------------


def batch_warning(train_count: int, batch_size: int) -> str | None:
    """A sentence for the page when the batch size does not suit the training set, else None.

    Epochs use full batches only (drop-last): N images in batches of B give N // B steps and
    leave N % B images out of every epoch (a different random few each time). A set smaller
    than B trains on one batch of N.
    """
    if train_count <= 0 or batch_size <= 0:
        return None
    batch = min(batch_size, train_count)
    steps = train_count // batch
    dropped = train_count - steps * batch
    if train_count < batch_size:
        return (f"The training set has only {train_count} images, fewer than one batch of "
                f"{batch_size}: every epoch is a single step on all {train_count}. Choose a "
                f"batch size of at most {max(1, train_count // SMALL_TRAIN_BATCHES)}.")
    if train_count < SMALL_TRAIN_BATCHES * batch_size:
        left_out = (f" and leaves {dropped} images out ({dropped / train_count:.0%})"
                    if dropped else "")
        return (f"The training set has only {train_count} images, fewer than "
                f"{SMALL_TRAIN_BATCHES} batches of {batch_size}: every epoch is a single step"
                f"{left_out}. Choose a smaller batch size for more steps per epoch.")
    if dropped / train_count > DROPPED_SHARE:
        return (f"Epochs use full batches only: {dropped} of the {train_count} training images "
                f"({dropped / train_count:.0%}) are left out of every epoch with batches of "
                f"{batch_size}. A batch size that divides {train_count} more evenly uses "
                "them all.")
    return None


def normalisation(dataset: Dataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) per channel that training divides by: the dataset's, with every std
    below STD_FLOOR (a constant channel has std 0, and x / 0 is NaN) raised to it."""
    std = tuple(float(v) if math.isfinite(v) and v >= STD_FLOOR else STD_FLOOR
                for v in dataset.std)
    return tuple(float(v) for v in dataset.mean), std


def data_problem(x: torch.Tensor, dataset: Dataset) -> str | None:
    """Why a normalised batch (B, C, H, W) is unusable, naming the data; None when it is
    finite."""
    if bool(torch.isfinite(x).all()):
        return None
    bad = (~torch.isfinite(x)).sum().item()
    return (f"The training images of {dataset.name!r} contain NaN or infinite values after "
            f"normalisation ({bad:,} of {x.numel():,} values in this batch; per-channel mean "
            f"{_numbers(dataset.mean)}, std {_numbers(dataset.std)}): the data is the cause, "
            "not the learning rate. Check the images and their statistics.")


class Batches:
    """Turns index sets of a Dataset into model-ready batches."""

    def __init__(self, dataset: Dataset, augmentation: Augmentation,
                 device: torch.device | str = "cpu") -> None:
        self.dataset = dataset
        self.augmentation = augmentation
        self.device = torch.device(device)
        mean, std = normalisation(dataset)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def prepare(self, images: torch.Tensor, *, augment: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, H, W) uint8 -> normalised float32 in channels_last (about 20-40 % faster),
        on the job's device (augmentation draws from the CPU generator, so runs repeat)."""
        x = images.float().div_(255)  # [0, 1]
        if augment and self.augmentation.active:
            x = augment_batch(x, self.augmentation, generator=generator)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last).to(self.device)


def _make_model(settings: TrainSettings, dataset: Dataset) -> nn.Module:
    return build_model(
        settings.model,
        in_channels=dataset.channels,
        num_classes=dataset.num_classes,
        image_size=dataset.image_size,
    )


def seeded_model(settings: TrainSettings, dataset: Dataset) -> nn.Module:
    """The initial model; the same seed gives the same weights even with jobs in parallel."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = _make_model(settings, dataset)
    return model.to(memory_format=torch.channels_last)


def check_fits(settings: TrainSettings, dataset: Dataset) -> None:
    """ValueError now (not in the worker) when the model cannot take this dataset."""
    feature_sizes(settings.model, dataset.image_size)
    if len(dataset.train_labels) == 0 or len(dataset.test_labels) == 0:
        raise ValueError("The dataset needs both train and test images.")
    if dataset.num_classes < 2:
        raise ValueError("The dataset needs at least 2 classes.")


def eval_indices(dataset: Dataset, size: int) -> torch.Tensor:
    """The fixed test subset the live curves use: the same for every run on this dataset."""
    count = len(dataset.test_labels)
    if size >= count:
        return torch.arange(count)
    generator = torch.Generator().manual_seed(0)
    return torch.randperm(count, generator=generator)[:size].sort().values


# ---------------------------------------------------------------------------
# What a job reports
# ---------------------------------------------------------------------------

STATES = ("queued", "running", "paused", "finished", "stopped", "failed")


@dataclass(frozen=True)
class EvalPoint:
    step: int
    epoch: float  # epochs done, fractional
    seconds: float  # training time so far (pauses excluded)
    learning_rate: float
    train_loss: float  # running mean over the steps since the previous point
    train_accuracy: float  # same steps, on the (augmented) training batches
    test_loss: float  # on the fixed test subset (eval_subset images)
    test_accuracy: float


@dataclass(frozen=True)
class Misclassified:
    index: int  # into dataset.test_images
    true: int
    predicted: int
    confidence: float  # softmax probability of the predicted class


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, immutable copy of a job's progress; cheap enough to poll twice a second."""

    job_id: str
    owner: str | None
    state: str
    message: str
    settings: TrainSettings
    dataset: str
    classes: tuple[str, ...]
    queue_position: int | None  # 1 = next to start; None when not queued
    threads: int
    step: int
    epoch: float  # epochs done, fractional
    steps_per_epoch: int
    planned_steps: int | None  # epochs x steps_per_epoch; None with only a time budget
    images_seen: int
    elapsed_seconds: float  # since the start, pauses excluded
    train_seconds: float  # elapsed minus evaluations
    images_per_second: float  # training throughput, evaluations excluded
    eta_seconds: float | None
    progress: float  # 0..1, by steps or by time budget, whichever is further
    curve_steps: tuple[int, ...]  # per-step loss and learning rate, averaged over strides
    curve_losses: tuple[float, ...]
    curve_learning_rates: tuple[float, ...]
    evaluations: tuple[EvalPoint, ...]
    kernels: np.ndarray | None  # first conv weight (C_out, C_in, K, K), at the last evaluation
    confusion: np.ndarray | None  # (classes, classes) counts, rows = true, columns = predicted
    confusion_images: int  # how many test images the confusion matrix counts
    misclassified: tuple[Misclassified, ...]
    final_test_loss: float | None  # on the full test split, when finished
    final_test_accuracy: float | None

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def latest(self) -> EvalPoint | None:
        return self.evaluations[-1] if self.evaluations else None


class _Curve:
    """Per-step values averaged over a stride that doubles whenever the curve gets too long."""

    def __init__(self, max_points: int | None = None) -> None:
        self.max_points = max_points or CURVE_POINTS
        self.stride = 1
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.rates: list[float] = []
        self._sum = 0.0
        self._count = 0

    def add(self, step: int, loss: float, rate: float) -> None:
        self._sum += loss
        self._count += 1
        if self._count < self.stride:
            return
        self.steps.append(step)
        self.losses.append(self._sum / self._count)
        self.rates.append(rate)
        self._sum, self._count = 0.0, 0
        if len(self.steps) > self.max_points:  # merge neighbours: half the points, 2x stride
            pairs = len(self.steps) // 2 * 2
            self.losses = [
                (self.losses[i] + self.losses[i + 1]) / 2 for i in range(0, pairs, 2)
            ] + self.losses[pairs:]
            self.steps = self.steps[1:pairs:2] + self.steps[pairs:]
            self.rates = self.rates[1:pairs:2] + self.rates[pairs:]
            self.stride *= 2


class _Stopped(Exception):
    """Raised inside the loop when stop() was asked for."""


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------


class TrainingJob(JobControl):
    """One training run in a daemon thread; the page polls snapshot().

    The loop reports, it does not render: it writes numbers under a lock and never calls
    streamlit. Control is through threading.Events checked before every step. A NaN or
    infinite loss stops the run as "failed" before the bad step touches the weights.

    After the run, `model` is the trained network (eval mode, contiguous memory) for finished,
    stopped and NaN-failed runs; state_dict() works at any time (a copy taken between steps).
    """

    THREAD_PREFIX = "training"

    def __init__(
        self,
        settings: TrainSettings,
        dataset: Dataset,
        *,
        job_id: str | None = None,
        owner: str | None = None,
        threads: int | None = None,
        on_done: Callable[[TrainingJob], None] | None = None,
    ) -> None:
        check_fits(settings, dataset)
        self.settings = settings
        self.dataset = dataset
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.owner = owner
        # never more torch threads than cores: a bigger team only oversubscribes them
        self.threads = max(1, min(threads or settings.threads, os.cpu_count() or 1))
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
        self._curve = _Curve()
        self._evaluations: list[EvalPoint] = []
        self._kernels: np.ndarray | None = None
        self._confusion: np.ndarray | None = None
        self._confusion_images = 0
        self._misclassified: tuple[Misclassified, ...] = ()
        self._final: tuple[float, float] | None = None

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
        # Progress is linear in steps or in time, so elapsed / progress extrapolates both.
        return max(0.0, self._elapsed * (1 - self._progress) / self._progress)

    # -- the worker ----------------------------------------------------------

    def _run(self) -> None:
        try:
            with thread_budget(self.threads):
                self._train()
        except _Stopped:
            self._set_state("stopped", f"stopped at step {self._step}")
        except Exception as exc:  # a bug or bad data: report it, never kill the server
            self.error = traceback.format_exc()
            self._set_state("failed", f"{type(exc).__name__}: {exc}")
        finally:
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

        self._final_evaluation(model, batches, subset)
        reason = "time budget reached" if self._progress_by_time() else "all epochs done"
        self._set_state("finished", f"finished after {self._step} steps ({reason})")

    def _progress_at(self, step: int, seconds: float) -> float:
        by_steps = step / self._planned if self._planned else 0.0
        by_time = seconds / self.settings.max_seconds if self.settings.max_seconds else 0.0
        return min(1.0, max(by_steps, by_time))

    def _progress_by_time(self) -> bool:
        if not self.settings.max_seconds:
            return False
        return self._planned is None or self._step < self._planned

    @torch.inference_mode()
    def _predict(self, model: nn.Module, x: torch.Tensor,
                 y: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
        """(mean loss, predictions (N,), confidences (N,)) in batches of EVAL_BATCH."""
        was_training = model.training
        model.eval()
        total, predictions, confidences = 0.0, [], []
        try:
            for first in range(0, len(y), EVAL_BATCH):
                logits = model(x[first : first + EVAL_BATCH])
                total += F.cross_entropy(logits, y[first : first + EVAL_BATCH],
                                         reduction="sum").item()
                probability, predicted = logits.softmax(1).max(1)
                predictions.append(predicted)
                confidences.append(probability)
        finally:
            model.train(was_training)
        return total / len(y), torch.cat(predictions).cpu(), torch.cat(confidences).cpu()

    def _report_errors(self, indices: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor,
                       confidence: torch.Tensor) -> tuple[np.ndarray, tuple[Misclassified, ...]]:
        classes = self.dataset.num_classes
        confusion = torch.bincount(y * classes + predicted, minlength=classes * classes)
        wrong = torch.nonzero(predicted != y).flatten()[:MISCLASSIFIED_KEPT]
        examples = tuple(
            Misclassified(int(indices[i]), int(y[i]), int(predicted[i]), float(confidence[i]))
            for i in wrong
        )
        return confusion.view(classes, classes).numpy().copy(), examples

    def _evaluate(self, model: nn.Module, indices: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  step: int, rate: float, train_loss: float, train_accuracy: float) -> None:
        test_loss, predicted, confidence = self._predict(model, x, y)
        y = y.cpu()
        confusion, examples = self._report_errors(indices, y, predicted, confidence)
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
            loss, predicted, confidence = self._predict(model, x, y)
            losses += loss * len(y)
            predictions.append(predicted)
            confidences.append(confidence)
        predicted, confidence = torch.cat(predictions), torch.cat(confidences)
        y = data.test_labels
        confusion, examples = self._report_errors(torch.arange(count), y, predicted, confidence)
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


def _numbers(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ",)"


def submit_training(registry: JobRegistry, settings: TrainSettings, dataset: Dataset, *,
                    owner: str | None = None, browser: str | None = None) -> str:
    """Queue a Train-page run in the registry and return its id (see JobRegistry.submit_job).
    ValueError when the model cannot take the dataset (checked before anything queues)."""
    return registry.submit_job(
        lambda threads, on_done: TrainingJob(settings, dataset, owner=owner,
                                             threads=threads, on_done=on_done),
        threads=settings.threads, owner=owner, browser=browser)
