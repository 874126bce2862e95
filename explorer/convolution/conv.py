"""2-D correlation/convolution, pooling and step-through maths for the Convolution page."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

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

EVEN_KERNEL_NOTE = (
    "An even-sized kernel has no centre pixel. In 'same' mode SciPy (and this page) puts kernel "
    "entry (K-1)//2 (that is K/2 - 1, the upper-left of the middle entries) over the output pixel, "
    "for both correlation and convolution. So for an even K the window reaches K/2 - 1 pixels "
    "up/left and K/2 pixels down/right when correlating, and K/2 up/left and K/2 - 1 down/right "
    "when convolving (the kernel is flipped). The result is shifted by half a pixel compared with "
    "an odd kernel; an identity kernel with its 1 at (K-1)//2 still returns the image unchanged."
)

# ---------------------------------------------------------------------------
# Registries (keys are what the page's select boxes show)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    label: str
    explanation: str


@dataclass(frozen=True)
class ModeSpec:
    label: str
    formula: str  # output size per axis; N image, K kernel, d dilation, s stride
    explanation: str


@dataclass(frozen=True)
class BoundarySpec:
    label: str
    torch_padding_mode: str | None  # nn.Conv2d(padding_mode=...) equivalent, None if none
    numpy_mode: str  # np.pad(mode=...)
    explanation: str


@dataclass(frozen=True)
class EngineSpec:
    label: str
    explanation: str


@dataclass(frozen=True)
class PoolSpec:
    label: str
    torch_function: str
    explanation: str


OPS: dict[str, OpSpec] = {
    "correlate": OpSpec(
        "Cross-correlation",
        "Slide the kernel as it is and sum the element-wise products. "
        "This is what torch.nn.Conv2d computes.",
    ),
    "convolve": OpSpec(
        "Convolution",
        "Flip the kernel in both axes (rotate 180 degrees), then slide and sum as in "
        "cross-correlation. Convolving an impulse gives back the kernel itself.",
    ),
}

MODES: dict[str, ModeSpec] = {
    "valid": ModeSpec(
        "Valid (no padding)",
        "⌊(N - d(K-1) - 1)/s⌋ + 1",
        "Only positions where the whole kernel fits inside the image: the output shrinks.",
    ),
    "same": ModeSpec(
        "Same",
        "⌊(N - 1)/s⌋ + 1",
        "Pad so that the output has the image's size (before stride).",
    ),
    "full": ModeSpec(
        "Full",
        "⌊(N + d(K-1) - 1)/s⌋ + 1",
        "Every position where kernel and image overlap by at least one pixel: the output grows.",
    ),
}

BOUNDARIES: dict[str, BoundarySpec] = {
    "fill": BoundarySpec(
        "Fill with a constant",
        "zeros",
        "constant",
        "Pixels outside the image take the fill value (usually 0). PyTorch's 'zeros' is "
        "fill with 0; other fill values have no nn.Conv2d equivalent.",
    ),
    "wrap": BoundarySpec(
        "Wrap around",
        "circular",
        "wrap",
        "The image repeats like a tile: leaving on the right brings you back on the left. "
        "(PyTorch's 'circular' allows at most the image size as padding; SciPy has no limit.)",
    ),
    "symm": BoundarySpec(
        "Symmetric mirror",
        None,
        "symmetric",
        "Mirror the image including the edge pixel: c b a | a b c | c b a. SciPy's 'symm'.",
    ),
    "reflect": BoundarySpec(
        "Reflect",
        "reflect",
        "reflect",
        "Mirror the image without repeating the edge pixel: c b | a b c | b a. "
        "Padding must be smaller than the image (PyTorch's rule).",
    ),
    "replicate": BoundarySpec(
        "Replicate edge",
        "replicate",
        "edge",
        "Repeat the edge pixel outwards: a a | a b c | c c.",
    ),
}

ENGINES: dict[str, EngineSpec] = {
    "auto": EngineSpec("Auto", "Pick the fastest engine for these sizes (see choose_engine)."),
    "scipy": EngineSpec(
        "SciPy direct",
        "scipy.signal.correlate2d: the textbook sum, one kernel position at a time. "
        "The reference; slow for big kernels.",
    ),
    "fft": EngineSpec(
        "FFT",
        "Multiply Fourier transforms (convolution theorem), in float32. Cost hardly depends "
        "on kernel size.",
    ),
    "torch": EngineSpec(
        "PyTorch conv2d",
        "torch.nn.functional.conv2d in float32, as in a CNN layer. Very fast for small kernels.",
    ),
}

POOLS: dict[str, PoolSpec] = {
    "max": PoolSpec("Max pooling", "max_pool2d", "Keep the largest value in each window."),
    "avg": PoolSpec("Average pooling", "avg_pool2d", "Keep the mean of each window."),
}

@dataclass(frozen=True)
class FilterSettings:
    """How the kernel slides over the image: filter2d's keyword arguments, minus the engine."""

    op: str = "correlate"
    mode: str = "same"
    boundary: str = "fill"
    fillvalue: float = 0.0
    stride: int = 1
    dilation: int = 1

    def kwargs(self, **changes: object) -> dict:
        """filter2d(image, kernel, **settings.kwargs()); `changes` override fields."""
        return {**asdict(self), **changes}


# Auto engine: below this many multiply-adds SciPy direct is fast enough and exact.
SMALL_WORK = 200_000
# Auto engine: PyTorch for kernels with at most this many taps (5x5), FFT above.
TORCH_MAX_TAPS = 25

# Largest padded input (and so output) filter2d makes: a 1024x1024 upload in 'full' mode with
# a 31x31 kernel at dilation 8 pads to 1504x1504, 2.3 megapixels.
MAX_PIXELS = 4_000_000
# float32 overflows to inf above about 3.4e38; refuse work whose outputs could come near it.
FLOAT32_LIMIT = 1e37

# Rough speed of each engine on the 2-core development machine (operations per second, see
# engine_work: multiply-adds for SciPy and PyTorch, n log2 n per transform for the FFT). Only
# used to decide what "Time the three engines" may run, so they err on the slow side.
ENGINE_RATES = {"scipy": 6e8, "fft": 2e9, "torch": 2e9}
ENGINE_OVERHEAD_S = {"scipy": 1e-4, "fft": 2e-4, "torch": 5e-4}
# One timed pass of an engine may cost at most this (estimated); beyond, it is skipped.
ENGINE_BUDGET_S = 0.5
# All timed passes of one engine together aim at most at this: big cases get fewer repeats.
TIMING_BUDGET_S = 1.0


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def as_finite(array: object, what: str = "array", *, ndim: int | None = None) -> np.ndarray:
    """`array` as float64 (of `ndim` dimensions when given), or ValueError saying what is wrong."""
    try:
        a = np.asarray(array)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"The {what} must be a rectangular grid of numbers.") from exc
    if np.iscomplexobj(a):
        raise ValueError(f"The {what} must contain real numbers, not complex ones.")
    try:
        a = a.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {what} must contain only numbers.") from exc
    if ndim is not None and a.ndim != ndim:
        layout = " (rows x columns)" if ndim == 2 else ""
        raise ValueError(
            f"The {what} must be {ndim}-D{layout}; got {a.ndim} dimension(s), shape {a.shape}."
        )
    if a.size == 0:
        raise ValueError(f"The {what} is empty (shape {a.shape}); it needs at least one value.")
    if not np.isfinite(a).all():
        raise ValueError(f"The {what} contains NaN or infinity; every entry must be a finite number.")
    return a


def as_finite_2d(array: object, what: str = "image") -> np.ndarray:
    """Return `array` as a float64 2-D array, or raise ValueError saying what is wrong."""
    return as_finite(array, what, ndim=2)


def _check_choice(value: str, registry: dict, what: str) -> None:
    if value not in registry:
        raise ValueError(
            f"Unknown {what} {value!r}; choose one of {', '.join(map(repr, registry))}."
        )


def _check_int(value: object, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"The {what} must be a whole number; got {value!r}.")
    if value < minimum:
        raise ValueError(f"The {what} must be at least {minimum}; got {value}.")
    return int(value)


def _pair(value: object, what: str) -> tuple[int, int]:
    """An int or an (rows, cols) pair of ints >= 1."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"The {what} must be one number or a (rows, cols) pair; got {value!r}."
            )
        return _check_int(value[0], what), _check_int(value[1], what)
    n = _check_int(value, what)
    return n, n


def _check_shape(shape: object, what: str) -> tuple[int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"The {what} shape must be (rows, cols); got {shape!r}.")
    return _check_int(shape[0], f"{what} height"), _check_int(shape[1], f"{what} width")


def _check_settings(op: str, mode: str, boundary: str, stride: int, dilation: int) -> None:
    _check_choice(op, OPS, "operation")
    _check_choice(mode, MODES, "mode")
    _check_choice(boundary, BOUNDARIES, "boundary")
    _check_int(stride, "stride")
    _check_int(dilation, "dilation")


def _check_pixels(rows: int, cols: int, what: str) -> None:
    if rows * cols > MAX_PIXELS:
        raise ValueError(
            f"These settings would make a {rows}x{cols} {what} ({rows * cols / 1e6:.1f} "
            f"megapixels); the limit is {MAX_PIXELS / 1e6:g} megapixels. Use a smaller kernel "
            "or dilation, mode 'same' or 'valid', or a smaller image."
        )


def check_float32_range(bound: float, what: str = "output") -> None:
    """ValueError when values up to `bound` could overflow float32 (beyond FLOAT32_LIMIT)."""
    if not bound <= FLOAT32_LIMIT:  # also catches NaN and inf
        raise ValueError(
            f"The {what} could reach about {bound:.3g} in magnitude, beyond what float32 (the "
            f"fast engines' and PyTorch's number type, largest about 3.4e38) holds; the limit "
            f"is {FLOAT32_LIMIT:g}. Use smaller kernel values, weights or fill value."
        )


# ---------------------------------------------------------------------------
# Shapes and padding
# ---------------------------------------------------------------------------


def dilated_size(k: int, dilation: int) -> int:
    """Size d(K-1)+1 of a K-tap kernel with its taps spread d apart."""
    return dilation * (k - 1) + 1


def dilate_kernel(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """Spread the kernel's taps `dilation` apart, zeros in between."""
    k = np.asarray(kernel, dtype=np.float64)
    d = _check_int(dilation, "dilation")
    if d == 1:
        return k
    out = np.zeros((dilated_size(k.shape[0], d), dilated_size(k.shape[1], d)))
    out[::d, ::d] = k
    return out


def padding(
    kernel_shape: tuple[int, int], *, op: str = "correlate", mode: str = "valid", dilation: int = 1
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) padding that turns `mode` into a 'valid' computation.

    With Ke = d(K-1)+1: full pads Ke-1 on each side; same pads Ke-1 in total, split as
    ((Ke-1)//2, Ke//2) for correlation and (Ke//2, (Ke-1)//2) for convolution, which is
    where SciPy puts an even kernel (see EVEN_KERNEL_NOTE).
    """
    _check_choice(op, OPS, "operation")
    _check_choice(mode, MODES, "mode")
    kh, kw = _check_shape(kernel_shape, "kernel")
    d = _check_int(dilation, "dilation")

    def one_axis(k: int) -> tuple[int, int]:
        ke = dilated_size(k, d)
        if mode == "valid":
            return 0, 0
        if mode == "full":
            return ke - 1, ke - 1
        small, big = (ke - 1) // 2, ke // 2
        return (small, big) if op == "correlate" else (big, small)

    return one_axis(kh), one_axis(kw)


def _check_fits(image_shape: tuple[int, int], kernel_shape: tuple[int, int], d: int) -> None:
    (n_h, n_w), (k_h, k_w) = image_shape, kernel_shape
    ke_h, ke_w = dilated_size(k_h, d), dilated_size(k_w, d)
    if ke_h > n_h or ke_w > n_w:
        dilated = f" (dilated to {ke_h}x{ke_w})" if d > 1 else ""
        raise ValueError(
            f"In 'valid' mode the kernel must fit inside the image, but the {k_h}x{k_w} kernel"
            f"{dilated} is larger than the {n_h}x{n_w} image. Use 'same' or 'full' mode, "
            "a smaller kernel or dilation, or a larger image."
        )


def output_shape(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str,
    stride: int = 1,
    dilation: int = 1,
) -> tuple[int, int]:
    """Shape of filter2d's output: per axis ⌊(N + pad - d(K-1) - 1)/s⌋ + 1."""
    _check_choice(mode, MODES, "mode")
    n_h, n_w = _check_shape(image_shape, "image")
    k_h, k_w = _check_shape(kernel_shape, "kernel")
    s = _check_int(stride, "stride")
    d = _check_int(dilation, "dilation")
    if mode == "valid":
        _check_fits((n_h, n_w), (k_h, k_w), d)
    pad = padding((k_h, k_w), mode=mode, dilation=d)

    def one_axis(n: int, k: int, p: tuple[int, int]) -> int:
        return (n + sum(p) - dilated_size(k, d)) // s + 1

    return one_axis(n_h, k_h, pad[0]), one_axis(n_w, k_w, pad[1])


def output_shape_text(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str,
    stride: int = 1,
    dilation: int = 1,
) -> tuple[str, str]:
    """The output-size formula with the numbers filled in, one line per axis (rows, columns)."""
    out = output_shape(image_shape, kernel_shape, mode=mode, stride=stride, dilation=dilation)
    lines = []
    for name, n, k, o in zip(("rows", "columns"), image_shape, kernel_shape, out, strict=True):
        reach = dilation * (k - 1)  # d(K-1)
        numbers = {
            "valid": f"⌊({n} - {reach} - 1)/{stride}⌋ + 1",
            "same": f"⌊({n} - 1)/{stride}⌋ + 1",
            "full": f"⌊({n} + {reach} - 1)/{stride}⌋ + 1",
        }[mode]
        lines.append(f"{name}: {MODES[mode].formula} = {numbers} = {o}")
    return lines[0], lines[1]


def _check_fillvalue(fillvalue: object) -> float:
    try:
        value = float(fillvalue)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The fill value must be a number; got {fillvalue!r}.") from exc
    if not np.isfinite(value):
        raise ValueError(f"The fill value must be a finite number; got {fillvalue!r}.")
    return value


def _check_padding(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    mode: str,
    boundary: str,
    dilation: int,
) -> None:
    if mode == "valid":
        _check_fits(image_shape, kernel_shape, dilation)
    if boundary != "reflect":
        return  # np.pad repeats wrap/symmetric/edge as often as needed, as SciPy does
    for axis, (n, p) in enumerate(zip(image_shape, pads, strict=True)):
        if max(p) >= n:
            raise ValueError(
                f"'reflect' padding mirrors the image without repeating the edge pixel, so it "
                f"can add at most {n - 1} pixel(s) along the {('rows', 'columns')[axis]} "
                f"of this image, but {max(p)} are needed. Use 'symm', 'wrap' or 'replicate', "
                "a smaller kernel, or a larger image."
            )


def _pad(
    x: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    boundary: str,
    fillvalue: float,
) -> np.ndarray:
    """np.pad with the boundary's mode; keeps x's dtype; always a new array."""
    numpy_mode = BOUNDARIES[boundary].numpy_mode
    if numpy_mode == "constant":
        return np.pad(x, pads, mode="constant", constant_values=fillvalue)
    return np.pad(x, pads, mode=numpy_mode)


def pad_image(
    image: np.ndarray,
    kernel_shape: tuple[int, int],
    *,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    dilation: int = 1,
) -> tuple[np.ndarray, tuple[tuple[int, int], tuple[int, int]]]:
    """The padded image that a 'valid' pass turns into `mode`, and the padding used."""
    x = as_finite_2d(image, "image")
    _check_choice(boundary, BOUNDARIES, "boundary")
    fill = _check_fillvalue(fillvalue)
    pads = padding(kernel_shape, op=op, mode=mode, dilation=dilation)
    _check_padding(x.shape, tuple(kernel_shape), pads, mode, boundary, dilation)
    _check_pixels(x.shape[0] + sum(pads[0]), x.shape[1] + sum(pads[1]), "padded image")
    return _pad(x, pads, boundary, fill), pads


# ---------------------------------------------------------------------------
# Engines: 'valid' cross-correlation of the padded image with the taps
# ---------------------------------------------------------------------------


def _valid_scipy(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    out = signal.correlate2d(padded, dilate_kernel(taps, dilation), mode="valid")
    return out[::stride, ::stride]


def _valid_fft(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    k = dilate_kernel(taps, dilation)[::-1, ::-1]  # correlation = convolution with flipped taps
    k = k.astype(padded.dtype)
    (h, w), (kh, kw) = padded.shape, k.shape
    # A circular convolution of length >= h only wraps into the first kh-1 outputs, which the
    # 'valid' crop drops, so no zero padding to h+kh-1 is needed.
    shape = (sp_fft.next_fast_len(h, real=True), sp_fft.next_fast_len(w, real=True))
    # Kernel spectrum: real FFT of its kh short rows, then a full-length FFT down the columns;
    # cheaper than rfft2 of a mostly-zero (h, w) array.
    kernel_spectrum = sp_fft.fft(sp_fft.rfft(k, shape[1], axis=1), shape[0], axis=0)
    spectrum = sp_fft.rfft2(padded, shape)
    spectrum *= kernel_spectrum
    out = sp_fft.irfft2(spectrum, shape, overwrite_x=True)
    return out[kh - 1 : h : stride, kw - 1 : w : stride]


def _valid_torch(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(padded)[None, None]
    w = torch.from_numpy(np.ascontiguousarray(taps, dtype=padded.dtype))[None, None]
    with torch.inference_mode():
        out = F.conv2d(x, w, stride=stride, dilation=dilation)
    return out[0, 0].numpy()


_VALID: dict[str, Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]] = {
    "scipy": _valid_scipy,
    "fft": _valid_fft,
    "torch": _valid_torch,
}


def choose_engine(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    dilation: int = 1,
) -> str:
    """The engine 'auto' uses: SciPy for tiny jobs, PyTorch for <= 5x5 kernels, FFT above."""
    work = engine_work(image_shape, kernel_shape, mode=mode, dilation=dilation)
    if work["scipy"] <= SMALL_WORK:
        return "scipy"
    taps = kernel_shape[0] * kernel_shape[1]
    return "torch" if taps <= TORCH_MAX_TAPS else "fft"


def engine_work(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    stride: int = 1,
    dilation: int = 1,
) -> dict[str, float]:
    """Operations one filter2d pass costs per engine (the basis of engine_seconds).

    With the padded input Hp x Wp, the dilated kernel Ke = d(K-1)+1 and the stride s:
    scipy: (Hp-Ke+1)(Wp-Ke+1) * Ke_h*Ke_w multiply-adds (it multiplies the dilation's zeros
    too and computes every position before the stride keeps some); torch: out_h*out_w * K_h*K_w
    (strided, no zeros); fft: 3 transforms of n = Hp*Wp points at n log2 n each.
    """
    (k_h, k_w) = _check_shape(kernel_shape, "kernel")
    out_h, out_w = output_shape(image_shape, kernel_shape, mode=mode, stride=stride,
                                dilation=dilation)
    (top, bottom), (left, right) = padding((k_h, k_w), mode=mode, dilation=dilation)
    h_p, w_p = image_shape[0] + top + bottom, image_shape[1] + left + right
    ke_h, ke_w = dilated_size(k_h, dilation), dilated_size(k_w, dilation)
    n = float(h_p * w_p)
    return {
        "scipy": float(h_p - ke_h + 1) * (w_p - ke_w + 1) * ke_h * ke_w,
        "fft": 3 * n * max(1.0, float(np.log2(n))),
        "torch": float(out_h) * out_w * k_h * k_w,
    }


def engine_seconds(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    stride: int = 1,
    dilation: int = 1,
) -> dict[str, float]:
    """Estimated seconds of one filter2d pass per engine on this kind of machine."""
    work = engine_work(image_shape, kernel_shape, mode=mode, stride=stride, dilation=dilation)
    return {name: ENGINE_OVERHEAD_S[name] + work[name] / ENGINE_RATES[name] for name in work}


# ---------------------------------------------------------------------------
# filter2d
# ---------------------------------------------------------------------------


def filter2d(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
    engine: str = "auto",
) -> np.ndarray:
    """Correlate or convolve a 2-D image with a 2-D kernel; float64 result.

    mode/boundary ('fill', 'wrap', 'symm') match scipy.signal.correlate2d/convolve2d exactly;
    'reflect'/'replicate' match PyTorch's padding modes. The dilated kernel (size d(K-1)+1) is
    used like an ordinary kernel of that size; the stride then keeps every s-th row and column,
    starting with the first. So 'valid' correlation equals F.conv2d(x, w, stride=s, dilation=d).
    engine 'scipy' is exact (float64); 'fft' and 'torch' compute in float32 (relative error
    ~1e-6 of the output's largest value); 'auto' picks by size (see choose_engine).
    """
    x = as_finite_2d(image, "image")
    k = as_finite_2d(kernel, "kernel")
    _check_settings(op, mode, boundary, stride, dilation)
    _check_choice(engine, ENGINES, "engine")
    fill = _check_fillvalue(fillvalue)
    pads = padding(k.shape, op=op, mode=mode, dilation=dilation)
    _check_padding(x.shape, k.shape, pads, mode, boundary, dilation)
    _check_pixels(x.shape[0] + sum(pads[0]), x.shape[1] + sum(pads[1]), "padded image")
    # |output| <= sum|taps| * the largest |input| (image or fill): keep it finite
    check_float32_range(float(np.abs(k).sum()) * max(float(np.abs(x).max()), abs(fill)))
    if engine == "auto":
        engine = choose_engine(x.shape, k.shape, mode=mode, dilation=dilation)
    taps = k[::-1, ::-1] if op == "convolve" else k
    if engine == "scipy":
        return _valid_scipy(_pad(x, pads, boundary, fill), taps, stride, dilation)
    # FFT and PyTorch run in float32: half the memory traffic, and PyTorch's float64 CPU
    # convolution takes a slow path. Subtracting the mean m first makes rounding errors scale
    # with the image's contrast rather than its brightness; a constant m adds m * sum(taps).
    m = float(x.mean())
    padded = _pad(np.subtract(x, m, dtype=np.float32), pads, boundary, fill - m)
    out = _VALID[engine](padded, taps, stride, dilation).astype(np.float64)
    out += m * taps.sum()
    return out


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class EngineResult:
    engine: str
    output: np.ndarray | None  # None when skipped
    milliseconds: float  # median of `repeats` timed runs; NaN when skipped
    max_abs_diff: float  # against the reference engine (SciPy unless skipped); NaN if skipped
    estimated_seconds: float = 0.0  # one pass, from engine_seconds
    repeats: int = 0  # timed passes actually run
    skipped: str = ""  # why it did not run ("" when it ran)
    reference: str = "scipy"  # the engine the difference is measured against


def compare_engines(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    repeats: int = 5,
    budget_seconds: float | None = None,
    **settings: object,
) -> list[EngineResult]:
    """Run filter2d on every concrete engine; time it and compare it with the SciPy result.

    Bounded before anything runs: an engine whose one pass is estimated (engine_seconds) above
    `budget_seconds` (default ENGINE_BUDGET_S) is skipped with the reason, and big cases get fewer repeats (all passes of
    an engine aim at TIMING_BUDGET_S). When SciPy is skipped the first engine that ran is the
    reference for the differences.
    """
    if "engine" in settings:
        raise ValueError("compare_engines runs every engine; don't pass engine=.")
    repeats = _check_int(repeats, "number of repeats")
    budget_seconds = ENGINE_BUDGET_S if budget_seconds is None else budget_seconds
    x = as_finite_2d(image, "image")
    k = as_finite_2d(kernel, "kernel")
    mode, stride, dilation = (settings.get("mode", "valid"), settings.get("stride", 1),
                              settings.get("dilation", 1))
    _check_settings(str(settings.get("op", "correlate")), mode, str(settings.get("boundary", "fill")),
                    stride, dilation)
    estimates = engine_seconds(x.shape, k.shape, mode=mode, stride=stride, dilation=dilation)
    runs: dict[str, tuple[np.ndarray, float, int]] = {}
    for name in _VALID:
        if estimates[name] > budget_seconds:
            continue
        if name == "torch":
            import torch  # noqa: F401 - its first import (seconds) is not the engine's time
        count = max(1, min(repeats, int(TIMING_BUDGET_S / estimates[name])))
        if estimates[name] * (count + 1) <= TIMING_BUDGET_S:
            filter2d(x, k, engine=name, **settings)  # warm-up: caches, thread pools
        times = []
        for _ in range(count):
            start = time.perf_counter()
            output = filter2d(x, k, engine=name, **settings)
            times.append(time.perf_counter() - start)
        runs[name] = (output, 1000 * float(np.median(times)), count)
    reference = next(iter(runs), "")
    results = []
    for name in _VALID:
        if name not in runs:
            why = (f"estimated {estimates[name]:.3g} s for one pass, more than the "
                   f"{budget_seconds:g} s budget")
            results.append(EngineResult(name, None, float("nan"), float("nan"),
                                        estimates[name], 0, why, reference))
            continue
        output, milliseconds, count = runs[name]
        diff = float(np.max(np.abs(output - runs[reference][0])))
        results.append(EngineResult(name, output, milliseconds, diff, estimates[name], count,
                                    "", reference))
    return results


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
    _check_settings(op, mode, boundary, stride, dilation)
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
    _check_pixels(*a.shape, "input")
    _check_choice(kind, POOLS, "pooling kind")
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
    s = _check_int(stride, "stride")
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
