"""Leslie Smith's learning-rate range test for the Train page's settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from explorer.jobs.bounded_cache import BoundedCache
from explorer.jobs.concurrency import heavy_work
from explorer.training.batches import Batches, check_fits, data_problem, seeded_model
from explorer.training.compute import thread_budget
from explorer.training.data import Dataset
from explorer.training.identity import run_key
from explorer.training.settings import OPTIMISERS, TrainSettings

RANGE_TEST_STEPS = 200  # batches of the learning-rate range test (the page's spinner says so)
RANGE_EDGE = 0.05  # a suggestion in the first or last 5 % of the range (log scale) is suspect


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


# Results by everything they depend on: a class that presses "LR range test" on the same
# settings computes it once (later askers wait for the first, then read it). Each is ~10 KB.
SHARED_RESULTS: BoundedCache[RangeTestResult] = BoundedCache(max_entries=256, max_bytes=8 << 20,
                                                             size=lambda result: 10_000)


def shared_lr_range_test(settings: TrainSettings, dataset: Dataset, *,
                         steps: int = RANGE_TEST_STEPS) -> RangeTestResult:
    """lr_range_test, computed once per server for identical settings, data, seed and code."""
    key = (run_key(settings, dataset), steps)
    return SHARED_RESULTS.get_or_compute(
        key, lambda: lr_range_test(settings, dataset, steps=steps))


def _lr_range_test(settings: TrainSettings, dataset: Dataset, start: float, end: float,
                   steps: int, smoothing: float) -> RangeTestResult:
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise ValueError(f"Need 0 < start < end; got {start} and {end}.")
    if steps < 5:
        raise ValueError(f"Use at least 5 steps; got {steps}.")
    check_fits(settings, dataset)
    generator = torch.Generator().manual_seed(settings.seed)
    batches = Batches(dataset, settings.augmentation)
    count = len(dataset.train_labels)
    batch = min(settings.batch_size, count)
    rates = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    smoothed, raw = [], []
    average, best, stopped_early = 0.0, math.inf, False
    bad_data: str | None = None
    with thread_budget(settings.threads):
        model = seeded_model(settings, dataset)
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
