"""The generative models by name: a select box reads MODELS' keys; each entry names the module
that holds its Settings and make_trainer (imported when first used)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from explorer.generative.base import BaseSettings, Trainer


@dataclass(frozen=True)
class ModelInfo:
    key: str
    label: str
    module: str  # explorer.generative.<module>: Settings, make_trainer, and its pretrained file
    summary: str


MODELS: dict[str, ModelInfo] = {info.key: info for info in (
    ModelInfo("ae", "Autoencoder", "explorer.generative.autoencoder",
              "A conv encoder squeezes each image to a few numbers, a decoder rebuilds it."),
    ModelInfo("vae", "VAE", "explorer.generative.vae",
              "An autoencoder whose code is a distribution: reconstruction + beta x KL."),
    ModelInfo("gan2d", "GAN on 2-D points", "explorer.generative.gan2d",
              "A generator and a discriminator play on the plane (GAN Lab's view)."),
    ModelInfo("gan", "GAN on images", "explorer.generative.gan",
              "A DCGAN-style generator learns to draw Shapes that fool its discriminator."),
    ModelInfo("flow", "Normalizing flow", "explorer.generative.flow",
              "A RealNVP coupling flow on 2-D points: exact likelihood with a log-determinant."),
    ModelInfo("diffusion", "Diffusion", "explorer.generative.diffusion",
              "A small DDPM: noise added step by step, a network learns to take it away."),
)}


def module_of(key: str) -> ModuleType:
    """The model's module (ValueError naming the choices for an unknown key)."""
    if key not in MODELS:
        raise ValueError(f"Unknown model {key!r}; choose one of {', '.join(MODELS)}.")
    return importlib.import_module(MODELS[key].module)


def make_trainer(key: str, settings: BaseSettings) -> Trainer:
    return module_of(key).make_trainer(settings)
