"""The torchvision networks the pages offer: labels, notes, Grad-CAM layers, build options."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torchvision


def _drop_aux_heads(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GoogLeNet's file holds its two auxiliary classifiers, used in training only (torchvision
    builds them, loads and deletes them; we build without them and skip their keys)."""
    return {k: v for k, v in state_dict.items() if not k.startswith(("aux1.", "aux2."))}


# DenseNet's files keep the old key names "...denselayer1.norm.1.weight" for what is now
# "...denselayer1.norm1.weight" (module names may no longer contain dots). The same pattern and
# renaming as torchvision.models.densenet._load_state_dict.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _densenet_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state_dict.items():
        match = _DENSENET_OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


@dataclass(frozen=True)
class ModelSpec:
    label: str
    torchvision: str  # the name for torchvision.models.get_model
    family: str  # AlexNet / VGG / Inception / ResNet / DenseNet / SqueezeNet / MobileNet / ...
    year: int | None
    note: str  # one line for the page
    gradcam_layer: str | None  # a node name of activations.layer_names: the last conv block
    first_conv: str | None  # module name of the first Conv2d (first-layer kernels)
    build_kwargs: Mapping[str, object] = field(default_factory=dict)  # always passed to get_model
    pretrained_kwargs: Mapping[str, object] = field(default_factory=dict)  # only with weights
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None  # file keys


MODELS: dict[str, ModelSpec] = {
    "alexnet": ModelSpec(
        "AlexNet", "alexnet", "AlexNet", 2012,
        "The 2012 ImageNet winner: 5 conv + 3 dense layers, ReLU, dropout, 11x11 first filters.",
        "features.11", "features.0",
    ),
    "vgg11": ModelSpec(
        "VGG-11", "vgg11", "VGG", 2014,
        "Only 3x3 convolutions and 2x2 max-pooling, 8 conv layers: simple, uniform and heavy.",
        "features.19", "features.0",
    ),
    "vgg16": ModelSpec(
        "VGG-16", "vgg16", "VGG", 2014,
        "13 conv layers of 3x3: 138 M parameters, 103 M of them in the first dense layer.",
        "features.29", "features.0",
    ),
    "googlenet": ModelSpec(
        "GoogLeNet (Inception v1)", "googlenet", "Inception", 2014,
        "Inception modules run 1x1, 3x3, 5x5 and pooling side by side: 6.6 M parameters.",
        "inception5b.cat", "conv1.conv",
        # No auxiliary classifiers (training only); default init (its truncated-normal one is
        # slow and warns). With weights, inputs are re-normalised as the original was trained.
        build_kwargs={"aux_logits": False, "init_weights": False},
        pretrained_kwargs={"transform_input": True},
        adapt=_drop_aux_heads,
    ),
    "resnet18": ModelSpec(
        "ResNet-18", "resnet18", "ResNet", 2015,
        "Residual blocks add their input to their output (x + F(x)), so deep nets still train.",
        "layer4.1.relu_1", "conv1",
    ),
    "resnet50": ModelSpec(
        "ResNet-50", "resnet50", "ResNet", 2015,
        "50 layers of 1x1-3x3-1x1 bottleneck blocks with residual connections.",
        "layer4.2.relu_2", "conv1",
    ),
    "densenet121": ModelSpec(
        "DenseNet-121", "densenet121", "DenseNet", 2016,
        "Each layer gets the concatenated maps of all earlier layers in its block.",
        "relu", "features.conv0",
        adapt=_densenet_keys,
    ),
    "squeezenet1_1": ModelSpec(
        "SqueezeNet 1.1", "squeezenet1_1", "SqueezeNet", 2016,
        "Fire modules (1x1 squeeze, 1x1 + 3x3 expand): AlexNet's accuracy with 1.2 M parameters.",
        "features.12.cat", "features.0",
    ),
    "mobilenet_v2": ModelSpec(
        "MobileNet V2", "mobilenet_v2", "MobileNet", 2018,
        "Depthwise-separable convolutions in inverted residual blocks: made for phones.",
        "features.18", "features.0.0",
    ),
    "mobilenet_v3_small": ModelSpec(
        "MobileNet V3 Small", "mobilenet_v3_small", "MobileNet", 2019,
        "Found by architecture search: squeeze-and-excitation and hard-swish, 0.06 GMACs.",
        "features.12", "features.0.0",
    ),
    "efficientnet_b0": ModelSpec(
        "EfficientNet-B0", "efficientnet_b0", "EfficientNet", 2019,
        "Depth, width and resolution scaled together; MBConv blocks with squeeze-and-excitation.",
        "features.8", "features.0.0",
    ),
}


def model_spec(name: str) -> ModelSpec:
    """The registry entry, or a plain one for any other torchvision classification model."""
    if name in MODELS:
        return MODELS[name]
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(
            f"Unknown model {name!r}: pick one of {', '.join(MODELS)} or another name from "
            "torchvision.models.list_models(module=torchvision.models)."
        )
    return ModelSpec(name, name, "other", None, "", None, None)
