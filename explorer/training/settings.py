"""Training settings and their registries: optimisers, learning-rate schedules, TrainSettings."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from explorer.training.augmentation import Augmentation
from explorer.training.compute import capped_threads
from explorer.training.nets import ModelSettings

# Two torch threads per run where there are two cores, at most $EXPLORER_JOB_THREADS
DEFAULT_THREADS = capped_threads(max(1, min(2, os.cpu_count() or 1)))
TIME_TICKS = 10_000  # resolution of a schedule that spans a time budget instead of epochs

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
