"""Transfer learning: strategies (frozen ... scratch), settings, heads, last blocks, adapted copies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from explorer.jobs.concurrency import RNG_LOCK
from explorer.training.settings import DEFAULT_THREADS
from explorer.transfer.backbones import Backbone, build_architecture
from explorer.user_input import NumberField

# ---------------------------------------------------------------------------
# Strategies (keys are what the page's select box shows)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySpec:
    label: str
    trains: str  # "head": the new head only; "last": last block + head; "all": everything
    pretrained: bool  # starts from the backbone's weights (False: re-initialised)
    default_lr: float  # Adam; measured on letters at 20 per class
    explanation: str


STRATEGIES: dict[str, StrategySpec] = {
    "frozen": StrategySpec(
        "Frozen features + new head", "head", True, 1e-2,
        "The lecture's recipe: keep every pretrained layer fixed and train only a new linear "
        "layer on the features they compute (each image's features are computed once).",
    ),
    "finetune_last": StrategySpec(
        "Fine-tune the last block", "last", True, 1e-3,
        "Keep the early layers fixed; retrain the last block and a new head on the new data.",
    ),
    "finetune_all": StrategySpec(
        "Fine-tune everything", "all", True, 1e-3,
        "Start from the pretrained weights and let every layer change (a small learning rate "
        "keeps what they learned from being wiped out at once).",
    ),
    "scratch": StrategySpec(
        "From scratch (baseline)", "all", False, 1e-3,
        "The same architecture with random weights, every layer trained: what the pretrained "
        "weights are worth.",
    ),
}
STRATEGY_ALIASES = {"finetune": "finetune_last", "fine-tune": "finetune_last", "head": "frozen"}
MAX_EPOCHS = 1000

# What a user may set, for the page, its links and the command line alike (explorer.user_input)
EXAMPLES_PER_CLASS = NumberField("Examples per class", 1, 100_000, integer=True)
EPOCHS = NumberField("Epochs", 1, MAX_EPOCHS, integer=True)
MAX_SECONDS = NumberField("The time budget (seconds)", 0.01, 24 * 3600)
LEARNING_RATE = NumberField("The learning rate", 1e-8, 10.0)
BATCH_SIZE = NumberField("The batch size", 1, 4096, integer=True)
INPUT_SIZE = NumberField("The input size (pixels)", 16, 512, integer=True)
SEED = NumberField("The seed", 0, 2**32 - 1, integer=True)
THREADS = NumberField("Threads", 1, 256, integer=True)
EVAL_SUBSET = NumberField("The evaluation subset", 1, 1_000_000, integer=True)


@dataclass(frozen=True)
class TransferSettings:
    """One strategy on one task. Training ends after `epochs` or `max_seconds` of training time
    (feature extraction of the training images included; evaluations and pauses excluded),
    whichever comes first. examples_per_class: None = every training image. learning_rate:
    None = the strategy's default (Adam). input_size: the square the backbone sees; None = its
    own (32 for the app's networks, 224 for ImageNet's). cache_features: the frozen strategy
    trains its head on cached features (False: through the whole network every step, for
    comparison). eval_subset: test images behind the per-epoch curve (the end uses all).
    """

    strategy: str = "frozen"
    examples_per_class: int | None = 20
    epochs: int = 50
    max_seconds: float | None = None
    learning_rate: float | None = None
    batch_size: int = 32
    input_size: int | None = None
    seed: int = 0
    cache_features: bool = True
    eval_subset: int = 500
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; choose one of "
                             f"{list(STRATEGIES)}.")
        optional = ((EXAMPLES_PER_CLASS, self.examples_per_class),  # None = all / default
                    (MAX_SECONDS, self.max_seconds), (LEARNING_RATE, self.learning_rate),
                    (INPUT_SIZE, self.input_size))
        required = ((EPOCHS, self.epochs), (BATCH_SIZE, self.batch_size), (SEED, self.seed),
                    (THREADS, self.threads), (EVAL_SUBSET, self.eval_subset))
        for field, value in (*((f, v) for f, v in optional if v is not None), *required):
            field.check(value)  # InputError (a ValueError) naming the field, limits and value

    @property
    def lr(self) -> float:
        """The learning rate used: the setting, else the strategy's default."""
        return self.learning_rate or STRATEGIES[self.strategy].default_lr


def settings_to_dict(settings: TransferSettings) -> dict[str, Any]:
    """Plain dict (str, int, float, bool, None): JSON- and weights_only-safe."""
    return asdict(settings)


# ---------------------------------------------------------------------------
# The head and the last block
# ---------------------------------------------------------------------------


def find_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """(name, module) of the classifier head: the last nn.Linear in the module tree (ResNet's
    fc, VGG's and MobileNet's classifier[-1], the simple CNN's fc2). Module order is forward
    order in every family here."""
    found = [(name, module) for name, module in model.named_modules()
             if isinstance(module, nn.Linear)]
    if not found:
        raise ValueError("This network has no linear layer to replace with a new head.")
    return found[-1]


def _children(model: nn.Module, name: str) -> list[str]:
    return [f"{name}.{child}" for child, _ in model.get_submodule(name).named_children()]


def _simple_last(model: nn.Module) -> tuple[str, ...]:
    blocks = [int(name[4:]) for name, _ in model.named_children()
              if name.startswith("conv") and name[4:].isdigit()]
    last = max(blocks)
    names = {name for name, _ in model.named_children()}
    return tuple(f"{kind}{last}" for kind in ("conv", "bn", "act", "pool")
                 if f"{kind}{last}" in names)


def _after_pool(model: nn.Module) -> tuple[str, ...]:
    """VGG / AlexNet: the layers of `features` after its second-to-last max-pooling."""
    layers = list(model.get_submodule("features").children())
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
    start = pools[-2] + 1 if len(pools) >= 2 else 0
    return tuple(f"features.{i}" for i in range(start, len(layers)))


def _last_conv(model: nn.Module) -> tuple[str, ...]:
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ValueError("This network has no convolution to fine-tune.")
    return (convs[-1],)


@dataclass(frozen=True)
class BlockRule:
    description: str
    modules: Callable[[nn.Module], tuple[str, ...]]  # module names (prefixes) of the last block


LAST_BLOCKS: dict[str, BlockRule] = {
    "simple": BlockRule("the last conv block (conv, [batch norm,] activation, pooling)",
                        _simple_last),
    "ResNet": BlockRule("layer4, the last stage of residual blocks", lambda m: ("layer4",)),
    "VGG": BlockRule("the last conv block of features (after its 4th max-pooling)", _after_pool),
    "AlexNet": BlockRule("the last three convolutions of features", _after_pool),
    "MobileNet": BlockRule("the last inverted-residual block and the last 1x1 convolution",
                           lambda m: tuple(_children(m, "features")[-2:])),
    "EfficientNet": BlockRule("the last MBConv stage and the last 1x1 convolution",
                              lambda m: tuple(_children(m, "features")[-2:])),
    "DenseNet": BlockRule("the last dense block and its batch norm",
                          lambda m: ("features.denseblock4", "features.norm5")),
}
FALLBACK_BLOCK = BlockRule("the last convolution", _last_conv)


def last_block(backbone: Backbone) -> tuple[str, ...]:
    """Module names of the backbone's last block (see LAST_BLOCKS)."""
    return LAST_BLOCKS.get(backbone.family, FALLBACK_BLOCK).modules(backbone.model)


def trainable_modules(backbone: Backbone, strategy: str) -> tuple[str, ...]:
    """Module-name prefixes whose parameters train under `strategy` ("" = all of them)."""
    trains = STRATEGIES[strategy].trains
    head, _ = find_head(backbone.model)
    if trains == "all":
        return ("",)
    if trains == "last":
        return (*last_block(backbone), head)
    return (head,)


def _inside(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


# ---------------------------------------------------------------------------
# Adapted copies
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class Adapted:
    """A private copy of the backbone with a new head, ready to train under a strategy."""

    model: nn.Module
    strategy: str
    head: str  # the new head's module name
    trainable: tuple[str, ...]  # module prefixes that train ("" = all)
    features: int  # the head's input size (D)

    def set_train_mode(self) -> None:
        """Frozen layers in eval mode (batch norm keeps its statistics, no dropout); the
        trainable ones in train mode."""
        self.model.eval()
        for prefix in self.trainable:
            (self.model if prefix == "" else self.model.get_submodule(prefix)).train()

    def head_module(self) -> nn.Linear:
        return self.model.get_submodule(self.head)


def new_head(features: int, num_classes: int, seed: int) -> nn.Linear:
    """The new head, the same for every strategy with the same seed."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(features, num_classes)


def adapt(backbone: Backbone, strategy: str, num_classes: int, *, seed: int = 0) -> Adapted:
    """A fresh copy of the backbone (never the shared model) with a new num_classes head and
    requires_grad set for `strategy`; "scratch" rebuilds the architecture with random weights
    (seeded). Frozen parameters have requires_grad False."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {list(STRATEGIES)}.")
    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes; got {num_classes}.")
    head, old = find_head(backbone.model)
    if STRATEGIES[strategy].pretrained:
        model = copy.deepcopy(backbone.model)
    else:
        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_architecture(backbone.architecture)
    model.set_submodule(head, new_head(old.in_features, num_classes, seed))
    trainable = trainable_modules(backbone, strategy)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(_inside(name, trainable))
    adapted = Adapted(model.float(), strategy, head, trainable, old.in_features)
    adapted.set_train_mode()
    return adapted


@dataclass(frozen=True)
class LayerState:
    name: str
    type: str
    parameters: int  # the layer's own
    trainable: int  # of those, how many train
    state: str  # "new head", "trainable", "frozen" or "no weights"


def layer_plan(backbone: Backbone, strategy: str, num_classes: int) -> tuple[LayerState, ...]:
    """Every leaf layer of the adapted network under `strategy`, read from the shared model
    without copying it (the head counted at its new size)."""
    head, old = find_head(backbone.model)
    trainable = trainable_modules(backbone, strategy)
    rows = []
    for name, module in backbone.model.named_modules():
        if not name or any(True for _ in module.children()):
            continue
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if name == head:
            own = old.in_features * num_classes + (num_classes if old.bias is not None else 0)
            rows.append(LayerState(name, "Linear", own, own, "new head"))
            continue
        trains = _inside(name, trainable)
        state = "no weights" if own == 0 else "trainable" if trains else "frozen"
        rows.append(LayerState(name, type(module).__name__, own, own if trains else 0, state))
    return tuple(rows)


def parameter_counts(rows: tuple[LayerState, ...]) -> tuple[int, int]:
    """(trainable, frozen) parameters of a layer plan."""
    trainable = sum(row.trainable for row in rows)
    return trainable, sum(row.parameters for row in rows) - trainable


def input_size(backbone: Backbone, settings: TransferSettings) -> tuple[int, int]:
    """The (H, W) the backbone is given; ValueError when it cannot take that size."""
    if settings.input_size is None:
        return backbone.input_size
    size = (settings.input_size, settings.input_size)
    if size != tuple(backbone.input_size) and not backbone.resizable:
        raise ValueError(f"{backbone.label} only takes {backbone.input_size[0]} x "
                         f"{backbone.input_size[1]} images (its dense layers fix the size).")
    return size
