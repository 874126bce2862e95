"""Grad-CAM: which parts of a picture made the network choose a class, and where to look for it."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.jobs.concurrency import heavy_work
from explorer.networks.activations import capture
from explorer.networks.private_copy import (
    PrivateCopy,
    check_input,
    check_layers,
    copy_of,
    extractor_for,
    forward_hooks,
)


@dataclass(frozen=True, eq=False)
class GradCam:
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], at the input's size
    class_index: int  # the class explained
    score: float  # its logit (the score before softmax)
    layer_shape: tuple[int, ...]  # the target layer's map (C, h, w)


def grad_cam(
    model: nn.Module, x: torch.Tensor, target_layer: str, class_index: int | None = None
) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) for one image x (1, C, H, W).

    With A the target layer's output (C, h, w) and y the class's logit:
        alpha_c = mean over (i, j) of dy / dA_c[i, j]       (how much channel c matters)
        cam     = ReLU(sum_c alpha_c * A_c)                   (h, w)
    upsampled bilinearly to (H, W) and divided by its maximum (all zeros when nothing speaks for
    the class). class_index None explains the top class. The gradient is taken with
    torch.autograd.grad with respect to A only: the model's parameters, their .grad and
    requires_grad are untouched, and the private copy gets no lasting hooks.
    """
    x = check_input(x)
    if x.shape[0] != 1:
        raise ValueError(f"Grad-CAM explains one image: batch size 1, got {x.shape[0]}.")
    class_index = None if class_index is None else _class_index(class_index)
    private = copy_of(model)
    if target_layer not in private.names:
        check_layers(private, [target_layer])  # raises with a helpful message
    inputs = x.detach().clone().requires_grad_(True)  # a graph even if parameters are frozen
    with heavy_work(), private.lock, torch.enable_grad():
        if private.traced:
            last = private.names[-1]  # the last node computes the class scores
            if last == target_layer:
                raise ValueError(f"{target_layer!r} is the output layer, not a feature map.")
            outputs = extractor_for(private, (target_layer, last))(inputs)
            activation, logits = outputs[target_layer], outputs[last]
        else:
            activation, logits = _grad_cam_hooks(private, target_layer, inputs)
        if not isinstance(activation, torch.Tensor) or activation.dim() != 4:
            raise ValueError(f"{target_layer!r} does not output a feature map (1, C, h, w).")
        if logits.dim() != 2 or logits.shape[0] != 1:
            raise ValueError(
                f"The model's output should be class scores (1, K); got {tuple(logits.shape)}."
            )
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(
                "Grad-CAM needs finite class scores, but the network's are NaN or infinite for "
                "this picture (its weights are too large or not finite)."
            )
        index = int(logits.argmax(dim=1)) if class_index is None else class_index
        if not 0 <= index < logits.shape[1]:
            raise ValueError(f"class_index must be in 0..{logits.shape[1] - 1}; got {index}.")
        score = logits[0, index]
        (gradient,) = torch.autograd.grad(score, activation)  # (1, C, h, w)
        if not bool(torch.isfinite(gradient).all() and torch.isfinite(activation).all()):
            raise ValueError(
                f"Grad-CAM at {target_layer!r} meets NaN or infinity (in the layer's output or "
                "its gradient): the network's weights are too large for this picture."
            )
    with torch.no_grad():
        alpha = gradient.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = F.relu((alpha * activation).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        peak = cam.max()
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    return GradCam(
        heatmap=cam.clamp(0, 1).numpy().astype(np.float32),
        class_index=index,
        score=float(score.detach()),
        layer_shape=tuple(activation.shape[1:]),
    )


def _class_index(value: object) -> int:
    """An integer class index (Python or NumPy int; not a bool, a float or text)."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"class_index must be an integer; got {value!r}.")
    try:
        return operator.index(value)
    except TypeError as exc:
        raise ValueError(f"class_index must be an integer; got {value!r:.40}.") from exc


def _grad_cam_hooks(
    private: PrivateCopy, target_layer: str, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fallback: a forward hook keeps the target module's output and hands the rest of the
    network a clone, so a following in-place op cannot change the kept tensor."""
    kept: dict[str, torch.Tensor] = {}

    def factory(_name: str):
        def hook(_module, _inputs, output):
            if "activation" in kept or not isinstance(output, torch.Tensor):
                return None
            kept["activation"] = output
            return output.clone()  # replaces the module's output downstream

        return hook

    module = private.module.get_submodule(target_layer)
    with forward_hooks({target_layer: module}, factory):
        logits = private.module(inputs)
    if "activation" not in kept:
        raise ValueError(f"{target_layer!r} did not run in the forward pass.")
    return kept["activation"], logits


def suggest_gradcam_layer(model: nn.Module, input_shape: Sequence[int] = (1, 3, 64, 64)) -> str:
    """The last feature map with more than one position (a global pool's 1 x 1 output would
    give a flat map): the usual Grad-CAM target."""
    maps = capture(model, torch.zeros(tuple(input_shape)))
    if not maps:
        raise ValueError("The model has no layer with a feature-map output.")
    spatial = [name for name, value in maps.items() if value.shape[-2] * value.shape[-1] > 1]
    return (spatial or list(maps))[-1]
