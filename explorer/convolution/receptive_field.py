"""Receptive fields: which input pixels a unit of a layer can see, from the layers' arithmetic.

Along each axis, going through the layers in forward order from the input (size 1, jump 1,
start 0.5 = the centre of pixel 0), a layer with kernel k, stride s, padding p and dilation d
changes
    size  += (k - 1) * d * jump
    start += ((k - 1) / 2 * d - p) * jump
    jump  *= s
so unit i of the layer sees the input pixels centred on start + i * jump, `size` wide (the
lecture: five 3 x 3 convolutions see as far as one 11 x 11). Branching networks are followed
along their main path (ResNet's shortcut convolutions are skipped: they see less).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
FLAT = (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class Field:
    size: tuple[int, int]  # (rows, columns) of input pixels a unit sees
    jump: tuple[int, int]  # input pixels between neighbouring units
    start: tuple[float, float]  # centre of unit (0, 0), in input pixel coordinates

    def centre(self, row: int, col: int) -> tuple[float, float]:
        """Centre of unit (row, col) in input coordinates (pixel i spans [i, i + 1))."""
        return self.start[0] + row * self.jump[0], self.start[1] + col * self.jump[1]

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) input pixels of unit (row, col), bottom/right exclusive;
        may reach outside the image (padding)."""
        cy, cx = self.centre(row, col)
        top, left = round(cy - self.size[0] / 2), round(cx - self.size[1] / 2)
        return top, left, top + self.size[0], left + self.size[1]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _on_main_path(name: str) -> bool:
    return ".downsample" not in f".{name}" and "shortcut" not in name


def receptive_field(model: nn.Module, layer: str) -> Field:
    """The receptive field of `layer`'s units (a module name, or an FX node name inside a
    module such as "layer1.0.relu_1"). ValueError when the layer has no spatial units."""
    size, jump, start = [1, 1], [1, 1], [0.5, 0.5]
    names = [name for name, module in model.named_modules() if name]
    # An FX node that is not a module ("layer1.0.add", "layer1.0.relu_1") is an output of the
    # module around it: take that whole module.
    target = layer if layer in names else next(
        (n for n in sorted(names, key=len, reverse=True) if layer.startswith(n + ".")), None)
    if target is None:
        raise ValueError(f"Unknown layer {layer[:80]!r}.")
    for name, module in model.named_modules():
        if not name or next(module.children(), None) is not None or not _on_main_path(name):
            continue
        if isinstance(module, FLAT):
            raise ValueError(f"Layer {layer!r} comes after {name} ({type(module).__name__}): "
                             "its units see the whole picture.")
        if isinstance(module, SPATIAL):
            k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
            p = _pair(module.padding) if not isinstance(module.padding, str) else (0, 0)
            d = _pair(getattr(module, "dilation", 1))
            if isinstance(module.padding, str) and module.padding == "same":
                p = tuple((kk - 1) * dd // 2 for kk, dd in zip(k, d, strict=True))
            for axis in (0, 1):
                size[axis] += (k[axis] - 1) * d[axis] * jump[axis]
                start[axis] += ((k[axis] - 1) / 2 * d[axis] - p[axis]) * jump[axis]
                jump[axis] *= s[axis]
        if name == target or name.startswith(target + "."):
            last_inside = [n for n in names if n == target or n.startswith(target + ".")][-1]
            if name == last_inside:
                break
    return Field(tuple(size), tuple(jump), tuple(start))


def crop(image: np.ndarray, box: tuple[int, int, int, int], fill: float = 0.5) -> np.ndarray:
    """The box (top, left, bottom, right) of an (H, W, C) image; outside the image: `fill`."""
    top, left, bottom, right = box
    height, width = image.shape[:2]
    out = np.full((bottom - top, right - left, *image.shape[2:]), fill, dtype=image.dtype)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if y1 > y0 and x1 > x0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


# ---------------------------------------------------------------- stacks of layers (the lecture's
# "five 3 x 3 convolutions see as far as one 11 x 11")


@dataclass(frozen=True)
class StackLayer:
    kind: str  # "conv" or "pool"
    kernel: int
    stride: int = 1
    dilation: int = 1

    @property
    def label(self) -> str:
        name = f"conv {self.kernel}x{self.kernel}" if self.kind == "conv" else \
            f"pool {self.kernel}x{self.kernel}"
        extras = [f"stride {self.stride}"] * (self.stride > 1) + \
            [f"dilation {self.dilation}"] * (self.dilation > 1)
        return name + (f" ({', '.join(extras)})" if extras else "")


def _convs(kernel: int, count: int, dilations: tuple[int, ...] | None = None) -> tuple:
    return tuple(StackLayer("conv", kernel, dilation=d) for d in (dilations or (1,) * count))


POOL2 = StackLayer("pool", 2, stride=2)
STACKS: dict[str, tuple[StackLayer, ...]] = {
    "Five 3x3 convolutions": _convs(3, 5),
    "One 11x11 convolution": _convs(11, 1),
    "The lecture's simple CNN (conv, pool, conv, pool)": (_convs(3, 1)[0], POOL2,
                                                          _convs(3, 1)[0], POOL2),
    "VGG's first two blocks": (*_convs(3, 2), POOL2, *_convs(3, 2), POOL2),
    "Three 3x3 convolutions, dilation 1, 2, 4": _convs(3, 3, (1, 2, 4)),
}
STACK_INPUT = 32  # the click demo's input is 32 x 32


def stack_model(layers: tuple[StackLayer, ...]) -> nn.Sequential:
    """The stack with "valid" padding and all-ones weights; pooling sums its window, so the
    gradient of one output unit counts the paths from each input pixel to it."""
    modules: list[nn.Module] = []
    for layer in layers:
        if layer.kind == "conv":
            conv = nn.Conv2d(1, 1, layer.kernel, stride=layer.stride, dilation=layer.dilation,
                             bias=False)
            nn.init.ones_(conv.weight)
            modules.append(conv)
        else:
            modules.append(nn.AvgPool2d(layer.kernel, layer.stride, divisor_override=1))
    return nn.Sequential(*modules)


def stack_field(layers: tuple[StackLayer, ...]) -> Field:
    model = stack_model(layers)
    return receptive_field(model, str(len(model) - 1))


def stack_output_size(layers: tuple[StackLayer, ...], size: int = STACK_INPUT) -> int:
    for layer in layers:
        size = (size - layer.dilation * (layer.kernel - 1) - 1) // layer.stride + 1
    return size


def paths_to_unit(layers: tuple[StackLayer, ...], row: int, col: int,
                  size: int = STACK_INPUT) -> np.ndarray:
    """(size, size): how many paths lead from each input pixel to output unit (row, col);
    zero outside its receptive field. Computed by autograd (d unit / d input, weights 1)."""
    import torch

    out = stack_output_size(layers, size)
    if not (0 <= row < out and 0 <= col < out):
        raise ValueError(f"Unit ({row}, {col}) is outside the {out}x{out} output.")
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    stack_model(layers).double()(x)[0, 0, row, col].backward()
    return x.grad[0, 0].numpy()


def field_formula(layers: tuple[StackLayer, ...]) -> str:
    """r = 1 + sum over layers of (k - 1) * dilation * (product of the strides before it)."""
    terms, jump, size = [], 1, 1
    for layer in layers:
        step = (layer.kernel - 1) * layer.dilation * jump
        factors = [f"({layer.kernel}-1)"] + [f"{layer.dilation}"] * (layer.dilation > 1) + \
            [f"{jump}"] * (jump > 1)
        terms.append("·".join(factors))
        size += step
        jump *= layer.stride
    return f"r = 1 + {' + '.join(terms)} = {size}"
