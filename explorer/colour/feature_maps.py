"""Applying a colour filter bank: feature maps and each input channel's share, as F.conv2d does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from explorer.colour.bank import as_bias, as_weight
from explorer.convolution import shapes, specs

if TYPE_CHECKING:  # torch is imported inside functions: importing it takes seconds
    import torch

# Most multiply-adds one bank may cost on an image (C_out * 3 * K_h * K_w * H' * W'): 8 filters
# of 31x31 on a 512x512 image are 6.0e9 (about 0.1-0.3 s on 2 cores); the same on a 1024x1024
# upload would be 2.4e10 and is refused.
MAX_MULTIPLY_ADDS = 8e9

# Output modes offered for colour filtering (keys are what the page's select box shows).
MODES: dict[str, specs.ModeSpec] = {name: specs.MODES[name] for name in ("same", "valid")}


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _as_image(image: object) -> np.ndarray:
    x = specs.as_finite(image, "image")
    if x.ndim == 2:
        raise ValueError(
            f"This is a greyscale image (shape {x.shape}); colour filters need an "
            "H x W x 3 RGB image (explorer.images.pictures.to_rgb turns grey into RGB)."
        )
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"The image must be H x W x 3 (red, green, blue); got shape {x.shape}.")
    return x


def bank_work(image_shape: tuple[int, ...], weight_shape: tuple[int, ...], mode: str) -> float:
    """Multiply-adds of apply_filters: C_out * 3 * K_h * K_w per output pixel."""
    c_out, c_in, k_h, k_w = weight_shape
    n_h, n_w = image_shape[:2]
    out_h, out_w = (n_h, n_w) if mode == "same" else (n_h - k_h + 1, n_w - k_w + 1)
    return float(c_out) * c_in * k_h * k_w * max(out_h, 0) * max(out_w, 0)


def _check_work(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, mode: str) -> None:
    work = bank_work(x.shape, w.shape, mode)
    if work > MAX_MULTIPLY_ADDS:
        c_out, _, k_h, k_w = w.shape
        raise ValueError(
            f"This bank would cost {work:.2g} multiply-adds ({c_out} filters x 3 channels x "
            f"{k_h}x{k_w} taps x {x.shape[0]}x{x.shape[1]} pixels); the limit is "
            f"{MAX_MULTIPLY_ADDS:.2g}, to keep the page quick for everyone. Use a smaller "
            "kernel, fewer filters or a smaller image."
        )
    # |map| <= sum |W[m]| * max |x| + |b[m]|: keep float32 finite
    largest = float(np.abs(w).sum(axis=(1, 2, 3)).max()) * float(np.abs(x).max())
    if bias is not None and bias.size:
        largest += float(np.abs(bias).max())
    specs.check_float32_range(largest, "feature maps")


def _check_mode(mode: str, image_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> None:
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}.")
    (n_h, n_w), (k_h, k_w) = image_shape[:2], kernel_shape[-2:]
    if mode == "valid" and (k_h > n_h or k_w > n_w):
        raise ValueError(
            f"In 'valid' mode the kernel must fit inside the image, but the {k_h}x{k_w} kernel "
            f"is larger than the {n_h}x{n_w} image. Use 'same' mode, a smaller kernel, or a "
            "larger image."
        )



# ---------------------------------------------------------------------------
# Applying a bank (PyTorch, float32)
# ---------------------------------------------------------------------------


def _torch_inputs(
    image: object, weight: object, mode: str, bias: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Checked image and weight as float32 tensors, the image already padded for `mode`.

    ValueError beyond MAX_MULTIPLY_ADDS or when the maps could overflow float32.
    """
    import torch
    import torch.nn.functional as F

    x = _as_image(image)
    w = as_weight(weight)
    _check_mode(mode, x.shape, w.shape)
    _check_work(x, w, bias, mode)
    (top, bottom), (left, right) = shapes.padding(w.shape[-2:], op="correlate", mode=mode)
    # (H, W, 3) -> (1, 3, H, W), as in the lecture; float32 because float64 conv is slow on CPU.
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    # Explicit zero padding (extra row/column bottom/right for even kernels, as PyTorch's
    # padding="same" does) then a 'valid' pass: one code path for both modes, no warning.
    xt = F.pad(xt, (left, right, top, bottom))
    return xt, torch.from_numpy(w.astype(np.float32)), w.shape[0]


def apply_filters(
    image: np.ndarray,
    weight: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    mode: str = "same",
    relu: bool = False,
) -> np.ndarray:
    """Feature maps (C_out, H', W') of an H x W x 3 image, float32: F.conv2d's numbers.

    Correlation (no flip), like nn.Conv2d; 'same' pads zeros as PyTorch's padding="same"
    (equal to scipy correlate2d 'same', even kernels included), 'valid' pads nothing.
    """
    import torch
    import torch.nn.functional as F

    w = as_weight(weight)
    b = as_bias(bias, w.shape[0])
    xt, wt, c_out = _torch_inputs(image, w, mode, b)
    bt = torch.from_numpy(b.astype(np.float32))
    with torch.inference_mode():
        y = F.conv2d(xt, wt, bt)[0]  # (C_out, H', W')
        if relu:
            y = torch.relu(y)
    return y.numpy()


def channel_contributions(
    image: np.ndarray, weight: np.ndarray, *, mode: str = "same"
) -> np.ndarray:
    """(C_out, 3, H', W') float32: part [m, n] = correlate(image[..., n], weight[m, n]).

    Summing over axis 1 and adding the bias gives apply_filters's maps before the ReLU.
    """
    import torch
    import torch.nn.functional as F

    xt, wt, _ = _torch_inputs(image, weight, mode)
    with torch.inference_mode():
        # One 1-in, C_out-out conv per input channel: 3 calls. On 2 CPU threads (512x512,
        # benchmarks/colour.py) this beats one grouped conv (groups=3) 1.4-1.6x and 3 C_out
        # single-channel convs 3-6x.
        parts = [F.conv2d(xt[:, n : n + 1], wt[:, n : n + 1].contiguous()) for n in range(3)]
        out = torch.stack([p[0] for p in parts], dim=1)  # (C_out, 3, H', W')
    return out.numpy()
