"""A 2-D normalizing flow (RealNVP affine couplings) trained by maximum likelihood on two moons,
rings or the user's points: its density, a grid pushed through every layer both ways, and the
negative log-likelihood split into the base term and the log-determinant."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.generative.base import BaseSettings
from explorer.user_input import InputError, NumberField

EXTENT = 4.0  # the plane shown (and where drawn points may lie) is [-EXTENT, EXTENT]^2
LOG_2PI = math.log(2 * math.pi)
TEST_POINTS = 2_000  # held-out points of a generated dataset (a fresh draw, seed + 1)
MIN_DRAWN, MAX_DRAWN = 10, 2_000
GRID_LINES, LINE_POINTS, HEAT = 9, 60, 81  # the grid's lines, points per line; heat map pixels

# -- the data ------------------------------------------------------------------------------


def _moons(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's two moons, centred and scaled by 2 (x in [-3, 3], y in [-1.5, 1.5])."""
    half = n // 2
    upper, lower = rng.uniform(0, math.pi, half), rng.uniform(0, math.pi, n - half)
    points = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], 1),
                             np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], 1)])
    return (points - [0.5, 0.25]) * 2 + rng.normal(0, noise, (n, 2))


def _rings(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Two concentric rings of radius 1.2 and 2.8 (their points in proportion to length)."""
    radius = np.where(rng.random(n) < 1.2 / 4.0, 1.2, 2.8)
    angle = rng.uniform(0, 2 * math.pi, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1) \
        + rng.normal(0, noise, (n, 2))


@dataclass(frozen=True)
class DatasetSpec:
    label: str
    make: Callable[[int, float, np.random.Generator], np.ndarray] | None  # None: drawn points
    description: str


DRAWN = "points"
DATASETS: dict[str, DatasetSpec] = {
    "moons": DatasetSpec("Two moons", _moons, "Two interlocking half circles."),
    "rings": DatasetSpec("Rings", _rings, "Two concentric circles: a density with a hole."),
    DRAWN: DatasetSpec("Your points", None, "The points you draw onto the plane (used for "
                                            "training and for the test NLL)."),
}


def check_drawn(points: object) -> tuple[tuple[float, float], ...]:
    """Drawn points as ((x, y), ...) inside the plane, or InputError saying what is wrong."""
    if not isinstance(points, (list, tuple)):
        raise InputError("Drawn points must be a list of (x, y) pairs.")
    if len(points) > MAX_DRAWN:
        raise InputError(f"At most {MAX_DRAWN:,} drawn points; got {len(points):,}.")
    field = NumberField("A drawn point's coordinate", -EXTENT, EXTENT)
    out = []
    for point in points:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise InputError(f"A drawn point must be two numbers (x, y); got {point!r}"[:120]
                             + ".")
        out.append((float(field.check(point[0])), float(field.check(point[1]))))
    return tuple(out)


def make_points(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(train (n, 2), test (m, 2)) float32 points of the settings' dataset."""
    spec = DATASETS[settings.dataset]
    if spec.make is None:
        drawn = np.asarray(settings.drawn, dtype=np.float32).reshape(-1, 2)
        return drawn, drawn
    train = spec.make(settings.points, settings.noise, np.random.default_rng(settings.seed))
    test = spec.make(TEST_POINTS, settings.noise, np.random.default_rng(settings.seed + 1))
    return train.astype(np.float32), test.astype(np.float32)


def gaussian_nll_of(train: np.ndarray, test: np.ndarray) -> float:
    """NLL (nats per point) of `test` under the single Gaussian fitted to `train` by maximum
    likelihood (mean and full covariance; a tiny ridge keeps a degenerate cloud finite)."""
    x = torch.as_tensor(train, dtype=torch.float64)
    mean = x.mean(0)
    cov = torch.cov(x.T, correction=0) + 1e-6 * torch.eye(2, dtype=torch.float64)
    normal = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return float(-normal.log_prob(torch.as_tensor(test, dtype=torch.float64)).mean())


# -- the flow ------------------------------------------------------------------------------


class Coupling(nn.Module):
    """RealNVP's affine coupling on the plane: one coordinate a passes unchanged, the other b
    becomes b exp(s(a)) + t(a); log|det| = s(a) (a triangular Jacobian). `flip` swaps roles."""

    def __init__(self, flip: bool, hidden: int) -> None:
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, 2))
        nn.init.zeros_(self.net[-1].weight)  # every coupling starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x[:, 1:], x[:, :1]) if self.flip else (x[:, :1], x[:, 1:])

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([b, a] if self.flip else [a, b], dim=1)

    def _scale_shift(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(a).chunk(2, dim=1)
        return 2 * torch.tanh(s / 2), t  # |s| < 2: no step stretches by more than e^2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (z, log|det dz/dx|) per point (N,)."""
        a, b = self._split(x)
        s, t = self._scale_shift(a)
        return self._join(a, b * torch.exp(s) + t), s[:, 0]

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        a, b = self._split(z)
        s, t = self._scale_shift(a)
        return self._join(a, (b - t) * torch.exp(-s))


class Standardise(nn.Module):
    """The fixed first layer x -> (x - mean) / std of the training points (log|det| constant)."""

    def __init__(self, points: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(points.mean(0), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(points.std(0) + 1e-3, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x - self.mean) / self.std, -self.std.log().sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class Flow(nn.Module):
    """f = coupling_K o ... o coupling_1 o standardise: data x -> z ~ N(0, I) (the lecture's
    f^{-1} in its likelihood: the map from the data to the Gaussian); the inverse samples."""

    def __init__(self, points: np.ndarray, couplings: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Standardise(points)] + [
            Coupling(flip=bool(k % 2), hidden=hidden) for k in range(couplings)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 2) -> (z (N, 2), log|det df/dx| (N,))."""
        log_det = torch.zeros(len(x), dtype=x.dtype)
        for layer in self.layers:
            x, term = layer(x)
            log_det = log_det + term
        return x, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def stages(self, x: torch.Tensor, inverse: bool = False) -> list[torch.Tensor]:
        """x and its image after every layer (data -> z), or z through f^{-1} (z -> data)."""
        out = [x]
        for layer in (reversed(self.layers) if inverse else self.layers):
            x = layer.inverse(x) if inverse else layer(x)[0]
            out.append(x)
        return out


def log_base(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) in 2-D, per point."""
    return -0.5 * (z**2).sum(1) - LOG_2PI


# -- settings ------------------------------------------------------------------------------

FIELDS = {
    "points": NumberField("Points", 50, 5_000, integer=True),
    "noise": NumberField("Noise", 0.0, 1.0),
    "couplings": NumberField("Couplings", 1, 16, integer=True),
    "hidden": NumberField("Hidden units", 4, 128, integer=True),
    "batch_size": NumberField("Batch size", 8, 2_000, integer=True),
    "learning_rate": NumberField("Learning rate", 1e-5, 1e-1),
    "seed": NumberField("Seed", 0, 2**31 - 1, integer=True),
    "max_steps": NumberField("Steps", 1, 1_000_000, integer=True),
    "max_seconds": NumberField("Seconds", 0.1, 600.0),
}
MAX_SAMPLES = 20_000


@dataclass(frozen=True)
class Settings(BaseSettings):
    dataset: str = "moons"
    points: int = 1_000
    noise: float = 0.1
    couplings: int = 8
    hidden: int = 64
    batch_size: int = 256
    learning_rate: float = 3e-3
    drawn: tuple[tuple[float, float], ...] = ()
    max_steps: int = 100_000
    max_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name, field in FIELDS.items():
            object.__setattr__(self, name, field.check(getattr(self, name)))
        if self.dataset not in DATASETS:
            raise InputError(f"Unknown dataset {self.dataset!r}; choose one of "
                             f"{', '.join(DATASETS)}.")
        object.__setattr__(self, "drawn", check_drawn(self.drawn)
                           if self.dataset == DRAWN else ())
        if self.dataset == DRAWN and len(self.drawn) < MIN_DRAWN:
            raise InputError(f"Draw at least {MIN_DRAWN} points onto the plane; there are "
                             f"{len(self.drawn)}.")


# -- the trainer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    extent: float
    axis: np.ndarray  # (HEAT,) coordinates of the heat map's rows and columns
    density: np.ndarray  # (HEAT, HEAT) p(x) on the grid, rows = y
    train: np.ndarray  # (n, 2) up to 1,000 training points
    samples: np.ndarray  # (m, 2) samples x = f^{-1}(z)
    forward: np.ndarray  # (layers + 1, lines, LINE_POINTS, 2): a data-space grid through f
    inverse: np.ndarray  # (layers + 1, lines, LINE_POINTS, 2): a z-space grid through f^{-1}
    points_forward: np.ndarray  # (layers + 1, n, 2): the training points through f
    layer_names: tuple[str, ...]
    nll: float  # test NLL in nats per point = base + log_det below
    base: float  # -mean log N(f(x))
    log_det: float  # -mean log|det df/dx|
    gaussian: float  # the single Gaussian's test NLL


def grid_lines(extent: float) -> torch.Tensor:
    """GRID_LINES horizontal and as many vertical lines across [-extent, extent]^2 ->
    (2 GRID_LINES, LINE_POINTS, 2)."""
    ticks = torch.linspace(-extent, extent, GRID_LINES)
    run = torch.linspace(-extent, extent, LINE_POINTS)
    horizontal = torch.stack([run.expand(GRID_LINES, -1), ticks[:, None].expand(-1, LINE_POINTS)], 2)
    return torch.cat([horizontal, horizontal.flip(2)])


class FlowTrainer:
    """Minimises NLL = -mean[log N(f(x); 0, I) + log|det df/dx|] with Adam on mini-batches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.train, self.test = make_points(settings)
        torch.manual_seed(settings.seed)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.flow = Flow(self.train, settings.couplings, settings.hidden)
        self.optimiser = torch.optim.Adam(self.flow.parameters(), lr=settings.learning_rate)
        self._train = torch.as_tensor(self.train)
        self._gaussian = gaussian_nll_of(self.train, self.test)

    def nll_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(-mean log N(f(x)), -mean log|det|): their sum is the NLL per point."""
        z, log_det = self.flow(x)
        return -log_base(z).mean(), -log_det.mean()

    def step(self) -> dict[str, float]:
        s = self.settings
        batch = min(s.batch_size, len(self._train))
        index = torch.randperm(len(self._train), generator=self.generator)[:batch]
        base, log_det = self.nll_terms(self._train[index])
        loss = base + log_det
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return {"loss": float(loss.detach()), "base": float(base.detach()),
                "log_det": float(log_det.detach())}

    @torch.no_grad()
    def nll_split(self) -> tuple[float, float, float]:
        """(NLL, base term, log-det term) on the test points, nats per point."""
        base, log_det = self.nll_terms(torch.as_tensor(self.test))
        return float(base + log_det), float(base), float(log_det)

    def test_nll(self) -> float:
        """The flow's NLL of the held-out points, nats per point (the command line's
        test_nll)."""
        return self.nll_split()[0]

    def gaussian_nll(self) -> float:
        """The NLL of the same held-out points under one Gaussian fitted to the training
        points, nats per point (the command line's gaussian_nll: what the flow must beat)."""
        return self._gaussian

    @torch.no_grad()
    def log_density(self, x: np.ndarray) -> np.ndarray:
        z, log_det = self.flow(torch.as_tensor(x, dtype=torch.float32))
        return (log_base(z) + log_det).numpy()

    @torch.no_grad()
    def preview(self) -> Preview:
        axis = np.linspace(-EXTENT, EXTENT, HEAT, dtype=np.float32)
        xx, yy = np.meshgrid(axis, axis)
        density = np.exp(self.log_density(np.stack([xx.ravel(), yy.ravel()], 1)))
        nll, base, log_det = self.nll_split()
        shown = torch.as_tensor(self.train[:1000])
        forward = self.flow.stages(grid_lines(EXTENT).reshape(-1, 2))
        inverse = self.flow.stages(grid_lines(3.0).reshape(-1, 2), inverse=True)
        shape = (2 * GRID_LINES, LINE_POINTS, 2)
        names = ["standardise"] + [f"coupling {k + 1} ({'x→y' if k % 2 == 0 else 'y→x'})"
                                   for k in range(self.settings.couplings)]
        return Preview(
            EXTENT, axis, density.reshape(HEAT, HEAT).astype(np.float32), self.train[:1000],
            self.sample(500, seed=0),
            np.stack([f.reshape(shape).numpy() for f in forward]),
            np.stack([f.reshape(shape).numpy() for f in inverse]),
            np.stack([f.numpy() for f in self.flow.stages(shown)]), tuple(names),
            nll, base, log_det, self._gaussian)

    @torch.no_grad()
    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """x = f^{-1}(z), z ~ N(0, I): (count, 2) float32 points of the plane."""
        count = NumberField("Samples", 1, MAX_SAMPLES, integer=True).check(count)
        z = torch.randn((count, 2), generator=torch.Generator().manual_seed(seed))
        return self.flow.inverse(z).numpy().astype(np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.flow.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.flow.load_state_dict(state)


def make_trainer(settings: Settings) -> FlowTrainer:
    return FlowTrainer(settings)

