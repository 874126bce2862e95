"""What a training job reports: eval points, mistakes, the JobSnapshot, the per-step loss curve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.jobs.control import DONE_STATES
from explorer.training.settings import TrainSettings

CURVE_POINTS = 2000  # the per-step loss curve is averaged into at most this many points

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


class LossCurve:
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
