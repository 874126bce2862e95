"""What filter2d and pool2d accept: the registries, FilterSettings, the limits and the input checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------

# Largest padded input (and so output) filter2d makes: a 1024x1024 upload in 'full' mode with
# a 31x31 kernel at dilation 8 pads to 1504x1504, 2.3 megapixels.
MAX_PIXELS = 4_000_000
# float32 overflows to inf above about 3.4e38; refuse work whose outputs could come near it.
FLOAT32_LIMIT = 1e37


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


def check_choice(value: str, registry: dict, what: str) -> None:
    """ValueError unless `value` is one of the registry's keys."""
    if value not in registry:
        raise ValueError(
            f"Unknown {what} {value!r}; choose one of {', '.join(map(repr, registry))}."
        )


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """`value` as an int, or ValueError unless it is a whole number >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"The {what} must be a whole number; got {value!r}.")
    if value < minimum:
        raise ValueError(f"The {what} must be at least {minimum}; got {value}.")
    return int(value)


def check_shape(shape: object, what: str) -> tuple[int, int]:
    """A (rows, cols) shape of whole numbers >= 1, or ValueError."""
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"The {what} shape must be (rows, cols); got {shape!r}.")
    return check_int(shape[0], f"{what} height"), check_int(shape[1], f"{what} width")


def check_settings(op: str, mode: str, boundary: str, stride: int, dilation: int) -> None:
    """ValueError unless op, mode and boundary are known and stride, dilation whole numbers >= 1."""
    check_choice(op, OPS, "operation")
    check_choice(mode, MODES, "mode")
    check_choice(boundary, BOUNDARIES, "boundary")
    check_int(stride, "stride")
    check_int(dilation, "dilation")


def check_pixels(rows: int, cols: int, what: str) -> None:
    """ValueError when a rows x cols array would exceed MAX_PIXELS."""
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


def check_fillvalue(fillvalue: object) -> float:
    """The fill value as a float, or ValueError unless it is a finite number."""
    try:
        value = float(fillvalue)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The fill value must be a number; got {fillvalue!r}.") from exc
    if not np.isfinite(value):
        raise ValueError(f"The fill value must be a finite number; got {fillvalue!r}.")
    return value
