"""What every generative model provides: a Trainer that takes one optimisation step at a time
and says what the page should show (the contract the job, the command line and the pages use)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

PREVIEW_SECONDS = 1.0  # how often a running job asks its trainer for a new preview
# what loading a weights file made by an older version of a model raises (other layers or
# settings): the pages then go on without the file
UNFIT_WEIGHTS = (RuntimeError, TypeError, KeyError, ValueError, pickle.UnpicklingError)


class Trainer(Protocol):
    """One model being trained, made by its module's `make_trainer(settings)` (seeded by
    settings.seed: the same settings give the same run on one thread).

    step() takes one optimisation step and returns the named losses of that step (the terms
    the lecture writes out, e.g. {"loss": ..., "reconstruction": ..., "kl": ...}; always a
    "loss" entry: what is minimised). preview() returns what the pages draw now: a small,
    picklable object of numpy arrays (a Preview subclass of the module's own). sample(count,
    seed) draws new samples as float32 in [0, 1], (N, C, H, W) for images or (N, 2) points.
    state_dict() / load_state_dict() are the weights (shipped under assets/generative/)."""

    def step(self) -> dict[str, float]: ...

    def preview(self) -> Any: ...

    def sample(self, count: int, seed: int = 0) -> np.ndarray: ...

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None: ...


@dataclass(frozen=True)
class BaseSettings:
    """What every model's Settings has (each module's frozen Settings subclasses it and checks
    its own fields in __post_init__ with explorer.user_input fields): the data, the seed and
    the work bound (steps and seconds of computing, whichever comes first)."""

    dataset: str = "shapes"
    seed: int = 0
    max_steps: int = 2_000
    max_seconds: float = 60.0


def joint_state_dict(**networks: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Several networks' weights in one dict, each under "<name>." (a GAN's generator and
    discriminator), copied so later training does not change them."""
    return {f"{name}.{key}": value.detach().clone()
            for name, network in networks.items()
            for key, value in network.state_dict().items()}


def load_joint_state_dict(state: dict[str, torch.Tensor], **networks: torch.nn.Module) -> None:
    """The inverse of joint_state_dict: each network takes the entries under its name."""
    for name, network in networks.items():
        prefix = f"{name}."
        network.load_state_dict({key[len(prefix):]: value for key, value in state.items()
                                 if key.startswith(prefix)})
