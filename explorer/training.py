"""Background training jobs for the Train page: settings, registries, the loop, queue, exports."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import math
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.concurrency import RNG_LOCK, heavy_work
from explorer.data import Augmentation, Dataset, augment_batch
from explorer.job_control import DONE_STATES, JobControl
from explorer.nets import ModelSettings, build_model, feature_sizes, first_conv

DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
EVAL_BATCH = 256  # evaluation batches stay <= 256 images (bigger ones are no faster here)
MISCLASSIFIED_KEPT = 16
CURVE_POINTS = 2000  # the per-step loss curve is averaged into at most this many points
TIME_TICKS = 10_000  # resolution of a schedule that spans a time budget instead of epochs
STD_FLOOR = 1 / 255  # a channel that varies by less than one grey level counts as constant
RANGE_TEST_STEPS = 200  # batches of the learning-rate range test (the page's spinner says so)
RANGE_EDGE = 0.05  # a suggestion in the first or last 5 % of the range (log scale) is suspect
SMALL_TRAIN_BATCHES = 2  # fewer training images than this many batches earns a warning
DROPPED_SHARE = 0.1  # so does dropping more than this share of the images in every epoch

# ---------------------------------------------------------------------------
# Registries (keys are what the page's select boxes show)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimiserSpec:
    label: str
    make: Callable[[Iterable[nn.Parameter], float, float], torch.optim.Optimizer]
    code: str  # the same optimiser in a script; {lr} and {wd} are filled in
    default_lr: float
    explanation: str


OPTIMISERS: dict[str, OptimiserSpec] = {
    "sgd": OptimiserSpec(
        "SGD",
        lambda params, lr, wd: torch.optim.SGD(params, lr=lr, weight_decay=wd),
        "torch.optim.SGD(model.parameters(), lr={lr}, weight_decay={wd})",
        0.05,
        "Plain stochastic gradient descent: w -= lr * gradient.",
    ),
    "momentum": OptimiserSpec(
        "SGD + momentum 0.9",
        lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
        "torch.optim.SGD(model.parameters(), lr={lr}, momentum=0.9, weight_decay={wd})",
        0.01,
        "SGD that keeps 90 % of its previous step: faster along consistent directions.",
    ),
    "adam": OptimiserSpec(
        "Adam",
        lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
        "torch.optim.Adam(model.parameters(), lr={lr}, weight_decay={wd})",
        1e-3,
        "Momentum plus a per-weight step size from recent gradient sizes; robust default.",
    ),
    "adamw": OptimiserSpec(
        "AdamW",
        lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
        "torch.optim.AdamW(model.parameters(), lr={lr}, weight_decay={wd})",
        1e-3,
        "Adam with weight decay applied to the weights directly (decoupled), not the gradient.",
    ),
}

Scheduler = torch.optim.lr_scheduler.LRScheduler


@dataclass(frozen=True)
class ScheduleSpec:
    label: str
    make: Callable[[torch.optim.Optimizer, int, float], Scheduler]  # (opt, total steps, lr)
    code: str  # the same scheduler in a script; {total} and {lr} are filled in
    explanation: str


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(
        "Constant",
        lambda opt, total, lr: torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0),
        "torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)",
        "The same learning rate throughout.",
    ),
    "step": ScheduleSpec(
        "Step (x0.1 at 1/3 and 2/3)",
        lambda opt, total, lr: torch.optim.lr_scheduler.StepLR(
            opt, step_size=max(1, total // 3), gamma=0.1
        ),
        "torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, {total} // 3), gamma=0.1)",
        "Divide the learning rate by 10 after a third and after two thirds of training.",
    ),
    "cosine": ScheduleSpec(
        "Cosine",
        lambda opt, total, lr: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total),
        "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max={total})",
        "Half a cosine from the learning rate down to 0 at the end.",
    ),
    "one-cycle": ScheduleSpec(
        "One-cycle",
        # Momentum is left alone (cycle_momentum=False) so "sgd" stays plain SGD.
        lambda opt, total, lr: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, total_steps=total, cycle_momentum=False
        ),
        "torch.optim.lr_scheduler.OneCycleLR(\n"
        "    optimizer, max_lr={lr}, total_steps={total}, cycle_momentum=False\n)",
        "Warm up from lr/25 to lr over the first 30 %, then anneal to almost 0.",
    ),
}


def schedule_curve(schedule: str, learning_rate: float, total_steps: int) -> list[float]:
    """The learning rate at each of `total_steps` steps (for a preview plot)."""
    parameter = nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.SGD([parameter], lr=learning_rate)
    scheduler = SCHEDULES[schedule].make(optimiser, total_steps, learning_rate)
    rates = []
    for _ in range(total_steps):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()  # no gradient: nothing moves; keeps the scheduler's order check quiet
        scheduler.step()
    return rates


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """Everything a run depends on besides the data itself.

    Training ends after `epochs` or after `max_seconds` of running time (evaluations
    included, pauses excluded; the final full-test evaluation comes after), whichever comes
    first; at least one must be given. A schedule spans the planned epochs, or
    the time budget when that ends first (see TrainingJob). eval_every: an int counts steps, a
    float below 1 is a fraction of an epoch. threads: torch threads for this job (see
    thread_budget for what that can and cannot promise).
    """

    dataset: str = "shapes"
    model: ModelSettings = ModelSettings()
    optimiser: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int | None = 3
    max_seconds: float | None = None
    schedule: str = "constant"
    augmentation: Augmentation = Augmentation()
    seed: int = 0
    eval_subset: int = 1000
    eval_every: int | float = 0.25
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "seed", "eval_subset", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number; got {value!r}.")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(
                f"Unknown optimiser {self.optimiser!r}; choose one of {list(OPTIMISERS)}."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {self.schedule!r}; choose one of {list(SCHEDULES)}.")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 10):
            raise ValueError(f"The learning rate must be in (0, 10]; got {self.learning_rate}.")
        if not (math.isfinite(self.weight_decay) and 0 <= self.weight_decay <= 1):
            raise ValueError(f"Weight decay must be in [0, 1]; got {self.weight_decay}.")
        if not 1 <= self.batch_size <= 4096:
            raise ValueError(f"The batch size must be 1 to 4096; got {self.batch_size}.")
        if self.epochs is None and self.max_seconds is None:
            raise ValueError("Give a number of epochs, a time budget (max_seconds) or both.")
        if self.epochs is not None and not 1 <= self.epochs <= 1000:
            raise ValueError(f"epochs must be 1 to 1000; got {self.epochs}.")
        if self.max_seconds is not None and not (math.isfinite(self.max_seconds)
                                                 and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number; got {self.max_seconds}.")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"The seed must be 0 to 2**63 - 1; got {self.seed}.")
        if self.eval_subset < 1:
            raise ValueError(f"eval_subset must be at least 1; got {self.eval_subset}.")
        if not self.eval_every > 0 or (isinstance(self.eval_every, float) and self.eval_every > 1):
            raise ValueError(
                "eval_every must be a number of steps (int) or a fraction of an epoch in (0, 1]; "
                f"got {self.eval_every}."
            )
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1; got {self.threads}.")


def settings_to_dict(settings: TrainSettings) -> dict[str, Any]:
    """Plain nested dict (str, int, float, bool, None): JSON- and weights_only-safe."""
    return asdict(settings)


def settings_from_dict(data: dict[str, Any]) -> TrainSettings:
    """Inverse of settings_to_dict; unknown keys are ignored, missing ones take defaults."""
    if not isinstance(data, dict):
        raise ValueError("Settings must be a dict.")
    known = {f.name for f in fields(TrainSettings)}
    values = {key: value for key, value in data.items() if key in known}
    if isinstance(values.get("model"), dict):
        model_keys = {f.name for f in fields(ModelSettings)}
        values["model"] = ModelSettings(
            **{k: v for k, v in values["model"].items() if k in model_keys}
        )
    if isinstance(values.get("augmentation"), dict):
        aug_keys = {f.name for f in fields(Augmentation)}
        values["augmentation"] = Augmentation(
            **{k: v for k, v in values["augmentation"].items() if k in aug_keys}
        )
    return TrainSettings(**values)


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


class _Batches:
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


def _seeded_model(settings: TrainSettings, dataset: Dataset) -> nn.Module:
    """The initial model; the same seed gives the same weights even with jobs in parallel."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = _make_model(settings, dataset)
    return model.to(memory_format=torch.channels_last)


def _check_fits(settings: TrainSettings, dataset: Dataset) -> None:
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
        _check_fits(settings, dataset)
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
        model = _seeded_model(s, data).to(self.device)
        self._live_model = model
        optimiser = OPTIMISERS[s.optimiser].make(model.parameters(), s.learning_rate,
                                                 s.weight_decay)
        ticks = self._planned if self._planned is not None else TIME_TICKS
        scheduler = SCHEDULES[s.schedule].make(optimiser, ticks, s.learning_rate)
        batches = _Batches(data, s.augmentation, self.device)
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

    def _final_evaluation(self, model: nn.Module, batches: _Batches, subset: torch.Tensor) -> None:
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


# ---------------------------------------------------------------------------
# Learning-rate range test
# ---------------------------------------------------------------------------

SUGGESTION_RULE = (
    "steepest descent: the learning rate where the smoothed loss falls fastest against log(lr), "
    "looking only below the rate with the lowest loss"
)


@dataclass(frozen=True)
class RangeTestResult:
    """What the range test measured. With no usable loss at all (NaN from the first batch)
    the curves are empty, suggested_lr is None and `note` says why."""

    learning_rates: tuple[float, ...]  # increasing geometrically from start
    losses: tuple[float, ...]  # exponentially smoothed (bias-corrected), one per rate
    raw_losses: tuple[float, ...]
    suggested_lr: float | None
    min_loss_lr: float | None  # where the smoothed loss is lowest; a decade below is another rule
    rule: str = SUGGESTION_RULE
    stopped_early: bool = False  # the loss blew up (> 4x its minimum or non-finite) before `end`
    note: str = ""  # a warning for the page when the curve says little
    start: float = 1e-4  # the range tested
    end: float = 1.0
    steps: int = RANGE_TEST_STEPS  # batches planned (fewer ran when it stopped early)

    @property
    def ok(self) -> bool:
        return self.suggested_lr is not None


def lr_range_test(settings: TrainSettings, dataset: Dataset, *, start: float = 1e-4,
                  end: float = 1.0, steps: int = RANGE_TEST_STEPS,
                  smoothing: float = 0.9) -> RangeTestResult:
    """Leslie Smith's test: train `steps` batches while the learning rate grows from `start` to
    `end` geometrically, recording the loss. A fresh model each time; runs in the calling
    thread with the settings' thread budget, holding one of the server's heavy-work slots.
    200 steps of 64 CIFAR-size images take about 4 s here; 100 were too few on shapes (the
    loss had not started to fall when the rate got big). A loss that is NaN from the first
    batch gives a result without a suggestion (and a note naming the cause), not an exception.
    """
    with heavy_work():
        return _lr_range_test(settings, dataset, start, end, steps, smoothing)


def _lr_range_test(settings: TrainSettings, dataset: Dataset, start: float, end: float,
                   steps: int, smoothing: float) -> RangeTestResult:
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise ValueError(f"Need 0 < start < end; got {start} and {end}.")
    if steps < 5:
        raise ValueError(f"Use at least 5 steps; got {steps}.")
    _check_fits(settings, dataset)
    generator = torch.Generator().manual_seed(settings.seed)
    batches = _Batches(dataset, settings.augmentation)
    count = len(dataset.train_labels)
    batch = min(settings.batch_size, count)
    rates = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    smoothed, raw = [], []
    average, best, stopped_early = 0.0, math.inf, False
    bad_data: str | None = None
    with thread_budget(settings.threads):
        model = _seeded_model(settings, dataset)
        optimiser = OPTIMISERS[settings.optimiser].make(model.parameters(), start,
                                                        settings.weight_decay)
        order, first = torch.randperm(count, generator=generator), 0
        for i, rate in enumerate(rates):
            for group in optimiser.param_groups:
                group["lr"] = rate
            if first + batch > count:  # a new epoch: reshuffle
                order, first = torch.randperm(count, generator=generator), 0
            index = order[first : first + batch]
            first += batch
            x = batches.prepare(dataset.train_images[index], augment=True, generator=generator)
            loss = F.cross_entropy(model(x), dataset.train_labels[index])
            value = loss.item()
            if not math.isfinite(value):
                bad_data = data_problem(x, dataset)
                stopped_early = True
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            average = smoothing * average + (1 - smoothing) * value
            smooth = average / (1 - smoothing ** (i + 1))  # bias correction for the first steps
            raw.append(value)
            smoothed.append(smooth)
            best = min(best, smooth)
            if smooth > 4 * best and i > 10:
                stopped_early = True
                break
    common = {"start": start, "end": end, "steps": steps, "stopped_early": stopped_early}
    if bad_data is not None or not smoothed:
        note = bad_data or (
            "The loss was NaN or infinite from the very first batch, before any update: the "
            "data (or the model) is the cause, not the learning rate, so there is nothing to "
            "suggest. Check the images.")
        return RangeTestResult((), (), (), None, None, note=note, **common)
    rates = rates[: len(smoothed)]
    lowest = int(np.argmin(smoothed))
    if lowest >= 2:
        slope = np.gradient(np.asarray(smoothed[: lowest + 1]), np.log10(rates[: lowest + 1]))
        suggested = rates[int(np.argmin(slope))]
    else:
        suggested = rates[lowest]
    notes = []
    if smoothed[lowest] > 0.95 * smoothed[0]:
        notes.append("The loss hardly fell anywhere in this range, so the suggestion means "
                     "little: run more steps, a wider range or another optimiser.")
    place = math.log(suggested / start) / math.log(end / start)  # 0 = start, 1 = end
    if place <= RANGE_EDGE:
        notes.append(f"Caution: the suggestion {suggested:.2g} sits at the bottom of the range "
                     f"tested ({start:g} to {end:g}); the loss may fall fastest below it. Treat "
                     "it as an upper bound and try a range that starts lower.")
    elif place >= 1 - RANGE_EDGE:
        notes.append(f"Caution: the suggestion {suggested:.2g} sits at the top of the range "
                     f"tested ({start:g} to {end:g}), where the loss may be about to blow up; "
                     "a lower rate is safer.")
    return RangeTestResult(
        learning_rates=tuple(rates),
        losses=tuple(smoothed),
        raw_losses=tuple(raw),
        suggested_lr=float(suggested),
        min_loss_lr=float(rates[lowest]),
        note=" ".join(notes),
        **common,
    )


# ---------------------------------------------------------------------------
# Exports: metrics CSV, weights + settings, a standalone script
# ---------------------------------------------------------------------------

CSV_COLUMNS = (
    "step", "epoch", "seconds", "learning_rate", "loss",
    "train_loss", "train_accuracy", "test_loss", "test_accuracy",
)


def metrics_csv(snapshot: JobSnapshot) -> str:
    """One row per recorded step: the (averaged) step loss and, at evaluations, the rest.

    Blank cells where a value was not measured at that step.
    """
    rows: dict[int, dict[str, Any]] = {}
    for step, loss, rate in zip(snapshot.curve_steps, snapshot.curve_losses,
                                snapshot.curve_learning_rates, strict=True):
        rows[step] = {"step": step, "loss": loss, "learning_rate": rate}
    for point in snapshot.evaluations:
        row = rows.setdefault(point.step, {"step": point.step})
        row.update({key: value for key, value in asdict(point).items() if key != "step"})
    for step, row in rows.items():
        row.setdefault("epoch", step / snapshot.steps_per_epoch)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for step in sorted(rows):
        writer.writerow(rows[step])
    return out.getvalue()


def run_payload(job: TrainingJob) -> dict[str, Any]:
    """What save_run writes: only tensors and plain types, so weights_only=True loads it."""
    snap = job.snapshot()
    data = job.dataset
    return {
        "format": "cnn-explorer-run/1",
        "state_dict": job.state_dict(),
        "settings": settings_to_dict(job.settings),
        "dataset": data.name,
        "classes": list(data.classes),
        "in_channels": data.channels,
        "image_size": list(data.image_size),
        "mean": list(normalisation(data)[0]),
        "std": list(normalisation(data)[1]),  # as trained: a constant channel's std floored
        "state": snap.state,
        "steps": snap.step,
        "test_accuracy": snap.final_test_accuracy
        if snap.final_test_accuracy is not None
        else (snap.latest.test_accuracy if snap.latest else None),
    }


def save_run(job: TrainingJob, path: str | Path | IO[bytes]) -> None:
    """torch.save the weights and everything needed to rebuild the model (see run_payload)."""
    torch.save(run_payload(job), path)


@dataclass(frozen=True)
class SavedRun:
    model: nn.Module  # eval mode, weights loaded
    settings: TrainSettings
    classes: tuple[str, ...]
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_accuracy: float | None


def load_run(source: str | Path | bytes | IO[bytes]) -> SavedRun:
    """Read a file written by save_run (never runs code: weights_only=True); ValueError with a
    readable message when it is not one or does not fit its own architecture."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"Not a PyTorch weights file this app can read safely ({exc}).") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "settings" not in payload:
        raise ValueError("This file is not a run saved by CNN Explorer (no settings inside).")
    try:
        settings = settings_from_dict(payload["settings"])
        classes = tuple(str(name) for name in payload["classes"])
        in_channels = int(payload["in_channels"])
        height, width = (int(v) for v in payload["image_size"])
        model = build_model(settings.model, in_channels=in_channels, num_classes=len(classes),
                            image_size=(height, width))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"The saved run does not fit its architecture: {exc}") from exc
    return SavedRun(
        model=model.eval(),
        settings=settings,
        classes=classes,
        in_channels=in_channels,
        image_size=(height, width),
        mean=tuple(float(v) for v in payload.get("mean", [0.5] * in_channels)),
        std=tuple(float(v) for v in payload.get("std", [0.5] * in_channels)),
        test_accuracy=payload.get("test_accuracy"),
    )


# Image shape and normalisation of the named datasets, for scripts written without the data
# at hand (mean/std of the train split in [0, 1], as explorer.data computes them).
KNOWN_DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"channels": 1, "size": 28, "classes": 10, "torchvision": "MNIST",
              "mean": (0.1307,), "std": (0.3081,)},
    "fashion": {"channels": 1, "size": 28, "classes": 10, "torchvision": "FashionMNIST",
                "mean": (0.2860,), "std": (0.3530,)},
    "cifar10": {"channels": 3, "size": 32, "classes": 10, "torchvision": "CIFAR10",
                "mean": (0.4914, 0.4822, 0.4465), "std": (0.2470, 0.2435, 0.2616)},
    "shapes": {"channels": 3, "size": 32, "classes": 10},
    "shapes-small": {"channels": 3, "size": 32, "classes": 10},
}


def _numbers(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ",)"


def model_code(model: ModelSettings, in_channels: int, num_classes: int,
                image_size: tuple[int, int]) -> str:
    """`nn.Sequential(OrderedDict([...]))` with build_model's names, so weights load either way."""
    height, width = feature_sizes(model, image_size)[-1]
    padding = model.kernel_size // 2 if model.padding == "same" else 0
    act = {
        "relu": lambda _: "nn.ReLU()",
        "leaky_relu": lambda _: "nn.LeakyReLU(0.01)",
        "prelu": lambda width: f"nn.PReLU({width})",
        "elu": lambda _: "nn.ELU(1.0)",
    }[model.activation]
    lines, previous = [], in_channels
    for i, channels in enumerate(model.block_channels(), start=1):
        bias = ", bias=False" if model.batch_norm else ""
        lines.append(f'("conv{i}", nn.Conv2d({previous}, {channels}, {model.kernel_size}, '
                     f'padding={padding}{bias})),')
        if model.batch_norm:
            lines.append(f'("bn{i}", nn.BatchNorm2d({channels})),')
        lines.append(f'("act{i}", {act(channels)}),')
        lines.append(f'("pool{i}", nn.MaxPool2d(2)),')
        previous = channels
    lines.append('("flatten", nn.Flatten()),')
    if model.dropout > 0:
        lines.append(f'("drop1", nn.Dropout({model.dropout})),')
    lines.append(f'("fc1", nn.Linear({previous} * {height} * {width}, {model.hidden})),')
    lines.append(f'("act_fc1", {act(model.hidden)}),')
    if model.dropout > 0:
        lines.append(f'("drop2", nn.Dropout({model.dropout})),')
    lines.append(f'("fc2", nn.Linear({model.hidden}, {num_classes})),')
    body = "\n".join("    " + line for line in lines)
    return f"model = nn.Sequential(OrderedDict([\n{body}\n]))"


def standalone_script(settings: TrainSettings, dataset: Dataset | None = None) -> str:
    """A runnable PyTorch script that trains the same model the same way.

    mnist / fashion / cifar10 come from torchvision (downloaded to ./data); "shapes" and
    uploaded datasets use explorer.data, as does augmentation (the app's own augment_batch).
    Pass the dataset for exact classes, sizes and normalisation; without it the named datasets'
    standard values are used. N_TRAIN / N_TEST at the top size the shapes set.
    """
    s = settings
    known = KNOWN_DATASETS.get(s.dataset)
    if dataset is not None:
        in_channels, image_size = dataset.channels, dataset.image_size
        num_classes = dataset.num_classes
        mean, std = normalisation(dataset)
    elif known is not None:
        in_channels, image_size = known["channels"], (known["size"], known["size"])
        num_classes = known["classes"]
        mean, std = known.get("mean", (0.5,) * in_channels), known.get("std", (0.25,) * in_channels)
    else:
        raise ValueError(f"Pass the dataset to write a script for {s.dataset!r}.")
    source = s.dataset if s.dataset in KNOWN_DATASETS else "zip"
    default_train = 2000 if source == "shapes-small" else 20000
    source = "shapes" if source == "shapes-small" else source
    if source == "shapes":
        count_train = len(dataset.train_labels) if dataset is not None else default_train
        count_test = len(dataset.test_labels) if dataset is not None else 4000
    augment = s.augmentation.active
    by_time = s.max_seconds is not None

    imports = ["import time"]
    if by_time and s.epochs is None:
        imports.append("import itertools")
    imports.append("from collections import OrderedDict")
    imports.append("")
    if source in ("mnist", "fashion", "cifar10"):
        imports += ["import numpy as np", "import torch", "import torch.nn.functional as F",
                    "import torchvision", "from torch import nn"]
    else:
        imports += ["import torch", "import torch.nn.functional as F", "from torch import nn"]
    app_imports = []
    if augment:
        app_imports.append("Augmentation")
        app_imports.append("augment_batch")
    if source == "shapes":
        app_imports.append("shapes_dataset")
    elif source == "zip":
        app_imports.append("dataset_from_zip")
    if app_imports:
        imports += ["", f"from explorer.data import {', '.join(sorted(app_imports))}"]

    constants = [
        f"SEED = {s.seed}",
        f"EPOCHS = {s.epochs}",
        f"MAX_SECONDS = {s.max_seconds}  # training-time budget; None = no budget",
        f"BATCH_SIZE = {s.batch_size}",
        f"LEARNING_RATE = {s.learning_rate!r}",
        f"WEIGHT_DECAY = {s.weight_decay!r}",
        f"THREADS = {s.threads}",
    ]
    if source in ("mnist", "fashion", "cifar10"):
        constants += [
            f"MEAN = {_numbers(mean)}  # per channel, of the train images in [0, 1]",
            f"STD = {_numbers(std)}",
        ]
    if source == "shapes":
        constants += [f"N_TRAIN = {count_train}", f"N_TEST = {count_test}"]
    if source == "zip":
        constants += ['ZIP_PATH = "my_dataset.zip"  # a zip of one folder of images per class']
    if augment:
        a = s.augmentation
        constants.append(
            f"AUGMENTATION = Augmentation(flip={a.flip}, shift={a.shift}, "
            f"rotation={a.rotation}, colour_jitter={a.colour_jitter})"
        )

    if source in ("mnist", "fashion", "cifar10"):
        name = KNOWN_DATASETS[source]["torchvision"]
        data = f'''
def as_tensors(split):
    """A torchvision dataset -> (N, C, H, W) uint8 images and (N,) int64 labels."""
    images = torch.as_tensor(np.asarray(split.data))  # (N, H, W) or (N, H, W, 3)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)


train_images, train_labels = as_tensors(torchvision.datasets.{name}("data", train=True, download=True))
test_images, test_labels = as_tensors(torchvision.datasets.{name}("data", train=False, download=True))'''
    elif source == "shapes":
        data = '''data = shapes_dataset(N_TRAIN, N_TEST)  # the app's synthetic shapes, generated here
train_images, train_labels = data.train_images, data.train_labels  # (N, 3, 32, 32) uint8, (N,)
test_images, test_labels = data.test_images, data.test_labels
MEAN, STD = data.mean, data.std  # per channel, of the train images in [0, 1]'''
    else:
        data = '''with open(ZIP_PATH, "rb") as file:
    data = dataset_from_zip(file.read())
train_images, train_labels = data.train_images, data.train_labels  # (N, C, H, W) uint8, (N,)
test_images, test_labels = data.test_images, data.test_labels
MEAN, STD = data.mean, data.std  # per channel, of the train images in [0, 1]'''

    total = "EPOCHS * steps_per_epoch" if s.epochs is not None else f"{TIME_TICKS}"
    optimiser = OPTIMISERS[s.optimiser].code.format(lr="LEARNING_RATE", wd="WEIGHT_DECAY")
    scheduler = SCHEDULES[s.schedule].code.format(total="total_steps", lr="LEARNING_RATE")
    prepare_aug = (
        "    x = images.float() / 255  # (B, C, H, W) in [0, 1]\n"
        + ("    if augment:\n        x = augment_batch(x, AUGMENTATION, generator=generator)\n"
           if augment else "")
        + "    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)"
    )
    prepare_signature = "def prepare(images, augment=False):" if augment else "def prepare(images):"
    train_prepare = "prepare(train_images[index], augment=True)" if augment else (
        "prepare(train_images[index])")
    epochs_loop = "range(EPOCHS)" if s.epochs is not None else "itertools.count()"
    if by_time:
        schedule_step = f"""        # The schedule spans the epochs or the time budget, whichever ends first.
        seconds = time.perf_counter() - start
        progress = min(1.0, max({'step / total_steps, ' if s.epochs is not None else ''}seconds / MAX_SECONDS))
        while scheduler.last_epoch < round(progress * total_steps):
            scheduler.step()
        if progress >= 1:
            break
    print(f"epoch {{epoch + 1}}: loss {{loss.item():.3f}}, test accuracy {{evaluate():.3f}}")
    if progress >= 1:
        break"""
    else:
        schedule_step = """        scheduler.step()  # per batch
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {evaluate():.3f}")"""

    body = f'''
torch.set_num_threads(THREADS)
torch.manual_seed(SEED)
generator = torch.Generator().manual_seed(SEED)  # batch order{' and augmentation' if augment else ''}

{data}

{model_code(s.model, in_channels, num_classes, image_size)}
model = model.to(memory_format=torch.channels_last)  # 20-40 % faster convolutions on CPU

optimizer = {optimiser}
steps_per_epoch = max(1, len(train_labels) // BATCH_SIZE)  # full batches only
total_steps = {total}
scheduler = {scheduler}
mean = torch.tensor(MEAN).view(1, -1, 1, 1)
std = torch.tensor(STD).clamp(min=1 / 255).view(1, -1, 1, 1)  # a constant channel: std 0


{prepare_signature}
    """uint8 images -> normalised float32 in channels_last."""
{prepare_aug}


def evaluate():
    """Accuracy on the whole test split."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(test_labels), 256):
            logits = model(prepare(test_images[first : first + 256]))
            correct += (logits.argmax(1) == test_labels[first : first + 256]).sum().item()
    model.train()
    return correct / len(test_labels)


start = time.perf_counter()
step = 0
for epoch in {epochs_loop}:
    order = torch.randperm(len(train_labels), generator=generator)
    for batch in range(steps_per_epoch):
        index = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
        loss = F.cross_entropy(model({train_prepare}), train_labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
{schedule_step}
print(f"trained {{step}} steps in {{time.perf_counter() - start:.1f}} s")
torch.save(model.state_dict(), "cnn.pt")  # load with torch.load("cnn.pt", weights_only=True)
'''
    summary = _summary(s)
    header = f'"""Train a CNN on {s.dataset} as CNN Explorer did: {summary}."""'
    return "\n".join([header, "", *imports, "", *constants, body.rstrip("\n"), ""])


def _summary(s: TrainSettings) -> str:
    m = s.model
    parts = [f"{m.blocks} conv blocks", f"{m.kernel_size}x{m.kernel_size}", m.activation]
    if m.batch_norm:
        parts.append("batch norm")
    if m.dropout:
        parts.append(f"dropout {m.dropout:g}")
    parts += [s.optimiser, f"lr {s.learning_rate:g}", f"{s.schedule} schedule"]
    return ", ".join(parts)
