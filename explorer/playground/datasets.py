"""Two-dimensional datasets on the plane [-6, 6]^2: circle, XOR, Gaussian blobs, spiral, two moons, regression surfaces and clicked points."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EXTENT = 6.0  # the plane shown is [-EXTENT, EXTENT]^2 (TensorFlow Playground's)
RADIUS = 5.0  # generated points lie within this radius or box


@dataclass(frozen=True)
class DatasetSpec:
    label: str
    problem: str  # "classification" (labels 0 / 1) or "regression" (targets in [-1, 1])
    make: Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    description: str


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 inside radius 2.5, class 0 in the ring 3.5..5 (TensorFlow Playground's circle)."""
    inner = n // 2
    radius = np.concatenate([rng.uniform(0, 0.5 * RADIUS, inner),
                             rng.uniform(0.7 * RADIUS, RADIUS, n - inner)])
    angle = rng.uniform(0, 2 * math.pi, n)
    points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    points += rng.uniform(-RADIUS, RADIUS, (n, 2)) * noise
    labels = (np.hypot(points[:, 0], points[:, 1]) < 0.5 * RADIUS).astype(np.float32)
    return points, labels


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform in the box, kept 0.3 away from the axes; class 1 where x1 * x2 > 0."""
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    points += np.where(points > 0, 0.3, -0.3)  # a margin around the axes
    points = np.clip(points, -RADIUS, RADIUS)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.float32)
    points += rng.uniform(-RADIUS, RADIUS, (n, 2)) * noise
    return points, labels


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs at (2, 2) (class 1) and (-2, -2) (class 0); noise widens them."""
    sigma = 0.5 + 3.5 * noise  # standard deviation 0.5 .. 2.25 for noise 0 .. 0.5
    half = n // 2
    centres = np.concatenate([np.full((half, 2), 2.0), np.full((n - half, 2), -2.0)])
    labels = np.concatenate([np.ones(half), np.zeros(n - half)]).astype(np.float32)
    return centres + rng.normal(0, sigma, (n, 2)), labels


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of 1.75 turns, r = 5 t, angle = 1.75 * 2 pi t (+ pi for class 0)."""
    half = n // 2
    parts, labels = [], []
    for count, delta, label in ((half, 0.0, 1.0), (n - half, math.pi, 0.0)):
        t = np.arange(count) / count
        radius, angle = t * RADIUS, 1.75 * t * 2 * math.pi + delta
        xy = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
        parts.append(xy + rng.uniform(-1, 1, (count, 2)) * noise)
        labels.append(np.full(count, label))
    return np.concatenate(parts), np.concatenate(labels).astype(np.float32)


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons, scaled by 2.5 and centred: class 1 the upper moon."""
    half = n // 2
    upper, lower = rng.uniform(0, math.pi, half), rng.uniform(0, math.pi, n - half)
    points = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], axis=1),
                             np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], axis=1)])
    points = (points - [0.5, 0.25]) * 2.5 + rng.normal(0, 1, (n, 2)) * noise * 2.5
    labels = np.concatenate([np.ones(half), np.zeros(n - half)]).astype(np.float32)
    return points, labels


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Regression on a tilted plane: target (x1 + x2) / 10, clipped to [-1, 1], plus noise."""
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    target = (points[:, 0] + points[:, 1]) / (2 * RADIUS) + rng.uniform(-1, 1, n) * noise
    return points, np.clip(target, -1, 1).astype(np.float32)


_BUMPS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def _bumps(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Regression on six Gaussian bumps of alternating sign (TensorFlow Playground's)."""
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    target = np.zeros(n)
    for cx, cy, sign in _BUMPS:
        target += sign * np.exp(-((points[:, 0] - cx) ** 2 + (points[:, 1] - cy) ** 2) / 2)
    target += rng.uniform(-1, 1, n) * noise
    return points, np.clip(target, -1, 1).astype(np.float32)


CLICKED = "clicked"  # the dataset made of the points the user placed (settings.clicked)

DATASETS: dict[str, DatasetSpec] = {
    "circle": DatasetSpec("Circle", "classification", _circle,
                          "One class inside a disc, the other in a ring around it."),
    "xor": DatasetSpec("XOR", "classification", _xor,
                       "Class by the sign of x1 * x2: no single line separates it."),
    "gauss": DatasetSpec("Gaussian blobs", "classification", _gauss,
                         "Two Gaussian clouds; noise makes them overlap."),
    "spiral": DatasetSpec("Spiral", "classification", _spiral,
                          "Two interleaved spirals: the hardest one."),
    "moons": DatasetSpec("Two moons", "classification", _moons,
                         "Two interlocking half circles."),
    "plane": DatasetSpec("Plane (regression)", "regression", _plane,
                         "A target that rises linearly across the plane."),
    "bumps": DatasetSpec("Gaussian bumps (regression)", "regression", _bumps,
                         "Six bumps of alternating sign."),
    CLICKED: DatasetSpec("Your points", "both", lambda n, noise, rng: (np.zeros((0, 2)),
                                                                        np.zeros(0)),
                         "The points you click onto the plane."),
}


def datasets_for(problem: str) -> list[str]:
    """The registry's keys that fit a problem ("classification" or "regression")."""
    return [key for key, spec in DATASETS.items() if spec.problem in (problem, "both")]


@dataclass(frozen=True)
class PlaneData:
    """Points (N, 2) in plane coordinates and targets (N,), split into train and test."""

    train_points: np.ndarray
    train_targets: np.ndarray
    test_points: np.ndarray
    test_targets: np.ndarray


def make_data(dataset: str, points: int, noise: float, test_fraction: float, seed: int,
              clicked: tuple[tuple[float, float, float], ...] = (),
              problem: str = "classification") -> PlaneData:
    """The dataset's points for a seed, shuffled and split (at least one point on each side).
    Clicked points are (x1, x2, value), value +1 or -1: class 1 / 0, or the regression target."""
    rng = np.random.default_rng(seed)
    if dataset == CLICKED:
        table = np.asarray(clicked, dtype=np.float64).reshape(-1, 3)
        xy, targets = table[:, :2], table[:, 2].astype(np.float32)
        if problem == "classification":
            targets = (targets > 0).astype(np.float32)
    else:
        xy, targets = DATASETS[dataset].make(points, noise, rng)
    order = rng.permutation(len(xy))
    xy, targets = xy[order].astype(np.float32), targets[order]
    test = min(len(xy) - 1, max(1, round(len(xy) * test_fraction)))
    return PlaneData(xy[test:], targets[test:], xy[:test], targets[:test])
