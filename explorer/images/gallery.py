"""Small pictures for the Home page cards, computed by the app's own functions (numpy, scipy)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from explorer.images import pictures as images
from explorer.lecture import reference as lecture

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
    from explorer.images.synthetic import (  # numpy only: no torch on Home
        LETTER_CLASSES,
        render_letters,
    )

    labels = np.arange(8) % len(LETTER_CLASSES)
    tiles = render_letters(labels, 64, np.random.default_rng(7)).transpose(0, 2, 3, 1)
    tiles = np.pad(tiles.astype(np.float32) / 255, ((0, 0), (2, 2), (2, 2), (0, 0)),
                   constant_values=1.0)
    grid = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
    return _fit(grid, side=2 * THUMBNAIL_SIDE)


def receptive_field_picture() -> np.ndarray:
    """Five 3x3 convolutions: the paths from each input pixel to one output unit (a pyramid
    11 pixels wide), beside one 11x11 convolution's flat field (numpy: no torch on Home)."""
    impulse = np.zeros((21, 21))
    impulse[10, 10] = 1.0
    five = impulse
    for _ in range(5):
        five = signal.convolve2d(five, np.ones((3, 3)), mode="same")
    one = signal.convolve2d(impulse, np.ones((11, 11)), mode="same")
    heat = [_blues(field / field.max()) for field in (five, one)]
    gap = np.ones((21, 2, 3), dtype=np.float32)
    return _fit(np.hstack([heat[0], gap, heat[1]]), side=2 * THUMBNAIL_SIDE)


def _blues(values: np.ndarray) -> np.ndarray:
    """Non-negative values in [0, 1] as white -> dark blue (the app's sequential scale)."""
    blue = np.array([0.03, 0.19, 0.42])
    return (1.0 - values[..., None] * (1.0 - blue)).astype(np.float32)


def lecture_picture() -> np.ndarray:
    """The lecture's numerical example: the 5x5 input, the 3x3 kernel and the 3x3 'valid'
    output as grey blocks (darker = larger)."""
    blocks = []
    for values in (lecture.CONV_INPUT_5X5, lecture.CONV_KERNEL_3X3, lecture.CONV_VALID_OUTPUT):
        array = np.asarray(values, dtype=np.float32)
        grey = 1.0 - 0.8 * array / array.max()
        cells = np.kron(grey, np.ones((20, 20), dtype=np.float32))
        cells[::20, :] = cells[:, ::20] = 1.0  # white grid lines
        pad = (140 - cells.shape[0]) // 2  # 280 x 140: the cards' 2:1
        blocks.append(np.pad(cells, ((pad, 140 - cells.shape[0] - pad), (10, 10)),
                             constant_values=1.0))
    return _fit(np.repeat(np.hstack(blocks)[..., None], 3, axis=-1), side=2 * THUMBNAIL_SIDE)


def ilsvrc_picture() -> np.ndarray:
    """The lecture's ILSVRC top-5 errors as bars in time order (grey: the 2012 runner-up
    without a deep net; blue: AlexNet, VGG16, GoogLeNet, ResNet)."""
    errors = list(lecture.ILSVRC_TOP5_ERROR.values())
    height, bar, gap = 140, 42, 14  # 280 x 140: the cards' 2:1
    pixels = np.ones((height, gap + len(errors) * (bar + gap), 3), dtype=np.float32)
    for i, error in enumerate(errors):
        top = height - 10 - round((height - 20) * error / max(errors))
        colour = (0.6, 0.6, 0.6) if i == 0 else (0.12, 0.37, 0.75)
        left = gap + i * (bar + gap)
        pixels[top:height - 10, left:left + bar] = colour
    pixels[height - 10, :] = 0.3  # the axis
    return _fit(pixels, side=2 * THUMBNAIL_SIDE)


def spiral_picture() -> np.ndarray:
    """The playground's two spirals (r = 5 t, 1.75 turns) as red and blue dots on white (280 x
    140: the cards' 2:1)."""
    height, width = 140, 280
    pixels = np.ones((height, width, 3), dtype=np.float32)
    t = np.linspace(0, 1, 120, endpoint=False)
    for delta, colour in ((0.0, (0.84, 0.38, 0.3)), (np.pi, (0.26, 0.58, 0.76))):
        theta = 1.75 * t * 2 * np.pi + delta
        px = np.round(width / 2 + 13.0 * 5 * t * np.sin(theta)).astype(int)
        py = np.round(height / 2 - 13.0 * 5 * t * np.cos(theta)).astype(int)
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                if dx * dx + dy * dy <= 5:
                    pixels[np.clip(py + dy, 0, height - 1), np.clip(px + dx, 0, width - 1)] = \
                        colour
    return _fit(pixels, side=2 * THUMBNAIL_SIDE)


def vanishing_picture() -> np.ndarray:
    """Gradient norms of a 12-layer sigmoid net as bars on a log scale, shrinking towards the
    input by the sigmoid's slope 0.25 per layer (grey), beside flat ones (blue: with skip
    connections); 280 x 140, the cards' 2:1."""
    height, width, layers = 140, 280, 12
    pixels = np.ones((height, width, 3), dtype=np.float32)
    bar = width // (2 * layers + 2)
    for i in range(layers):
        shrink = (layers - 1 - i) * np.log10(4.0)  # decades lost below the last layer
        top = 10 + round((height - 20) * min(1.0, shrink / 7.0))
        left = bar // 2 + 2 * i * bar
        pixels[top:height - 10, left:left + bar] = (0.6, 0.6, 0.6)
        pixels[30:height - 10, left + bar:left + 2 * bar - 2] = (0.12, 0.37, 0.75)
    pixels[height - 10, :] = 0.3  # the axis
    return _fit(pixels, side=2 * THUMBNAIL_SIDE)


def generative_picture() -> np.ndarray:
    """Two rows of 60-pixel tiles: a disk turning into a square (a walk through a latent space)
    and noise clearing to that disk (a diffusion chain run backwards); 2:1 like the cards."""
    size, steps = 60, 4
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disk = (np.hypot(yy, xx) < 20).astype(np.float32)
    square = (np.maximum(abs(yy), abs(xx)) < 17).astype(np.float32)
    noise = np.random.default_rng(5).random((size, size)).astype(np.float32)
    colour = np.array([0.85, 0.35, 0.1], dtype=np.float32)
    rows = []
    for start, end in ((disk, square), (noise, disk)):
        tiles = []
        for t in np.linspace(0, 1, steps):
            grey = (1 - t) * start + t * end
            tiles.append(np.pad(1 - grey[..., None] * (1 - colour), ((2, 2), (2, 2), (0, 0)),
                                constant_values=1.0))
        rows.append(np.hstack(tiles))
    return _fit(np.vstack(rows), side=2 * THUMBNAIL_SIDE)


CARD_PICTURES = {
    "lecture": lecture_picture,
    "architectures": ilsvrc_picture,
    "playground": spiral_picture,
    "convolution": sobel_edges_picture,
    "colour": colour_filter_picture,
    "layers": receptive_field_picture,
    "train": shapes_picture,
    "transfer": letters_picture,
    "pretrained": pretrained_input_picture,
    "deep": vanishing_picture,
    "generative": generative_picture,
}
