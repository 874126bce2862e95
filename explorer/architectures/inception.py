"""GoogLeNet's inception module counted from the real torchvision block (weights=None, nothing
downloaded): each branch's parameters and multiply-adds, a single convolution of the same output
width, the 1x1 reductions, the module drawn, and its branch outputs on a picture."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn
from torchvision.models.googlenet import BasicConv2d, GoogLeNet, Inception

# GoogLeNet's map side at each stage for a 224 x 224 input
MAP_SIDE = {"3": 28, "4": 14, "5": 7}
BRANCHES = ("1x1", "3x3", "5x5", "pool")  # torchvision's branch1 ... branch4, as the paper names
VARIANTS = {  # the 5x5 branch: torchvision builds a 3x3 there (its weights were trained so)
    "torchvision": "torchvision's block (its '5x5' branch is a 3x3, as its weights were trained)",
    "paper": "the paper's block (a real 5x5 in the third branch)",
}


@dataclass(frozen=True)
class BlockSpec:
    name: str  # inception3a ... inception5b
    in_channels: int
    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    side: int  # the map is side x side (224 x 224 input)

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    @property
    def arguments(self) -> tuple[int, ...]:
        """Inception(...)'s arguments, in its order."""
        return (self.in_channels, self.ch1x1, self.ch3x3red, self.ch3x3, self.ch5x5red,
                self.ch5x5, self.pool_proj)


def _read_blocks() -> dict[str, BlockSpec]:
    """Every inception block's widths, read from torchvision's GoogLeNet (built on the meta
    device: no memory, no weights)."""
    with torch.device("meta"):
        net = GoogLeNet(aux_logits=False, init_weights=False)
    blocks = {}
    for name, module in net.named_children():
        if isinstance(module, Inception):
            def width(m: nn.Module) -> int:
                return m.conv.out_channels
            blocks[name] = BlockSpec(
                name=name, in_channels=module.branch1.conv.in_channels,
                ch1x1=width(module.branch1), ch3x3red=width(module.branch2[0]),
                ch3x3=width(module.branch2[1]), ch5x5red=width(module.branch3[0]),
                ch5x5=width(module.branch3[1]), pool_proj=width(module.branch4[1]),
                side=MAP_SIDE[name[len("inception")]])
    return blocks


BLOCKS: dict[str, BlockSpec] = _read_blocks()  # one registry: inception3a ... inception5b


def build_block(spec: BlockSpec, variant: str = "torchvision") -> Inception:
    """The real torchvision Inception block with fresh weights; "paper" swaps the third branch's
    3x3 for the paper's 5x5 (padding 2 keeps the map's size)."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}: pick one of {', '.join(VARIANTS)}.")
    block = Inception(*spec.arguments)
    if variant == "paper":
        block.branch3[1] = BasicConv2d(spec.ch5x5red, spec.ch5x5, kernel_size=5, padding=2)
    return block.eval()


@dataclass(frozen=True)
class BranchCost:
    branch: str  # "1x1", "3x3", "5x5", "pool"
    layers: str  # e.g. "1x1 conv 192→16, 5x5 conv 16→32"
    out_channels: int
    parameters: int  # every parameter: conv weights and batch-norm scale and shift
    conv_weights: int
    macs: int  # multiply-adds of the convolutions for one image


def _conv_label(conv: nn.Conv2d) -> str:
    k = conv.kernel_size[0]
    return f"{k}x{k} conv {conv.in_channels}→{conv.out_channels}"


def branch_costs(spec: BlockSpec, variant: str = "torchvision") -> list[BranchCost]:
    """Each branch measured on the real block: parameters by counting, multiply-adds by a forward
    pass on a (1, C_in, side, side) input with hooks on the convolutions."""
    block = build_block(spec, variant)
    macs: dict[nn.Conv2d, int] = {}

    def count(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        # each output value: C_in/groups * K1 * K2 multiply-adds
        k1, k2 = module.kernel_size
        macs[module] = output.numel() * module.in_channels // module.groups * k1 * k2

    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    handles = [conv.register_forward_hook(count) for conv in convs]
    try:
        with torch.no_grad():
            block(torch.zeros(1, spec.in_channels, spec.side, spec.side))
    finally:
        for handle in handles:
            handle.remove()
    costs = []
    for label, branch in zip(BRANCHES, (block.branch1, block.branch2, block.branch3,
                                         block.branch4), strict=True):
        branch_convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        layers = [_conv_label(c) for c in branch_convs]
        if label == "pool":
            layers.insert(0, "3x3 max pool")
        costs.append(BranchCost(
            branch=label, layers=", ".join(layers), out_channels=branch_convs[-1].out_channels,
            parameters=sum(p.numel() for p in branch.parameters()),
            conv_weights=sum(c.weight.numel() for c in branch_convs),
            macs=sum(macs[c] for c in branch_convs)))
    return costs


@dataclass(frozen=True)
class SingleConv:
    kernel: int
    conv_weights: int  # C_out C_in K K
    macs: int  # C_out C_in K K side^2


def single_convs(spec: BlockSpec, kernels: tuple[int, ...] = (1, 3, 5)) -> list[SingleConv]:
    """One K x K convolution from C_in to the block's output width, the map kept ("same")."""
    found = []
    for k in kernels:
        with torch.device("meta"):
            conv = nn.Conv2d(spec.in_channels, spec.out_channels, k, padding=k // 2, bias=False)
        weights = conv.weight.numel()  # (C_out, C_in, K, K)
        found.append(SingleConv(kernel=k, conv_weights=weights, macs=weights * spec.side ** 2))
    return found


@dataclass(frozen=True)
class Reduction:
    branch: str
    kernel: int
    reduced_to: int  # the 1x1 reduction's width
    out_channels: int
    with_reduction: int  # weights: C_in r + r C_out K^2
    without: int  # weights: C_in C_out K^2 (the big kernel straight on the input)


def reductions(spec: BlockSpec, variant: str = "torchvision") -> list[Reduction]:
    """'For bigger kernels use fewer channels': the 3x3 and 5x5 branches' weights with their 1x1
    reductions and without them."""
    k5 = 5 if variant == "paper" else 3
    found = []
    for branch, k, reduced, out in (("3x3", 3, spec.ch3x3red, spec.ch3x3),
                                    ("5x5", k5, spec.ch5x5red, spec.ch5x5)):
        found.append(Reduction(branch=branch, kernel=k, reduced_to=reduced, out_channels=out,
                               with_reduction=spec.in_channels * reduced + reduced * out * k * k,
                               without=spec.in_channels * out * k * k))
    return found


# ---------------------------------------------------------------- outputs on a picture

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's weights


def branch_outputs(net: GoogLeNet, image: np.ndarray, block: str = "inception3a",
                   ) -> dict[str, np.ndarray]:
    """Each branch's output maps (C_b, side, side) for a 224 x 224 x 3 picture in [0, 1]:
    GoogLeNet's stem up to `block`, then the block's four branches one by one (a private eval
    copy: a shared model is never changed)."""
    if block not in BLOCKS:
        raise ValueError(f"Unknown block {block!r}: pick one of {', '.join(BLOCKS)}.")
    if image.shape != (224, 224, 3) or not np.all(np.isfinite(image)):
        raise ValueError("The picture must be 224 x 224 x 3 finite values.")
    order = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
             "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d",
             "inception4e", "maxpool4", "inception5a", "inception5b"]
    stem = nn.Sequential(*[copy.deepcopy(getattr(net, n)) for n in order[:order.index(block)]])
    target = copy.deepcopy(getattr(net, block))
    stem.eval()
    target.eval()
    x = torch.from_numpy(((image - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)[None]
    if getattr(net, "transform_input", False):
        x = net._transform_input(x)  # torchvision's weights expect their own rescaling
    with torch.no_grad():
        features = stem(x)  # (1, C_in, side, side)
        return {label: branch(features)[0].numpy() for label, branch in zip(
            BRANCHES, (target.branch1, target.branch2, target.branch3, target.branch4),
            strict=True)}


def strongest_channels(maps: np.ndarray, count: int = 4) -> list[int]:
    """The channels with the largest mean response (after the branch's ReLU: all >= 0)."""
    return [int(i) for i in np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:count]]


# ---------------------------------------------------------------- the module drawn


def module_figure(spec: BlockSpec, costs: list[BranchCost], *, height: int = 330) -> go.Figure:
    """The block as a diagram: the input, four parallel branches (their layers, widths and
    weights, multiply-adds and their share), the concatenation."""
    figure = go.Figure()
    total = sum(c.macs for c in costs)

    def box(x: float, y: float, text: str, colour: str, w: float = 0.21, h: float = 0.16) -> None:
        figure.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2,
                         fillcolor=colour, line={"color": "#444", "width": 1})
        figure.add_annotation(x=x, y=y, text=text, showarrow=False,
                              font={"size": 13, "color": "#14181f"})

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        figure.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x",
                              ayref="y", showarrow=True, arrowhead=2, arrowwidth=1.2, text="")

    box(0.5, 0.92, f"<b>input</b> ({spec.in_channels}, {spec.side}, {spec.side})", "#eeeeee",
        w=0.4, h=0.11)
    colours = {"1x1": "#d1e5f0", "3x3": "#fddbc7", "5x5": "#f4a582", "pool": "#e0e0e0"}
    for i, cost in enumerate(costs):
        x = 0.125 + 0.25 * i
        layers = cost.layers.replace(", ", "<br>")
        share = cost.macs / total if total else 0.0
        text = (f"<b>{cost.branch}</b><br>{layers}<br>{cost.conv_weights:,} weights<br>"
                f"{cost.macs / 1e6:.1f} M mult-adds ({share:.0%})")
        box(x, 0.5, text, colours[cost.branch], h=0.46)
        arrow(0.5, 0.865, x, 0.735)
        arrow(x, 0.265, 0.5, 0.135)
    box(0.5, 0.08, f"<b>concatenate</b> ({spec.out_channels} = "
        + " + ".join(str(c.out_channels) for c in costs) + f", {spec.side}, {spec.side})",
        "#eeeeee", w=0.6, h=0.11)
    figure.update_xaxes(range=[0, 1], visible=False)
    figure.update_yaxes(range=[0, 1], visible=False)
    figure.update_layout(height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                         plot_bgcolor="white")
    return figure
