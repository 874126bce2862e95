"""The playground's named choices (input features, activations, optimisers, regularisers) and its frozen, validated settings."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from explorer.playground.datasets import CLICKED, DATASETS, EXTENT, datasets_for

# Features see x / 2 (x1, x2 in [-3, 3]): a unit's initial boundaries are then sharp enough to
# start curving (with x / 6 a tanh net on the spiral stalled at 58 % test accuracy for some
# seeds; with x / 2 every seed tried reached 87-100 % in 6,000 steps).
SCALE = 2.0


@dataclass(frozen=True)
class FeatureSpec:
    label: str
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x1, x2) plane -> feature
    formula: str  # the same in a script's Python (x1, x2 are tensors in plane coordinates)


FEATURES: dict[str, FeatureSpec] = {
    "x1": FeatureSpec("x₁", lambda a, b: a / SCALE, "x1 / 2"),
    "x2": FeatureSpec("x₂", lambda a, b: b / SCALE, "x2 / 2"),
    "x1^2": FeatureSpec("x₁²", lambda a, b: (a / SCALE) ** 2, "(x1 / 2) ** 2"),
    "x2^2": FeatureSpec("x₂²", lambda a, b: (b / SCALE) ** 2, "(x2 / 2) ** 2"),
    "x1*x2": FeatureSpec("x₁·x₂", lambda a, b: a * b / SCALE**2, "x1 * x2 / 4"),
    "sin(x1)": FeatureSpec("sin x₁", lambda a, b: torch.sin(a), "torch.sin(x1)"),
    "sin(x2)": FeatureSpec("sin x₂", lambda a, b: torch.sin(b), "torch.sin(x2)"),
}


@dataclass(frozen=True)
class ActivationSpec:
    label: str
    make: Callable[[], nn.Module]
    code: str  # the module in a script
    gain: str  # torch.nn.init.calculate_gain's name for its Xavier initialisation


ACTIVATIONS: dict[str, ActivationSpec] = {
    "linear": ActivationSpec("Linear", nn.Identity, "nn.Identity()", "linear"),
    "sigmoid": ActivationSpec("Sigmoid", nn.Sigmoid, "nn.Sigmoid()", "sigmoid"),
    "tanh": ActivationSpec("Tanh", nn.Tanh, "nn.Tanh()", "tanh"),
    "relu": ActivationSpec("ReLU", nn.ReLU, "nn.ReLU()", "relu"),
}

# fused: one kernel for all parameters, about 1.5x the steps per second of the default here
OPTIMISERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr, fused=True),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, fused=True),
}

REGULARISERS = ("none", "l1", "l2")  # penalty on the weights (not the biases), times the rate
PROBLEMS = ("classification", "regression")

# Limits: every run stays small (a class may start 50 at once).
MAX_DEPTH = 6
MAX_WIDTH = 16
MIN_POINTS, MAX_POINTS = 20, 2000
MAX_CLICKED = 1000
# Your points while they are still being clicked: not wrong, not yet ready (the page shows a hint)
TOO_FEW_POINTS = "click at least two points onto the plane (one train, one test)"
ONE_CLASS_ONLY = "click points of both classes"
MAX_SECONDS = 120.0
MAX_STEPS = 200_000


@dataclass(frozen=True)
class PlaygroundSettings:
    """Everything a playground run depends on. Invalid values raise ValueError with a message
    a person can act on (the page's widgets, its links and the command line all land here)."""

    problem: str = "classification"
    dataset: str = "circle"
    points: int = 1000
    noise: float = 0.0  # 0 .. 0.5
    test_fraction: float = 0.5
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    optimiser: str = "adam"
    learning_rate: float = 0.03
    batch_size: int = 32  # 10 in TensorFlow Playground; 32 reaches the goals in fewer steps
    regularisation: str = "none"
    regularisation_rate: float = 0.0
    seed: int = 1
    max_seconds: float = 30.0  # a run's compute budget
    max_steps: int = 100_000
    clicked: tuple[tuple[float, float, float], ...] = field(default=(), repr=True)

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def inputs(self) -> int:
        return len(self.features)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Neurons per layer from the inputs to the single output."""
        return (self.inputs, *self.hidden, 1)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _check(s: PlaygroundSettings) -> list[str]:
    """Every problem with the settings, as sentences (empty when they are fine)."""
    out: list[str] = []
    if s.problem not in PROBLEMS:
        out.append(f"problem must be one of {', '.join(PROBLEMS)}, not {s.problem!r}")
    elif s.dataset not in DATASETS:
        out.append(f"unknown dataset {s.dataset!r}; choose one of {', '.join(DATASETS)}")
    elif s.dataset not in datasets_for(s.problem):
        out.append(f"{s.dataset!r} is not a {s.problem} dataset; choose one of "
                   f"{', '.join(datasets_for(s.problem))}")
    ints = {"points": (MIN_POINTS, MAX_POINTS), "batch_size": (1, MAX_POINTS),
            "seed": (0, 2**31 - 1), "max_steps": (1, MAX_STEPS)}
    for name, (low, high) in ints.items():
        value = getattr(s, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            out.append(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    floats = {"noise": (0.0, 0.5), "test_fraction": (0.1, 0.9), "learning_rate": (1e-5, 10.0),
              "regularisation_rate": (0.0, 10.0), "max_seconds": (0.0, MAX_SECONDS)}
    for name, (low, high) in floats.items():
        value = getattr(s, name)
        if not _number(value) or not low <= value <= high:
            out.append(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
    if not isinstance(s.features, tuple) or not s.features:
        out.append("choose at least one input feature")
    else:
        unknown = [f for f in s.features if f not in FEATURES]
        if unknown or len(set(s.features)) != len(s.features):
            out.append(f"input features must be distinct names from {', '.join(FEATURES)}, "
                       f"not {s.features!r}")
    if not isinstance(s.hidden, tuple) or len(s.hidden) > MAX_DEPTH or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH
            for w in s.hidden):
        out.append(f"hidden layers: at most {MAX_DEPTH} layers of 1 to {MAX_WIDTH} neurons "
                   f"each, not {s.hidden!r}")
    for name, registry in (("activation", ACTIVATIONS), ("optimiser", OPTIMISERS)):
        if getattr(s, name) not in registry:
            out.append(f"{name} must be one of {', '.join(registry)}, "
                       f"not {getattr(s, name)!r}")
    if s.regularisation not in REGULARISERS:
        out.append(f"regularisation must be one of {', '.join(REGULARISERS)}, "
                   f"not {s.regularisation!r}")
    out.extend(_check_clicked(s))
    return out


def _check_clicked(s: PlaygroundSettings) -> list[str]:
    if not isinstance(s.clicked, tuple):
        return ["clicked points must be a tuple of (x1, x2, value) triples"]
    if len(s.clicked) > MAX_CLICKED:
        return [f"at most {MAX_CLICKED} clicked points, not {len(s.clicked)}"]
    for point in s.clicked:
        if not (isinstance(point, tuple) and len(point) == 3 and all(map(_number, point))):
            return [f"a clicked point must be three finite numbers (x1, x2, value), not "
                    f"{point!r}"[:200]]
        if abs(point[0]) > EXTENT or abs(point[1]) > EXTENT:
            return [f"clicked point ({point[0]:g}, {point[1]:g}) lies outside the plane "
                    f"[-{EXTENT:g}, {EXTENT:g}]²"]
        if point[2] not in (-1, 1, -1.0, 1.0):
            return [f"a clicked point's value must be +1 or -1, not {point[2]!r}"]
    if s.dataset == CLICKED:
        if len(s.clicked) < 2:
            return [TOO_FEW_POINTS]
        if s.problem == "classification" and len({p[2] for p in s.clicked}) < 2:
            return [ONE_CLASS_ONLY]
    return []


def parse_hidden(text: str) -> tuple[int, ...]:
    """"8, 8" -> (8, 8); "", "0" or "none" -> () (no hidden layer). ValueError with a message
    for anything else; the widths themselves are checked by PlaygroundSettings."""
    cleaned = str(text).strip().lower()
    if cleaned in ("", "0", "none", "()"):
        return ()
    parts = [part.strip() for part in cleaned.strip("()[]").split(",")]
    if len(parts) > 4 * MAX_DEPTH or not all(part.isdigit() and len(part) <= 6
                                             for part in parts):
        raise ValueError(f"hidden layers: write neurons per layer as whole numbers separated "
                         f"by commas, e.g. 8, 8 (at most {MAX_DEPTH} layers of 1 to "
                         f"{MAX_WIDTH}), not {str(text)[:40]!r}")
    return tuple(int(part) for part in parts)


def replace_checked(settings: PlaygroundSettings, **changes: object) -> PlaygroundSettings:
    """dataclasses.replace that names only known fields (a link's typo gets a message)."""
    names = {f.name for f in fields(PlaygroundSettings)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    values = {name: getattr(settings, name) for name in names}
    values.update(changes)
    return PlaygroundSettings(**values)
