"""Attribution maps and sanity checks every session of the server shares, in bounded caches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from explorer.attributions.methods import (
    Attribution,
    AttributionSettings,
    attribute,
    check_methods,
    check_work,
    passes,
)
from explorer.attributions.sanity import (
    MAX_STEPS,
    SanityCheck,
    cascade,
    layers_top_down,
    sanity_check,
)
from explorer.jobs.bounded_cache import BoundedCache, array_digest
from explorer.networks import layer_costs, shared_results, zoo

MB = 2**20
MAPS: BoundedCache = BoundedCache(max_entries=32, max_bytes=64 * MB)
CHECKS: BoundedCache = BoundedCache(max_entries=8, max_bytes=64 * MB)


def _key(loaded: zoo.LoadedModel, image: np.ndarray, class_index: int,
          methods: Sequence[str], settings: AttributionSettings) -> tuple:
    return (shared_results.model_token(loaded.model), array_digest(image), int(class_index),
            tuple(methods), settings, loaded.gradcam_layer)


def _multiply_adds(loaded: zoo.LoadedModel) -> float:
    return layer_costs.table_totals(shared_results.layer_table(loaded)).macs


def check_maps(loaded: zoo.LoadedModel, methods: Sequence[str], settings: AttributionSettings,
               size: tuple[int, int]) -> None:
    """ValueError when these maps are more work than the server allows for this network."""
    check_work(_multiply_adds(loaded), passes(methods, settings, size))


def sanity_steps(loaded: zoo.LoadedModel, steps: int = MAX_STEPS) -> int:
    """How many randomisation steps the sanity check of this network takes."""
    return len(cascade(layers_top_down(loaded.model), steps))


def check_sanity(loaded: zoo.LoadedModel, methods: Sequence[str], settings: AttributionSettings,
                 size: tuple[int, int], steps: int = MAX_STEPS) -> None:
    """ValueError when the sanity check (the maps again after every step) is too much work."""
    count = passes(methods, settings, size) * (1 + sanity_steps(loaded, steps))
    check_work(_multiply_adds(loaded), count, "The sanity check's maps")


def maps(loaded: zoo.LoadedModel, x: torch.Tensor, image: np.ndarray, class_index: int,
         methods: Sequence[str], settings: AttributionSettings) -> dict[str, Attribution]:
    """attribute(...) for `image` (preprocessed: x), once per server; the work is checked first."""
    methods = check_methods(methods)
    check_maps(loaded, methods, settings, tuple(x.shape[-2:]))
    return MAPS.get_or_compute(
        _key(loaded, image, class_index, methods, settings),
        lambda: attribute(loaded.model, x, class_index, methods=methods, settings=settings,
                          layer=loaded.gradcam_layer))


def check(loaded: zoo.LoadedModel, x: torch.Tensor, image: np.ndarray, class_index: int,
          methods: Sequence[str], settings: AttributionSettings,
          steps: int = MAX_STEPS) -> SanityCheck:
    """sanity_check(...) for `image`, once per server; the work is checked first."""
    methods = check_methods(methods)
    check_sanity(loaded, methods, settings, tuple(x.shape[-2:]), steps)
    return CHECKS.get_or_compute(
        (*_key(loaded, image, class_index, methods, settings), int(steps)),
        lambda: sanity_check(loaded.model, x, class_index, methods=methods, settings=settings,
                             layer=loaded.gradcam_layer, steps=steps))
