"""Small pictures for the Home page cards, computed by the app's own functions (numpy, scipy)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from explorer import images, lecture

THUMBNAIL_SIDE = 256


def _fit(pixels: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    from skimage.transform import resize

    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    shape = (round(height * scale), round(width * scale)) + pixels.shape[2:]
    return resize(pixels, shape, anti_aliasing=True).astype(np.float32)


def _normalise(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)).astype(np.float32)


def sobel_edges_picture() -> np.ndarray:
    """Cameraman and its Sobel gradient magnitude side by side (lecture Gx, Gy; valid mode)."""
    camera = _fit(images.builtin_image("cameraman", mode="L"))
    gx = signal.convolve2d(camera, np.array(lecture.SOBEL_GX), mode="valid")
    gy = signal.convolve2d(camera, np.array(lecture.SOBEL_GY), mode="valid")
    magnitude = _normalise(np.hypot(gx, gy)) ** 0.6
    return np.hstack([camera[1:-1, 1:-1], magnitude])


def colour_filter_picture() -> np.ndarray:
    """Astronaut and the lecture's red-sensitive feature map (colour weights x 9x9 Gaussian)."""
    astronaut = _fit(images.builtin_image("astronaut", mode="RGB"))
    red = astronaut @ np.array(lecture.COLOUR_WEIGHTS["red"], dtype=np.float32)
    # a Gaussian of sigma 2 truncated to 9x9, as in the lecture
    red = ndimage.gaussian_filter(red, sigma=2.0, truncate=2.0, mode="constant")
    heat = np.clip(red, 0, None) / max(float(red.max()), 1e-6)
    heat_rgb = np.stack([heat, heat**2 * 0.6, np.zeros_like(heat)], axis=-1)
    return np.hstack([astronaut, heat_rgb])


def shapes_picture(rows: int = 2, cols: int = 4) -> np.ndarray:
    """A grid of coloured test patterns, the kind of classes a small CNN learns to tell apart."""
    names = ["disk", "checkerboard", "bars", "step edge (vertical)", "gradient", "step edge (horizontal)"]
    rng = np.random.default_rng(3)
    tiles = []
    for index in range(rows * cols):
        grey = images.pattern(names[index % len(names)], size=60)
        colour = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
        tiles.append(np.pad(grey[..., None] * colour, ((2, 2), (2, 2), (0, 0)), constant_values=1.0))
    grid = np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(rows)])
    return _fit(grid, side=2 * THUMBNAIL_SIDE)


def pretrained_input_picture() -> np.ndarray:
    """The pretrained page's default input, Chelsea the cat, beside its R, G and B channels."""
    cat = images.builtin_image("chelsea", mode="RGB")
    cat = _fit(cat, side=round(THUMBNAIL_SIDE * cat.shape[1] / cat.shape[0]))  # height 256
    channel_height = THUMBNAIL_SIDE // 3
    channels = []
    for index in range(3):
        channel = np.zeros_like(cat)
        channel[..., index] = cat[..., index]
        channels.append(_fit(channel, side=round(channel_height * cat.shape[1] / cat.shape[0])))
    column = np.vstack(channels)
    column = np.pad(column, ((0, cat.shape[0] - column.shape[0]), (0, 0), (0, 0)), constant_values=1.0)
    return np.hstack([cat, column])


def letters_picture() -> np.ndarray:
    """The Transfer page's built-in task: eight of the ten letters no network here has seen
    (drawn by transfer_tasks, in the style of Shapes), in two rows of four."""
    from explorer.synthetic import LETTER_CLASSES, render_letters  # numpy only: no torch on Home

    labels = np.arange(8) % len(LETTER_CLASSES)
    tiles = render_letters(labels, 64, np.random.default_rng(7)).transpose(0, 2, 3, 1)
    tiles = np.pad(tiles.astype(np.float32) / 255, ((0, 0), (2, 2), (2, 2), (0, 0)),
                   constant_values=1.0)
    grid = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
    return _fit(grid, side=2 * THUMBNAIL_SIDE)


CARD_PICTURES = {
    "convolution": sobel_edges_picture,
    "colour": colour_filter_picture,
    "train": shapes_picture,
    "transfer": letters_picture,
    "pretrained": pretrained_input_picture,
}
