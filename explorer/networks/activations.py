"""Running a shared model and reading its layers: forward passes, layer names, captured activations."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.jobs.concurrency import heavy_work
from explorer.networks.private_copy import (
    capture_with_hooks,
    check_input,
    check_layers,
    copy_of,
    extractor_for,
    forward_hooks,
    returned_nodes,
)

MAX_GROUP = 40  # group_layers splits a top-level block with more names than this


def eval_model(model: nn.Module) -> nn.Module:
    """The private eval-mode copy of `model` (shares its tensors) to run forward passes on."""
    return copy_of(model).module


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x) without gradients, in eval mode, on the private copy (the model is untouched)."""
    private = copy_of(model)
    with heavy_work(), private.lock, torch.no_grad():
        return private.module(check_input(x))


@contextlib.contextmanager
def differentiable(model: nn.Module, layer: str | None) -> Iterator[Callable[[torch.Tensor],
                                                                            torch.Tensor]]:
    """A function x -> the output of `layer` (None: of the whole network) that gradients flow
    through, on the private eval-mode copy (the network past the layer is not run when it was
    traced). Holds a heavy-work slot and the copy's lock while open. Take gradients with
    torch.autograd.grad for the input only: the copy shares the model's parameters."""
    private = copy_of(model)
    with heavy_work(), private.lock:
        torch.set_flush_denormal(True)
        yield _layer_function(private, layer)


@contextlib.contextmanager
def differentiable_steps(model: nn.Module, layer: str | None) -> Iterator[
        tuple[Callable[[torch.Tensor], torch.Tensor],
              Callable[[], contextlib.AbstractContextManager[None]]]]:
    """(run, step) for a long optimisation: `run` as differentiable's function, called only
    inside `with step():`, which holds a heavy-work slot and the copy's lock for one step (the
    forward and backward passes). Nothing is held between steps, so other sessions' passes on
    the server, and on this network, run between them instead of waiting for the whole
    optimisation."""
    private = copy_of(model)
    with private.lock:
        run = _layer_function(private, layer)

    @contextlib.contextmanager
    def step() -> Iterator[None]:
        with heavy_work(), private.lock:
            torch.set_flush_denormal(True)
            yield

    yield run, step


def relu_input(model: nn.Module, layer: str) -> str | None:
    """The layer whose output is the input of `layer` when `layer` is a ReLU (an nn.ReLU module
    or F.relu / torch.relu in the traced graph), else None; None too for models that could not
    be traced (hooks see only module outputs)."""
    private = copy_of(model)
    if not private.traced or layer not in private.names:
        return None
    nodes = returned_nodes(private.graph)
    node = nodes[layer]
    modules = dict(private.module.named_modules())
    is_relu = (node.op == "call_module" and isinstance(modules.get(node.target), nn.ReLU)) or (
        node.op == "call_function" and node.target in (F.relu, torch.relu, torch.relu_)) or (
        node.op == "call_method" and node.target in ("relu", "relu_"))
    if not is_relu or not node.args or not isinstance(node.args[0], fx.Node):
        return None
    return next((name for name, known in nodes.items() if known is node.args[0]), None)


def _layer_function(private, layer: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> the layer's output on the private copy (caller holds the copy's lock)."""
    if layer is None:
        return private.module
    (layer,) = check_layers(private, layer)
    if private.traced:
        extractor = extractor_for(private, (layer,))
        return lambda x: extractor(x)[layer]
    module = dict(private.module.named_modules())[layer]

    def run(x: torch.Tensor) -> torch.Tensor:
        stored: list[torch.Tensor] = []
        with forward_hooks({layer: module}, lambda _name: lambda _m, _i, out:
                           stored.append(out) if not stored else None):
            private.module(x)
        return stored[0]

    return run


# ---------------------------------------------------------------------------
# Layer names
# ---------------------------------------------------------------------------


def layer_names(model: nn.Module) -> list[str]:
    """Every layer that can be captured, in forward order.

    FX graph node names from get_graph_node_names (eval mode, the input excluded): module paths
    such as "features.0" or "layer1.0.conv1", and functional ops as "layer1.0.add" (a residual
    sum) or "inception3a.cat"; a module called twice gets "_1" ("layer1.0.relu_1"). torchvision
    treats its Conv2dNormActivation and SqueezeExcitation blocks (MobileNet, EfficientNet) as
    single nodes: their output is after the norm and activation. Models that FX cannot trace
    fall back to their leaf module names.
    """
    return list(copy_of(model).names)


def uses_fx(model: nn.Module) -> bool:
    """True when layers are FX graph nodes, False when captured with module hooks."""
    return copy_of(model).traced


def group_layers(names: Sequence[str], max_group: int = MAX_GROUP) -> dict[str, list[str]]:
    """Layer names grouped by top-level block ("features", "layer1", ...), for a grouped picker.

    Single-part names ("conv1", "fc", "relu") go under "top level". When a block has more than
    `max_group` names, every block is split one level further ("features.denseblock1",
    "layer3.0"), two-part names ("features.conv0") staying under their block. Groups keep
    forward order.
    """
    def key(name: str, depth: int) -> str:
        parts = name.split(".")
        if len(parts) == 1:
            return "top level"
        return ".".join(parts[:depth]) if len(parts) > depth else parts[0]

    sizes: dict[str, int] = {}
    for name in names:
        sizes[key(name, 1)] = sizes.get(key(name, 1), 0) + 1
    big = any(size > max_group for block, size in sizes.items() if block != "top level")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(key(name, 2 if big else 1), []).append(name)
    return groups


# ---------------------------------------------------------------------------
# Capturing activations
# ---------------------------------------------------------------------------


def capture(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Outputs of `layers` for input x (B, C, H, W), in forward order; default: every layer
    whose output is a feature map (B, C, H, W).

    Each tensor is a fresh copy taken when the layer ran (an in-place ReLU after a conv does not
    change the stored conv output), detached, computed without gradients on a private eval-mode
    copy of the model (the model passed in is never changed: no hooks, no mode switch).
    """
    x = check_input(x)
    private = copy_of(model)
    wanted = private.names if layers is None else check_layers(private, layers)
    with heavy_work(), private.lock, torch.no_grad():
        if private.traced:
            outputs = extractor_for(private, wanted)(x)
        else:
            outputs = capture_with_hooks(private, wanted, x)
    if layers is None:  # keep the feature maps
        outputs = {k: v for k, v in outputs.items() if isinstance(v, torch.Tensor) and v.dim() == 4}
        private.four_d = tuple(outputs)
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()}


def default_layers(model: nn.Module, input_shape: Sequence[int] = (1, 3, 64, 64)) -> list[str]:
    """The layers capture() returns by default: those whose output is (B, C, H, W)."""
    private = copy_of(model)
    if private.four_d is None:
        capture(model, torch.zeros(tuple(input_shape)))
    return list(private.four_d)
