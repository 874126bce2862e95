"""Loading torchvision networks offline-first: cached weights, a checked download, or untrained."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights

from explorer.environment import weights_dir
from explorer.jobs import memory
from explorer.jobs.concurrency import RNG_LOCK
from explorer.networks.model_registry import ModelSpec, model_spec
from explorer.networks.weights_files import WeightsError, _read_state_dict, _short

DOWNLOAD_TIMEOUT_S = 10.0  # per connection attempt and per read: nothing may hang
CHUNK = 1 << 20  # download in 1 MiB pieces, reporting progress after each

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
        "input_shape": (3, *crop_size(transforms)),
    }

    def untrained(message: str) -> LoadedModel:
        model = _build(spec, pretrained=False)
        return LoadedModel(
            model=model,
            pretrained=False,
            categories=_generic_categories(len(shown.meta["categories"])),
            message=message,
            first_conv=spec.first_conv or first_conv_name(model),
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
        first_conv=spec.first_conv or first_conv_name(model),
        **common,
    )


def crop_size(transforms) -> tuple[int, int]:
    crop = list(getattr(transforms, "crop_size", [224]))
    return (crop[0], crop[-1])


def first_conv_name(model: nn.Module) -> str | None:
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
