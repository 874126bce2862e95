"""Drawings from the drawing pad: strokes checked (they come from a browser) and rasterised."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from explorer.user_input import finite_float

PAD_SIZE = 256  # the pad's coordinate system: 0..256 on both axes
MAX_STROKES = 200
MAX_POINTS = 2000  # per stroke
MAX_TOTAL_POINTS = 20_000  # per drawing: rasterising stays well under 0.2 s
MAX_BRUSH = 64
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
BACKGROUND = "#000000"


@dataclass(frozen=True)
class Stroke:
    size: int  # line width in pad pixels
    colour: str  # "#rrggbb"
    points: tuple[tuple[float, float], ...]


def _number(value: object) -> float | None:
    number = finite_float(value)  # None for 10**400 (OverflowError in float()), NaN, inf, True
    return None if number is None else min(max(number, 0.0), float(PAD_SIZE))


def clean_strokes(value: object) -> tuple[Stroke, ...]:
    """Whatever the browser sent -> valid strokes: anything malformed is dropped, never an
    error; at most MAX_STROKES strokes of MAX_POINTS points, coordinates clamped to the pad."""
    if not isinstance(value, list):
        return ()
    strokes, budget = [], MAX_TOTAL_POINTS
    for item in value[:MAX_STROKES]:
        if not isinstance(item, dict):
            continue
        size, colour, points = item.get("size"), item.get("colour"), item.get("points")
        size = finite_float(size)
        if size is None:
            continue
        if not isinstance(colour, str) or not COLOUR.fullmatch(colour):
            continue
        if not isinstance(points, list):
            continue
        kept = []
        for point in points[:min(MAX_POINTS, budget)]:
            if isinstance(point, (list, tuple)) and len(point) == 2:
                x, y = _number(point[0]), _number(point[1])
                if x is not None and y is not None:
                    kept.append((x, y))
        budget -= len(kept)
        if kept:
            strokes.append(Stroke(int(min(max(size, 1), MAX_BRUSH)), colour.lower(),
                                  tuple(kept)))
    return tuple(strokes)


def rasterise(strokes: tuple[Stroke, ...], *, size: int = 128,
              background: str = BACKGROUND) -> np.ndarray:
    """The drawing as (size, size, 3) float32 in [0, 1]: drawn at the pad's resolution with
    round caps and joins (as the browser draws it), then shrunk with antialiasing."""
    image = Image.new("RGB", (PAD_SIZE, PAD_SIZE), background)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        radius = stroke.size / 2
        if len(stroke.points) > 1:
            draw.line(stroke.points, fill=stroke.colour, width=stroke.size, joint="curve")
        for x, y in stroke.points:  # round caps and joins
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=stroke.colour)
    if size != PAD_SIZE:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0
