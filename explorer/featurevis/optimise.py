"""Feature visualisation by optimisation: the input a channel (or a class) responds to most.

The image is optimised, not the network: starting from faint noise, gradient ascent on the mean
activation of one channel per image (several channels in one batch), through the network cut
at the chosen layer. Without regularisation the result is high-frequency noise that the
network likes but a person cannot read, so, as in Lucid (Olah et al., "Feature Visualization",
Distill 2017):
- the image is parametrised in Fourier space with amplitudes scaled by 1 / frequency (low
  frequencies move first) and with decorrelated colours (ImageNet's colour covariance);
- every step sees a randomly jittered, scaled and rotated copy (robust features only);
- an optional total-variation penalty smooths what is left.
A channel read after a ReLU is optimised on the ReLU's input (through a leaky ReLU, plus its
strongest unit), so the gradient flows while the channel is still off (see visualise). With
start="best example" each picture starts from the real picture that excites its channel most
(the parametrisation inverted), not from noise: the result is then at least that example's value
as the optimisation begins, and the steps improve on it.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.networks import activations
from explorer.user_input import NumberField

# Lucid's square root of ImageNet's colour covariance (SVD), columns scaled to norm <= 1.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_CORRELATION = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()
LOGITS = "logits"  # the network's output: one class per image instead of one channel
MAX_STEPS = 1024
MAX_BATCH = 64  # channels optimised at once
LEAK = 0.1  # the slope below zero that lets the gradient through a ReLU that is off
SPOT = 0.1  # the weight of a ReLU channel's strongest unit in what is maximised
MAX_BATCH_PIXELS = 16 * 128 * 128  # channels x side x side of one optimisation (work bound)
MAX_CHANNEL = 65_535  # the highest channel number anyone may type (layers have far fewer)

# What a user may set, for the page, its links and the command line alike (explorer.user_input)
STEPS = NumberField("Steps", 1, MAX_STEPS, integer=True)
SIZE = NumberField("The picture side (pixels)", 8, 256, integer=True)
LEARNING_RATE = NumberField("The learning rate", 1e-6, 1.0)
JITTER = NumberField("Jitter (pixels)", 0, 64, integer=True)
SCALE = NumberField("The zoom (fraction)", 0.0, 0.5)
ROTATE = NumberField("The rotation (degrees)", 0.0, 45.0)
TV_WEIGHT = NumberField("The TV penalty weight", 0.0, 100.0)
SEED = NumberField("The seed", 0, 2**32 - 1, integer=True)
# Where each picture starts: faint noise, or the real picture that excites its channel most
STARTS = ("noise", "best example")
EDGE = 0.02  # example pixels are clamped to [EDGE, 1 - EDGE]: the sigmoid's inverse is finite


@dataclass(frozen=True)
class VisSettings:
    """How to optimise. steps: gradient steps; size: image side in pixels; jitter: pixels of
    random shift each step; scale: +- fraction of random zoom; rotate: +- degrees; tv_weight:
    total-variation penalty (0: none); fourier / decorrelate: the parametrisation; seed: the
    starting noise and the random transformations."""

    steps: int = 128
    size: int = 64
    learning_rate: float = 0.05
    jitter: int = 4
    scale: float = 0.05
    rotate: float = 5.0
    tv_weight: float = 0.0
    fourier: bool = True
    decorrelate: bool = True
    seed: int = 0
    start: str = "noise"

    def __post_init__(self) -> None:
        if self.start not in STARTS:
            raise ValueError(f"The start must be one of {', '.join(STARTS)}; got {self.start!r}.")
        for field, value in ((STEPS, self.steps), (SIZE, self.size),
                             (LEARNING_RATE, self.learning_rate), (JITTER, self.jitter),
                             (SCALE, self.scale), (ROTATE, self.rotate),
                             (TV_WEIGHT, self.tv_weight), (SEED, self.seed)):
            field.check(value)  # InputError (a ValueError) naming the field, limits and value
        if self.jitter > self.size // 4:
            raise ValueError(f"Jitter must be 0 to a quarter of the side ({self.size // 4} "
                             f"pixels); got {self.jitter}.")


class ImageParameters(nn.Module):
    """A batch of images (N, 3, size, size) in [0, 1] from free parameters: Fourier
    coefficients scaled by 1 / frequency (or plain pixels), colours decorrelated, a sigmoid."""

    def __init__(self, count: int, size: int, *, fourier: bool = True, decorrelate: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.size, self.fourier, self.decorrelate = size, fourier, decorrelate
        if fourier:
            fy = torch.fft.fftfreq(size)[:, None]
            fx = torch.fft.rfftfreq(size)[None, :]
            frequency = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / size)  # (size, size//2+1)
            self.register_buffer("amplitude", 1.0 / frequency * (1.0 / size))
            shape = (count, 3, size, size // 2 + 1, 2)  # real and imaginary parts
        else:
            shape = (count, 3, size, size)
        self.raw = nn.Parameter(torch.randn(shape, generator=generator) * 0.01)

    @torch.no_grad()
    def start_from(self, images: torch.Tensor) -> None:
        """Set the parameters so that forward() gives these (N, 3, size, size) pictures in
        [0, 1] (clamped to [EDGE, 1 - EDGE]): the sigmoid, the colour mixing and the scaled
        Fourier transform inverted, in that order."""
        x = images.to(self.raw.dtype).clamp(EDGE, 1 - EDGE)
        x = torch.log(x / (1 - x))  # the sigmoid's inverse
        if self.decorrelate:
            x = torch.einsum("ij,njhw->nihw", torch.linalg.inv(COLOUR_CORRELATION), x)
        if self.fourier:
            spectrum = torch.fft.rfft2(x / 4.0, norm="ortho") / self.amplitude
            x = torch.view_as_real(spectrum)
        self.raw.copy_(x)

    def forward(self) -> torch.Tensor:
        if self.fourier:
            spectrum = torch.view_as_complex(self.raw) * self.amplitude
            x = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") * 4.0
        else:
            x = self.raw
        if self.decorrelate:
            x = torch.einsum("ij,njhw->nihw", COLOUR_CORRELATION, x)
        return torch.sigmoid(x)


def random_transform(images: torch.Tensor, settings: VisSettings,
                     generator: torch.Generator) -> torch.Tensor:
    """A jittered, scaled and rotated copy of (N, 3, H, W) images (the same size; edges
    reflected), differentiable in the images. The identity when every amount is 0."""
    n, _, h, w = images.shape
    x = images
    if settings.jitter:
        pad = settings.jitter
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
        x = x[:, :, dy:dy + h, dx:dx + w]
    if settings.scale or settings.rotate:
        zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * settings.scale
        angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(settings.rotate)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1),
                             torch.stack([sin, cos, torch.zeros(n)], 1)], 1)  # (N, 2, 3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                          align_corners=False)
    return x


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, per image (N,)."""
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean(dim=(1, 2, 3))
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean(dim=(1, 2, 3))
    return dy + dx


# ---------------------------------------------------------------------------
# What is maximised
# ---------------------------------------------------------------------------


def conv_layers(model: nn.Module) -> list[str]:
    """The layers whose channels can be visualised: every layer with a 4-D output except the
    input's own preprocessing, in forward order (activations.layer_names)."""
    names = activations.layer_names(model)
    modules = dict(model.named_modules())
    keep = []
    for name in names:
        module = modules.get(name)
        if module is not None and isinstance(module, (nn.Linear, nn.Dropout, nn.Flatten)):
            continue
        if name.startswith(("flatten", "view", "reshape", "size", "getattr")):
            continue
        keep.append(name)
    return keep


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """[0, 1] pictures -> the network's input (RGB made grey when it takes one channel)."""
    if len(mean) == 1 and images.shape[1] == 3:
        images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
    mean_t = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def unit_values(output: torch.Tensor, units: Sequence[int]) -> torch.Tensor:
    """Image i's value of unit units[i]: a channel's mean over space (B, C, H, W) or a logit
    (B, K). Shape (B,)."""
    index = torch.as_tensor(list(units), dtype=torch.long)
    if output.dim() == 4:
        return output[torch.arange(len(index)), index].mean(dim=(1, 2))
    if output.dim() == 2:
        return output[torch.arange(len(index)), index]
    raise ValueError(f"Layer output of shape {tuple(output.shape)} has no channels to visualise.")


_COUNTS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


def channel_count(model: nn.Module, layer: str, input_shape: Sequence[int]) -> int:
    """How many channels (or classes, for LOGITS) the layer has; ValueError naming what is
    wrong (an unknown layer, a layer without feature maps). One probe pass per (model, layer):
    the page asks on every rerun."""
    known = _COUNTS.setdefault(model, {})
    key = (layer, tuple(input_shape))
    if key not in known:
        known[key] = _count_channels(model, layer, input_shape)
    return known[key]


def _count_channels(model: nn.Module, layer: str, input_shape: Sequence[int]) -> int:
    probe = torch.zeros(1, *input_shape)
    if layer == LOGITS:
        return int(activations.forward(model, probe).shape[1])
    if layer not in activations.layer_names(model):
        raise ValueError(f"Unknown layer {layer[:80]!r}: choose one of the network's layers.")
    output = activations.capture(model, probe, [layer])[layer]
    if output.dim() != 4:
        raise ValueError(f"Layer {layer!r} has no feature maps (its output is "
                         f"{tuple(output.shape)}); choose a convolutional layer.")
    return int(output.shape[1])


def check_units(model: nn.Module, layer: str, units: Sequence[int],
                input_shape: Sequence[int]) -> int:
    """How many channels (or classes) the layer has; ValueError naming what is wrong."""
    if not units:
        raise ValueError("Choose at least one channel.")
    if len(units) > MAX_BATCH:
        raise ValueError(f"At most {MAX_BATCH} channels at once; got {len(units)}.")
    count = channel_count(model, layer, input_shape)
    bad = [u for u in units if not (isinstance(u, int) and 0 <= u < count)]
    if bad:
        raise ValueError(f"Channel {bad[0]!r} does not exist: layer {layer!r} has channels 0 to "
                         f"{count - 1}.")
    return count


def check_batch(count: int, size: int) -> None:
    """ValueError when count pictures of size x size would be too much work at once."""
    if count * size * size > MAX_BATCH_PIXELS:
        most = max(1, MAX_BATCH_PIXELS // (size * size))
        raise ValueError(f"{count} channels of {size} x {size} pixels is too much at once: at "
                         f"most {most} at this size (or a smaller picture).")


@dataclass(frozen=True)
class VisResult:
    images: np.ndarray  # (N, H, W, 3) float32 in [0, 1], one per unit
    units: tuple[int, ...]
    values: np.ndarray  # (N,) the unit's value for its final image (no transformation)
    history: np.ndarray  # (steps done, N) the objective at each step (transformed images)
    steps_done: int
    stopped: bool


def visualise(model: nn.Module, layer: str, units: Sequence[int], *, mean: Sequence[float],
              std: Sequence[float], settings: VisSettings = VisSettings(),
              on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              examples: torch.Tensor | None = None) -> VisResult:
    """Optimise one image per unit of `layer` (or LOGITS) to maximise it; see the module's
    docstring. on_step(step, images (N, 3, H, W), values (N,)) after each step; should_stop()
    ends early (the result says so). With settings.start "best example", `examples` (M, 3, H', W')
    in [0, 1] or uint8 are the real pictures to start from: each unit starts from the one it
    responds to most. The model is never changed (its private eval copy runs; gradients are
    taken for the image only)."""
    units = tuple(int(u) for u in units)
    check_batch(len(units), settings.size)
    generator = torch.Generator().manual_seed(settings.seed)
    parameters = ImageParameters(len(units), settings.size, fourier=settings.fourier,
                                 decorrelate=settings.decorrelate, generator=generator)
    if settings.start == "best example":
        if examples is None or len(examples) == 0:
            raise ValueError("Starting from the best example needs example pictures.")
        parameters.start_from(best_examples(model, layer, units, examples, size=settings.size,
                                            mean=mean, std=std))
    optimiser = torch.optim.Adam(parameters.parameters(), lr=settings.learning_rate)
    history: list[np.ndarray] = []
    stopped = False
    # After a ReLU, a channel that is off everywhere (the usual start) passes no gradient and
    # the picture never leaves its grey start. So the optimisation runs on the ReLU's input
    # through a leaky ReLU (slope LEAK below zero: Lucid's ReLU gradient override), and reports
    # the ReLU's own output.
    before = None if layer == LOGITS else activations.relu_input(model, layer)
    cut = None if layer == LOGITS else (before or layer)

    def objective(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(what is maximised, what is reported) per image."""
        if before is None:
            values = unit_values(output, units)
            return values, values
        reported = unit_values(F.relu(output), units)
        leaky = unit_values(F.leaky_relu(output, LEAK), units)
        if output.dim() != 4:
            return leaky, reported
        # plus the strongest unit's input: a channel off everywhere turns on in one spot
        # before its whole map can (weighted SPOT, so the map's mean leads once it is on)
        index = torch.as_tensor(list(units), dtype=torch.long)
        strongest = output[torch.arange(len(index)), index].flatten(1).max(dim=1).values
        return leaky + SPOT * strongest, reported

    # each step holds the server's heavy-work slot on its own: a student's forward pass on
    # another page waits for one step, not for the whole visualisation
    with activations.differentiable_steps(model, cut) as (network, one_step):
        for step in range(1, settings.steps + 1):
            if should_stop is not None and should_stop():
                stopped = True
                break
            with one_step():
                images = parameters()
                seen = random_transform(images, settings, generator)
                maximised, values = objective(network(normalise(seen, mean, std)))
                loss = -maximised.sum()
                if settings.tv_weight:
                    loss = loss + settings.tv_weight * total_variation(images).sum()
                optimiser.zero_grad()
                (gradient,) = torch.autograd.grad(loss, [parameters.raw])
            parameters.raw.grad = gradient
            optimiser.step()
            history.append(values.detach().numpy().copy())
            if on_step is not None:
                on_step(step, images.detach(), values.detach())
        with one_step(), torch.no_grad():
            final = parameters()
            reached = objective(network(normalise(final, mean, std)))[1]
    return VisResult(final.permute(0, 2, 3, 1).numpy().astype(np.float32), units,
                     reached.numpy(), np.asarray(history, dtype=np.float32).reshape(-1, len(units)),
                     len(history), stopped)


def best_examples(model: nn.Module, layer: str, units: Sequence[int], examples: torch.Tensor, *,
                  size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(len(units), 3, size, size) in [0, 1]: for each unit, the example picture that excites it
    most (the unit's value at the pictures' own size), resized to `size`."""
    x = examples.float() / 255 if examples.dtype == torch.uint8 else examples.float()
    values = unit_values_of_images(model, layer, units, x, mean=mean, std=std)  # (M, units)
    chosen = x[torch.as_tensor(values.argmax(axis=0))]
    if tuple(chosen.shape[-2:]) != (size, size):
        chosen = F.interpolate(chosen, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False)
    return chosen.clamp(0, 1)


def unit_values_of_images(model: nn.Module, layer: str, units: Sequence[int],
                          images: torch.Tensor, *, mean: Sequence[float],
                          std: Sequence[float], batch: int = 256) -> np.ndarray:
    """(len(images), len(units)): each unit's value for each image (N, 3, H, W) in [0, 1] or
    uint8 (the dataset's test pictures, to compare with the optimised ones)."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    rows = []
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(activations.differentiable(
            model, None if layer == LOGITS else layer))
        stack.enter_context(torch.no_grad())
        for start in range(0, len(x), batch):
            output = network(normalise(x[start:start + batch], mean, std))
            if output.dim() == 4:
                output = output.mean(dim=(2, 3))
            rows.append(output[:, list(units)])
    return torch.cat(rows).numpy()
