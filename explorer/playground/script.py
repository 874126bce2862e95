"""A plain PyTorch script that reproduces a playground run and its decision surface without the app (the "Show the code" panel)."""

from __future__ import annotations

import inspect

from explorer.playground import datasets
from explorer.playground.datasets import CLICKED, DATASETS
from explorer.playground.settings import ACTIVATIONS, FEATURES, PlaygroundSettings

_OPTIMISERS = {"adam": "torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, fused=True)",
               "sgd": "torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, fused=True)"}


def _points_code(settings: PlaygroundSettings) -> str:
    """The dataset's generator as `make_points(n, noise, rng)` (its own source), or the
    clicked points as a literal."""
    if settings.dataset == CLICKED:
        rows = ",\n    ".join(f"({x:g}, {y:g}, {v:+g})" for x, y, v in settings.clicked)
        convert = ("(table[:, 2] > 0).astype(np.float32)" if settings.problem == "classification"
                   else "table[:, 2].astype(np.float32)")
        return (f"CLICKED = [  # (x1, x2, value): the points clicked onto the plane\n"
                f"    {rows},\n]\n\n\n"
                f"def make_points(n, noise, rng):\n"
                f"    table = np.array(CLICKED, dtype=np.float64)\n"
                f"    return table[:, :2], {convert}\n")
    source = inspect.getsource(DATASETS[settings.dataset].make)
    name = DATASETS[settings.dataset].make.__name__
    source = source.replace(f"def {name}(", "def make_points(", 1)
    source = source.replace("n: int, noise: float, rng: np.random.Generator", "n, noise, rng")
    source = source.replace(" -> tuple[np.ndarray, np.ndarray]:", ":")
    extra = f"_BUMPS = {datasets._BUMPS!r}\n\n\n" if settings.dataset == "bumps" else ""
    return extra + source


def playground_script(settings: PlaygroundSettings, steps: int) -> str:
    """A runnable script: the same data, features, initial weights, batches and updates as
    the page's run (same seed), `steps` batches, then its losses, accuracies and figure."""
    s = settings
    features = ",\n        ".join(f"{FEATURES[f].formula},  # {f}" for f in s.features)
    sizes = s.layer_sizes
    activation = ACTIVATIONS[s.activation]
    classification = s.problem == "classification"
    loss = ("F.binary_cross_entropy_with_logits(raw, target)" if classification
            else "F.mse_loss(raw, target)")
    penalty = {"none": "0.0", "l1": "sum(m.weight.abs().sum() for m in linears)",
               "l2": "sum(m.weight.pow(2).sum() for m in linears)"}[s.regularisation]
    return f'''"""Playground run: {DATASETS[s.dataset].label}, hidden layers {list(s.hidden)}, \
{activation.label}, seed {s.seed}.

The same data, initial weights, batches and updates as the app's run with these settings:
{steps} batches, then the losses, accuracies and the decision surface (playground.png).
Needs numpy and torch (matplotlib for the figure).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SEED = {s.seed}
POINTS, NOISE, TEST_FRACTION = {s.points}, {s.noise!r}, {s.test_fraction!r}
HIDDEN = {list(s.hidden)}  # neurons per hidden layer
LEARNING_RATE, BATCH_SIZE = {s.learning_rate!r}, {s.batch_size}
STEPS = {steps}  # batches the app's run had trained
REGULARISATION_RATE = {s.regularisation_rate if s.regularisation != "none" else 0.0!r}
RADIUS = 5.0  # points lie within radius 5; the plane shown is [-6, 6]^2


{_points_code(s)}

def make_data():
    """Points and targets, shuffled and split: (train x, train y, test x, test y)."""
    rng = np.random.default_rng(SEED)
    xy, targets = make_points(POINTS, NOISE, rng)
    order = rng.permutation(len(xy))
    xy, targets = xy[order].astype(np.float32), targets[order]
    test = min(len(xy) - 1, max(1, round(len(xy) * TEST_FRACTION)))
    return xy[test:], targets[test:], xy[:test], targets[:test]


def features(xy):
    """(N, 2) plane points -> (N, {len(s.features)}) inputs."""
    xy = torch.as_tensor(xy, dtype=torch.float32)
    x1, x2 = xy[:, 0], xy[:, 1]
    return torch.stack([
        {features}
    ], dim=1)


def build_model():
    """Linear + {activation.label} per hidden layer, one output; Xavier-uniform weights."""
    generator = torch.Generator().manual_seed(SEED)
    sizes = {list(sizes)}
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(fan_in, fan_out)
        last = index == len(sizes) - 2
        gain = 1.0 if last else nn.init.calculate_gain("{activation.gain}")
        with torch.no_grad():
            nn.init.xavier_uniform_(linear.weight, gain=gain, generator=generator)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append({activation.code})
    return nn.Sequential(*layers)


def data_loss(raw, target):
    raw = raw.squeeze(1)
    return {loss}


def train():
    train_xy, train_y, test_xy, test_y = make_data()
    train_x, test_x = features(train_xy), features(test_xy)
    train_y, test_y = torch.as_tensor(train_y), torch.as_tensor(test_y)
    model = build_model()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    optimiser = {_OPTIMISERS[s.optimiser]}
    generator = torch.Generator().manual_seed(SEED)  # the batch order
    batch = min(BATCH_SIZE, len(train_y))
    order, cursor = torch.empty(0, dtype=torch.long), 0
    for _ in range(STEPS):
        if cursor >= len(order):  # a new epoch: a new shuffle
            order, cursor = torch.randperm(len(train_y), generator=generator), 0
        index = order[cursor:cursor + batch]
        cursor += batch
        loss = data_loss(model(train_x[index]), train_y[index])
        penalty = REGULARISATION_RATE * ({penalty})  # weights only, not biases
        optimiser.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        optimiser.step()
    results = {{}}
    with torch.no_grad():
        for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
            raw = model(x)
            results[name + "_loss"] = data_loss(raw, y).item()
            {"results[name + '_accuracy'] = ((raw.squeeze(1) > 0).float() == y).float().mean().item()" if classification else "pass"}
    return model, (train_xy, test_xy), results


def figure(model, points, path="playground.png"):
    """The decision surface: blue -1, white 0, red +1 ({"2p - 1" if classification else "the output"})."""
    import matplotlib.pyplot as plt

    axis = np.linspace(-6, 6, 81, dtype=np.float32)
    x1, x2 = np.meshgrid(axis, axis)
    with torch.no_grad():
        raw = model(features(np.stack([x1.ravel(), x2.ravel()], axis=1)))
    surface = {"torch.tanh(raw / 2)" if classification else "raw"}.reshape(x1.shape).numpy()
    plt.imshow(surface, extent=(-6, 6, -6, 6), origin="lower", cmap="RdBu_r", vmin=-1, vmax=1)
    plt.scatter(*points[0].T, s=8, c="k", alpha=0.4, label="train")
    plt.scatter(*points[1].T, s=8, facecolors="none", edgecolors="k", label="test")
    plt.legend()
    plt.savefig(path, dpi=120)


if __name__ == "__main__":
    model, points, results = train()
    for name, value in results.items():
        print(f"{{name}}: {{value:.4f}}")
    try:
        figure(model, points)
        print("decision surface saved to playground.png")
    except ImportError:
        print("(install matplotlib for the figure)")
'''
