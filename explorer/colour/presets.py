"""Colour presets: named (w_R, w_G, w_B) weights and the weights that detect a picked colour."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from explorer.lecture import reference as lecture


@dataclass(frozen=True)
class ColourPreset:
    label: str
    weights: tuple[float, float, float]  # (w_R, w_G, w_B): one output channel's weight per input
    description: str


_ZERO_SUM = "The weights add up to 0, so flat grey, white and black all give 0."

# Magenta = red + blue, so "magenta minus the mean" scaled to max |w| = 1 is (.5, -1, .5): the
# lecture's red-blue filter exactly. Rather than list the same filter twice, red-blue keeps the
# lecture's name and its label and description say it is the magenta detector.
COLOUR_PRESETS: dict[str, ColourPreset] = {
    "red": ColourPreset(
        "Red",
        lecture.COLOUR_WEIGHTS["red"],
        "Red minus half of green and half of blue: positive on red (and, less, on yellow and "
        "magenta), negative on green, blue and cyan. " + _ZERO_SUM,
    ),
    "green": ColourPreset(
        "Green",
        lecture.COLOUR_WEIGHTS["green"],
        "Green minus half of red and half of blue: positive on green, negative on red, blue and "
        "magenta. " + _ZERO_SUM,
    ),
    "blue": ColourPreset(
        "Blue",
        lecture.COLOUR_WEIGHTS["blue"],
        "Blue minus half of red and half of green: positive on blue, negative on red, green and "
        "yellow. " + _ZERO_SUM,
    ),
    "red-blue": ColourPreset(
        "Red-blue (magenta)",
        lecture.COLOUR_WEIGHTS["red-blue"],
        "Half of red plus half of blue minus green: positive on red and on blue, most on "
        "magenta (red + blue), negative on green. It is the magenta detector (picking magenta "
        "gives the same weights) and exactly minus the green filter. " + _ZERO_SUM,
    ),
    "yellow": ColourPreset(
        "Yellow",
        (0.5, 0.5, -1.0),
        "Half of red plus half of green minus blue: positive on yellow (red + green), negative "
        "on blue. Exactly minus the blue filter, so after a ReLU the two keep opposite halves of "
        "the same map. " + _ZERO_SUM,
    ),
    "cyan": ColourPreset(
        "Cyan",
        (-1.0, 0.5, 0.5),
        "Half of green plus half of blue minus red: positive on cyan (green + blue), negative "
        "on red. Exactly minus the red filter. " + _ZERO_SUM,
    ),
    "brightness": ColourPreset(
        "Brightness",
        (1 / 3, 1 / 3, 1 / 3),
        "The mean of red, green and blue: responds to light versus dark, not to colour. The "
        "weights add up to 1, not 0, so flat grey of level g gives g times the kernel's sum "
        "(g itself for a Gaussian).",
    ),
}


_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def _parse_colour(rgb: tuple[float, float, float] | str) -> np.ndarray:
    """A '#rrggbb' string or three numbers in [0, 1], as a float64 array of shape (3,)."""
    if isinstance(rgb, str):
        match = _HEX.fullmatch(rgb.strip())
        if match is None:
            raise ValueError(f"A colour string must look like '#ff8800' (#rrggbb); got {rgb!r}.")
        digits = match.group(1)
        return np.array([int(digits[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255
    try:
        c = np.asarray(rgb, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"A colour must be three numbers (R, G, B); got {rgb!r}.") from exc
    if c.shape != (3,):
        raise ValueError(f"A colour must be three numbers (R, G, B); got {rgb!r}.")
    if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
        raise ValueError(f"Colour values must be finite numbers between 0 and 1; got {rgb!r}.")
    return c


def weights_for_colour(rgb: tuple[float, float, float] | str) -> tuple[float, float, float]:
    """Colour weights that detect a picked colour: the colour minus its mean, max |weight| 1.

    The weights add up to 0, so flat grey of any level gives 0. The response to a colour x is
    w · x = w · (x - mean(x)): among colours with the same brightness (channel mean) and the
    same saturation (distance |x - mean(x)| from grey) the picked colour responds most
    (Cauchy-Schwarz); a more saturated colour of the same hue responds more. Picking pure red,
    green, blue or magenta gives the lecture's filters. A grey pick has no colour to detect
    and raises ValueError.
    """
    c = _parse_colour(rgb)
    w = c - c.mean()
    largest = np.abs(w).max()
    if largest < 1e-6:
        raise ValueError(
            "That colour is a shade of grey (red, green and blue are equal), so it has no "
            "colour to detect: pick a colour with some hue."
        )
    # Rounded so that pure red gives exactly (1, -0.5, -0.5), not 0.5000000000000001; + 0.0
    # turns -0.0 into 0.0.
    w = np.round(w / largest, 12) + 0.0
    return float(w[0]), float(w[1]), float(w[2])
