"""The model-randomisation sanity check (Adebayo et al. 2018): which maps depend on the weights."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from explorer.attributions.methods import (
    METHODS,
    AttributionSettings,
    attribute,
    check_methods,
)
from explorer.jobs.concurrency import RNG_LOCK
from explorer.networks.private_copy import copy_of

MAX_STEPS = 8  # randomisation steps shown at most (a deep network's layers are grouped)
MAX_PARAMETERS = 30_000_000  # a network copied for randomising: up to ResNet-50's size (~100 MB)


def layers_top_down(model: nn.Module) -> list[str]:
    """Names of the modules that hold their own weights, from the output down to the input
    (forward order of the traced graph where there is one, else the order they were defined)."""
    owners = [name for name, module in model.named_modules()
              if next(module.parameters(recurse=False), None) is not None]
    private = copy_of(model)
    order = list(dict.fromkeys(private.targets[node] for node in private.names
                               if node in private.targets)) if private.traced else []
    ordered = [name for name in order if name in owners]
    return list(reversed(ordered + [name for name in owners if name not in ordered]))


def cascade(names: Sequence[str], steps: int = MAX_STEPS) -> list[list[str]]:
    """The layers randomised after each step, top down: cumulative, `steps` groups at most."""
    if not names:
        raise ValueError("The network has no layer with weights to randomise.")
    steps = max(1, min(int(steps), len(names)))
    cuts = [math.ceil((k + 1) * len(names) / steps) for k in range(steps)]
    return [list(names[:cut]) for cut in cuts]


def randomise(model: nn.Module, names: Sequence[str]) -> None:
    """Re-initialise these modules' weights in place, as when they were built (reset_parameters;
    a module without one gets normal noise of its weights' own spread)."""
    for name in names:
        module = model.get_submodule(name)
        with torch.no_grad():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                for parameter in module.parameters(recurse=False):
                    parameter.normal_(0.0, float(parameter.std()) if parameter.numel() > 1 else 0.1)


def rank_similarity(before: np.ndarray, after: np.ndarray) -> float:
    """Spearman rank correlation of |before| and |after| over the pixels (Adebayo et al.: the
    sign of an attribution is often arbitrary); NaN when either map is constant."""
    a, b = np.abs(np.ravel(before)), np.abs(np.ravel(after))
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class SanityCheck:
    steps: tuple[str, ...]  # column labels: "trained", then "down to <layer>"
    randomised: tuple[tuple[str, ...], ...]  # the layers randomised at each step (none first)
    maps: dict[str, tuple[np.ndarray, ...]]  # method -> (H, W) map at each step
    similarity: dict[str, tuple[float, ...]]  # method -> rank similarity to the trained map


def sanity_check(model: nn.Module, x: torch.Tensor, class_index: int, *,
                 methods: Sequence[str] = tuple(METHODS),
                 settings: AttributionSettings | None = None,
                 layer: str | None = None, steps: int = MAX_STEPS) -> SanityCheck:
    """Randomise a copy of the network from the top layer down, a group of layers at a time,
    and compute the maps after each step. Maps that keep their rank similarity near 1 while
    the weights they explain are destroyed show the picture, not the model. The model passed
    in is not changed; the new weights are drawn with settings.seed."""
    methods = check_methods(methods)
    settings = settings or AttributionSettings()
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"The sanity check copies the network: {count / 1e6:.0f} M "
                         f"parameters is more than this server's {MAX_PARAMETERS / 1e6:.0f} M.")
    groups = cascade(layers_top_down(model), steps)
    trained = attribute(model, x, class_index, methods=methods, settings=settings, layer=layer)
    maps = {name: [trained[name].values] for name in methods}
    copied = copy.deepcopy(model).eval()  # its own tensors: randomised in place, step by step
    done: list[str] = []
    for number, group in enumerate(groups):
        with RNG_LOCK, torch.random.fork_rng(devices=[]):  # the same new weights every time
            torch.manual_seed(settings.seed + number)
            randomise(copied, group[len(done):])
        done = group
        step = attribute(copied, x, class_index, methods=methods, settings=settings, layer=layer)
        for name in methods:
            maps[name].append(step[name].values)
    similarity = {name: tuple(rank_similarity(values[0], later) for later in values)
                  for name, values in maps.items()}
    return SanityCheck(
        steps=("trained", *(f"down to {group[-1]}" for group in groups)),
        randomised=((), *(tuple(group) for group in groups)),
        maps={name: tuple(values) for name, values in maps.items()},
        similarity=similarity,
    )


def randomised_similarity(model: nn.Module, x: torch.Tensor, class_index: int, *,
                          methods: Sequence[str] = tuple(METHODS),
                          settings: AttributionSettings | None = None,
                          layer: str | None = None) -> dict[str, float]:
    """{method: rank similarity of its map before and after randomising every weight}."""
    check = sanity_check(model, x, class_index, methods=methods, settings=settings,
                         layer=layer, steps=1)
    return {name: values[-1] for name, values in check.similarity.items()}
