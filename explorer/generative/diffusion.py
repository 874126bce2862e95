"""A small class-conditional DDPM built for a CPU (on Shapes; MNIST, Fashion-MNIST or a zip of
class folders too): noise schedules (linear, cosine), the forward process q(x_t | x_0), a
denoiser that works at a quarter of the size inside, classifier-free guidance and DDIM / DDPM
sampling in few steps, with the reverse chain's frames for the page."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.generative.base import BaseSettings
from explorer.generative.data import image_data, is_valid_name
from explorer.training.data import DatasetError
from explorer.user_input import InputError, NumberField

# -- schedules: beta_t for t = 1..T (index 0..T-1) --------------------------------------------


def _linear(steps: int) -> torch.Tensor:
    """Ho et al.'s 1e-4 .. 0.02 over 1000 steps, rescaled so that T steps destroy as much."""
    scale = 1000 / steps
    return torch.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=torch.float64)


def _cosine(steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal: alpha-bar(t) = cos^2((t/T + s) / (1 + s) pi/2), betas clipped at 0.999."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


@dataclass(frozen=True)
class ScheduleSpec:
    label: str
    betas: Callable[[int], torch.Tensor]  # T -> (T,) float64
    formula: str


SCHEDULES: dict[str, ScheduleSpec] = {
    "linear": ScheduleSpec("Linear", _linear, "β_t rises linearly from 1e-4·1000/T to 0.02·1000/T"),
    "cosine": ScheduleSpec("Cosine", _cosine, "ᾱ_t = cos²((t/T + 0.008)/1.008 · π/2)"),
}

SAMPLERS = {"ddim": "DDIM (deterministic, η = 0)", "ddpm": "DDPM (ancestral, fresh noise)"}


@dataclass(frozen=True)
class Schedule:
    """beta_t, alpha_t = 1 - beta_t and alpha-bar_t = prod_{s<=t} alpha_s, index t-1 (float64)."""

    betas: torch.Tensor  # (T,)

    @property
    def steps(self) -> int:
        return len(self.betas)

    @property
    def alpha_bar(self) -> torch.Tensor:
        return torch.cumprod(1 - self.betas, 0)


def make_schedule(name: str, steps: int) -> Schedule:
    if name not in SCHEDULES:
        raise InputError(f"Unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}.")
    return Schedule(SCHEDULES[name].betas(steps))


def q_sample(schedule: Schedule, x0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor) -> torch.Tensor:
    """The marginal q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I); t (N,) in 1..T."""
    ab = schedule.alpha_bar.to(x0.dtype)[t - 1].view(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def forward_steps(schedule: Schedule, x0: torch.Tensor, t: int,
                  generator: torch.Generator) -> torch.Tensor:
    """x_t by t single steps q(x_s | x_{s-1}) = N(sqrt(1 - beta_s) x_{s-1}, beta_s I)."""
    x = x0
    for s in range(t):
        beta = schedule.betas[s].to(x.dtype)
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=generator,
                                                              dtype=x.dtype)
    return x


# -- the denoiser ---------------------------------------------------------------------------


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t (N,) -> (N, dim), as in the Transformer and DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, plus the (time, class) embedding as a per-channel shift."""

    def __init__(self, channels: int, embed: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(8, channels), nn.GroupNorm(8, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.shift = nn.Linear(embed, channels)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.shift(e)[:, :, None, None]
        return x + self.conv2(F.silu(self.norm2(h)))


class SelfAttention(nn.Module):
    """Every cell of a map attends to every other (softmax(q k^T / sqrt(d)) v, 4 heads): the
    denoiser's view of the whole picture at once, so that one shape, one background colour and
    the class agree across the image. Added to its input, starting at zero."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(8, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.project = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # (N, 3C, H, W) -> q, k, v each (N, heads, H W, C / heads)
        q, k, v = self.qkv(self.norm(x)).view(n, 3, self.heads, c // self.heads, h * w) \
            .transpose(-1, -2).unbind(1)
        mixed = F.scaled_dot_product_attention(q, k, v)  # (N, heads, H W, C / heads)
        return x + self.project(mixed.transpose(-1, -2).reshape(n, c, h, w))


class Denoiser(nn.Module):
    """eps_theta(x_t, t, y): 3 x 32 x 32 -> pixel-unshuffle 12 x 16 x 16 -> width channels (a
    residual block at 16 x 16) -> stride 2 -> 2 width at 8 x 8 (residual blocks around
    self-attention: most of the work) -> up, skip, a residual block -> pixel-shuffle back. Few
    convolutions at 16 x 16 keep a training step cheap on a CPU. Class `classes` (one past the
    last) is "no class": the unconditional model of classifier-free guidance."""

    def __init__(self, classes: int, width: int = 32, channels: int = 3) -> None:
        super().__init__()
        embed = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.label = nn.Embedding(classes + 1, embed)
        self.unshuffle, self.shuffle = nn.PixelUnshuffle(2), nn.PixelShuffle(2)
        self.inp = nn.Conv2d(4 * channels, width, 3, padding=1)
        self.fine_in = ResBlock(width, embed)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.mid = nn.ModuleList(ResBlock(2 * width, embed) for _ in range(3))
        self.attention = SelfAttention(2 * width)
        self.up = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        self.merge = nn.Conv2d(2 * width, width, 3, padding=1)
        self.fine_out = ResBlock(width, embed)
        self.out = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(),
                                 nn.Conv2d(width, 4 * channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        e = self.time(timestep_embedding(t, self.width)) + self.label(y)  # (N, embed)
        skip = self.fine_in(self.inp(self.unshuffle(x)), e)  # (N, width, 16, 16)
        h = self.mid[0](self.down(F.silu(skip)), e)  # (N, 2 width, 8, 8)
        h = self.mid[2](self.mid[1](self.attention(h), e), e)
        h = self.merge(torch.cat([self.up(h), skip], dim=1))  # (N, width, 16, 16)
        return self.shuffle(self.out(self.fine_out(h, e)))  # (N, C, H, W) like x


# -- settings ------------------------------------------------------------------------------

FIELDS = {
    "timesteps": NumberField("Timesteps T", 10, 1000, integer=True),
    "width": NumberField("Width (channels)", 8, 64, integer=True),
    "batch_size": NumberField("Batch size", 4, 256, integer=True),
    "learning_rate": NumberField("Learning rate", 1e-5, 1e-1),
    "sample_steps": NumberField("Sampling steps", 2, 200, integer=True),
    "guidance": NumberField("Guidance scale", 0.0, 15.0),
    "seed": NumberField("Seed", 0, 2**31 - 1, integer=True),
    "max_steps": NumberField("Steps", 1, 1_000_000, integer=True),
    "max_seconds": NumberField("Seconds", 0.1, 3600.0),
    "train_images": NumberField("Training images", 100, 20_000, integer=True),
    "ema": NumberField("EMA decay", 0.0, 0.9999),
}
MAX_SAMPLES = 256  # one request's samples (64 take about 3.5 s at width 32 with 50 steps)
LABEL_DROPOUT = 0.1  # share of training labels replaced by "no class" (classifier-free guidance)


@dataclass(frozen=True)
class Settings(BaseSettings):
    dataset: str = "shapes"
    schedule: str = "cosine"
    timesteps: int = 200
    width: int = 32
    batch_size: int = 32
    learning_rate: float = 2e-3
    sample_steps: int = 50
    guidance: float = 10.0  # strong: asked for a class, the shipped model draws it 57 % of the
    # time (5: 34 %), and fewer empty backgrounds
    sampler: str = "ddpm"  # DDIM's first step from alpha-bar_T = 6e-8 saturates the colours
    train_images: int = 20_000
    ema: float = 0.995  # decay of the weights' moving average used for sampling (0: none)
    max_steps: int = 100_000
    max_seconds: float = 180.0

    def __post_init__(self) -> None:
        for name, field in FIELDS.items():
            object.__setattr__(self, name, field.check(getattr(self, name)))
        if not is_valid_name(self.dataset):
            raise InputError(f"Dataset {self.dataset!r} is not one this page knows.")
        if self.schedule not in SCHEDULES:
            raise InputError(f"Unknown schedule {self.schedule!r}; choose one of "
                             f"{', '.join(SCHEDULES)}.")
        if self.sampler not in SAMPLERS:
            raise InputError(f"Unknown sampler {self.sampler!r}; choose one of "
                             f"{', '.join(SAMPLERS)}.")
        if self.width % 8:
            raise InputError(f"Width (channels) must be a multiple of 8; got {self.width}.")
        if self.sample_steps > self.timesteps:
            raise InputError(f"Sampling steps ({self.sample_steps}) cannot exceed the "
                             f"timesteps T ({self.timesteps}).")


# -- sampling ----------------------------------------------------------------------------


def sampling_times(timesteps: int, steps: int) -> list[int]:
    """`steps` times from T down to 1, evenly spaced (DDIM's sub-sequence)."""
    return sorted({int(round(v)) for v in np.linspace(timesteps, 1, steps)}, reverse=True)


@torch.no_grad()
def reverse_chain(model: Denoiser, schedule: Schedule, labels: torch.Tensor, *,
                  steps: int, guidance: float, sampler: str, generator: torch.Generator,
                  keep: int = 0, shape: tuple[int, int, int] = (3, 32, 32)
                  ) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
    """x_T ~ N(0, I) -> x_0 through `steps` of the sub-sequence (DDIM with eta 0 for "ddim",
    1 for "ddpm": the ancestral step across the skipped times). Guidance w mixes
    eps = eps(no class) + w (eps(y) - eps(no class)); labels (N,) with `classes` = no class.
    Returns x_0 (N, *shape) in [-1, 1], up to `keep` intermediate frames (x_t of every sample)
    and their t."""
    model.eval()
    n = len(labels)
    x = torch.randn((n, *shape), generator=generator)
    alpha_bar = schedule.alpha_bar.float()
    times = sampling_times(schedule.steps, steps)
    null = torch.full_like(labels, model.label.num_embeddings - 1)
    eta = 0.0 if sampler == "ddim" else 1.0
    frames, frame_times = [x.clone()], [schedule.steps]
    marks = set(np.linspace(0, len(times) - 1, max(keep - 1, 1)).round().astype(int).tolist())
    for i, t in enumerate(times):
        tt = torch.full((n,), t, dtype=torch.long)
        conditional = bool((labels != null).any()) and guidance != 0.0
        if conditional:
            both = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([null, labels]))
            uncond, cond = both.chunk(2)
            eps = uncond + guidance * (cond - uncond)
        else:
            eps = model(x, tt, null)
        ab = alpha_bar[t - 1]
        ab_prev = alpha_bar[times[i + 1] - 1] if i + 1 < len(times) else torch.tensor(1.0)
        x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # consistent with the clipped x0
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta and i + 1 < len(times):
            x = x + sigma * torch.randn(x.shape, generator=generator)
        if keep and i in marks:
            frames.append(x.clone())
            frame_times.append(times[i + 1] if i + 1 < len(times) else 0)
    return x.clamp(-1, 1), (frames if keep else []), (frame_times if keep else [])


# -- the trainer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    samples: np.ndarray  # (classes, C, H, W) float32 in [0, 1]: one sample per class
    chain: np.ndarray  # (frames, C, H, W) float32 in [0, 1]: one sample from x_T to x_0
    chain_times: tuple[int, ...]  # t of each frame
    classes: tuple[str, ...]


def to_unit(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] -> float32 [0, 1] numpy."""
    return ((x.clamp(-1, 1) + 1) / 2).float().numpy().astype(np.float32)


class DiffusionTrainer:
    """eps-prediction DDPM: L = || eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t, y) ||^2
    with t uniform in 1..T and y dropped to "no class" for LABEL_DROPOUT of the images."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None  # loaded by the first step
        if settings.dataset == "shapes":  # known without drawing a picture
            from explorer.images.synthetic import SHAPE_CLASSES

            self.classes, self.shape = tuple(SHAPE_CLASSES), (3, 32, 32)
        else:  # MNIST / Fashion-MNIST (cached) or a zip: read now (DatasetError if unusable)
            images = image_data(settings.dataset)
            self.classes, self.shape = images.classes, images.shape
            count = settings.train_images
            self._data = images.train_images[:count], images.train_labels[:count]
        if self.shape[1] % 4 or self.shape[2] % 4:
            raise DatasetError(f"Diffusion needs pictures a multiple of 4 pixels high and "
                               f"wide; these are {self.shape[1]} x {self.shape[2]}.")
        self.schedule = make_schedule(settings.schedule, settings.timesteps)
        self.generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)
        self.model = Denoiser(len(self.classes), settings.width, self.shape[0])
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        # the moving average of the weights samples better than the last step's weights
        self.average = copy.deepcopy(self.model).requires_grad_(False) if settings.ema else None
        self.steps_done = 0
        self._preview: Preview | None = None
        self._preview_at, self._preview_cost = -math.inf, 0.0

    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training images (N, C, H, W) uint8 and labels (N,); Shapes are made by the first
        call (a trainer that only samples from shipped weights never renders them)."""
        if self._data is None:
            from explorer.training.data import shapes_dataset

            shapes = shapes_dataset(n_train=self.settings.train_images, n_test=len(self.classes))
            self._data = shapes.train_images, shapes.train_labels
        return self._data

    def step(self) -> dict[str, float]:
        s, g = self.settings, self.generator
        images, labels = self.data()
        self.model.train()
        index = torch.randint(len(images), (s.batch_size,), generator=g)
        x0 = images[index].float() / 127.5 - 1  # (B, C, H, W) in [-1, 1]
        y = labels[index].clone()
        y[torch.rand(s.batch_size, generator=g) < LABEL_DROPOUT] = len(self.classes)
        t = torch.randint(1, s.timesteps + 1, (s.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        loss = F.mse_loss(self.model(q_sample(self.schedule, x0, t, noise), t, y), noise)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        # a short warm-up, then the rate decays to a tenth over max_steps (cosine)
        self.steps_done += 1
        progress = min(1.0, self.steps_done / s.max_steps)
        warm = min(1.0, self.steps_done / min(200, max(1, s.max_steps // 10)))
        for group in self.optimiser.param_groups:
            group["lr"] = s.learning_rate * warm * (0.55 + 0.45 * math.cos(math.pi * progress))
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimiser.step()
        if self.average is not None:  # EMA, its decay ramped up over the first steps
            decay = min(s.ema, (1 + self.steps_done) / (10 + self.steps_done))
            with torch.no_grad():
                for kept, new in zip(self.average.parameters(), self.model.parameters(),
                                     strict=True):
                    kept.lerp_(new, 1 - decay)
        return {"loss": float(loss.detach())}

    def generate(self, labels: torch.Tensor, *, seed: int, guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None,
                 keep: int = 0) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
        s = self.settings
        return reverse_chain(
            self.sampler_model, self.schedule, labels, steps=steps or s.sample_steps,
            guidance=s.guidance if guidance is None else guidance,
            sampler=sampler or s.sampler, generator=torch.Generator().manual_seed(seed), keep=keep,
            shape=self.shape)

    @property
    def sampler_model(self) -> Denoiser:
        return self.average if self.average is not None else self.model

    def preview(self) -> Preview:
        """One sample per class and the first one's chain. Sampling costs about three training
        steps, so while training it is redone only after 4x its own cost has passed (the
        pictures then take at most a fifth of the run) and at the last step."""
        now = time.monotonic()
        if self._preview is None or self.steps_done >= self.settings.max_steps \
                or now - self._preview_at >= 4 * self._preview_cost:
            labels = torch.arange(len(self.classes))
            x, frames, times = self.generate(labels, seed=0, sampler="ddim",  # a quick look
                                             steps=min(10, self.settings.sample_steps), keep=8)
            chain = torch.stack([f[0] for f in frames])
            self._preview = Preview(to_unit(x), to_unit(chain), tuple(times), self.classes)
            self._preview_at = time.monotonic()
            self._preview_cost = self._preview_at - now
        return self._preview

    def sample(self, count: int, seed: int = 0, label: int | None = None,
               guidance: float | None = None) -> np.ndarray:
        """`count` images (float32 [0, 1], (N, C, H, W)): class `label`, or classes in turn
        (None), or no class (label = number of classes, guidance then unused)."""
        count = NumberField("Samples", 1, MAX_SAMPLES, integer=True).check(count)
        if label is None:
            labels = torch.arange(count) % len(self.classes)
        else:
            label = NumberField("Class", 0, len(self.classes), integer=True).check(label)
            labels = torch.full((count,), label)
        if guidance is not None:
            guidance = FIELDS["guidance"].check(guidance)
        x, _, _ = self.generate(labels, seed=seed, guidance=guidance)
        return to_unit(x)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights that sample: the moving average when there is one."""
        return {k: v.detach().clone() for k, v in self.sampler_model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
        if self.average is not None:
            self.average.load_state_dict(state)
        self._preview = None


def make_trainer(settings: Settings) -> DiffusionTrainer:
    return DiffusionTrainer(settings)
