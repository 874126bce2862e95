"""The lecture's side-by-side figures of 2D convolution: one kernel in the three boundary modes,
and uniform vs Gaussian blurs of two sizes ("Local averaging")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.convolution import conv, kernels, operations, specs

MODES = ("full", "same", "valid")  # the lecture's order
BLUR_SIZES = (9, 15)
BLUR_KINDS = ("box", "gaussian")


@dataclass(frozen=True)
class Panel:
    title: str
    values: np.ndarray


def modes_side_by_side(image: np.ndarray, kernel: np.ndarray, *, op: str = "convolve",
                       boundary: str = "fill") -> list[Panel]:
    """The image filtered in 'full', 'same' and 'valid' mode (scipy's names), with their shapes:
    on the 512x512 cameraman and a 9x9 kernel, 520, 512 and 504 pixels square."""
    panels = []
    for mode in MODES:
        out = conv.filter2d(image, kernel, op=op, mode=mode, boundary=boundary)
        panels.append(Panel(mode, out))
    return panels


def nonzero_crop(values: np.ndarray, relative: float = 1e-5) -> np.ndarray | None:
    """The smallest box holding every value larger than `relative` x the largest in size (the
    float32 engines leave ~1e-8 noise elsewhere); None when all are 0. On an impulse's output:
    the kernel (convolution) or its flip (correlation)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    rows, cols = np.nonzero(np.abs(values) > relative * largest)
    if rows.size == 0:
        return None
    return values[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def gaussian_sigma(size: int) -> float:
    """σ = K / 6, so the K x K window holds ±3σ of the bell (the lecture: choose K > 2σ + 1)."""
    return size / 6


def blur_kernel(kind: str, size: int) -> np.ndarray:
    if kind == "box":
        return kernels.make_kernel("box", size=size)  # np.ones((K, K)) / K²
    return kernels.make_kernel("gaussian", size=size, sigma=gaussian_sigma(size))


def blur_label(kind: str, size: int) -> str:
    return (f"Uniform kernel, {size}x{size}" if kind == "box" else
            f"Gaussian kernel, {size}x{size} (σ = {gaussian_sigma(size):.3g})")


def blurs_side_by_side(image: np.ndarray, sizes: tuple[int, ...] = BLUR_SIZES) -> list[Panel]:
    """Uniform and Gaussian blurs of each size, 'same' mode: the uniform kernel blurs more and
    leaves blocky halos; the Gaussian keeps more detail at the same size."""
    return [Panel(blur_label(kind, size),
                  conv.filter2d(image, blur_kernel(kind, size), op="convolve", mode="same"))
            for size in sizes for kind in BLUR_KINDS]


@dataclass(frozen=True)
class SobelLayer:
    outputs: np.ndarray  # (2, N1 - 2, N2 - 2): channel 0 from Gx, channel 1 from Gy
    weight_shape: tuple[int, ...]  # (C_out, C_in, K1, K2) = (2, 1, 3, 3)
    max_difference: float  # against scipy.signal.correlate2d(im, G, mode="valid")


def sobel_as_conv2d(image: np.ndarray) -> SobelLayer:
    """The lecture's "Creating convolutional layers in PyTorch": nn.Conv2d(1, 2, 3) with Gx and
    Gy loaded through load_state_dict (bias 0). Its two channels equal correlate2d with Gx and
    Gy: nn.Conv2d correlates, it does not flip."""
    import torch
    from scipy import signal
    from torch import nn

    x = specs.as_finite_2d(image, "image")
    model = nn.Conv2d(in_channels=1, out_channels=2, kernel_size=operations.SOBEL_X.shape)
    state = model.state_dict()
    state["weight"] = torch.tensor(np.stack([operations.SOBEL_X, operations.SOBEL_Y])[:, None],
                                   dtype=torch.float32)  # (2, 1, 3, 3)
    state["bias"] = torch.zeros(2)
    model.load_state_dict(state)
    with torch.no_grad():
        y = model(torch.tensor(x, dtype=torch.float32)[None, None])[0].numpy()  # (2, H', W')
    reference = np.stack([signal.correlate2d(x, g, mode="valid")
                          for g in (operations.SOBEL_X, operations.SOBEL_Y)])
    return SobelLayer(y.astype(np.float64), tuple(model.weight.shape),
                      float(np.max(np.abs(y - reference))))
