"""The lecture's worked examples and small operations: step-through, pooling, subsampling, Sobel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.convolution.conv import filter2d
from explorer.convolution.shapes import dilate_kernel, output_shape, pad_image
from explorer.convolution.specs import (
    POOLS,
    as_finite_2d,
    check_choice,
    check_int,
    check_pixels,
    check_settings,
)
from explorer.lecture import reference as lecture

# ---------------------------------------------------------------------------
# Lecture examples
# ---------------------------------------------------------------------------

LECTURE_INPUT_5X5 = np.array(lecture.CONV_INPUT_5X5, dtype=np.float64)
LECTURE_KERNEL_3X3 = np.array(lecture.CONV_KERNEL_3X3, dtype=np.float64)
# "valid" correlation of the two above.
LECTURE_OUTPUT_3X3 = np.array(lecture.CONV_VALID_OUTPUT, dtype=np.float64)

LECTURE_POOL_4X4 = np.array(lecture.POOL_INPUT_4X4, dtype=np.float64)
# 2x2 max pooling, stride 2, of the array above.
LECTURE_POOL_OUTPUT_2X2 = np.array(lecture.POOL_MAX_2X2_OUTPUT, dtype=np.float64)

# The lecture's Sobel kernels, meant to be *convolved* (flipped) with the image.
SOBEL_X = np.array(lecture.SOBEL_GX, dtype=np.float64)
SOBEL_Y = np.array(lecture.SOBEL_GY, dtype=np.float64)


# ---------------------------------------------------------------------------
# Step-through
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Step:
    row: int  # output position
    col: int
    padded: np.ndarray  # the whole padded input
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    top_left_padded: tuple[int, int]  # window's top-left in the padded input
    top_left_image: tuple[int, int]  # same in image coordinates (negative = in the padding)
    window: np.ndarray  # padded input under the kernel, shape d(K-1)+1 per axis
    kernel: np.ndarray  # taps applied: flipped for convolution, dilated
    products: np.ndarray  # window * kernel
    total: float  # products.sum() == filter2d(...)[row, col]


def step_through(
    image: np.ndarray,
    kernel: np.ndarray,
    row: int,
    col: int,
    *,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
) -> Step:
    """Everything that goes into output pixel (row, col) of filter2d with these settings."""
    x = as_finite_2d(image, "image")
    k = as_finite_2d(kernel, "kernel")
    check_settings(op, mode, boundary, stride, dilation)
    out_h, out_w = output_shape(x.shape, k.shape, mode=mode, stride=stride, dilation=dilation)
    for name, value, size in (("row", row, out_h), ("column", col, out_w)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"The output {name} must be a whole number; got {value!r}.")
        if not 0 <= value < size:
            raise ValueError(
                f"Output {name} {value} is outside the {out_h}x{out_w} output "
                f"(valid {name}s are 0 to {size - 1})."
            )
    padded, pads = pad_image(
        x, k.shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue, dilation=dilation
    )
    applied = dilate_kernel(k[::-1, ::-1] if op == "convolve" else k, dilation)
    top, left = int(row) * stride, int(col) * stride
    window = padded[top : top + applied.shape[0], left : left + applied.shape[1]]
    products = window * applied
    return Step(
        row=int(row),
        col=int(col),
        padded=padded,
        pads=pads,
        top_left_padded=(top, left),
        top_left_image=(top - pads[0][0], left - pads[1][0]),
        window=window.copy(),
        kernel=applied,
        products=products,
        total=float(products.sum()),
    )


# ---------------------------------------------------------------------------
# Pooling and subsampling
# ---------------------------------------------------------------------------


def _pair(value: object, what: str) -> tuple[int, int]:
    """An int or an (rows, cols) pair of ints >= 1."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"The {what} must be one number or a (rows, cols) pair; got {value!r}."
            )
        return check_int(value[0], what), check_int(value[1], what)
    n = check_int(value, what)
    return n, n


def pool2d(
    x: np.ndarray,
    size: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] | None = None,
    kind: str = "max",
) -> np.ndarray:
    """Max or average pooling without padding (floor mode), like F.max_pool2d / F.avg_pool2d.

    Output per axis: ⌊(N - size)/stride⌋ + 1; the stride defaults to the window size.
    """
    a = as_finite_2d(x, "input")
    check_pixels(*a.shape, "input")
    check_choice(kind, POOLS, "pooling kind")
    kh, kw = _pair(size, "pooling window size")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "pooling stride")
    if kh > a.shape[0] or kw > a.shape[1]:
        raise ValueError(
            f"The {kh}x{kw} pooling window is larger than the {a.shape[0]}x{a.shape[1]} input."
        )
    # Separable: max (or mean) over each row's windows, then over the columns of that;
    # kh + kw operations per output instead of kh * kw.
    reduce = np.max if kind == "max" else np.mean
    rows = reduce(np.lib.stride_tricks.sliding_window_view(a, kw, axis=1)[:, ::sw], axis=-1)
    return reduce(np.lib.stride_tricks.sliding_window_view(rows, kh, axis=0)[::sh], axis=-1)


def subsample(x: np.ndarray, stride: int) -> np.ndarray:
    """Keep every `stride`-th row and column, starting with the first: x[::s, ::s]."""
    a = as_finite_2d(x, "input")
    s = check_int(stride, "stride")
    return a[::s, ::s].copy()


# ---------------------------------------------------------------------------
# Sobel gradient
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Gradient:
    gx: np.ndarray  # response to SOBEL_X
    gy: np.ndarray  # response to SOBEL_Y
    magnitude: np.ndarray  # sqrt(gx² + gy²)
    direction: np.ndarray  # arctan2(gy, gx), radians in (-pi, pi]


def sobel(
    image: np.ndarray,
    *,
    op: str = "convolve",
    mode: str = "valid",
    boundary: str = "fill",
    engine: str = "auto",
) -> Gradient:
    """Sobel gradient with the lecture's kernels.

    Convolving (the lecture's convention) gives gx > 0 where the image goes dark -> light from
    left to right and gy > 0 where it goes dark -> light from top to bottom; correlating with
    the same kernels flips both signs.
    """
    gx = filter2d(image, SOBEL_X, op=op, mode=mode, boundary=boundary, engine=engine)
    gy = filter2d(image, SOBEL_Y, op=op, mode=mode, boundary=boundary, engine=engine)
    return Gradient(gx, gy, np.hypot(gx, gy), np.arctan2(gy, gx))
