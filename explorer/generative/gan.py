"""A DCGAN-style GAN on Shapes (the lecture's J_G and J_D): a small transposed-convolution
generator, a strided-convolution discriminator, D(x) and D(G(z)) per step, a fixed grid of z's
decoded in every preview (the same samples seen improving) and interpolation in z."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.generative.base import (
    UNFIT_WEIGHTS,
    BaseSettings,
    joint_state_dict,
    load_joint_state_dict,
)
from explorer.generative.data import image_data, is_valid_name
from explorer.jobs.concurrency import RNG_LOCK
from explorer.training.data import DatasetError
from explorer.user_input import InputError, NumberField

FIELDS = {
    "latent": NumberField("Latent size", 2, 128, integer=True),
    "width": NumberField("Width (channels)", 4, 64, integer=True),
    "batch_size": NumberField("Batch size", 4, 256, integer=True),
    "lr_g": NumberField("Generator learning rate", 1e-5, 0.01),
    "lr_d": NumberField("Discriminator learning rate", 1e-5, 0.01),
    "max_steps": NumberField("Steps", 1, 100_000, integer=True),
    "max_seconds": NumberField("Seconds of training", 1, 3_600),
    "seed": NumberField("Seed", 0, 2**31 - 1, integer=True),
}
logger = logging.getLogger(__name__)
GRID = 64  # fixed z's decoded in every preview: an 8 x 8 grid
SIZES = {32: 4, 28: 7}  # image side -> the generator's first map (three or two doublings)
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "generative"


# -- the lecture's losses, on the discriminator's logits (sigmoid(logit) = D) ------------------

def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_D = -(1/n) sum ln D(x_i) - E ln(1 - D(G(z))), with ln sigmoid written stably
    (ln(1 - sigmoid(a)) = ln sigmoid(-a))."""
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """J_G = -E ln D(G(z)): the lecture's (non-saturating) generator loss."""
    return -F.logsigmoid(fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original minimax game's generator loss, E ln(1 - D(G(z))): it saturates (a vanishing
    gradient) while D rejects G's samples confidently, which is why the lecture uses J_G."""
    return F.logsigmoid(-fake_logits).mean()


# -- settings -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings(BaseSettings):
    """An image GAN run: latent size, width, batch, the two learning rates (Adam, beta1 0.5 as
    in DCGAN) and the budget."""

    latent: int = 32
    width: int = 16  # about 77 k weights in G and 43 k in D: ~20 steps/s on one core
    batch_size: int = 32
    lr_g: float = 5e-4  # 1e-3 learns as fast but drops more classes (measured on Shapes)
    lr_d: float = 5e-4
    max_steps: int = 2_400
    max_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not is_valid_name(self.dataset):
            raise InputError(f"Dataset {self.dataset!r} is not one this page knows.")
        for name, field in FIELDS.items():
            object.__setattr__(self, name, field.check(getattr(self, name)))


# -- the networks -------------------------------------------------------------------------

def check_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, H, W) of the data if the networks can make it: square, 32 or 28 pixels, 1 or 3
    channels (Shapes and zips are 3 x 32 x 32, MNIST 1 x 28 x 28); else DatasetError."""
    c, h, w = shape
    if h != w or h not in SIZES or c not in (1, 3):
        raise DatasetError(f"The GAN makes 1- or 3-channel images of 32 x 32 or 28 x 28 "
                           f"pixels; these are {c} x {h} x {w}.")
    return shape


class Generator(nn.Module):
    """z (N, latent) -> images (N, C, S, S) in [0, 1]: a linear layer to 4w x s x s (s = 4 for
    S = 32, 7 for S = 28), then 4x4 stride-2 transposed convolutions doubling the size
    (4 -> 8 -> 16 -> 32, or 7 -> 14 -> 28), halving the channels."""

    def __init__(self, latent: int, width: int, shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        channels, size, _ = check_shape(shape)
        self.latent, self.start = latent, SIZES[size]
        w = 4 * width
        self.project = nn.Sequential(nn.Linear(latent, w * self.start**2, bias=False),
                                     nn.BatchNorm1d(w * self.start**2), nn.ReLU())
        layers: list[nn.Module] = []
        side = self.start
        while 2 * side < size:  # (N, w, side, side) -> (N, w/2, 2 side, 2 side)
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(w // 2), nn.ReLU()]
            w, side = w // 2, 2 * side
        layers += [nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Sigmoid()]  # (N, C, S, S)
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z)
        return self.body(x.view(len(z), -1, self.start, self.start))


class MinibatchStd(nn.Module):
    """Appends one feature map: the standard deviation of each feature across the batch,
    averaged (ProGAN's minibatch standard deviation). A generator that makes too little variety
    (mode collapse: only bars, never a ring) gives a batch that is visibly too uniform, so D can
    tell, and G is pushed to cover more of the data. (N, C, H, W) -> (N, C + 1, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.std(dim=0, unbiased=False).mean()  # one number for the batch
        return torch.cat([x, spread.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


class Discriminator(nn.Module):
    """images (N, C, S, S) in [0, 1] -> one logit each (D = sigmoid(logit)): three 4x4
    stride-2 convolutions with LeakyReLU (32 -> 16 -> 8 -> 4, or 28 -> 14 -> 7 -> 3), the
    minibatch's spread as one more feature, a 3x3 convolution, then a linear layer."""

    def __init__(self, width: int, shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        super().__init__()
        channels, size, _ = check_shape(shape)
        w = width
        last = ((size // 2) // 2 + 2 - 4) // 2 + 1  # the third conv's output side
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, 2w, S/4, S/4)
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, 4w, last, last)
            MinibatchStd(),  # (N, 4w + 1, last, last)
            nn.Conv2d(4 * w + 1, 4 * w, 3, 1, 1), nn.LeakyReLU(0.2),  # (N, 4w, last, last)
            nn.Flatten(), nn.Linear(4 * w * last**2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(2 * x - 1).squeeze(1)  # centred input, (N,) logits


# -- data ---------------------------------------------------------------------------------

def real_images(dataset: str) -> torch.Tensor:
    """The training images, uint8 (N, C, S, S) (DatasetError for a shape the GAN cannot make)."""
    images = image_data(dataset).train_images
    check_shape(tuple(images.shape[1:]))
    return images


def fixed_z(count: int, latent: int, seed: int) -> torch.Tensor:
    """The same z's for a seed every time (the preview's grid, samples, interpolation ends)."""
    return torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))


def decode(generator: Generator, z: torch.Tensor) -> np.ndarray:
    """G(z) in eval mode (BatchNorm's running statistics), float32 (N, C, S, S) in [0, 1]."""
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = generator(z).float().numpy()
    generator.train(was_training)
    return images


def interpolate(generator: Generator, z0: torch.Tensor, z1: torch.Tensor,
                count: int) -> np.ndarray:
    """G along the straight line from z0 to z1 (latent,): (count, C, S, S); count 2..64."""
    count = NumberField("Interpolation steps", 2, 64, integer=True).check(count)
    t = torch.linspace(0, 1, count)[:, None]  # (count, 1)
    return decode(generator, (1 - t) * z0[None] + t * z1[None])


@dataclass(frozen=True)
class Preview:
    step: int
    grid: np.ndarray  # (GRID, C, S, S) uint8: G of the fixed z's, same z's every time


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class GanTrainer:
    """Alternating steps: one Adam step of D on J_D (a real batch, a fake batch), then one of G
    on J_G; step() returns both losses with D's mean output on each batch."""

    def __init__(self, settings: Settings, images: torch.Tensor | None = None) -> None:
        self.settings = s = settings
        self.images = real_images(s.dataset) if images is None else images  # (N, C, S, S)
        shape = tuple(self.images.shape[1:])
        with RNG_LOCK, torch.random.fork_rng(devices=[]):  # seeded weights, nobody else's RNG
            torch.manual_seed(s.seed)
            self.generator = Generator(s.latent, s.width, shape)
            self.discriminator = Discriminator(s.width, shape)
        betas = (0.5, 0.999)  # DCGAN's: a short memory of momentum keeps the game stable
        self.opt_g = torch.optim.Adam(self.generator.parameters(), s.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), s.lr_d, betas=betas)
        self.rng = torch.Generator().manual_seed(s.seed + 1)
        self.z_grid = fixed_z(GRID, s.latent, s.seed + 2)
        self.steps = 0

    def _real_batch(self, count: int) -> torch.Tensor:
        index = torch.randint(len(self.images), (count,), generator=self.rng)
        batch = self.images[index]
        return batch.float() / 255 if batch.dtype == torch.uint8 else batch

    def step(self) -> dict[str, float]:
        s = self.settings
        real = self._real_batch(s.batch_size)  # (B, C, S, S)
        z = torch.randn(s.batch_size, s.latent, generator=self.rng)
        fake = self.generator(z)  # (B, C, S, S), keeps its graph for G's step
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        j_d = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        j_d.backward()
        self.opt_d.step()
        self.discriminator.requires_grad_(False)  # G's step needs no gradient of D's weights
        fooled = self.discriminator(fake)  # D after its step: G answers the new D
        j_g = generator_loss(fooled)
        self.opt_g.zero_grad(set_to_none=True)
        j_g.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        self.steps += 1
        j_d, j_g = j_d.item(), j_g.item()
        return {"loss": j_d + j_g, "J_D": j_d, "J_G": j_g,
                "D(x)": torch.sigmoid(real_logits).mean().item(),
                "D(G(z))": torch.sigmoid(fake_logits).mean().item()}

    def preview(self) -> Preview:
        return Preview(self.steps, to_uint8(decode(self.generator, self.z_grid)))

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        count = NumberField("Samples", 1, 1_024, integer=True).check(count)
        return decode(self.generator, fixed_z(count, self.settings.latent, seed))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Both networks' weights under "generator." and "discriminator."."""
        return joint_state_dict(generator=self.generator, discriminator=self.discriminator)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        load_joint_state_dict(state, generator=self.generator, discriminator=self.discriminator)


def make_trainer(settings: Settings) -> GanTrainer:
    return GanTrainer(settings)


# -- shipped weights --------------------------------------------------------------------------

def shipped_path() -> Path:
    return ASSETS / "gan.pt"


def shipped_generator() -> tuple[Settings, Generator, str] | None:
    """load_generator of assets/generative/gan.pt; None when it is missing or was made by an
    older version of the networks (the server's log says so)."""
    path = shipped_path()
    if not path.exists():
        return None
    try:
        return load_generator(path)
    except UNFIT_WEIGHTS as error:
        logger.warning("Ignoring %s: it does not fit this version's GAN (%s)", path,
                       str(error).splitlines()[0])
        return None


def load_generator(path: Path) -> tuple[Settings, Generator, str]:
    """(settings, the generator in eval mode, note) from a weights file saved by the command line
    (torch.load with weights_only: a weights file never runs code); no data is loaded."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    settings = Settings(**saved["settings"])
    return settings, generator_from_state(settings, saved["state_dict"]), saved.get("note", "")


def generator_from_state(settings: Settings, state: dict[str, torch.Tensor]) -> Generator:
    """The generator (eval mode) of a trainer's state_dict (its "generator." entries); the
    image shape is read from the weights."""
    mine = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    convs = [v for k, v in mine.items() if k.startswith("body.") and v.ndim == 4]
    if not convs:
        raise ValueError("These weights hold no GAN generator.")
    channels = int(convs[-1].shape[1])  # the last transposed conv's (C_in, C_out, 4, 4)
    size = 32 if len(convs) == 3 else 28  # three doublings from 4, or two from 7
    generator = Generator(settings.latent, settings.width, (channels, size, size))
    generator.load_state_dict(mine)
    return generator.eval()
