"""Synthetic pictures, numpy only: the Shapes dataset's shapes and the Letters task's letters."""

from __future__ import annotations

import math

import numpy as np

SHAPE_CLASSES = (
    "disk", "ring", "square", "hollow square", "triangle",
    "plus", "x", "horizontal bar", "vertical bar", "star",
)

# Each class: how its outline is measured (a signed distance, below) and which rotations
# it may take. Plus/x and the bars differ only by orientation, so their turn is limited.
_FULL_TURN = {"square": 90.0, "hollow square": 90.0, "triangle": 120.0, "star": 72.0}
_BASE_ANGLE = {"x": 45.0, "vertical bar": 90.0}
_WOBBLE = 15.0  # degrees either way for plus, x and the bars

# Difficulty, in pixels of a 32 x 32 image and intensities in [0, 1]. Tuned with the lecture's
# small CNN (Adam 1e-3, batch 128): test accuracy ~80 % after one epoch, ~91 % after two
# (about 10 s on 2 idle cores), ~96 % after three. The usual mistakes: square vs disk vs
# triangle and ring vs hollow square when they are small.
RADIUS = (8.0, 14.0)  # outer size of a shape
THICKNESS = (2.0, 4.0)  # stroke of rings, outlines, bars and crosses
CONTRAST = 0.25  # least brightness difference between shape and background
GRADIENT = 0.2  # largest brightness change across the background
NOISE = (0.0, 0.08)  # range of the per-image Gaussian noise std


def _box(px: np.ndarray, py: np.ndarray, half_w: np.ndarray, half_h: np.ndarray) -> np.ndarray:
    """Signed distance (pixels; negative inside) to an axis-aligned box centred at 0."""
    qx, qy = np.abs(px) - half_w, np.abs(py) - half_h
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _triangle(px: np.ndarray, py: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Signed distance to an equilateral triangle with circumradius `radius`, centred at 0.

    Inigo Quilez's formula: fold into one edge's half-plane, measure to that edge segment.
    """
    k = math.sqrt(3.0)
    half_side = radius * k / 2
    px = np.abs(px) - half_side
    py = py + half_side / k
    fold = px + k * py > 0
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * half_side, 0.0)
    return -np.hypot(px, py) * np.sign(py)


def _star(px: np.ndarray, py: np.ndarray, radius: np.ndarray, inner: float = 0.45) -> np.ndarray:
    """Signed distance to a five-pointed star (tips at `radius`), after Inigo Quilez."""
    k1x, k1y = 0.809016994375, -0.587785252292  # (cos 36 deg, -sin 36 deg)
    k2x = -k1x
    px = np.abs(px)
    dot = np.maximum(k1x * px + k1y * py, 0.0)
    px, py = px - 2 * dot * k1x, py - 2 * dot * k1y
    dot = np.maximum(k2x * px + k1y * py, 0.0)
    px, py = px - 2 * dot * k2x, py - 2 * dot * k1y
    px = np.abs(px)
    py = py - radius
    bax, bay = -inner * k1y, inner * k1x - 1.0  # edge direction from tip to inner corner
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0.0, radius)
    return np.hypot(px - bax * h, py - bay * h) * np.sign(py * bax - px * bay)


def _shape_distance(
    label: int, px: np.ndarray, py: np.ndarray, radius: np.ndarray, thick: np.ndarray
) -> np.ndarray:
    """Signed distance in pixels to shape `label` in its own frame; arrays (n, H, W)."""
    name = SHAPE_CLASSES[label]
    if name == "disk":
        return np.hypot(px, py) - radius
    if name == "ring":
        return np.abs(np.hypot(px, py) - (radius - thick / 2)) - thick / 2
    side = radius * 0.8  # half side: a square's area then matches a disk's more closely
    if name == "square":
        return _box(px, py, side, side)
    if name == "hollow square":
        return np.abs(_box(px, py, side - thick / 2, side - thick / 2)) - thick / 2
    if name == "triangle":
        return _triangle(px, py, radius * 1.15)
    if name in ("plus", "x"):
        return np.minimum(_box(px, py, radius, thick / 2), _box(px, py, thick / 2, radius))
    if name in ("horizontal bar", "vertical bar"):
        return _box(px, py, radius, thick / 2)
    return _star(px, py, radius * 1.15)


def contrasting_colours(rng: np.random.Generator, n: int, gap: float) -> tuple[np.ndarray, ...]:
    """Foreground and background RGB (n, 3) in [0, 1] whose brightness differs by `gap` or more.

    Brightness is luma (0.299 R + 0.587 G + 0.114 B), so a shape never vanishes in greyscale.
    """
    luma = np.array([0.299, 0.587, 0.114])
    fg, bg = rng.random((n, 3)), rng.random((n, 3))
    while True:  # rejection sampling: redraw the pairs that are too alike
        close = np.abs((fg - bg) @ luma) < gap
        if not close.any():
            return fg, bg
        fg[close], bg[close] = rng.random((close.sum(), 3)), rng.random((close.sum(), 3))


def pixel_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 noise of `shape` (n, ...), one random window of a pool per image.

    Drawing 24,000 x 3,072 fresh normals takes over a second; windows at random offsets into
    a 1 M pool cost a copy, and images still get different noise.
    """
    pool = rng.standard_normal(1 << 20, dtype=np.float32)
    per_image = math.prod(shape[1:])
    offsets = rng.integers(0, len(pool) - per_image, shape[0])
    windows = np.lib.stride_tricks.sliding_window_view(pool, per_image)  # a view, no copy
    return windows[offsets].reshape(shape)


def paint(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Coverage alpha (n, 1, H, W) in [0, 1] -> (n, 3, H, W) uint8 pictures: a foreground colour
    over a background colour that differs in brightness by CONTRAST or more, the background with
    a gentle linear gradient in a random direction, Gaussian noise on top (Shapes' and Letters'
    look)."""
    n, size = alpha.shape[0], alpha.shape[-1]
    grid = np.arange(size, dtype=np.float32) + 0.5
    fg, bg = (colour.astype(np.float32) for colour in contrasting_colours(rng, n, gap=CONTRAST))
    direction = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    ramp = (np.cos(direction) * (grid[None, None, :] / size - 0.5)
            + np.sin(direction) * (grid[None, :, None] / size - 0.5))  # (n, H, W) in [-0.7, 0.7]
    steepness = rng.uniform(0, GRADIENT, (n, 1, 1, 1)).astype(np.float32)
    background = bg[:, :, None, None] + steepness * ramp[:, None]
    images = background * (1 - alpha) + fg[:, :, None, None] * alpha  # (n, 3, H, W)
    images += pixel_noise(rng, images.shape) * rng.uniform(*NOISE, (n, 1, 1, 1)).astype(np.float32)
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def render_shapes(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, size, size) uint8 images of the shapes named by labels (n,)."""
    n = len(labels)
    scale = size / 32  # every length below is tuned in pixels of a 32 x 32 image
    radius = rng.uniform(*RADIUS, n).astype(np.float32) * scale  # outer size of the shape
    thick = rng.uniform(*THICKNESS, n).astype(np.float32) * scale  # stroke of outlines and bars
    margin = radius * 0.8  # a shape may touch, but barely leave, the border
    cx = rng.uniform(margin, size - margin).astype(np.float32)
    cy = rng.uniform(margin, size - margin).astype(np.float32)
    names = np.array(SHAPE_CLASSES)[labels]
    full_turn = np.array([_FULL_TURN.get(name, 0.0) for name in names])
    base = np.array([_BASE_ANGLE.get(name, 0.0) for name in names])
    wobble = np.where(np.isin(names, ["plus", "x", "horizontal bar", "vertical bar"]), _WOBBLE, 0)
    degrees = base + rng.uniform(0, 1, n) * full_turn + rng.uniform(-1, 1, n) * wobble
    angle = np.radians(degrees).astype(np.float32)

    # Pixel centres in each shape's own frame: p = R(-angle) (xy - centre), shapes (n, H, W)
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    px, py = cos * dx + sin * dy, -sin * dx + cos * dy
    r, t = radius[:, None, None], thick[:, None, None]

    distance = np.empty((n, size, size), np.float32)
    for label in np.unique(labels):
        rows = labels == label
        distance[rows] = _shape_distance(label, px[rows], py[rows], r[rows], t[rows])
    # anti-aliased coverage: 1 inside, 0 outside, a one-pixel ramp across the edge
    alpha = np.clip(0.5 - distance, 0.0, 1.0)[:, None]  # (n, 1, H, W)

    return paint(alpha, rng)


# ---------------------------------------------------------------------------
# Letters: capital letters drawn as strokes, in the style of Shapes
# ---------------------------------------------------------------------------

# Each letter is a set of polylines in a box x in [-0.6, 0.6], y in [-1, 1] (y downwards),
# drawn with the same strokes, colours, gradients and noise as Shapes. Strokes rather than a
# font: the same bytes with any Pillow or FreeType version, and no font file needed.


def _arc(rx: float, ry: float, start: float, end: float, pieces: int = 12) -> list[tuple]:
    """Points of an elliptic arc from `start` to `end` degrees (0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, end, pieces + 1))
    return [(rx * math.cos(a), ry * math.sin(a)) for a in angles]


LETTERS: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "A": (((-0.6, 1), (0, -1), (0.6, 1)), ((-0.33, 0.25), (0.33, 0.25))),
    "C": (tuple(_arc(0.6, 1.0, 40, 320)),),
    "E": (((0.6, -1), (-0.6, -1), (-0.6, 1), (0.6, 1)), ((-0.6, 0), (0.4, 0))),
    "F": (((0.6, -1), (-0.6, -1), (-0.6, 1)), ((-0.6, 0), (0.4, 0))),
    "H": (((-0.6, -1), (-0.6, 1)), ((0.6, -1), (0.6, 1)), ((-0.6, 0), (0.6, 0))),
    "K": (((-0.6, -1), (-0.6, 1)), ((0.6, -1), (-0.6, 0.1), (0.6, 1))),
    "L": (((-0.6, -1), (-0.6, 1), (0.6, 1)),),
    "N": (((-0.6, 1), (-0.6, -1), (0.6, 1), (0.6, -1)),),
    "T": (((-0.7, -1), (0.7, -1)), ((0, -1), (0, 1))),
    "Y": (((-0.6, -1), (0, 0), (0.6, -1)), ((0, 0), (0, 1))),
}
LETTER_CLASSES = tuple(LETTERS)

# In pixels of a 32 x 32 image. Tuned so that the lecture's simple CNN trained from scratch on
# 20 letters per class stays well below what it reaches with thousands.
LETTER_HEIGHT = (8.0, 13.0)  # half the height of a letter
LETTER_WIDTH = (0.8, 1.2)  # the box's width is scaled by this (narrow to wide letters)
LETTER_THICKNESS = (2.0, 3.5)  # stroke
LETTER_TURN = 20.0  # degrees either way (more would turn N into Z)


def _segments(letter: str) -> np.ndarray:
    """(k, 2, 2) float32 segments [(x0, y0), (x1, y1)] of a letter's polylines."""
    pieces = [(a, b) for line in LETTERS[letter] for a, b in zip(line[:-1], line[1:], strict=True)]
    return np.asarray(pieces, dtype=np.float32)


def _stroke_distance(px: np.ndarray, py: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance in pixels from every pixel (n, H, W) to the nearest segment (n, k, 2, 2).

    For a segment a -> b: h = clip((p - a) . (b - a) / |b - a|^2, 0, 1), d = |p - a - h (b - a)|.
    """
    best = np.full(px.shape, np.inf, np.float32)
    for k in range(segments.shape[1]):
        ax, ay = segments[:, k, 0, 0, None, None], segments[:, k, 0, 1, None, None]
        bx, by = segments[:, k, 1, 0, None, None], segments[:, k, 1, 1, None, None]
        ex, ey = bx - ax, by - ay
        h = np.clip(((px - ax) * ex + (py - ay) * ey) / np.maximum(ex * ex + ey * ey, 1e-6), 0, 1)
        best = np.minimum(best, np.hypot(px - ax - h * ex, py - ay - h * ey))
    return best


def render_letters(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, size, size) uint8 images of the letters LETTER_CLASSES[labels] (n,)."""
    n = len(labels)
    scale = size / 32  # lengths below are in pixels of a 32 x 32 image
    half = rng.uniform(*LETTER_HEIGHT, n).astype(np.float32) * scale  # half height
    wide = rng.uniform(*LETTER_WIDTH, n).astype(np.float32)
    thick = rng.uniform(*LETTER_THICKNESS, n).astype(np.float32) * scale
    margin = half * 0.9
    cx = rng.uniform(margin, size - margin).astype(np.float32)
    cy = rng.uniform(margin, size - margin).astype(np.float32)
    angle = np.radians(rng.uniform(-LETTER_TURN, LETTER_TURN, n)).astype(np.float32)

    # Pixel centres in each letter's own frame: p = R(-angle) (xy - centre), shapes (n, H, W)
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    px, py = cos * dx + sin * dy, -sin * dx + cos * dy

    distance = np.empty((n, size, size), np.float32)
    for label in np.unique(labels):
        rows = labels == label
        unit = _segments(LETTER_CLASSES[label])  # (k, 2, 2) in the unit box
        stretch = np.stack([half[rows] * wide[rows], half[rows]], axis=1)  # (m, 2): x, y scale
        segments = unit[None] * stretch[:, None, None, :]  # (m, k, 2, 2) in pixels
        distance[rows] = _stroke_distance(px[rows], py[rows], segments) - thick[rows, None, None] / 2
    # anti-aliased coverage as in Shapes: 1 inside, 0 outside, a one-pixel ramp at the edge
    alpha = np.clip(0.5 - distance, 0.0, 1.0)[:, None]  # (n, 1, H, W)

    return paint(alpha, rng)
