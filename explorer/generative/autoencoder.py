"""The autoencoder: a conv encoder squeezes each image to `latent` numbers, a conv decoder
rebuilds it; trained on ||x - D(E(x))||^2 (optionally from a noisy x: denoising). Also the conv
encoder / decoder the VAE reuses (DCGAN's, with batch norm), the shipped weights' loading, and
anomaly scores."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explorer.generative.base import UNFIT_WEIGHTS, BaseSettings
from explorer.generative.data import BatchStream, ImageData, image_data, is_valid_name
from explorer.user_input import InputError, NumberField

logger = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "generative"
PREVIEW_IMAGES = 8  # test images shown with their reconstructions
LATENT_POINTS = 600  # test images placed in the latent scatter

LATENT = NumberField("Bottleneck size", 2, 64, integer=True)
BATCH = NumberField("Batch size", 8, 512, integer=True)
LEARNING_RATE = NumberField("Learning rate", 1e-5, 0.1)
NOISE = NumberField("Noise level", 0.0, 1.0)
STEPS = NumberField("Steps", 1, 100_000, integer=True)
SECONDS = NumberField("Seconds of training", 1, 3_600)
SEED = NumberField("Seed", 0, 2**31 - 1, integer=True)
WIDTH = NumberField("Channels", 4, 128, integer=True)


def check_base(settings: BaseSettings) -> None:
    """The shared fields' checks (InputError naming the field)."""
    if not is_valid_name(settings.dataset):
        raise InputError(f"Dataset {settings.dataset!r} is not one this page knows.")
    SEED.check(settings.seed)
    STEPS.check(settings.max_steps)
    SECONDS.check(settings.max_seconds)


@dataclass(frozen=True)
class Settings(BaseSettings):
    latent: int = 32  # 8 kept colours and places but lost most shapes (11 % named, 50 % with 32)
    width: int = 16  # channels of the first conv (then 2w and 4w)
    batch_size: int = 64
    learning_rate: float = 2e-3
    noise: float = 0.0  # > 0: denoising; the input gets N(0, noise^2) added, the target is clean

    def __post_init__(self) -> None:
        check_base(self)
        LATENT.check(self.latent)
        WIDTH.check(self.width)
        BATCH.check(self.batch_size)
        LEARNING_RATE.check(self.learning_rate)
        NOISE.check(self.noise)


def stages(height: int, width: int) -> int:
    """Stride-2 stages between an image (sides multiples of 4) and the smallest map: 3 when both
    sides are multiples of 8 (32 -> 16 -> 8 -> 4), else 2 (28 -> 14 -> 7)."""
    return 3 if height % 8 == 0 and width % 8 == 0 else 2


class Encoder(nn.Module):
    """(B, C, H, W) -> (B, out): 4x4 stride-2 convolutions halving the size and doubling the
    channels (w, 2w, 4w: 32 -> 16 -> 8 -> 4), batch norm after the first, LeakyReLU, then a
    linear layer."""

    def __init__(self, shape: tuple[int, int, int], width: int, out: int) -> None:
        super().__init__()
        c, h, w = shape
        n = stages(h, w)
        layers: list[nn.Module] = []
        for i in range(n):  # (B, c, s, s) -> (B, width 2^i, s/2, s/2)
            layers.append(nn.Conv2d(c, width * 2**i, 4, 2, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(width * 2**i))
            layers.append(nn.LeakyReLU(0.2))
            c = width * 2**i
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c * (h >> n) * (w >> n), out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Decoder(nn.Module):
    """(B, latent) -> (B, C, H, W) in [0, 1], as the GAN's generator: a linear layer to
    (4w, H/8, W/8) (or 4w x H/4 x W/4), 4x4 stride-2 transposed convolutions doubling the size
    and halving the channels, batch norm and ReLU between, a sigmoid at the end."""

    def __init__(self, shape: tuple[int, int, int], width: int, latent: int) -> None:
        super().__init__()
        c, h, w = shape
        n = stages(h, w)
        channels = 4 * width
        self.start = (channels, h >> n, w >> n)
        self.project = nn.Sequential(nn.Linear(latent, math.prod(self.start), bias=False),
                                     nn.BatchNorm1d(math.prod(self.start)), nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(n - 1):  # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, c, 4, 2, 1), nn.Sigmoid()]  # (B, C, H, W)
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(-1, *self.start))


class AutoEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], width: int, latent: int) -> None:
        super().__init__()
        if shape[1] % 4 or shape[2] % 4:
            raise InputError(f"Images must be a multiple of 4 pixels high and wide, not "
                             f"{shape[1]} x {shape[2]}.")
        self.shape = shape
        self.encoder = Encoder(shape, width, latent)
        self.decoder = Decoder(shape, width, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The lecture's ||x - x_hat||_2^2 per image (summed over pixels), averaged over the batch."""
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def per_image_error(model: AutoEncoder, x: torch.Tensor) -> np.ndarray:
    """||x - D(E(x))||^2 / pixels for each image (B,): the anomaly score (in eval mode: batch
    norm uses its running statistics, so one image scores as it would among many)."""
    model.eval()
    with torch.inference_mode():
        return (model(x) - x).pow(2).flatten(1).mean(1).numpy()


def add_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """x + N(0, level^2), clipped to [0, 1] (the denoising input)."""
    if level <= 0:
        return x
    return (x + level * torch.randn(x.shape, generator=generator)).clamp(0, 1)


def principal_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), axes (2, D)): the 2-D plane through the codes that keeps most variance
    (the identity when D == 2), so a scatter point p maps back to z = mean + p @ axes."""
    mean = z.mean(0)
    if z.shape[1] == 2:
        return np.zeros(2, np.float32), np.eye(2, dtype=np.float32)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    return mean.astype(np.float32), vt[:2].astype(np.float32)


@dataclass(frozen=True)
class Preview:
    originals: np.ndarray  # (8, C, H, W) test images, [0, 1]
    inputs: np.ndarray  # what the encoder saw (noisy when denoising)
    reconstructions: np.ndarray  # (8, C, H, W)
    points: np.ndarray  # (P, 2) codes of test images (projected to 2-D when latent > 2)
    labels: np.ndarray  # (P,) their classes
    classes: tuple[str, ...]
    mean: np.ndarray  # (D,) and axes (2, D): a scatter point p decodes as mean + p @ axes
    axes: np.ndarray
    test_error: float  # mean per-pixel squared error on the preview's test images


class AutoEncoderTrainer:
    def __init__(self, settings: Settings, data: ImageData | None = None) -> None:
        torch.manual_seed(settings.seed)
        self.settings = settings
        self.data = data if data is not None else image_data(settings.dataset)
        self.model = AutoEncoder(self.data.shape, settings.width, settings.latent)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.batches = BatchStream(self.data, settings.batch_size, settings.seed)
        self.noise = torch.Generator().manual_seed(settings.seed + 1)
        self.test_x, self.test_y = self.data.test_batch(LATENT_POINTS)

    def step(self) -> dict[str, float]:
        self.model.train()
        x, _ = self.batches.next()
        x_hat = self.model(add_noise(x, self.settings.noise, self.noise))
        loss = reconstruction_loss(x_hat, x)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return {"loss": loss.item()}

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.encoder(x)

    def preview(self) -> Preview:
        self.model.eval()
        x = self.test_x[:PREVIEW_IMAGES]
        seen = add_noise(x, self.settings.noise, torch.Generator().manual_seed(7))
        with torch.inference_mode():
            x_hat = self.model(seen)
        z = self.codes(self.test_x).numpy()
        mean, axes = principal_axes(z)
        return Preview(x.numpy(), seen.numpy(), x_hat.numpy(), (z - mean) @ axes.T,
                       self.test_y.numpy(), self.data.classes, mean, axes,
                       float((x_hat - x).pow(2).mean()))

    def reconstruct(self, x: torch.Tensor) -> np.ndarray:
        """D(E(x)) for clean images x (B, C, H, W) -> (B, C, H, W) float32 in [0, 1]."""
        self.model.eval()
        with torch.inference_mode():
            return self.model(x).numpy().astype(np.float32)

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """An autoencoder has no prior: codes drawn from a Gaussian fitted to test images'
        codes (mean and covariance), decoded. Usually worse than a VAE's: the point of it."""
        self.model.eval()
        z = self.codes(self.test_x).double()
        mean, cov = z.mean(0), torch.cov(z.T) + 1e-6 * torch.eye(z.shape[1], dtype=torch.float64)
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn(count, z.shape[1], generator=g, dtype=torch.float64)
        drawn = mean + eps @ torch.linalg.cholesky(cov).T
        with torch.inference_mode():
            return self.model.decoder(drawn.float()).numpy().astype(np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)


def make_trainer(settings: Settings) -> AutoEncoderTrainer:
    return AutoEncoderTrainer(settings)


# ----------------------------------------------------------------- shipped weights

def save_weights(path: Path, settings: BaseSettings, state: dict[str, torch.Tensor],
                 note: str = "") -> None:
    """Weights and the settings that made them, as plain tensors and numbers (weights_only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"settings": asdict(settings), "state_dict": state, "note": note}, path)


def load_weights(path: Path, settings_type: type) -> tuple[BaseSettings, dict, str]:
    """(settings, state_dict, note) from a save_weights file (never runs code)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return settings_type(**saved["settings"]), saved["state_dict"], saved.get("note", "")


def pretrained_path(key: str) -> Path:
    return ASSETS / f"{key}.pt"


def pretrained_trainer(module, key: str):
    """A trainer of `module` holding the shipped weights assets/generative/<key>.pt (None when
    the file is missing)."""
    path = pretrained_path(key)
    if not path.exists():
        return None
    try:
        settings, state, _ = load_weights(path, module.Settings)
        trainer = module.make_trainer(settings)
        trainer.load_state_dict(state)
    except UNFIT_WEIGHTS as error:
        # weights made by an older version of the model (other layers): the page goes on as if
        # there were none, and the server's log says which file to remake
        logger.warning("Ignoring %s: it does not fit this version's %s model (%s)", path, key,
                       str(error).splitlines()[0])
        return None
    return trainer
