"""LoadedModels not from torchvision's cache: the app's own networks, uploaded weights for a zoo one."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from explorer.jobs import memory
from explorer.networks.gradcam import suggest_gradcam_layer
from explorer.networks.predictions import Preprocess
from explorer.networks.weights_files import _check_finite, _check_tensors, _conform, check_fits
from explorer.networks.zoo import LoadedModel, first_conv_name


def custom_model(
    name: str,
    model: nn.Module,
    categories: Sequence[str],
    transforms: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    image_size: tuple[int, int] = (32, 32),
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    first_conv: str | None = None,
    gradcam_layer: str | None = None,
    note: str = "",
) -> LoadedModel:
    """One of the app's own networks (e.g. trained on the Train page), browsable with the same
    functions. Without `transforms`: Preprocess(image_size, mean, std), by default no
    normalisation, grey when the first conv takes one channel. The model is not changed (the
    functions run on a private eval-mode copy)."""
    memory.note_long_lived()
    first_conv = first_conv or first_conv_name(model)
    if first_conv is None:
        raise ValueError("The model has no Conv2d layer.")
    channels = model.get_submodule(first_conv).in_channels
    if transforms is None:
        transforms = Preprocess(
            tuple(image_size),
            tuple(mean) if mean is not None else (0.0,) * channels,
            tuple(std) if std is not None else (1.0,) * channels,
        )
    input_shape = (channels, *image_size)
    if gradcam_layer is None:
        gradcam_layer = suggest_gradcam_layer(model, (1, *input_shape))
    return LoadedModel(
        name=name,
        label=name,
        family="Custom",
        model=model,
        pretrained=True,
        categories=tuple(categories),
        transforms=transforms,
        weights_name="",
        meta={"num_params": sum(p.numel() for p in model.parameters())},
        message=note or f"{name}: a network trained in this app.",
        first_conv=first_conv,
        gradcam_layer=gradcam_layer,
        input_shape=input_shape,
    )


def with_weights(
    loaded: LoadedModel, state_dict: Mapping[str, torch.Tensor], source: str
) -> LoadedModel:
    """A copy of `loaded` whose model (a deep copy: the shared one is untouched) holds
    `state_dict` (checked with check_fits, dtypes and finite values first)."""
    check_fits(state_dict, loaded.model)
    _check_tensors(state_dict)
    state_dict = _conform(state_dict, loaded.model.state_dict())
    _check_finite(state_dict)
    model = copy.deepcopy(loaded.model)
    model.load_state_dict(state_dict)
    return dataclasses.replace(
        loaded, model=model.eval(), pretrained=True, weights_name=source,
        message=f"Loaded the weights from {source}.",
    )
