"""Five attribution methods by Captum for one image and one class, as (H, W) maps on one scale."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, NoiseTunnel, Occlusion, Saliency
from torch import nn

from explorer.jobs.concurrency import RNG_LOCK
from explorer.networks import activations, gradcam
from explorer.networks.occlusion import MAX_POSITIONS
from explorer.networks.private_copy import check_input

BATCH = 16  # copies of the image per forward pass inside Captum (IG steps, noisy samples, patches)
MAX_MULTIPLY_ADDS = 8e11  # per set of maps: ~10 s on a 2-core server (as one VGG16 occlusion map)
BACKWARD = 3  # a forward and a backward pass cost about three forward passes


LIMITS = {"ig_steps": (2, 256), "smoothgrad_samples": (1, 64), "noise": (0.0, 1.0),
          "occlusion_patch": (0, 1024), "occlusion_stride": (0, 1024), "seed": (0, 2**31 - 1)}


@dataclass(frozen=True)
class AttributionSettings:
    """How much work each method does; every limit is checked when the settings are made."""

    ig_steps: int = 32  # integrated gradients: points on the path from the baseline (Gauss-Legendre)
    smoothgrad_samples: int = 16  # SmoothGrad: noisy copies averaged
    noise: float = 0.15  # SmoothGrad: the noise's std as a fraction of the input's range
    occlusion_patch: int = 0  # occlusion: the patch's side in pixels (0: an eighth of the image)
    occlusion_stride: int = 0  # occlusion: pixels between patches (0: the patch, no overlap)
    seed: int = 0  # SmoothGrad's noise and the sanity check's new weights

    def __post_init__(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            whole = name != "noise"
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    whole and not float(value).is_integer()) or not low <= value <= high:
                kind = "a whole number" if whole else "a number"
                raise ValueError(f"{name} must be {kind} from {low} to {high}; got {value!r:.40}.")
            if whole:
                object.__setattr__(self, name, int(value))

    def occlusion_grid(self, height: int, width: int) -> tuple[int, int, int]:
        """(patch, stride, positions) over a height x width input; ValueError when it does not
        fit or needs more than MAX_POSITIONS forward passes."""
        patch = self.occlusion_patch or max(1, min(height, width) // 8)
        stride = self.occlusion_stride or patch
        if patch > min(height, width):
            raise ValueError(f"The occlusion patch ({patch} px) is larger than the picture "
                             f"({height} x {width}).")
        # Captum's windows start every stride and stop before leaving the picture
        count = (1 + (height - patch) // stride) * (1 + (width - patch) // stride)
        if count > MAX_POSITIONS:
            raise ValueError(f"{count:,} occlusion positions; at most {MAX_POSITIONS}: use a "
                             "larger patch or stride.")
        return patch, stride, count


@dataclass(frozen=True)
class Problem:
    """One attribution question: the network, one image x (1, C, H, W), the class, the settings
    and the Grad-CAM layer (a node name of activations.layer_names; None: no Grad-CAM)."""

    model: nn.Module
    x: torch.Tensor
    class_index: int
    settings: AttributionSettings
    layer: str | None


def _leaf(x: torch.Tensor) -> torch.Tensor:
    """A copy of x that gradients are taken for (the caller's tensor is left as it is)."""
    return x.detach().clone().requires_grad_(True)


def _saliency(p: Problem) -> torch.Tensor:
    """|dy_c / dx| (Simonyan et al. 2014): which pixels change the score most, one pass."""
    with activations.differentiable(p.model, None) as network:
        return Saliency(network).attribute(_leaf(p.x), target=p.class_index, abs=True)


def _integrated_gradients(p: Problem) -> torch.Tensor:
    """(x - x0) * the mean gradient on the straight path from x0 (zeros: the dataset's mean
    colour after normalisation) to x (Sundararajan et al. 2017); the attributions sum to
    f(x) - f(x0) up to the path integral's error."""
    with activations.differentiable(p.model, None) as network:
        return IntegratedGradients(network).attribute(
            _leaf(p.x), baselines=torch.zeros_like(p.x), target=p.class_index,
            n_steps=p.settings.ig_steps, internal_batch_size=BATCH)


def _smoothgrad(p: Problem) -> torch.Tensor:
    """The mean saliency of noisy copies (Smilkov et al. 2017): less speckle than one gradient."""
    stdev = p.settings.noise * float(p.x.max() - p.x.min())
    with RNG_LOCK, torch.random.fork_rng(devices=[]):  # the same noise every time
        torch.manual_seed(p.settings.seed)
        with activations.differentiable(p.model, None) as network:
            return NoiseTunnel(Saliency(network)).attribute(
                _leaf(p.x), nt_type="smoothgrad", nt_samples=p.settings.smoothgrad_samples,
                nt_samples_batch_size=BATCH, stdevs=stdev, target=p.class_index, abs=True)


def _gradcam(p: Problem) -> torch.Tensor:
    """Captum's LayerGradCam at the network's Grad-CAM layer, upsampled bilinearly (as the
    Grad-CAM tab, without dividing by the maximum)."""
    if p.layer is None:
        raise ValueError("No Grad-CAM layer is known for this network.")
    with gradcam.tapped(p.model, p.layer) as (forward, tap, _seen):
        cam = gradcam.layer_grad_cam(forward, tap, p.x, p.class_index)  # (1, 1, h, w)
    return LayerAttribution.interpolate(cam, tuple(p.x.shape[-2:]), "bilinear")


def _occlusion(p: Problem) -> torch.Tensor:
    """The drop in the class's probability when a patch of zeros (the mean colour) hides each
    place (Zeiler and Fergus 2014): each pixel gets the mean drop of the patches covering it."""
    channels, height, width = p.x.shape[1:]
    patch, stride, _ = p.settings.occlusion_grid(height, width)
    with activations.differentiable(p.model, None) as network, torch.no_grad():
        return Occlusion(lambda z: torch.softmax(network(z), dim=1)).attribute(
            p.x.clone(), sliding_window_shapes=(channels, patch, patch),
            strides=(channels, stride, stride), baselines=0.0, target=p.class_index,
            perturbations_per_eval=BATCH)


@dataclass(frozen=True)
class MethodSpec:
    label: str
    sentence: str  # what the map shows, for the page
    compute: Callable[[Problem], torch.Tensor]  # -> (1, C or 1, H, W)
    # A pixel's value: the sum of its channels' attributions ("sum": saliency's L1 norm, and
    # integrated gradients keep completeness), or the one value all its channels share when a
    # method attributes whole pixels ("mean": Grad-CAM's single channel, occlusion's patches).
    channels: str
    passes: Callable[[AttributionSettings, tuple[int, int]], int]  # forward-pass equivalents
    signed: bool  # whether the map has negative values


METHODS: dict[str, MethodSpec] = {
    "saliency": MethodSpec(
        "Saliency", "How much each pixel changes the class score: |gradient|.", _saliency,
        "sum", lambda s, hw: BACKWARD, signed=False),
    "integrated_gradients": MethodSpec(
        "Integrated gradients", "Each pixel's share of the score, from grey to the picture.",
        _integrated_gradients, "sum", lambda s, hw: BACKWARD * s.ig_steps, signed=True),
    "smoothgrad": MethodSpec(
        "SmoothGrad", "Saliency averaged over noisy copies: less speckle.", _smoothgrad, "sum",
        lambda s, hw: BACKWARD * s.smoothgrad_samples, signed=False),
    "gradcam": MethodSpec(
        "Grad-CAM", "Last feature maps weighted by their mean gradient, kept where positive.",
        _gradcam, "mean", lambda s, hw: BACKWARD, signed=False),
    "occlusion": MethodSpec(
        "Occlusion", "Drop in the class's probability when a grey patch hides each place.",
        _occlusion, "mean", lambda s, hw: 1 + s.occlusion_grid(*hw)[2], signed=True),
}


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Known method names, unique, in the registry's order; ValueError otherwise."""
    if isinstance(methods, str):
        methods = [m for m in methods.split(",") if m.strip()]
    try:
        unknown = [repr(m)[:40] for m in methods if m not in METHODS]
    except TypeError as exc:  # unhashable entries
        raise ValueError(f"Methods must be names; got {methods!r:.80}.") from exc
    if unknown:
        raise ValueError(f"Unknown method(s) {', '.join(unknown)}; use {', '.join(METHODS)}.")
    if not methods:
        raise ValueError(f"Name at least one method: {', '.join(METHODS)}.")
    return tuple(name for name in METHODS if name in set(methods))


def passes(methods: Sequence[str], settings: AttributionSettings, size: tuple[int, int]) -> int:
    """Forward-pass equivalents of computing these maps once (a backward pass counts two)."""
    return sum(METHODS[name].passes(settings, size) for name in check_methods(methods))


def check_work(multiply_adds: float, count: int, what: str = "These maps") -> None:
    """ValueError when `count` passes of a network needing `multiply_adds` each are too much."""
    total = multiply_adds * count
    if total > MAX_MULTIPLY_ADDS:
        raise ValueError(f"{what} need about {total / 1e9:,.0f} G multiply-adds ({count} "
                         f"passes); this server allows {MAX_MULTIPLY_ADDS / 1e9:,.0f} G: pick "
                         "fewer methods, fewer steps or samples, a larger occlusion stride or "
                         "a smaller network.")


def reduce_channels(name: str, values: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) -> (H, W) float32, as METHODS[name].channels says."""
    reduced = values[0].sum(0) if METHODS[name].channels == "sum" else values[0].mean(0)
    return reduced.detach().to(torch.float32).numpy()


@dataclass(frozen=True)
class Attribution:
    method: str
    values: np.ndarray  # (H, W) float32, in the method's own units
    seconds: float

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.values).all())


def attribute(model: nn.Module, x: torch.Tensor, class_index: int, *,
              methods: Sequence[str] = tuple(METHODS),
              settings: AttributionSettings | None = None,
              layer: str | None = None) -> dict[str, Attribution]:
    """{method: its map} for one image x (1, C, H, W) and one class, each by Captum on the
    network's private eval-mode copy (the model and its parameters are untouched). ValueError
    for a bad picture, class, method or settings."""
    x = check_input(x)
    if x.shape[0] != 1:
        raise ValueError(f"Attributions explain one image: batch size 1, got {x.shape[0]}.")
    methods = check_methods(methods)
    classes = activations.forward(model, x).shape[1]
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer) or not (
            0 <= class_index < classes):
        raise ValueError(f"The class must be 0 to {classes - 1}; got {class_index!r:.40}.")
    problem = Problem(model, x.detach(), int(class_index), settings or AttributionSettings(),
                      layer)
    maps = {}
    for name in methods:
        started = time.perf_counter()
        values = reduce_channels(name, METHODS[name].compute(problem))
        maps[name] = Attribution(name, values, time.perf_counter() - started)
    return maps


def on_one_scale(maps: dict[str, np.ndarray], percentile: float = 99.5) -> dict[str, np.ndarray]:
    """Each map divided by its own `percentile` of |values| and clipped to [-1, 1], so maps in
    different units (gradients, probabilities) share one symmetric scale with white = 0 (the
    few brightest pixels do not wash the rest out). Non-finite values become 0."""
    scaled = {}
    for name, values in maps.items():
        values = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(np.percentile(np.abs(values), percentile)) if values.size else 0.0
        top = top if top > 0 else float(np.abs(values).max(initial=0.0))
        scaled[name] = np.clip(values / top, -1, 1).astype(np.float32) if top > 0 else (
            np.zeros_like(values, np.float32))
    return scaled
