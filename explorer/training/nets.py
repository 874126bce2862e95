"""The Train page's configurable CNN (the lecture's simple CNN by default) and its layer table."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# ---------------------------------------------------------------------------
# Registries (keys are what the page's select boxes show)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationSpec:
    label: str
    make: Callable[[int], nn.Module]  # number of channels/features -> a fresh module
    explanation: str


# Never in-place: the Pretrained page stores a layer's output with a hook, and an in-place
# activation would overwrite the stored conv output.
ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec(
        "ReLU", lambda _: nn.ReLU(), "max(0, z): cheap, the default; units can die (stay at 0)."
    ),
    "leaky_relu": ActivationSpec(
        "Leaky ReLU",
        lambda _: nn.LeakyReLU(0.01),
        "z for z >= 0, 0.01 z below: a small slope keeps units from dying.",
    ),
    "prelu": ActivationSpec(
        "PReLU",
        lambda width: nn.PReLU(width),
        "Leaky ReLU whose negative slope is learned, one per channel (adds parameters).",
    ),
    "elu": ActivationSpec(
        "ELU",
        lambda _: nn.ELU(1.0),
        "z for z >= 0, exp(z) - 1 below: smooth, negative outputs push the mean towards 0.",
    ),
}


@dataclass(frozen=True)
class PaddingSpec:
    label: str
    explanation: str


PADDINGS: dict[str, PaddingSpec] = {
    "same": PaddingSpec(
        "same (K // 2 zeros)", "A convolution keeps the size; only pooling halves it."
    ),
    "valid": PaddingSpec(
        "valid (no padding)", "Each convolution shrinks the map by K - 1 before pooling halves it."
    ),
}

KERNEL_SIZES = (3, 5)
MAX_BLOCKS = 4
MAX_DROPOUT = 0.8
POOL = 2  # every block ends in 2x2 max pooling with stride 2


@dataclass(frozen=True)
class ModelSettings:
    """The CNN: `blocks` x (conv -> [batch norm] -> activation -> 2x2 max-pool), then two dense
    layers: flatten -> [dropout] -> fc1(hidden) -> activation -> [dropout] -> fc2(classes).

    The first block has `channels` filters and each further block doubles them (32, 64, 128,
    ...), as in VGG. The defaults are the lecture's simple CNN: 2 conv blocks with ReLU and max
    pooling, followed by 2 dense layers. `dropout` is the probability used before each dense
    layer (0 = no dropout layers).
    """

    blocks: int = 2
    channels: int = 32
    kernel_size: int = 3
    activation: str = "relu"
    batch_norm: bool = False
    dropout: float = 0.0
    hidden: int = 128
    padding: str = "same"

    def __post_init__(self) -> None:
        if not 1 <= self.blocks <= MAX_BLOCKS:
            raise ValueError(f"blocks must be 1 to {MAX_BLOCKS}; got {self.blocks}.")
        if not 1 <= self.channels <= 512:
            raise ValueError(f"channels must be 1 to 512; got {self.channels}.")
        if self.kernel_size not in KERNEL_SIZES:
            raise ValueError(f"kernel_size must be one of {KERNEL_SIZES}; got {self.kernel_size}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {self.activation!r}; choose one of {list(ACTIVATIONS)}."
            )
        if not 0.0 <= self.dropout <= MAX_DROPOUT:
            raise ValueError(f"dropout must be 0 to {MAX_DROPOUT}; got {self.dropout}.")
        if not 1 <= self.hidden <= 4096:
            raise ValueError(f"hidden must be 1 to 4096; got {self.hidden}.")
        if self.padding not in PADDINGS:
            raise ValueError(f"Unknown padding {self.padding!r}; choose one of {list(PADDINGS)}.")

    def block_channels(self) -> tuple[int, ...]:
        """Output channels of each conv block: channels, 2 x channels, 4 x channels, ..."""
        return tuple(self.channels * 2**i for i in range(self.blocks))


def feature_sizes(settings: ModelSettings, image_size: int | tuple[int, int]) -> list[tuple[int, int]]:
    """(H, W) of the image and after each block; ValueError when a block has nothing left."""
    height, width = _pair(image_size)
    sizes = [(height, width)]
    shrink = 0 if settings.padding == "same" else settings.kernel_size - 1
    for block in range(1, settings.blocks + 1):
        conv_h, conv_w = height - shrink, width - shrink
        if min(conv_h, conv_w) < POOL:
            raise ValueError(
                f"{settings.blocks} blocks are too many for {sizes[0][0]}x{sizes[0][1]} images: "
                f"block {block} gets a {height}x{width} map, which a {settings.kernel_size}x"
                f"{settings.kernel_size} '{settings.padding}' convolution and 2x2 pooling shrink "
                f"to nothing. Use fewer blocks, 'same' padding or a smaller kernel."
            )
        height, width = conv_h // POOL, conv_w // POOL
        sizes.append((height, width))
    return sizes


def build_model(
    settings: ModelSettings,
    *,
    in_channels: int,
    num_classes: int,
    image_size: int | tuple[int, int],
) -> nn.Sequential:
    """The CNN for `settings` as an nn.Sequential with readable names.

    Names: conv1, bn1, act1, pool1, conv2, ..., flatten, drop1, fc1, act_fc1, drop2, fc2
    (bn* only with batch norm, drop* only with dropout > 0). model.conv1.weight holds the
    first-layer kernels, shape (channels, in_channels, K, K).
    """
    if in_channels < 1 or num_classes < 2:
        raise ValueError(
            f"Need at least 1 input channel and 2 classes; got {in_channels} and {num_classes}."
        )
    sizes = feature_sizes(settings, image_size)
    activation = ACTIVATIONS[settings.activation].make
    padding = settings.kernel_size // 2 if settings.padding == "same" else 0
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    previous = in_channels
    for i, width in enumerate(settings.block_channels(), start=1):
        # With batch norm the conv's bias is redundant (BN subtracts the mean): leave it out.
        layers[f"conv{i}"] = nn.Conv2d(
            previous, width, settings.kernel_size, padding=padding, bias=not settings.batch_norm
        )
        if settings.batch_norm:
            layers[f"bn{i}"] = nn.BatchNorm2d(width)
        layers[f"act{i}"] = activation(width)
        layers[f"pool{i}"] = nn.MaxPool2d(POOL)
        previous = width
    height, width = sizes[-1]
    layers["flatten"] = nn.Flatten()  # (B, C, H, W) -> (B, C * H * W)
    if settings.dropout > 0:
        layers["drop1"] = nn.Dropout(settings.dropout)
    layers["fc1"] = nn.Linear(previous * height * width, settings.hidden)
    layers["act_fc1"] = activation(settings.hidden)
    if settings.dropout > 0:
        layers["drop2"] = nn.Dropout(settings.dropout)
    layers["fc2"] = nn.Linear(settings.hidden, num_classes)
    return nn.Sequential(layers)


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first Conv2d (its weight is the first-layer kernels)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError("The model has no Conv2d layer.")


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN running means excluded)."""
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------
# Layer table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    name: str  # e.g. "conv1"
    type: str  # e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch dimension, e.g. (32, 16, 16)
    parameters: int  # parameters the layer itself owns


@contextlib.contextmanager
def _output_shapes(model: nn.Module) -> Iterator[dict[str, tuple[int, ...]]]:
    """Forward hooks on every leaf module recording its output shape; removed on exit."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):

            def hook(_module, _inputs, output, name=name):
                shapes[name] = tuple(output.shape[1:])

            handles.append(module.register_forward_hook(hook))
    try:
        yield shapes
    finally:
        for handle in handles:
            handle.remove()


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """One row per leaf layer, in forward order, from one forward pass of a zero image.

    input_shape: (C, H, W) or (1, C, H, W). The pass runs in eval mode without gradients; the
    model's mode is restored afterwards. Sum of `parameters` == count_parameters(model).
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W); got {tuple(input_shape)}.")
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    was_training = model.training
    model.eval()
    try:
        with _output_shapes(model) as shapes, torch.no_grad():
            model(torch.zeros(shape, dtype=dtype))
    finally:
        model.train(was_training)
    modules = dict(model.named_modules())
    # Hooks fire in forward order and dicts keep insertion order.
    rows = [
        LayerRow(
            name=name,
            type=type(modules[name]).__name__,
            output_shape=out,
            parameters=sum(p.numel() for p in modules[name].parameters(recurse=False)),
        )
        for name, out in shapes.items()
    ]
    # Leaves never called in the forward pass still own parameters: list them at the end.
    for name, module in modules.items():
        if name and name not in shapes and not any(True for _ in module.children()):
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, type(module).__name__, (), own))
    return rows


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def activation_curve(name: str, z: np.ndarray) -> np.ndarray:
    """h(z) of a registry activation as a fresh module computes it (PReLU: its initial slope
    0.25, before training learns it)."""
    module = ACTIVATIONS[name].make(1)
    with torch.no_grad():
        return module(torch.as_tensor(z, dtype=torch.float32)[None]).numpy()[0].astype(np.float64)


def standalone_code(model: nn.Module, input_shape: tuple[int, int, int], node: str,
                    weights_file: str = "assets/default_net.pt") -> str:
    """A script (torch + torchvision only) that rebuilds `model` layer by layer, loads a run
    saved by the app (weights_only) and prints its top 3 and `node`'s activation shape. A
    Sequential of plain layers is written out (a module's repr is its constructor); anything
    else is loaded through the app."""
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else []
    plain = children and all(next(m.children(), None) is None for _, m in children)
    if plain:
        layers = "\n".join(f'    ("{name}", nn.{module!r}),' for name, module in children)
        build = (f"# The network layer by layer, as the app built it\n"
                 f"model = nn.Sequential(OrderedDict([\n{layers}\n]))\n"
                 f'payload = torch.load("{weights_file}", weights_only=True)  # or a Train-page run\n'
                 f'model.load_state_dict(payload["state_dict"])\nmodel.eval()\n')
        head = "from collections import OrderedDict\n\nimport torch\nfrom torch import nn\n"
    else:
        build = (f'run = load_run("{weights_file}")  # the app rebuilds this network\n'
                 "model = run.model.eval()\n")
        head = "import torch\n\nfrom explorer.training.runs import load_run\n"
    channels, height, width = input_shape
    return (head + "from torchvision.models.feature_extraction import create_feature_extractor"
            f"\n\n{build}torch.manual_seed(0)\nx = torch.rand(1, {channels}, {height}, {width})\n"
            f'extractor = create_feature_extractor(model, return_nodes={{"{node}": "maps"}})\n'
            "with torch.no_grad():\n"
            "    print(model(x).softmax(dim=1).topk(3))\n"
            '    print(extractor(x)["maps"].shape)\n')
