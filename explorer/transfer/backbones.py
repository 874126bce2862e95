"""Backbones for transfer learning: the app's networks and torchvision's, and what they see."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explorer.training.nets import ModelSettings, build_model

# ---------------------------------------------------------------------------
# Backbones
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Backbone:
    """A trained network to adapt. `model` may be shared by every session: nothing here ever
    changes it (each strategy trains its own copy). `architecture` is a plain dict that
    build_architecture turns back into the same (untrained) network."""

    key: str  # "default", "run:<job id>" or a torchvision name such as "resnet18"
    label: str
    family: str  # picks the "last block" rule: simple, ResNet, VGG, AlexNet, MobileNet, ...
    model: nn.Module
    architecture: dict[str, Any]
    input_size: tuple[int, int]  # (H, W) it was trained on
    mean: tuple[float, ...]  # per input channel, of [0, 1] pixels
    std: tuple[float, ...]
    pretrained: bool  # False: random weights (ImageNet weights not cached)
    message: str  # where the weights came from, for the page
    resizable: bool  # True: any input size works (global pooling before the head)

    @property
    def in_channels(self) -> int:
        return len(self.mean)

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, for the feature cache."""
        return f"{self.key}|{'trained' if self.pretrained else 'untrained'}"


@dataclass(frozen=True)
class BackboneSpec:
    label: str
    zoo_name: str | None  # None: the app's default network (offline, always there)
    explanation: str


BACKBONES: dict[str, BackboneSpec] = {
    "default": BackboneSpec(
        "CNN Explorer's default network (Shapes)", None,
        "The Train page's simple CNN trained on the ten shapes; works offline."),
    "resnet18": BackboneSpec("ResNet-18 (ImageNet)", "resnet18",
                             "11 M parameters; 512 features before its head."),
    "mobilenet_v3_small": BackboneSpec("MobileNet V3 Small (ImageNet)", "mobilenet_v3_small",
                                       "2.5 M parameters, the fastest here."),
    "vgg16": BackboneSpec("VGG-16 (ImageNet)", "vgg16",
                          "138 M parameters, 4096 features before its head; slow on a CPU."),
    "resnet50": BackboneSpec("ResNet-50 (ImageNet)", "resnet50", "25 M parameters."),
    "alexnet": BackboneSpec("AlexNet (ImageNet)", "alexnet", "The 2012 network."),
    "mobilenet_v2": BackboneSpec("MobileNet V2 (ImageNet)", "mobilenet_v2", "3.5 M parameters."),
}


def build_architecture(architecture: dict[str, Any]) -> nn.Module:
    """The network an architecture dict describes, with fresh random weights (seed it first)."""
    kind = architecture.get("kind")
    if kind == "simple":
        height, width = architecture["image_size"]
        return build_model(ModelSettings(**architecture["model"]),
                           in_channels=int(architecture["in_channels"]),
                           num_classes=int(architecture["num_classes"]),
                           image_size=(int(height), int(width)))
    if kind == "torchvision":
        from torchvision.models import get_model

        return get_model(architecture["name"], weights=None, **architecture.get("kwargs", {}))
    raise ValueError(f"Unknown architecture kind {kind!r}.")


def _simple_architecture(model: ModelSettings, in_channels: int, num_classes: int,
                         image_size: tuple[int, int]) -> dict[str, Any]:
    return {"kind": "simple", "model": asdict(model), "in_channels": in_channels,
            "num_classes": num_classes, "image_size": list(image_size)}


@functools.lru_cache(maxsize=1)
def default_backbone() -> Backbone:
    """The app's default network (assets/default_net.pt), one per process."""
    from explorer.training import app_networks
    from explorer.training import runs as train_runs

    loaded = app_networks.default_network()
    run = train_runs.load_run(app_networks.DEFAULT_NET)  # its settings, to rebuild it
    return Backbone(
        key="default", label=BACKBONES["default"].label, family="simple", model=loaded.model,
        architecture=_simple_architecture(run.settings.model, run.in_channels, len(run.classes),
                                          run.image_size),
        input_size=run.image_size, mean=run.mean, std=run.std, pretrained=True,
        message=app_networks.DEFAULT_NOTE, resizable=False,
    )


def backbone_from_job(job: Any) -> Backbone:
    """A finished (or stopped) Train-page run (a training.TrainingJob) as a backbone."""
    from explorer.training.batches import normalisation

    if job.model is None:
        raise ValueError("This run has no trained network yet: let it finish (or stop it).")
    data = job.dataset
    mean, std = normalisation(data)
    return Backbone(
        key=f"run:{job.job_id}", label=f"Train-page run {job.job_id} ({data.name})",
        family="simple", model=job.model,
        architecture=_simple_architecture(job.settings.model, data.channels, data.num_classes,
                                          data.image_size),
        input_size=data.image_size, mean=mean, std=std, pretrained=True,
        message=f"Trained on the Train page on {data.name} ({job.state}).", resizable=False,
    )


def backbone_from_loaded(loaded: Any) -> Backbone:
    """A torchvision network from zoo.load_model (untrained when its weights are missing)."""
    from explorer.networks import model_registry

    spec = model_registry.model_spec(loaded.name)
    kwargs = {**spec.build_kwargs, **(spec.pretrained_kwargs if loaded.pretrained else {})}
    transforms = loaded.transforms
    message = loaded.message
    if not loaded.pretrained:
        message += (" Its features are random, so transfer cannot help: every strategy starts "
                    "from noise. Download the weights (Pretrained page) for a real comparison.")
    return Backbone(
        key=loaded.name, label=loaded.label, family=spec.family, model=loaded.model,
        architecture={"kind": "torchvision", "name": spec.torchvision, "kwargs": dict(kwargs)},
        input_size=tuple(loaded.input_shape[1:]),
        mean=tuple(float(v) for v in transforms.mean), std=tuple(float(v) for v in transforms.std),
        pretrained=loaded.pretrained, message=message, resizable=True,
    )


def load_backbone(key: str, *, allow_download: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> Backbone:
    """A BACKBONES entry: the default network, or a torchvision network with its ImageNet
    weights from the local cache (downloaded only with allow_download; else untrained, and
    the backbone's message says so)."""
    if key not in BACKBONES:
        raise ValueError(f"Unknown backbone {key!r}; choose one of {list(BACKBONES)}.")
    spec = BACKBONES[key]
    if spec.zoo_name is None:
        return default_backbone()
    from explorer.networks import zoo

    return backbone_from_loaded(zoo.load_model(spec.zoo_name, allow_download=allow_download,
                                               progress=progress))


def backbone_input(backbone: Backbone, images: torch.Tensor,
                   size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, h, w) uint8 -> (B, C, H, W) float32 as the backbone expects: grey when it takes
    one channel (luma), resized to `size` (bilinear, antialiased), (x - mean) / std."""
    x = images.float().div_(255)  # [0, 1]
    if backbone.in_channels == 1 and x.shape[1] == 3:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x * luma).sum(1, keepdim=True)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", antialias=True,
                          align_corners=False)
    mean = torch.tensor(backbone.mean).view(1, -1, 1, 1)
    std = torch.tensor(backbone.std).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)
