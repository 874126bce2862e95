"""The variational autoencoder: the encoder gives mu and log sigma^2 of a Gaussian per image,
z = mu + sigma * eps (the reparameterisation), and the loss is the lecture's
||x - D(z)||^2 + beta * KL(N(mu, sigma^2) || N(0, I)); samples decode z ~ N(0, I).

Its encoder and decoder (autoencoder.Encoder / Decoder) are DCGAN's, with 32 latent numbers:
smaller networks with 16 kept colours and places but lost the shapes (the Shapes network named
the class of 32 % of their reconstructions after 10,000 steps; of these, 76 % after 12,000)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.generative.autoencoder import (
    BATCH,
    LATENT,
    LEARNING_RATE,
    PREVIEW_IMAGES,
    WIDTH,
    Decoder,
    Encoder,
    check_base,
    reconstruction_loss,
)
from explorer.generative.base import BaseSettings
from explorer.generative.data import BatchStream, ImageData, image_data
from explorer.user_input import InputError, NumberField

BETA = NumberField("beta (the KL weight)", 0.0, 20.0)
SAMPLE_GRID = 32  # samples from N(0, I) in the preview (fixed eps: the same z every refresh)


@dataclass(frozen=True)
class Settings(BaseSettings):
    latent: int = 32
    width: int = 16
    batch_size: int = 64
    learning_rate: float = 2e-3
    beta: float = 0.1

    def __post_init__(self) -> None:
        check_base(self)
        LATENT.check(self.latent)
        WIDTH.check(self.width)
        BATCH.check(self.batch_size)
        LEARNING_RATE.check(self.learning_rate)
        BETA.check(self.beta)


def kl_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per row (B,) in closed form:
    1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - ln sigma_j^2)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def kl_gaussians(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor,
                 sigma2: torch.Tensor) -> torch.Tensor:
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) for diagonal Gaussians, summed over the last
    axis: sum ln(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2."""
    return (torch.log(sigma2 / sigma1) + (sigma1.pow(2) + (mu1 - mu2).pow(2))
            / (2 * sigma2.pow(2)) - 0.5).sum(-1)


class VAE(nn.Module):
    def __init__(self, shape: tuple[int, int, int], width: int, latent: int) -> None:
        super().__init__()
        if shape[1] % 4 or shape[2] % 4:
            raise InputError(f"Images must be a multiple of 4 pixels high and wide, not "
                             f"{shape[1]} x {shape[2]}.")
        self.latent = latent
        self.encoder = Encoder(shape, width, 2 * latent)  # -> [mu, ln sigma^2]
        self.decoder = Decoder(shape, width, latent)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, ln sigma^2), each (B, latent); ln sigma^2 clamped to [-12, 8] for stability."""
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        return mu, log_var.clamp(-12.0, 8.0)

    def forward(self, x: torch.Tensor, eps: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_hat, mu, ln sigma^2) with z = mu + sigma * eps (eps (B, latent) ~ N(0, I))."""
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mu, log_var


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
             beta: float) -> dict[str, torch.Tensor]:
    """The lecture's cost per image, averaged over the batch: reconstruction ||x - x_hat||^2,
    KL to N(0, I), and loss = reconstruction + beta * KL."""
    reconstruction = reconstruction_loss(x_hat, x)
    kl = kl_standard_normal(mu, log_var).mean()
    return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl}


@dataclass(frozen=True)
class Preview:
    originals: np.ndarray  # (8, C, H, W) test images
    labels: np.ndarray  # (8,) their classes (index `classes`)
    reconstructions: np.ndarray  # (8, C, H, W) decoded from z = mu (the mean code)
    samples: np.ndarray  # (32, C, H, W) decoded from fixed z ~ N(0, I)
    mu: np.ndarray  # (latent,) of the first test image
    sigma: np.ndarray  # (latent,)
    eps: np.ndarray  # (latent,) one eps ~ N(0, I)
    z: np.ndarray  # (latent,) = mu + sigma * eps
    decoded: np.ndarray  # (C, H, W) D(z)
    classes: tuple[str, ...]


class VAETrainer:
    def __init__(self, settings: Settings, data: ImageData | None = None) -> None:
        torch.manual_seed(settings.seed)
        self.settings = settings
        self.data = data if data is not None else image_data(settings.dataset)
        self.model = VAE(self.data.shape, settings.width, settings.latent)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.batches = BatchStream(self.data, settings.batch_size, settings.seed)
        self.eps = torch.Generator().manual_seed(settings.seed + 1)
        self.test_x, self.test_y = self.data.test_batch(PREVIEW_IMAGES)
        fixed = torch.Generator().manual_seed(1234)
        self.fixed_z = torch.randn(SAMPLE_GRID, settings.latent, generator=fixed)
        self.fixed_eps = torch.randn(settings.latent, generator=fixed)

    def step(self) -> dict[str, float]:
        self.model.train()
        x, _ = self.batches.next()
        eps = torch.randn(x.shape[0], self.settings.latent, generator=self.eps)
        x_hat, mu, log_var = self.model(x, eps)
        terms = vae_loss(x, x_hat, mu, log_var, self.settings.beta)
        self.optimiser.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimiser.step()
        return {name: value.item() for name, value in terms.items()}

    def preview(self) -> Preview:
        self.model.eval()
        with torch.inference_mode():
            mu, log_var = self.model.encode(self.test_x)
            sigma = torch.exp(0.5 * log_var)
            z = mu[0] + sigma[0] * self.fixed_eps
            decoded = self.model.decoder(torch.cat([mu, z[None]]))
            samples = self.model.decoder(self.fixed_z)
        return Preview(self.test_x.numpy(), self.test_y.numpy(), decoded[:-1].numpy(),
                       samples.numpy(), mu[0].numpy(), sigma[0].numpy(), self.fixed_eps.numpy(),
                       z.numpy(), decoded[-1].numpy(), self.data.classes)

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """Decode z ~ N(0, I)."""
        self.model.eval()
        z = torch.randn(count, self.settings.latent, generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            return self.model.decoder(z).numpy().astype(np.float32)

    def reconstruct(self, x: torch.Tensor) -> np.ndarray:
        """D(mu(x)) (the mean code, no noise): (B, C, H, W) -> (B, C, H, W) float32 in [0, 1]."""
        self.model.eval()
        with torch.inference_mode():
            return self.model.decoder(self.model.encode(x)[0]).numpy().astype(np.float32)

    def walk(self, a: torch.Tensor, b: torch.Tensor, count: int = 8) -> np.ndarray:
        """Decode the straight line from mu(a) to mu(b) in count steps: (count, C, H, W)."""
        self.model.eval()
        with torch.inference_mode():
            mu, _ = self.model.encode(torch.stack([a, b]))
            t = torch.linspace(0, 1, count)[:, None]
            return self.model.decoder((1 - t) * mu[0] + t * mu[1]).numpy()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)


def make_trainer(settings: BaseSettings) -> VAETrainer:
    return VAETrainer(settings)  # type: ignore[arg-type]
