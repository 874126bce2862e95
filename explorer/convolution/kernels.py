"""Named convolution kernels with slider-ready parameters, plus kernel checks and helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from explorer.convolution.operations import SOBEL_X, SOBEL_Y
from explorer.convolution.specs import as_finite_2d

MAX_SIZE = 31  # largest kernel side the page offers
# Largest |entry| a kernel may have. The fast engines and PyTorch compute in float32, which
# overflows to inf near 3.4e38; with entries up to 1e6, 31x31 taps and inputs up to 1e6 the
# outputs stay below 1e15, where float32 is still finite.
MAX_ABS = 1e6


@dataclass(frozen=True)
class Param:
    """One keyword of a kernel builder, with what a slider needs.

    kind: "int", "float", or "size" (an int, or a (height, width) pair of ints).
    """

    name: str
    label: str
    kind: str
    default: int | float
    min: int | float
    max: int | float
    step: int | float
    help: str = ""


@dataclass(frozen=True)
class KernelSpec:
    label: str
    builder: Callable[..., np.ndarray]  # called by make_kernel with every param, checked
    params: tuple[Param, ...]
    description: str


def _size_param(default: int) -> Param:
    return Param(
        name="size",
        label="Size (rows, cols)",
        kind="size",
        default=default,
        min=1,
        max=MAX_SIZE,
        step=1,
        help="One number for a square kernel, or a (height, width) pair.",
    )


def _centred_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x (right) and y (up) coordinates of each tap, measured from the kernel's centre."""
    h, w = shape
    rows = np.arange(h) - (h - 1) / 2
    cols = np.arange(w) - (w - 1) / 2
    x, y_down = np.meshgrid(cols, rows)
    return x, -y_down


# ---------------------------------------------------------------------------
# Builders; shapes arrive as (h, w) pairs, everything else already range-checked
# ---------------------------------------------------------------------------


def _identity(size: tuple[int, int]) -> np.ndarray:
    k = np.zeros(size)
    # (K-1)//2 is where filter2d 'same' anchors even kernels too, so the output equals the input.
    k[(size[0] - 1) // 2, (size[1] - 1) // 2] = 1.0
    return k


def _box(size: tuple[int, int]) -> np.ndarray:
    return np.full(size, 1.0 / (size[0] * size[1]))


def _gaussian(size: tuple[int, int], sigma: float) -> np.ndarray:
    x, y = _centred_grid(size)
    g = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return g / g.sum()


def _log(size: tuple[int, int], sigma: float) -> np.ndarray:
    # ∇²G = -(1/(π σ⁴)) (1 - r²/(2σ²)) exp(-r²/(2σ²)): negative centre like laplacian_4.
    x, y = _centred_grid(size)
    r2 = (x**2 + y**2) / (2 * sigma**2)
    k = -(1 - r2) * np.exp(-r2) / (np.pi * sigma**4)
    return k - k.mean()  # the truncated kernel doesn't sum to 0 exactly; force it


def _motion_blur(length: int, angle: float) -> np.ndarray:
    # A line of `length` pixels through the centre at `angle` degrees anticlockwise from
    # horizontal, drawn by rounding closely spaced points along it; sums to 1.
    k = np.zeros((length, length))
    centre = (length - 1) / 2
    t = np.linspace(-centre, centre, 4 * length)
    theta = np.deg2rad(angle)
    rows = np.clip(np.round(centre - t * np.sin(theta)).astype(int), 0, length - 1)
    cols = np.clip(np.round(centre + t * np.cos(theta)).astype(int), 0, length - 1)
    k[rows, cols] = 1.0
    return k / k.sum()


def _gabor(
    size: tuple[int, int],
    sigma: float,
    theta: float,
    wavelength: float,
    phase: float,
    gamma: float,
) -> np.ndarray:
    # g = exp(-(x'² + γ² y'²)/(2σ²)) cos(2π x'/λ + ψ), x' along direction theta.
    x, y = _centred_grid(size)
    t = np.deg2rad(theta)
    xr = x * np.cos(t) + y * np.sin(t)
    yr = -x * np.sin(t) + y * np.cos(t)
    envelope = np.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2))
    return envelope * np.cos(2 * np.pi * xr / wavelength + np.deg2rad(phase))


def _random(size: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size)


def _fixed(values: list[list[float]] | np.ndarray) -> Callable[[], np.ndarray]:
    array = np.array(values, dtype=np.float64)
    return lambda: array.copy()


def _sigma(default: float, low: float, high: float, step: float, help: str) -> Param:
    return Param(
        name="sigma",
        label="Sigma σ",
        kind="float",
        default=default,
        min=low,
        max=high,
        step=step,
        help=help,
    )


def _degrees(name: str, label: str, default: float, low: float, help: str) -> Param:
    return Param(
        name=name,
        label=label,
        kind="float",
        default=default,
        min=low,
        max=180.0,
        step=1.0,
        help=help,
    )


KERNELS: dict[str, KernelSpec] = {
    "identity": KernelSpec(
        "Identity",
        _identity,
        (_size_param(3),),
        "A single 1: the output is the input (in 'same' mode).",
    ),
    "box": KernelSpec(
        "Box (mean)",
        _box,
        (_size_param(3),),
        "Every weight equal, summing to 1: each pixel becomes the mean of its neighbourhood.",
    ),
    "gaussian": KernelSpec(
        "Gaussian blur",
        _gaussian,
        (_size_param(5), _sigma(1.0, 0.1, 10.0, 0.1, "Spread of the Gaussian in pixels.")),
        "Weights fall off like a bell curve, summing to 1; choose K > 2σ + 1 so it isn't cut off.",
    ),
    "sobel_x": KernelSpec(
        "Sobel x (Gx)",
        _fixed(SOBEL_X),
        (),
        "Horizontal change with vertical smoothing: finds vertical edges.",
    ),
    "sobel_y": KernelSpec(
        "Sobel y (Gy)",
        _fixed(SOBEL_Y),
        (),
        "Vertical change with horizontal smoothing: finds horizontal edges.",
    ),
    "prewitt_x": KernelSpec(
        "Prewitt x",
        _fixed([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
        (),
        "Like Sobel x without the extra weight on the middle row.",
    ),
    "prewitt_y": KernelSpec(
        "Prewitt y",
        _fixed([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
        (),
        "Like Sobel y without the extra weight on the middle column.",
    ),
    "scharr_x": KernelSpec(
        "Scharr x",
        _fixed([[3, 0, -3], [10, 0, -10], [3, 0, -3]]),
        (),
        "Sobel x with weights tuned for more accurate edge directions.",
    ),
    "scharr_y": KernelSpec(
        "Scharr y",
        _fixed([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]),
        (),
        "Sobel y with weights tuned for more accurate edge directions.",
    ),
    "laplacian_4": KernelSpec(
        "Laplacian (4-neighbour)",
        _fixed([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        (),
        "Second derivative: the 4 neighbours minus 4x the centre; zero on flat areas and ramps.",
    ),
    "laplacian_8": KernelSpec(
        "Laplacian (8-neighbour)",
        _fixed([[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
        (),
        "Second derivative using all 8 neighbours, so diagonal changes count too.",
    ),
    "log": KernelSpec(
        "Laplacian of Gaussian",
        _log,
        (_size_param(9), _sigma(1.4, 0.1, 10.0, 0.1, "Spread of the Gaussian in pixels.")),
        "Blur with a Gaussian, then take the Laplacian; sums to 0. Finds blobs and edges.",
    ),
    "sharpen": KernelSpec(
        "Sharpen",
        _fixed([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        (),
        "The image plus its negative Laplacian: boosts edges, keeps brightness (sums to 1).",
    ),
    "emboss": KernelSpec(
        "Emboss",
        _fixed([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
        (),
        "Diagonal difference plus the image: looks like light from the top-left.",
    ),
    "motion_blur": KernelSpec(
        "Motion blur",
        _motion_blur,
        (
            Param(
                name="length",
                label="Length",
                kind="int",
                default=9,
                min=1,
                max=MAX_SIZE,
                step=1,
                help="Length of the blur streak in pixels.",
            ),
            _degrees(
                "angle",
                "Angle (degrees)",
                0.0,
                0.0,
                "Direction of motion, anticlockwise from horizontal.",
            ),
        ),
        "The mean along a line: what a camera moving during the exposure records.",
    ),
    "gabor": KernelSpec(
        "Gabor",
        _gabor,
        (
            _size_param(21),
            _sigma(4.0, 0.5, 15.0, 0.5, "Size of the Gaussian envelope in pixels."),
            _degrees(
                "theta",
                "Orientation θ (degrees)",
                0.0,
                0.0,
                "Direction across the stripes, anticlockwise from horizontal.",
            ),
            Param(
                name="wavelength",
                label="Wavelength λ (pixels)",
                kind="float",
                default=10.0,
                min=2.0,
                max=40.0,
                step=0.5,
                help="Distance between stripes.",
            ),
            _degrees(
                "phase",
                "Phase ψ (degrees)",
                0.0,
                -180.0,
                "0: symmetric (bar detector); 90: antisymmetric (edge detector).",
            ),
            Param(
                name="gamma",
                label="Aspect ratio γ",
                kind="float",
                default=0.5,
                min=0.1,
                max=2.0,
                step=0.05,
                help="Ellipticity of the envelope; smaller is longer stripes.",
            ),
        ),
        "Stripes under a Gaussian envelope: responds to one orientation and stripe width, "
        "like early CNN filters and cells in the visual cortex.",
    ),
    "random": KernelSpec(
        "Random",
        _random,
        (
            _size_param(3),
            Param(
                name="seed",
                label="Seed",
                kind="int",
                default=0,
                min=0,
                max=9999,
                step=1,
                help="Same seed, same kernel.",
            ),
        ),
        "Uniform random weights in [-1, 1], like an untrained CNN filter.",
    ),
}


# ---------------------------------------------------------------------------
# Public helpers
# ---------------------------------------------------------------------------


def _check_value(spec: Param, value: object) -> int | float | tuple[int, int]:
    def number(v: object, integer: bool) -> int | float:
        ok = isinstance(v, int | np.integer) if integer else isinstance(v, int | float | np.number)
        if isinstance(v, bool) or not ok or not np.isfinite(v):
            kind = "a whole number" if integer else "a finite number"
            raise ValueError(f"{spec.label} must be {kind}; got {v!r}.")
        if not spec.min <= v <= spec.max:
            raise ValueError(f"{spec.label} must be between {spec.min} and {spec.max}; got {v}.")
        return int(v) if integer else float(v)

    if spec.kind == "size":
        if isinstance(value, tuple | list):
            if len(value) != 2:
                raise ValueError(
                    f"{spec.label} must be one number or a (height, width) pair; got {value!r}."
                )
            return number(value[0], True), number(value[1], True)
        n = number(value, True)
        return n, n
    return number(value, spec.kind == "int")


def make_kernel(name: str, **params: object) -> np.ndarray:
    """Build a registry kernel as float64; missing parameters take their defaults."""
    if name not in KERNELS:
        raise ValueError(f"Unknown kernel {name!r}; choose one of {', '.join(KERNELS)}.")
    spec = KERNELS[name]
    known = {p.name: p for p in spec.params}
    unknown = set(params) - set(known)
    if unknown:
        accepted = ", ".join(known) or "no parameters"
        raise ValueError(
            f"Kernel {name!r} does not take {', '.join(sorted(unknown))}; it accepts {accepted}."
        )
    values = {n: _check_value(p, params.get(n, p.default)) for n, p in known.items()}
    return np.asarray(spec.builder(**values), dtype=np.float64)


def validate_kernel(kernel: object) -> np.ndarray:
    """A user-typed kernel as float64, or ValueError (empty, not 2-D, NaN/inf, not numbers,
    an entry larger than MAX_ABS in magnitude)."""
    k = as_finite_2d(kernel, "kernel")
    _check_magnitude(k, "kernel")
    return k


def _check_magnitude(k: np.ndarray, what: str) -> None:
    if k.size and np.abs(k).max() > MAX_ABS:
        row, col = np.unravel_index(int(np.argmax(np.abs(k))), k.shape)
        raise ValueError(
            f"The {what}'s entries must lie between -{MAX_ABS:g} and {MAX_ABS:g}, but entry "
            f"(row {row}, column {col}) is {k[row, col]:.3g}. The fast engines compute in "
            "float32, which overflows to infinity near 3.4e38: use smaller numbers (scaling "
            "a kernel only scales its output)."
        )


def flip(kernel: object) -> np.ndarray:
    """The kernel rotated 180 degrees (flipped in both axes): what convolution applies."""
    return validate_kernel(kernel)[::-1, ::-1].copy()


def normalise(kernel: object) -> np.ndarray:
    """Scale the kernel so its entries sum to 1; refuses kernels that sum to (about) 0."""
    k = validate_kernel(kernel)
    total = k.sum()
    if abs(total) <= 1e-9 * np.abs(k).sum() or not np.any(k):
        raise ValueError(
            "This kernel's entries add up to 0 (like an edge detector), so it can't be scaled "
            "to sum to 1."
        )
    normalised = k / total
    if np.abs(normalised).max() > MAX_ABS:
        raise ValueError(
            f"This kernel's entries add up to only {total:.3g}, so dividing by that sum would "
            f"make entries as large as {np.abs(normalised).max():.3g}; the limit is {MAX_ABS:g}."
        )
    return normalised


def kernel_warnings(kernel: object) -> list[str]:
    """Things a student should know before using this kernel (empty list if none)."""
    k = validate_kernel(kernel)
    if not np.any(k):
        return ["Every entry is 0, so the output will be all zero."]
    return []


def describe_kernel(kernel: object) -> str:
    """One or two sentences about a kernel's shape and what its sum means for the output."""
    k = validate_kernel(kernel)
    h, w = k.shape
    text = f"{h}x{w} kernel"
    if h % 2 == 0 or w % 2 == 0:
        text += " (even size: no centre pixel, see the note on even kernels)"
    if not np.any(k):
        return text + ". Every entry is 0, so the output will be all zero."
    total = float(k.sum())
    scale = np.abs(k).sum()
    if abs(total) <= 1e-9 * scale:
        return text + ", sum 0: flat regions give 0, so it responds only to changes."
    if abs(total - 1) <= 1e-9 * max(1.0, scale):
        return text + ", sum 1: flat regions keep their brightness."
    return text + f", sum {total:.4g}: flat regions are multiplied by {total:.4g}."
