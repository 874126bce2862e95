"""Image sources for every page: built-in photos and synthetic test patterns, and conversions.

Uploaded files are decoded by explorer.images.files.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

MODES = ("L", "RGB")
"""Output modes: "L" greyscale H x W, "RGB" colour H x W x 3; both float32 in [0, 1]."""


# ---------------------------------------------------------------- conversions


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (Pillow's "L" weights) of an H x W x 3 float image."""
    return (rgb[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def to_rgb(grey: np.ndarray) -> np.ndarray:
    """Repeat an H x W image into H x W x 3."""
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)


def as_mode(pixels: np.ndarray, mode: str) -> np.ndarray:
    """Convert a float image (H x W or H x W x 3) to the requested mode."""
    check_mode(mode)
    if mode == "L":
        return pixels if pixels.ndim == 2 else to_grey(pixels)
    return pixels if pixels.ndim == 3 else to_rgb(pixels)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] to uint8 for display and PNG export."""
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def as_float(array: np.ndarray) -> np.ndarray:
    """skimage sample (uint8 / bool / float) -> float32 in [0, 1]."""
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    # float64: (hi - lo) of float32 values near +-3.4e38 overflows float32
    array = array.astype(np.float64)
    lo, hi = float(array.min()), float(array.max())
    if not hi > lo:
        return np.zeros(array.shape, np.float32)
    return ((array - lo) / (hi - lo)).astype(np.float32)


# ---------------------------------------------------------------- built-in images


@dataclass(frozen=True)
class BuiltinImage:
    """A photo shipped with scikit-image (no download)."""

    label: str
    loader: str  # name of the function in skimage.data
    colour: bool
    description: str


BUILTIN_IMAGES: dict[str, BuiltinImage] = {
    "cameraman": BuiltinImage("Cameraman", "camera", False, "512x512 greyscale, the lecture's image"),
    "astronaut": BuiltinImage("Astronaut", "astronaut", True, "512x512 colour portrait"),
    "coffee": BuiltinImage("Coffee", "coffee", True, "400x600 colour, a cup on a saucer"),
    "chelsea": BuiltinImage("Chelsea the cat", "chelsea", True, "300x451 colour cat"),
    "rocket": BuiltinImage("Rocket", "rocket", True, "427x640 colour launch pad"),
    "coins": BuiltinImage("Coins", "coins", False, "303x384 greyscale coins"),
    "moon": BuiltinImage("Moon", "moon", False, "512x512 greyscale lunar surface"),
    "text": BuiltinImage("Text", "text", False, "172x448 greyscale printed text"),
    "brick": BuiltinImage("Brick", "brick", False, "512x512 greyscale brick texture"),
    "grass": BuiltinImage("Grass", "grass", False, "512x512 greyscale grass texture"),
    "gravel": BuiltinImage("Gravel", "gravel", False, "512x512 greyscale gravel texture"),
    "colour wheel": BuiltinImage("Colour wheel", "colorwheel", True, "370x371 colour wheel"),
    "immunohistochemistry": BuiltinImage(
        "Stained tissue", "immunohistochemistry", True, "512x512 colour microscopy"
    ),
}


def builtin_image(name: str, mode: str = "RGB") -> np.ndarray:
    """A built-in photo as float32 in [0, 1]: H x W for mode "L", H x W x 3 for "RGB"."""
    import skimage.data

    if name not in BUILTIN_IMAGES:
        raise ValueError(f"Unknown built-in image {name!r}; choose one of {list(BUILTIN_IMAGES)}")
    check_mode(mode)
    pixels = as_float(getattr(skimage.data, BUILTIN_IMAGES[name].loader)())
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    return as_mode(pixels, mode)


# ---------------------------------------------------------------- synthetic patterns


def _impulse(size: int) -> np.ndarray:
    image = np.zeros((size, size), np.float32)
    image[size // 2, size // 2] = 1.0
    return image


def _step_vertical(size: int) -> np.ndarray:
    # dark left half, bright right half: a vertical edge (a horizontal change)
    image = np.zeros((size, size), np.float32)
    image[:, size // 2 :] = 1.0
    return image


def _step_horizontal(size: int) -> np.ndarray:
    return _step_vertical(size).T.copy()


def _checkerboard(size: int) -> np.ndarray:
    square = max(1, size // 8)
    rows, cols = np.indices((size, size)) // square
    return ((rows + cols) % 2).astype(np.float32)


def _bars(size: int) -> np.ndarray:
    period = max(2, size // 8)
    cols = np.arange(size) % period < period // 2
    return np.tile(cols.astype(np.float32), (size, 1))


def _disk(size: int) -> np.ndarray:
    rows, cols = np.indices((size, size)) - (size - 1) / 2
    return (rows**2 + cols**2 <= (0.3 * size) ** 2).astype(np.float32)


def _gradient(size: int) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, size, dtype=np.float32), (size, 1))


def _noise(size: int) -> np.ndarray:
    return np.random.default_rng(0).random((size, size), dtype=np.float32)


def _colour_chart(size: int) -> np.ndarray:
    # 3 x 3 patches: red, green, blue / yellow, cyan, magenta / black, grey, white
    colours = np.array(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 0, 0], [.5, .5, .5], [1, 1, 1]],
        dtype=np.float32,
    ).reshape(3, 3, 3)
    index = np.minimum(np.arange(size) * 3 // size, 2)
    return colours[index[:, None], index[None, :]]


def _colour_wheel(size: int) -> np.ndarray:
    from skimage.color import hsv2rgb

    rows, cols = np.indices((size, size)) - (size - 1) / 2
    radius = np.hypot(rows, cols) / (size / 2)
    hue = (np.arctan2(rows, cols) / (2 * np.pi)) % 1.0
    hsv = np.stack([hue, np.clip(radius, 0, 1), (radius <= 1).astype(float)], axis=-1)
    return hsv2rgb(hsv).astype(np.float32)


def _lecture_5x5(size: int) -> np.ndarray:
    from explorer.lecture.reference import CONV_INPUT_5X5

    return np.asarray(CONV_INPUT_5X5, dtype=np.float32)


def _lecture_4x4(size: int) -> np.ndarray:
    from explorer.lecture.reference import POOL_INPUT_4X4

    return np.asarray(POOL_INPUT_4X4, dtype=np.float32)


@dataclass(frozen=True)
class Pattern:
    """A synthetic test image; `fixed_size` patterns ignore the size argument."""

    label: str
    builder: Callable[[int], np.ndarray]
    description: str
    colour: bool = False
    fixed_size: bool = False
    raw_values: bool = False  # integer values of a lecture example, not scaled to [0, 1]


PATTERNS: dict[str, Pattern] = {
    "impulse": Pattern("Impulse", _impulse, "one bright pixel in the middle: its output is the kernel"),
    "step edge (vertical)": Pattern("Step edge, vertical", _step_vertical, "dark left, bright right"),
    "step edge (horizontal)": Pattern("Step edge, horizontal", _step_horizontal, "dark top, bright bottom"),
    "checkerboard": Pattern("Checkerboard", _checkerboard, "8 x 8 black and white squares"),
    "bars": Pattern("Bars", _bars, "vertical stripes, 8 periods across"),
    "disk": Pattern("Disk", _disk, "a bright disk on black"),
    "gradient": Pattern("Gradient", _gradient, "a ramp from black (left) to white (right)"),
    "noise": Pattern("Noise", _noise, "uniform random noise (fixed seed)"),
    "colour chart": Pattern("Colour chart", _colour_chart, "red, green, blue, yellow, cyan, magenta, greys", colour=True),
    "colour wheel": Pattern("Colour wheel", _colour_wheel, "every hue around, saturation outwards", colour=True),
    "lecture 5x5": Pattern(
        "Lecture 5x5 example", _lecture_5x5, "the 5x5 numbers of the lecture's 'valid' example",
        fixed_size=True, raw_values=True,
    ),
    "lecture 4x4 (pooling)": Pattern(
        "Lecture 4x4 pooling example", _lecture_4x4, "the 4x4 numbers of the lecture's max-pooling example",
        fixed_size=True, raw_values=True,
    ),
}

PATTERN_SIZES = (5, 8, 16, 32, 64, 128, 256, 512)


def pattern(name: str, size: int = 64, mode: str = "L") -> np.ndarray:
    """A synthetic pattern as float32, size x size (lecture examples keep their own size and values)."""
    if name not in PATTERNS:
        raise ValueError(f"Unknown pattern {name!r}; choose one of {list(PATTERNS)}")
    check_mode(mode)
    if not 1 <= int(size) <= 2048:
        raise ValueError(f"Pattern size must be between 1 and 2048 pixels, not {size}")
    return as_mode(PATTERNS[name].builder(int(size)), mode)


def encode_png(pixels: np.ndarray) -> bytes:
    """Float image in [0, 1] (H x W or H x W x 3) as PNG bytes, for downloads."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()
