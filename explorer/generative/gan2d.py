"""A GAN on 2-D points (GAN Lab's view): real distributions on the unit square, a small MLP
generator and discriminator, D's output over the plane, G's samples and the arrows of the
gradient that moves them; separate D and G steps for the step-by-step mode; modes covered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.generative.base import BaseSettings, joint_state_dict, load_joint_state_dict
from explorer.generative.gan import (
    discriminator_loss,
    generator_loss,
    minimax_generator_loss,
)
from explorer.jobs.concurrency import RNG_LOCK
from explorer.user_input import InputError, NumberField

RES = 40  # D's heat map: RES x RES points over the plane
PLANE = (-0.05, 1.05)  # the square shown (data live in [0, 1]^2)
SHOWN = 256  # real points, G's samples (fixed z's) and arrows in each preview


# -- the real distributions -----------------------------------------------------------------

@dataclass(frozen=True)
class Distribution:
    label: str
    draw: Callable[[int, np.random.Generator], np.ndarray]  # (count, rng) -> (count, 2)
    modes: np.ndarray | None = None  # (K, 2) centres of separate clusters, for modes_covered
    spread: float = 0.0  # each cluster's standard deviation


def _ring_centres(count: int = 8, radius: float = 0.35) -> np.ndarray:
    angle = 2 * np.pi * np.arange(count) / count
    return 0.5 + radius * np.stack([np.cos(angle), np.sin(angle)], 1)  # (count, 2)


def _clusters(centres: np.ndarray, spread: float) -> Callable[[int, np.random.Generator],
                                                              np.ndarray]:
    def draw(count: int, rng: np.random.Generator) -> np.ndarray:
        which = rng.integers(len(centres), size=count)
        return centres[which] + spread * rng.standard_normal((count, 2))
    return draw


def _moons(count: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved half circles (scikit-learn's make_moons, scaled into the square)."""
    upper = rng.random(count) < 0.5
    t = np.pi * rng.random(count)
    x = np.where(upper, np.cos(t), 1 - np.cos(t))  # in [-1, 2]
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))  # in [-0.5, 1]
    points = np.stack([(x + 1) / 3, (y + 0.5) / 1.5 * 0.5 + 0.25], 1)
    return points + 0.015 * rng.standard_normal((count, 2))


def _line(count: int, rng: np.random.Generator) -> np.ndarray:
    t = rng.random(count)[:, None]
    return (1 - t) * np.array([0.2, 0.25]) + t * np.array([0.8, 0.75]) \
        + 0.01 * rng.standard_normal((count, 2))


def _circle(count: int, rng: np.random.Generator) -> np.ndarray:
    angle = 2 * np.pi * rng.random(count)
    return 0.5 + 0.3 * np.stack([np.cos(angle), np.sin(angle)], 1) \
        + 0.01 * rng.standard_normal((count, 2))


_TWO = np.array([[0.3, 0.3], [0.7, 0.7]])
DISTRIBUTIONS: dict[str, Distribution] = {
    "ring": Distribution("Ring of 8 Gaussians", _clusters(_ring_centres(), 0.02),
                         _ring_centres(), 0.02),
    "two clusters": Distribution("Two Gaussians", _clusters(_TWO, 0.05), _TWO, 0.05),
    "moons": Distribution("Two moons", _moons),
    "circle": Distribution("Circle", _circle),
    "line": Distribution("Line", _line),
}

G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "non-saturating": generator_loss,  # the lecture's J_G = -E ln D(G(z))
    "minimax": minimax_generator_loss,  # the original game: E ln(1 - D(G(z)))
}

FIELDS = {
    "latent": NumberField("Noise dimensions", 1, 8, integer=True),
    "hidden": NumberField("Hidden units", 2, 128, integer=True),
    "layers": NumberField("Hidden layers", 1, 4, integer=True),
    "batch_size": NumberField("Batch size", 8, 1_024, integer=True),
    "lr_g": NumberField("Generator learning rate", 1e-5, 0.1),
    "lr_d": NumberField("Discriminator learning rate", 1e-5, 0.1),
    "d_steps": NumberField("Discriminator steps per generator step", 1, 10, integer=True),
    "max_steps": NumberField("Steps", 1, 100_000, integer=True),
    "max_seconds": NumberField("Seconds of training", 1, 600),
    "seed": NumberField("Seed", 0, 2**31 - 1, integer=True),
}


@dataclass(frozen=True)
class Settings(BaseSettings):
    """A 2-D GAN run: the real distribution (dataset), both MLPs' size, the noise, Adam's
    learning rates, D steps per G step, the generator's loss and the budget."""

    dataset: str = "ring"
    latent: int = 2
    hidden: int = 64
    layers: int = 2
    batch_size: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1
    g_loss: str = "non-saturating"
    max_steps: int = 3_000
    max_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.dataset not in DISTRIBUTIONS:
            raise InputError(f"Unknown distribution {self.dataset!r}; choose one of "
                             f"{', '.join(DISTRIBUTIONS)}.")
        if self.g_loss not in G_LOSSES:
            raise InputError(f"Unknown generator loss {self.g_loss!r}; choose one of "
                             f"{', '.join(G_LOSSES)}.")
        for name, field in FIELDS.items():
            object.__setattr__(self, name, field.check(getattr(self, name)))


def mlp(inputs: int, hidden: int, layers: int, outputs: int, act: type[nn.Module]) -> nn.Sequential:
    """inputs -> `layers` hidden layers of `hidden` units with `act` -> outputs (linear)."""
    parts: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        parts += [nn.Linear(width, hidden), act()]
        width = hidden
    return nn.Sequential(*parts, nn.Linear(width, outputs))


def plane_grid(res: int = RES) -> np.ndarray:
    """(res * res, 2) points of the shown square, row by row from the bottom (y rising)."""
    axis = np.linspace(*PLANE, res)
    xs, ys = np.meshgrid(axis, axis)
    return np.stack([xs.ravel(), ys.ravel()], 1)


def modes_covered(points: np.ndarray, distribution: str, share: float = 0.02) -> int | None:
    """How many of the distribution's clusters hold at least `share` of `points` within 3
    standard deviations of their centre (None for a distribution without clusters)."""
    spec = DISTRIBUTIONS[distribution]
    if spec.modes is None:
        return None
    distance = np.linalg.norm(points[:, None, :] - spec.modes[None], axis=2)  # (N, K)
    near = distance < 3 * spec.spread
    return int((near.mean(0) >= share).sum())


@dataclass(frozen=True)
class Preview:
    step: int
    heat: np.ndarray  # (RES, RES) float32: D(x) on plane_grid(), row 0 at the bottom
    real: np.ndarray  # (SHOWN, 2) float32: fixed real points
    fake: np.ndarray  # (SHOWN, 2) float32: G of fixed z's (the same points move)
    arrows: np.ndarray  # (SHOWN, 2) float32: -dJ_G/dx at each fake point (where G pushes it)
    modes: int | None  # clusters G covers (None without clusters)
    mode_count: int | None  # clusters the distribution has


class Gan2dTrainer:
    """Alternating Adam steps: `d_steps` of D on J_D, then one of G on its loss."""

    def __init__(self, settings: Settings) -> None:
        self.settings = s = settings
        with RNG_LOCK, torch.random.fork_rng(devices=[]):  # seeded weights, nobody else's RNG
            torch.manual_seed(s.seed)
            self.generator = mlp(s.latent, s.hidden, s.layers, 2, nn.ReLU)
            self.discriminator = mlp(2, s.hidden, s.layers, 1, nn.LeakyReLU)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), s.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), s.lr_d,
                                      betas=(0.5, 0.999))
        self.rng = np.random.default_rng(s.seed)
        self.torch_rng = torch.Generator().manual_seed(s.seed + 1)
        self.draw = DISTRIBUTIONS[s.dataset].draw
        shown = np.random.default_rng(s.seed + 2)
        self.real_shown = self.draw(SHOWN, shown).astype(np.float32)
        self.z_shown = torch.from_numpy(shown.standard_normal((SHOWN, s.latent))).float()
        self.grid = torch.from_numpy(plane_grid()).float()
        self.steps = 0
        self.last: dict[str, float] = {}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x).squeeze(1)  # (N,)

    def _z(self) -> torch.Tensor:
        return torch.randn(self.settings.batch_size, self.settings.latent,
                           generator=self.torch_rng)

    def step_discriminator(self) -> dict[str, float]:
        """One Adam step of D on J_D with a fresh real batch and a fresh fake batch."""
        real = torch.from_numpy(self.draw(self.settings.batch_size, self.rng)).float()
        with torch.no_grad():
            fake = self.generator(self._z())
        real_logits, fake_logits = self._logits(real), self._logits(fake)
        j_d = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        j_d.backward()
        self.opt_d.step()
        self.last.update({"J_D": j_d.item(), "D(x)": torch.sigmoid(real_logits).mean().item(),
                          "D(G(z))": torch.sigmoid(fake_logits).mean().item()})
        return dict(self.last)

    def step_generator(self) -> dict[str, float]:
        """One Adam step of G on its loss against the current D."""
        j_g = G_LOSSES[self.settings.g_loss](self._logits(self.generator(self._z())))
        self.opt_g.zero_grad(set_to_none=True)
        j_g.backward()
        self.opt_g.step()
        self.last["J_G"] = j_g.item()
        return dict(self.last)

    def step(self) -> dict[str, float]:
        for _ in range(self.settings.d_steps):
            self.step_discriminator()
        self.step_generator()
        self.steps += 1
        return {"loss": self.last["J_D"] + self.last["J_G"], **self.last}

    def preview(self) -> Preview:
        with torch.no_grad():
            heat = torch.sigmoid(self._logits(self.grid)).reshape(RES, RES).numpy()
            fake = self.generator(self.z_shown)
        x = fake.clone().requires_grad_(True)
        # per point: J_G's term for that point alone (the sum's gradient splits by point)
        loss = G_LOSSES[self.settings.g_loss](self._logits(x)) * len(x)
        (grad,) = torch.autograd.grad(loss, x)
        fake_np = fake.numpy().astype(np.float32)
        spec = DISTRIBUTIONS[self.settings.dataset]
        return Preview(self.steps, heat.astype(np.float32), self.real_shown, fake_np,
                       (-grad).numpy().astype(np.float32),
                       modes_covered(fake_np, self.settings.dataset),
                       None if spec.modes is None else len(spec.modes))

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """G's points for `count` z's drawn with `seed`, clipped to the unit square."""
        count = NumberField("Samples", 1, 100_000, integer=True).check(count)
        z = torch.randn(count, self.settings.latent, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return np.clip(self.generator(z).numpy(), 0.0, 1.0).astype(np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Both networks' weights under "generator." and "discriminator."."""
        return joint_state_dict(generator=self.generator, discriminator=self.discriminator)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        load_joint_state_dict(state, generator=self.generator, discriminator=self.discriminator)


def make_trainer(settings: Settings) -> Gan2dTrainer:
    return Gan2dTrainer(settings)
