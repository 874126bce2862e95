"""The layer table: each layer's output shape, parameters and multiply-adds, from one forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import fx, nn

from explorer.jobs.concurrency import heavy_work
from explorer.networks.private_copy import (
    PrivateCopy,
    capture_with_hooks,
    check_input,
    copy_of,
    extractor_for,
    forward_hooks,
    returned_nodes,
)


@dataclass(frozen=True)
class LayerRow:
    name: str  # node or module name, e.g. "features.0", "layer1.0.add"
    type: str  # module class ("Conv2d") or function ("add", "cat", "flatten")
    output_shape: tuple[int, ...]  # without the batch dimension, e.g. (64, 224, 224)
    parameters: int  # parameters first used by this layer (shared ones counted once)
    macs: int  # multiply-accumulates for one image


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds for one image, from shapes: each output element is a dot product.

    Conv2d: out_elements * (C_in / groups) * K_h * K_w; Linear: out_elements * in_features.
    Biases, norms, activations and pooling count 0.
    """
    out_elements = output[0].numel()  # one image
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        return out_elements * (module.in_channels // module.groups) * k_h * k_w
    if isinstance(module, nn.Linear):
        return out_elements * module.in_features
    return 0


def layer_table(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> list[LayerRow]:
    """One row per layer (the names of layer_names) from one forward pass of a zero image.

    MACs come from forward hooks on the Conv2d and Linear modules and are credited to the layer
    being run, so a block torchvision keeps as one node (Conv2dNormActivation, SqueezeExcitation)
    carries its convolutions' MACs. Rows for modules that own parameters but do not run in eval
    mode come last with shape (). Sum of parameters == sum(p.numel() for p in
    model.parameters()). For VGG16 at 224 x 224 the MACs total 15.47 G, the number torchvision
    lists as "GFLOPS" in its weights' meta["_ops"] (so do all registry models): torchvision's
    GFLOPS are giga multiply-adds; torch.utils.flop_counter counts 2 FLOPs each (30.9 G).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"input_shape must be (1, C, H, W); got {tuple(input_shape)}.")
    private = copy_of(model)
    module_names = {module: name for name, module in private.module.named_modules()}
    counted = {"current": ""}  # name of the layer now running
    macs: dict[str, int] = {}

    def factory(_name: str):
        def hook(module, _inputs, output):
            key = counted["current"] or module_names[module]
            macs[key] = macs.get(key, 0) + _macs(module, output)

        return hook

    compute = {
        name: module
        for name, module in private.module.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }
    x = check_input(torch.zeros(shape))
    with heavy_work(), private.lock, torch.no_grad(), forward_hooks(compute, factory):
        if private.traced:
            extractor = extractor_for(private, private.names)
            outputs = _LayerRunner(extractor, counted).run(x)
        else:
            outputs = capture_with_hooks(private, private.names, x)
    modules = dict(private.module.named_modules())
    seen: set[int] = set()  # ids of parameters already credited

    def own_parameters(module: nn.Module, recurse: bool) -> int:
        fresh = [p for p in module.parameters(recurse=recurse) if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    rows = []
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor):
            continue
        target = private.targets.get(name, name if not private.traced else None)
        module = modules.get(target) if target is not None else None
        rows.append(LayerRow(
            name=name,
            type=type(module).__name__ if module is not None else _op_name(private, name),
            output_shape=tuple(value.shape[1:]),
            parameters=own_parameters(module, recurse=True) if module is not None else 0,
            macs=macs.get(name, 0),
        ))
    # Parameters no layer used (e.g. GoogLeNet's auxiliary heads when built with them).
    for name, module in modules.items():
        rest = own_parameters(module, recurse=False)
        if rest:
            rows.append(LayerRow(name, type(module).__name__ + " (unused)", (), rest, 0))
    return rows


class _LayerRunner(fx.Interpreter):
    """Runs the extractor node by node, telling the MAC hooks which layer is running."""

    def __init__(self, extractor: fx.GraphModule, counted: dict[str, str]) -> None:
        super().__init__(extractor)
        names = {node: name for name, node in returned_nodes(extractor).items()}
        self._names = names
        self._counted = counted

    def run_node(self, n: fx.Node):
        self._counted["current"] = self._names.get(n, "")
        return super().run_node(n)


def _op_name(private: PrivateCopy, name: str) -> str:
    extractor = extractor_for(private, private.names)
    node = returned_nodes(extractor)[name]
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def table_totals(rows: Sequence[LayerRow]) -> LayerRow:
    """A "total" row: all parameters and MACs; the shape is the last layer's."""
    shape = next((r.output_shape for r in reversed(rows) if r.output_shape), ())
    return LayerRow(
        "total", "", shape, sum(r.parameters for r in rows), sum(r.macs for r in rows)
    )
