"""Grad-CAM by Captum: which parts of a picture made the network choose a class, and where to look."""

from __future__ import annotations

import contextlib
import copy
import operator
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import fx, nn

from explorer.jobs.concurrency import heavy_work
from explorer.networks.activations import capture
from explorer.networks.private_copy import (
    PrivateCopy,
    check_input,
    check_layers,
    copy_of,
    forward_hooks,
    returned_nodes,
)

TAP = "explorer_gradcam_tap"  # the nn.Identity put after the Grad-CAM layer (see tapped)
_TAPPED: weakref.WeakKeyDictionary[PrivateCopy, dict[str, fx.GraphModule]] = (
    weakref.WeakKeyDictionary())


@dataclass(frozen=True, eq=False)
class GradCam:
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], at the input's size
    class_index: int  # the class explained
    score: float  # its logit (the score before softmax)
    layer_shape: tuple[int, ...]  # the target layer's map (C, h, w)


def grad_cam(
    model: nn.Module, x: torch.Tensor, target_layer: str, class_index: int | None = None
) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) for one image x (1, C, H, W), by Captum's LayerGradCam.

    With A the target layer's output (C, h, w) and y the class's logit:
        alpha_c = mean over (i, j) of dy / dA_c[i, j]       (how much channel c matters)
        cam     = ReLU(sum_c alpha_c * A_c)                   (h, w)
    upsampled bilinearly to (H, W) (LayerAttribution.interpolate) and divided by its maximum
    (all zeros when nothing speaks for the class). class_index None explains the top class.
    Captum differentiates with respect to the layer's output only: the model's parameters,
    their .grad and requires_grad are untouched, and the private copy gets no lasting hooks.
    (tests/test_attributions.py checks the map against the formula above computed by hand.)
    """
    x = check_input(x)
    if x.shape[0] != 1:
        raise ValueError(f"Grad-CAM explains one image: batch size 1, got {x.shape[0]}.")
    class_index = None if class_index is None else _class_index(class_index)
    with tapped(model, target_layer) as (forward, tap, seen):
        index = class_index
        if index is None:
            with torch.no_grad():
                index = int(forward(x).argmax(dim=1))
        seen["index"] = index
        cam = layer_grad_cam(forward, tap, x, index)  # (1, 1, h, w)
        score, layer_shape = seen["score"], seen["shape"]
    if not bool(torch.isfinite(cam).all()):
        raise ValueError(
            f"Grad-CAM at {target_layer!r} meets NaN or infinity (in the layer's output or "
            "its gradient): the network's weights are too large for this picture."
        )
    with torch.no_grad():
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[0, 0]  # (H, W)
        peak = cam.max()
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    return GradCam(
        heatmap=cam.clamp(0, 1).numpy().astype(np.float32),
        class_index=index,
        score=score,
        layer_shape=layer_shape,
    )


def layer_grad_cam(forward: Callable[[torch.Tensor], torch.Tensor], tap: nn.Module,
                   x: torch.Tensor, class_index: int, *, relu: bool = True) -> torch.Tensor:
    """Captum's LayerGradCam of class_index at `tap` (from `tapped`): (1, 1, h, w), detached,
    at the layer's resolution. On a clone of x: the caller's tensor keeps its requires_grad."""
    with torch.enable_grad():
        cam = LayerGradCam(forward, tap).attribute(
            x.detach().clone(), target=class_index, relu_attributions=relu)
    return cam.detach()


@contextlib.contextmanager
def tapped(model: nn.Module, layer: str) -> Iterator[
        tuple[Callable[[torch.Tensor], torch.Tensor], nn.Module, dict]]:
    """(forward, tap, seen) for Captum's layer methods on the private eval-mode copy, while a
    heavy-work slot and the copy's lock are held.

    forward(x) -> class scores (B, K), checked finite (and against seen["index"], the class
    asked for, when set); `tap` is a module whose output is
    `layer`'s output and from which the rest of the network is computed: an nn.Identity put
    into the traced graph after the layer's node (so any node works, "inception5b.cat" or
    "layer4.1.relu_1" too, not only modules), or the layer's own module when the model could
    not be traced. Captum's hook hands the network a clone of the tap's output, so an in-place
    op after it cannot change the kept tensor. `seen` gets the last pass's "score" (the first
    image's logit of seen["index"]) and "shape" ((C, h, w) of the layer's output).
    """
    private = copy_of(model)
    if layer not in private.names:
        check_layers(private, [layer])  # raises with a helpful message
    seen: dict = {}
    with heavy_work(), private.lock:
        torch.set_flush_denormal(True)
        if private.traced:
            if private.names[-1] == layer:
                raise ValueError(f"{layer!r} is the output layer, not a feature map.")
            network = _tapped_graph(private, layer)
            tap = network.get_submodule(TAP)
        else:
            network, tap = private.module, private.module.get_submodule(layer)

        def check_map(_module, _inputs, output) -> None:
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                raise ValueError(f"{layer!r} does not output a feature map (1, C, h, w).")
            seen["shape"] = tuple(output.shape[1:])

        def forward(inputs: torch.Tensor) -> torch.Tensor:
            logits = network(inputs)
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                raise ValueError("The model's output should be class scores (B, K); got "
                                 f"{getattr(logits, 'shape', type(logits).__name__)}.")
            if not bool(torch.isfinite(logits).all()):
                raise ValueError(
                    "Grad-CAM needs finite class scores, but the network's are NaN or infinite "
                    "for this picture (its weights are too large or not finite).")
            index = seen.get("index")
            if index is not None:
                if not 0 <= index < logits.shape[1]:
                    raise ValueError(
                        f"class_index must be in 0..{logits.shape[1] - 1}; got {index}.")
                seen["score"] = float(logits[0, index].detach())
            return logits

        with forward_hooks({layer: tap}, lambda _name: check_map):
            yield forward, tap, seen


def _tapped_graph(private: PrivateCopy, layer: str) -> fx.GraphModule:
    """The private copy's traced graph returning the class scores, with an nn.Identity named
    TAP after `layer`'s node feeding every later use of it. Cached per (copy, layer)."""
    cache = _TAPPED.setdefault(private, {})
    if layer not in cache:
        graph = copy.deepcopy(private.graph)
        nodes = returned_nodes(graph)
        output = next(n for n in graph.nodes if n.op == "output")
        output.args = (nodes[private.names[-1]],)  # the last node computes the class scores
        node = nodes[layer]
        with graph.inserting_after(node):
            tap = graph.call_module(TAP, (node,))
        node.replace_all_uses_with(tap, delete_user_cb=lambda user: user is not tap)
        root: dict = {TAP: nn.Identity()}
        for used in graph.nodes:  # share the private copy's modules and tensors, no copies
            if used.op in ("call_module", "get_attr") and used.target != TAP:
                root[used.target] = operator.attrgetter(used.target)(private.module)
        network = fx.GraphModule(root, graph)
        graph.eliminate_dead_code()  # the layers after the scores that were returned too
        graph.lint()
        network.recompile()
        if len(cache) >= 8:  # forget the oldest (dicts keep order)
            del cache[next(iter(cache))]
        cache[layer] = network
    return cache[layer]


def _class_index(value: object) -> int:
    """An integer class index (Python or NumPy int; not a bool, a float or text)."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"class_index must be an integer; got {value!r}.")
    try:
        return operator.index(value)
    except TypeError as exc:
        raise ValueError(f"class_index must be an integer; got {value!r:.40}.") from exc


def suggest_gradcam_layer(model: nn.Module, input_shape: Sequence[int] = (1, 3, 64, 64)) -> str:
    """The last feature map with more than one position (a global pool's 1 x 1 output would
    give a flat map): the usual Grad-CAM target."""
    maps = capture(model, torch.zeros(tuple(input_shape)))
    if not maps:
        raise ValueError("The model has no layer with a feature-map output.")
    spatial = [name for name, value in maps.items() if value.shape[-2] * value.shape[-1] > 1]
    return (spatial or list(maps))[-1]
