"""The playground's fully connected network, its input features and a seeded trainer that steps one batch at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.playground.datasets import PlaneData, make_data
from explorer.playground.settings import ACTIVATIONS, FEATURES, OPTIMISERS, PlaygroundSettings

Weights = tuple[tuple[np.ndarray, np.ndarray], ...]  # per layer (W (out, in), b (out,))


def feature_matrix(settings: PlaygroundSettings, points: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, 2) plane points -> (N, F) float32 inputs, one column per chosen feature."""
    xy = torch.as_tensor(points, dtype=torch.float32)
    x1, x2 = xy[:, 0], xy[:, 1]
    return torch.stack([FEATURES[name].compute(x1, x2) for name in settings.features], dim=1)


def build_model(settings: PlaygroundSettings, seed: int | None = None) -> nn.Sequential:
    """Linear -> activation per hidden layer, then Linear to one output (a logit for
    classification, the value for regression). Xavier-uniform weights with the activation's
    gain, zero biases, drawn from a private generator: the same seed gives the same net."""
    generator = torch.Generator().manual_seed(settings.seed if seed is None else seed)
    spec = ACTIVATIONS[settings.activation]
    layers: list[nn.Module] = []
    sizes = settings.layer_sizes
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(fan_in, fan_out)
        last = index == len(sizes) - 2
        gain = 1.0 if last else nn.init.calculate_gain(spec.gain)
        with torch.no_grad():
            nn.init.xavier_uniform_(linear.weight, gain=gain, generator=generator)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(spec.make())
    return nn.Sequential(*layers)


def linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    return [module for module in model if isinstance(module, nn.Linear)]


def get_weights(model: nn.Sequential) -> Weights:
    """Copies of every layer's (W, b) as numpy arrays."""
    return tuple((layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
                 for layer in linear_layers(model))


def set_weights(model: nn.Sequential, weights: Weights) -> nn.Sequential:
    with torch.no_grad():
        for layer, (w, b) in zip(linear_layers(model), weights, strict=True):
            layer.weight.copy_(torch.as_tensor(w))
            layer.bias.copy_(torch.as_tensor(b))
    return model


def layer_outputs(model: nn.Sequential, inputs: torch.Tensor) -> list[torch.Tensor]:
    """Every neuron's output: one (N, width) tensor per hidden layer (after its activation),
    then the (N, 1) output after the output's squashing (tanh-scaled probability 2p - 1 for
    classification, the value for regression)."""
    outputs, x = [], inputs
    with torch.no_grad():
        for module in model:
            x = module(x)
            if not isinstance(module, nn.Linear):
                outputs.append(x)
    return [*outputs, x]


def squash(settings: PlaygroundSettings, raw: torch.Tensor) -> torch.Tensor:
    """The output on the [-1, 1] scale the figures use: 2 sigmoid(z) - 1 = tanh(z / 2) for a
    classification logit z, the value itself for regression."""
    return torch.tanh(raw / 2) if settings.problem == "classification" else raw


@dataclass(frozen=True)
class Evaluation:
    train_loss: float
    test_loss: float
    train_accuracy: float | None  # classification only
    test_accuracy: float | None


class Trainer:
    """A playground run without threads: data, net, optimiser and batch order from the seed.
    step() trains one batch and returns its loss (the data loss, without the penalty)."""

    def __init__(self, settings: PlaygroundSettings) -> None:
        self.settings = settings
        self.data: PlaneData = make_data(settings.dataset, settings.points, settings.noise,
                                         settings.test_fraction, settings.seed,
                                         settings.clicked, settings.problem)
        self.train_x = feature_matrix(settings, self.data.train_points)  # (N_train, F)
        self.train_y = torch.as_tensor(self.data.train_targets)  # (N_train,)
        self.test_x = feature_matrix(settings, self.data.test_points)
        self.test_y = torch.as_tensor(self.data.test_targets)
        self.model = build_model(settings)
        self.optimiser = OPTIMISERS[settings.optimiser](self.model.parameters(),
                                                        lr=settings.learning_rate)
        self._generator = torch.Generator().manual_seed(settings.seed)
        self.batch = min(settings.batch_size, len(self.train_y))
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self.steps = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_y) / self.batch)

    def loss(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy on the logit (classification) or squared error (regression)."""
        raw = raw.squeeze(1)
        if self.settings.problem == "classification":
            return F.binary_cross_entropy_with_logits(raw, target)
        return F.mse_loss(raw, target)

    def penalty(self) -> torch.Tensor:
        """rate * sum |w| (L1) or rate * sum w^2 (L2) over the weights, not the biases."""
        s = self.settings
        if s.regularisation == "none" or s.regularisation_rate == 0:
            return torch.zeros(())
        power = 1 if s.regularisation == "l1" else 2
        return s.regularisation_rate * sum(layer.weight.abs().pow(power).sum()
                                           for layer in linear_layers(self.model))

    def _next_batch(self) -> torch.Tensor:
        if self._cursor >= len(self._order):
            self._order = torch.randperm(len(self.train_y), generator=self._generator)
            self._cursor = 0
        index = self._order[self._cursor : self._cursor + self.batch]
        self._cursor += self.batch
        return index

    def step(self) -> float:
        """One optimiser step on the next batch (a new shuffle each epoch); its data loss."""
        index = self._next_batch()
        loss = self.loss(self.model(self.train_x[index]), self.train_y[index])
        self.optimiser.zero_grad(set_to_none=True)
        (loss + self.penalty()).backward()
        self.optimiser.step()
        self.steps += 1
        return loss.item()

    def evaluate(self) -> Evaluation:
        with torch.no_grad():
            values = []
            for x, y in ((self.train_x, self.train_y), (self.test_x, self.test_y)):
                raw = self.model(x)
                accuracy = (float(((raw.squeeze(1) > 0).float() == y).float().mean())
                            if self.settings.problem == "classification" else None)
                values.append((self.loss(raw, y).item(), accuracy))
        (train_loss, train_acc), (test_loss, test_acc) = values
        return Evaluation(train_loss, test_loss, train_acc, test_acc)
