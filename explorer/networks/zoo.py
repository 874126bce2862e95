"""Pretrained torchvision networks: registry, offline-first weight loading, uploads, predictions."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import http.client
import itertools
import os
import re
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from torch import nn
from torchvision.models import get_model, get_model_weights

from explorer.environment import weights_dir
from explorer.jobs import memory
from explorer.jobs.concurrency import RNG_LOCK
from explorer.networks.activations import forward, suggest_gradcam_layer
from explorer.networks.weights_files import (  # noqa: F401 (re-exported: zoo is the pages' one entry)
    MAX_ARCHIVE_ENTRIES,
    MAX_WEIGHTS_BYTES,
    WEIGHTS_MARGIN,
    WEIGHTS_SLACK,
    WeightsError,
    _check_finite,
    _check_tensors,
    _conform,
    _read_state_dict,
    _short,
    check_fits,
    load_weights_file,
    read_weights,
    weights_budget,
)

DOWNLOAD_TIMEOUT_S = 10.0  # per connection attempt and per read: nothing may hang
CHUNK = 1 << 20  # download in 1 MiB pieces, reporting progress after each


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Loaded models
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoadedModel:
    name: str
    label: str
    family: str
    model: nn.Module  # eval mode; parameters untouched (Grad-CAM differentiates activations)
    pretrained: bool  # True only when trained weights were loaded
    categories: tuple[str, ...]
    transforms: Callable[[torch.Tensor], torch.Tensor]  # (3, H, W) in [0, 1] -> (C, h, w)
    weights_name: str  # e.g. "VGG16_Weights.IMAGENET1K_V1"; "" for the app's own networks
    meta: dict  # the weights' meta without categories: num_params, _metrics, _ops, _file_size
    message: str  # what happened, for the page
    first_conv: str | None  # module name of the first Conv2d
    gradcam_layer: str | None  # suggested Grad-CAM target (a layer_names name)
    input_shape: tuple[int, int, int]  # (C, H, W) the network sees after the transforms


def _generic_categories(count: int) -> tuple[str, ...]:
    return tuple(f"class {i}" for i in range(count))


def _build(spec: ModelSpec, *, pretrained: bool) -> nn.Module:
    """The architecture with random weights, the same every time (seed 0, global RNG kept)."""
    kwargs = {**spec.build_kwargs, **(spec.pretrained_kwargs if pretrained else {})}
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return get_model(spec.torchvision, weights=None, **kwargs).eval()


def _load_pretrained(spec: ModelSpec, path: Path) -> nn.Module:
    """Build on the meta device (no random init: VGG16's takes ~2 s), read the file against it
    (sizes, names, shapes, dtypes and finite values checked: see _read_state_dict) and adopt the
    tensors (assign=True, no second copy in memory); a normal build if anything stays on meta."""
    kwargs = {**spec.build_kwargs, **spec.pretrained_kwargs}
    with torch.device("meta"):
        model = get_model(spec.torchvision, weights=None, **kwargs)
    state_dict = _read_state_dict(path, model, what=path.name, adapt=spec.adapt)
    model.load_state_dict(state_dict, assign=True)
    if any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        model = _build(spec, pretrained=True)
        model.load_state_dict(state_dict)
    return model.to(torch.float32).eval()


def weights_path(weights: torchvision.models.WeightsEnum) -> Path:
    """Where torchvision caches this weights file (the basename of its URL in the hub cache)."""
    return weights_dir() / os.path.basename(weights.url)


def _resolve_weights(spec: ModelSpec, weights: str | None):
    enum = get_model_weights(spec.torchvision)
    if weights is None:
        return enum, None
    try:
        return enum, enum.verify(weights)  # "DEFAULT", "IMAGENET1K_V1" or the full name
    except (KeyError, TypeError) as exc:
        names = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise ValueError(f"No weights {weights!r} for {spec.torchvision}: try {names}.") from exc


def load_model(
    name: str,
    weights: str | None = "DEFAULT",
    *,
    allow_download: bool = False,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> LoadedModel:
    """A registry (or torchvision) model with trained weights when they can be had.

    Weights come from torchvision's cache (explorer.environment.weights_dir(), which honours
    TORCH_HOME), read with torch.load(weights_only=True): a file there can never run code.
    Missing: with allow_download they are fetched (progress(done_bytes, total_bytes), `timeout`
    seconds per connect/read, the SHA-256 prefix in the file name checked); otherwise, or when
    the download fails, the untrained architecture is returned with pretrained=False and a
    message saying why. A cached file that does not load or fit gives the same. weights=None
    asks for the untrained architecture. Transforms are always the weights' own (DEFAULT's when
    untrained), so the preprocessing can still be shown.
    """
    memory.note_long_lived()  # a model is kept for the process's life: freeze it after the run
    spec = model_spec(name)
    enum, chosen = _resolve_weights(spec, weights)
    shown = chosen or enum.DEFAULT  # transforms, meta and name even when untrained
    transforms = shown.transforms()
    common = {
        "name": name,
        "label": spec.label,
        "family": spec.family,
        "transforms": transforms,
        "weights_name": str(shown),
        "meta": {k: v for k, v in shown.meta.items() if k != "categories"},
        "gradcam_layer": spec.gradcam_layer,
        "input_shape": (3, *_crop_size(transforms)),
    }

    def untrained(message: str) -> LoadedModel:
        model = _build(spec, pretrained=False)
        return LoadedModel(
            model=model,
            pretrained=False,
            categories=_generic_categories(len(shown.meta["categories"])),
            message=message,
            first_conv=spec.first_conv or _first_conv_name(model),
            **common,
        )

    if chosen is None:
        return untrained("Untrained architecture (random weights), as asked.")
    path = weights_path(chosen)
    if not path.is_file():
        if not allow_download:
            return untrained(
                f"{chosen} is not cached in {path.parent} and downloads are off: showing the "
                "untrained architecture (random weights)."
            )
        try:
            _download(chosen.url, path, progress, timeout)
        except DownloadError as exc:
            return untrained(
                f"{chosen} is not cached and could not be downloaded (offline? {exc}): showing "
                "the untrained architecture (random weights)."
            )
        how = f"Downloaded {chosen} ({path.stat().st_size / 2**20:.0f} MB) into {path.parent}"
    else:
        how = f"Loaded {chosen} from the local cache ({path})"
    try:
        model = _load_pretrained(spec, path)
    except (WeightsError, OSError, RuntimeError) as exc:
        reason = str(exc).rstrip(".") if isinstance(exc, WeightsError) else _short(exc)
        return untrained(
            f"The cached file {path.name} could not be used ({reason}): showing the untrained "
            "architecture. Delete the file to download it again."
        )
    return LoadedModel(
        model=model,
        pretrained=True,
        categories=tuple(chosen.meta["categories"]),
        message=how + ".",
        first_conv=spec.first_conv or _first_conv_name(model),
        **common,
    )


def _crop_size(transforms) -> tuple[int, int]:
    crop = list(getattr(transforms, "crop_size", [224]))
    return (crop[0], crop[-1])


def _first_conv_name(model: nn.Module) -> str | None:
    return next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


# ---------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------


class DownloadError(OSError):
    """The weights could not be fetched (no network, timeout, HTTP error, bad checksum)."""


def _download(
    url: str, path: Path, progress: Callable[[int, int], None] | None, timeout: float
) -> None:
    """url -> path in CHUNK pieces through a temporary file (renamed only when complete and the
    SHA-256 starts with the hex digits after the last "-" of the name, torch.hub's convention)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)  # "vgg16-397923af.pth" -> "397923af"
    digest = hashlib.sha256()
    partial = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=path.name, suffix=".part", delete=False
        ) as tmp:
            partial = tmp.name
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while chunk := response.read(CHUNK):
                    tmp.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise DownloadError(f"checksum mismatch for {path.name}")
        os.replace(partial, path)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise exc if isinstance(exc, DownloadError) else DownloadError(str(exc)) from exc
    finally:
        if partial is not None and os.path.exists(partial):
            os.unlink(partial)


def with_weights(
    loaded: LoadedModel, state_dict: Mapping[str, torch.Tensor], source: str
) -> LoadedModel:
    """A copy of `loaded` whose model (a deep copy: the shared one is untouched) holds
    `state_dict` (checked with check_fits, dtypes and finite values first)."""
    check_fits(state_dict, loaded.model)
    _check_tensors(state_dict)
    state_dict = _conform(state_dict, loaded.model.state_dict())
    _check_finite(state_dict)
    model = copy.deepcopy(loaded.model)
    model.load_state_dict(state_dict)
    return dataclasses.replace(
        loaded, model=model.eval(), pretrained=True, weights_name=source,
        message=f"Loaded the weights from {source}.",
    )


# ---------------------------------------------------------------------------
# The app's own networks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocess:
    """Resize to the training size and normalise: (3, H, W) in [0, 1] -> (C, h, w).

    One mean/std entry means a greyscale network: the image is converted to grey first.
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or len(self.mean) not in (1, 3):
            raise ValueError("mean and std need 1 (grey) or 3 (RGB) entries each.")
        if any(s <= 0 for s in self.std):
            raise ValueError("std entries must be positive.")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if len(self.mean) == 1:
            image = TF.rgb_to_grayscale(image)  # (1, H, W): 0.299 R + 0.587 G + 0.114 B
        image = TF.resize(image, list(self.size), antialias=True)
        return TF.normalize(image, list(self.mean), list(self.std))

    def describe(self) -> str:
        grey = len(self.mean) == 1
        steps = ["Convert to greyscale (0.299 R + 0.587 G + 0.114 B)."] if grey else []
        steps += [
            f"Resize to {self.size[0]} x {self.size[1]} px (antialiased), the training size.",
            "Scale pixel values to [0, 1].",
            f"Normalise each channel: (x - mean) / std, mean = {_numbers(self.mean)}, "
            f"std = {_numbers(self.std)}.",
        ]
        return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


def custom_model(
    name: str,
    model: nn.Module,
    categories: Sequence[str],
    transforms: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    image_size: tuple[int, int] = (32, 32),
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    first_conv: str | None = None,
    gradcam_layer: str | None = None,
    note: str = "",
) -> LoadedModel:
    """One of the app's own networks (e.g. trained on the Train page), browsable with the same
    functions. Without `transforms`: Preprocess(image_size, mean, std), by default no
    normalisation, grey when the first conv takes one channel. The model is not changed (the
    functions run on a private eval-mode copy)."""
    memory.note_long_lived()
    first_conv = first_conv or _first_conv_name(model)
    if first_conv is None:
        raise ValueError("The model has no Conv2d layer.")
    channels = model.get_submodule(first_conv).in_channels
    if transforms is None:
        transforms = Preprocess(
            tuple(image_size),
            tuple(mean) if mean is not None else (0.0,) * channels,
            tuple(std) if std is not None else (1.0,) * channels,
        )
    input_shape = (channels, *image_size)
    if gradcam_layer is None:
        gradcam_layer = suggest_gradcam_layer(model, (1, *input_shape))
    return LoadedModel(
        name=name,
        label=name,
        family="Custom",
        model=model,
        pretrained=True,
        categories=tuple(categories),
        transforms=transforms,
        weights_name="",
        meta={"num_params": sum(p.numel() for p in model.parameters())},
        message=note or f"{name}: a network trained in this app.",
        first_conv=first_conv,
        gradcam_layer=gradcam_layer,
        input_shape=input_shape,
    )


# ---------------------------------------------------------------------------
# Predictions and preprocessing
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prediction:
    tensor: torch.Tensor  # (1, C, H, W) what the network saw, after the transforms
    top: tuple[tuple[str, float], ...]  # (category, probability), most probable first
    top_indices: tuple[int, ...]  # their class indices
    probabilities: np.ndarray  # (K,) softmax over all classes


MAX_ASPECT = 2.0  # longer side / shorter side of what a network is given: the rest is cropped
MAX_INPUT_PIXELS = 40_000_000  # the image decoder's limit (explorer.images.files.MAX_PIXELS) here too


def _image_array(image: np.ndarray) -> np.ndarray:
    """`image` as a checked (H, W, 3) or (H, W) array of real numbers (not yet copied)."""
    try:
        array = np.asarray(image)
    except (TypeError, ValueError) as exc:  # ragged nested lists, objects numpy cannot take
        raise ValueError(f"The image must be an array of numbers ({_short(exc)}).") from exc
    if array.dtype.kind not in "biuf":
        raise ValueError(f"The image must hold real numbers; got {array.dtype} values.")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3) or 0 in array.shape:
        raise ValueError(f"The image must be (H, W, 3) or (H, W); got {array.shape}.")
    if array.shape[0] * array.shape[1] > MAX_INPUT_PIXELS:
        raise ValueError(
            f"The image is {array.shape[1]} x {array.shape[0]} pixels; at most "
            f"{MAX_INPUT_PIXELS / 1e6:.0f} megapixels can be shown to a network."
        )
    return array


def crop_to_aspect(image: np.ndarray, max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """The central part of an image (H, W, ...) whose longer side is at most `max_aspect` times
    the shorter (a view; the image itself when it is already so).

    torchvision's transforms resize the shorter side to 256 before cropping the central
    224 x 224: a 1 x 5000 strip would become 256 x 1,280,000 (3.9 GB as float32). That central
    crop only ever sees the middle 0.875 of the shorter side's length, so cutting the longer
    side to 2x the shorter first changes nothing it uses."""
    height, width = image.shape[:2]
    if width > max_aspect * height:
        keep = max(1, int(max_aspect * height))
        start = (width - keep) // 2
        return image[:, start:start + keep]
    if height > max_aspect * width:
        keep = max(1, int(max_aspect * width))
        start = (height - keep) // 2
        return image[start:start + keep]
    return image


def aspect_note(shape: Sequence[int], max_aspect: float = MAX_ASPECT) -> str | None:
    """What crop_to_aspect does to an image of `shape` (H, W, ...), in words; None if nothing."""
    height, width = int(shape[0]), int(shape[1])
    if max(height, width) <= max_aspect * min(height, width):
        return None
    kept = crop_to_aspect(np.empty((height, width), dtype=np.uint8), max_aspect).shape
    return (
        f"The picture is {width} x {height} px, much longer than wide: the network is shown its "
        f"central {kept[1]} x {kept[0]} px (sides at most {max_aspect:g}:1), as a resize of the "
        "whole strip would make an enormous image."
    )


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """An image (H, W, 3) or (H, W) float in [0, 1] (clipped) -> tensor (3, H, W) float32.

    ValueError for anything else, NaN or infinity included (naming how many values)."""
    array = _image_array(image).astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(
            f"The image contains NaN or infinity ({bad:,} of {array.size:,} values): a network "
            "cannot be run on it. Pick or upload another picture."
        )
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)  # grey -> RGB
    array = np.clip(array, 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))  # (3, H, W)


def preprocess(loaded: LoadedModel, image: np.ndarray) -> torch.Tensor:
    """The image as the network sees it: (1, C, H, W). A long strip is first cut to its
    central part with sides at most MAX_ASPECT:1 (see crop_to_aspect, aspect_note)."""
    return loaded.transforms(image_tensor(crop_to_aspect(_image_array(image)))).unsqueeze(0)


def predict(loaded: LoadedModel, image: np.ndarray, k: int = 5) -> Prediction:
    """Top-k classes of an image (H, W, 3) float in [0, 1]. ValueError when the network's
    output is not finite (weights too large) rather than NaN probabilities."""
    x = preprocess(loaded, image)  # (1, C, H, W)
    logits = forward(loaded.model, x)  # (1, K)
    if logits.dim() != 2 or logits.shape[0] != 1:
        raise ValueError(
            f"The model's output should be (1, K) class scores; got {tuple(logits.shape)}."
        )
    if logits.shape[1] != len(loaded.categories):
        raise ValueError(
            f"The model scores {logits.shape[1]} classes but {len(loaded.categories)} names "
            "are known."
        )
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(
            "The network's class scores for this picture are NaN or infinite: its weights are "
            "too large (or not finite), so there is no prediction to show."
        )
    probabilities = torch.softmax(logits[0].double(), dim=0)  # (K,), sums to 1
    values, indices = torch.topk(probabilities, min(max(1, k), probabilities.numel()))
    top_indices = tuple(indices.tolist())
    return Prediction(
        tensor=x,
        top=tuple(
            (loaded.categories[i], p) for i, p in zip(top_indices, values.tolist(), strict=True)
        ),
        top_indices=top_indices,
        probabilities=probabilities.numpy(),
    )


def _numbers(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def preprocess_steps(loaded: LoadedModel) -> str:
    """The transforms in words, one numbered step per line."""
    transforms = loaded.transforms
    if hasattr(transforms, "crop_size") and hasattr(transforms, "resize_size"):
        crop = _crop_size(transforms)
        resize = list(transforms.resize_size)
        interpolation = getattr(transforms.interpolation, "value", transforms.interpolation)
        steps = [
            f"Resize so the shorter side is {resize[0]} px ({interpolation}, antialiased)."
            if len(resize) == 1 else f"Resize to {resize[0]} x {resize[1]} px ({interpolation}).",
            f"Crop the central {crop[0]} x {crop[1]} px.",
            "Scale pixel values to [0, 1].",
            f"Normalise each channel (R, G, B): (x - mean) / std, mean = "
            f"{_numbers(transforms.mean)}, std = {_numbers(transforms.std)} (ImageNet's).",
        ]
        return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    if hasattr(transforms, "describe"):  # Preprocess, or a transform that explains itself
        return transforms.describe()
    return repr(transforms)
