"""Training-time augmentation: flips, shifts, rotations and colour jitter, drawn per image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to each training image afresh every time it is used."""

    flip: bool = False  # mirror left-right with probability 1/2
    shift: int = 0  # pixels: zero-pad by `shift`, then crop back at a random offset
    rotation: float = 0.0  # degrees: turn by a random angle in [-rotation, rotation]
    colour_jitter: float = 0.0  # s: brightness, contrast, saturation factors in [1 - s, 1 + s]

    def __post_init__(self) -> None:
        if not (isinstance(self.shift, int) and 0 <= self.shift <= 16):
            raise ValueError(f"shift must be a whole number of pixels, 0 to 16, not {self.shift}")
        if not 0.0 <= self.rotation <= 180.0:
            raise ValueError(f"rotation must be 0 to 180 degrees, not {self.rotation}")
        if not 0.0 <= self.colour_jitter <= 1.0:
            raise ValueError(f"colour_jitter must be 0 to 1, not {self.colour_jitter}")

    @property
    def active(self) -> bool:
        return self.flip or self.shift > 0 or self.rotation > 0 or self.colour_jitter > 0


def _grey(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W) luma (ITU-R 601), or the image itself if C == 1."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def augment_batch(
    images: torch.Tensor, settings: Augmentation, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment (B, C, H, W) float images in [0, 1]; every image draws its own random changes.

    (A torchvision v2 transform called on a batch draws once for the whole batch.) Returns a
    new tensor of the same shape in [0, 1], or `images` itself when no option is active.
    Order: flip, rotation, shift, colour jitter. Same generator state -> same result.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"augment_batch needs (B, C, H, W) float images, not {images.dtype} "
                         f"{tuple(images.shape)}")
    if not settings.active:
        return images
    batch, channels, height, width = images.shape
    out = images

    if settings.flip:
        mirror = torch.rand(batch, generator=generator) < 0.5  # (B,) bool
        out = torch.where(mirror.view(-1, 1, 1, 1), out.flip(-1), out)

    if settings.rotation > 0:
        angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(settings.rotation)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(batch)
        # affine_grid works in [-1, 1] coordinates; the h/w factors keep non-square images round:
        # x_in = cos x - sin y (h/w),  y_in = sin x (w/h) + cos y
        theta = torch.stack([
            torch.stack([cos, -sin * height / width, zero], 1),
            torch.stack([sin * width / height, cos, zero], 1),
        ], 1).to(out.dtype)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    if settings.shift > 0:
        pad = settings.shift
        padded = F.pad(out, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p), zeros around
        top = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        left = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]  # (B, 1, H, 1)
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]  # (B, 1, 1, W)
        out = padded[torch.arange(batch).view(-1, 1, 1, 1),
                     torch.arange(channels).view(1, -1, 1, 1), rows, cols]

    if settings.colour_jitter > 0:
        strength = settings.colour_jitter
        factors = 1 + (torch.rand(3, batch, 1, 1, 1, generator=generator) * 2 - 1) * strength
        factors = factors.to(out.dtype)
        # as torchvision's adjust_*: blend with black, with the mean grey, with the grey image
        out = (out * factors[0]).clamp(0, 1)
        mean = _grey(out).mean((1, 2, 3), keepdim=True)
        out = (mean + (out - mean) * factors[1]).clamp(0, 1)
        if channels == 3:
            grey = _grey(out)
            out = (grey + (out - grey) * factors[2]).clamp(0, 1)
    return out
