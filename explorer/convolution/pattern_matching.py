"""Pattern matching as the lecture teaches it: a template W found in an image X by correlation,
plain (the lecture's Z) and normalised (skimage's match_template), and the lecture's 3x8 example."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import signal

from explorer.images.plots import DIVERGING
from explorer.lecture import reference as lecture

SIDE = 96  # the scene is SIDE x SIDE pixels: 90 x 90 correlation maps for a 7 x 7 template
TEMPLATE_SIDE = 7  # presets; a drawn template may be 2 x 2 ... 9 x 9
MIN_DRAWN, MAX_DRAWN = 2, 9
MAX_ABS = 1.0  # template values are intensities in [-1, 1], like the scene's pixels in [0, 1]
PATCH_GAIN = 0.8  # the pattern is placed at 80 % contrast: a bright area is brighter than it


def _cross() -> np.ndarray:
    w = np.zeros((TEMPLATE_SIDE, TEMPLATE_SIDE))
    w[3, :] = w[:, 3] = 1.0
    return w


def _ring() -> np.ndarray:
    rows, cols = np.mgrid[:TEMPLATE_SIDE, :TEMPLATE_SIDE] - 3
    radius = np.hypot(rows, cols)
    return ((radius > 1.6) & (radius < 3.2)).astype(np.float64)


def _corner() -> np.ndarray:
    w = np.zeros((TEMPLATE_SIDE, TEMPLATE_SIDE))
    w[1:3, 1:] = w[1:, 1:3] = 1.0  # an "L" turned over: a corner's two edges
    return w


def _diagonal() -> np.ndarray:
    return np.clip(1.0 - np.abs(np.subtract.outer(np.arange(7), np.arange(7))) / 1.5, 0.0, 1.0)


# One registry per named choice: the template presets (values in [0, 1], 7 x 7)
TEMPLATES: dict[str, Callable[[], np.ndarray]] = {
    "cross": _cross,
    "ring": _ring,
    "corner": _corner,
    "diagonal bar": _diagonal,
}


def _dim_noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.3, (SIDE, SIDE))


def _bright_square(seed: int) -> np.ndarray:
    scene = _dim_noise(seed)
    scene[10:34, 58:82] = 1.0  # a uniform bright square: plain correlation's favourite place
    return scene


@functools.cache
def _small_cameraman() -> np.ndarray:
    import skimage.data
    from skimage.transform import resize

    return resize(skimage.data.camera() / 255.0, (SIDE, SIDE), anti_aliasing=True)


def _cameraman(seed: int) -> np.ndarray:
    del seed  # a photo: nothing random
    return _small_cameraman().copy()  # resized once (30 ms); each scene gets its own copy


# The scenes the pattern is placed in (float64 in [0, 1], SIDE x SIDE)
BACKGROUNDS: dict[str, Callable[[int], np.ndarray]] = {
    "dim noise": _dim_noise,
    "noise and a bright square": _bright_square,
    "cameraman": _cameraman,
}


def check_template(values) -> np.ndarray:
    """A drawn template as float64, or ValueError with a message a user can act on."""
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("The template must be a grid of numbers.") from None
    if w.ndim != 2 or not MIN_DRAWN <= min(w.shape) <= max(w.shape) <= MAX_DRAWN:
        raise ValueError(f"The template must be a grid of {MIN_DRAWN}x{MIN_DRAWN} to "
                         f"{MAX_DRAWN}x{MAX_DRAWN} numbers; this one is {'x'.join(map(str, w.shape))}.")
    if not np.all(np.isfinite(w)):
        raise ValueError("The template holds NaN or infinite values: give every cell a number "
                         f"between -{MAX_ABS:g} and {MAX_ABS:g}.")
    if np.max(np.abs(w)) > MAX_ABS:
        raise ValueError(f"Template values are intensities between -{MAX_ABS:g} and {MAX_ABS:g}; "
                         f"the largest here is {np.max(np.abs(w)):.3g}.")
    return w


def correlation_map(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The lecture's Z[j1, j2] = Σ_k1 Σ_k2 W[k1, k2] X[j1 + k1, j2 + k2] at every offset
    ("valid": (N1 - K1 + 1, N2 - K2 + 1)), summed directly: a uniform area gives exact ties
    (the first wins), as in the "Show the code" script. 96x96 with 7x7: about 1 ms."""
    return signal.correlate2d(image, template, mode="valid")


def normalised_map(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation in [-1, 1] (skimage.feature.match_template): the window and
    the template each minus its mean, divided by both norms; a flat window scores 0."""
    if np.ptp(template) == 0:
        raise ValueError("A flat template (every cell the same) has no shape to match: "
                         "normalised cross-correlation is undefined. Draw some contrast.")
    from skimage.feature import match_template

    return match_template(image, template)


def peak(values: np.ndarray) -> tuple[int, int]:
    """The offset (j1, j2) of the largest value (the first one on ties)."""
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(row), int(col)


@dataclass(frozen=True)
class Match:
    image: np.ndarray  # (N, N) the scene with the pattern placed at `position`
    template: np.ndarray  # (K1, K2) W
    position: tuple[int, int]  # where the pattern's top-left corner is
    plain: np.ndarray  # (N - K1 + 1, N - K2 + 1) the lecture's Z
    normalised: np.ndarray | None  # the same shape, in [-1, 1]; None for a flat template

    @property
    def plain_peak(self) -> tuple[int, int]:
        return peak(self.plain)

    @property
    def normalised_peak(self) -> tuple[int, int] | None:
        return None if self.normalised is None else peak(self.normalised)


def positions(template: np.ndarray) -> tuple[int, int]:
    """The largest row and column where the pattern still fits inside the scene."""
    return SIDE - template.shape[0], SIDE - template.shape[1]


def match(template, background: str = "dim noise", row: int = 40, col: int = 20,
          seed: int = 0) -> Match:
    """Place the template (at PATCH_GAIN contrast) in a scene at (row, col) and correlate the
    scene with it, plainly and normalised."""
    w = check_template(template)
    if background not in BACKGROUNDS:
        raise ValueError(f"Unknown scene {background!r}: pick one of {', '.join(BACKGROUNDS)}.")
    last_row, last_col = positions(w)
    if not (0 <= row <= last_row and 0 <= col <= last_col):
        raise ValueError(f"The pattern's corner must lie inside the {SIDE}x{SIDE} scene with room "
                         f"for the template: row 0-{last_row}, column 0-{last_col} "
                         f"(asked for {row}, {col}).")
    image = BACKGROUNDS[background](seed).astype(np.float64)
    k1, k2 = w.shape
    image[row:row + k1, col:col + k2] = PATCH_GAIN * w  # (K1, K2): the pattern replaces the scene
    normalised = None if np.ptp(w) == 0 else normalised_map(image, w)
    return Match(image=image, template=w, position=(row, col),
                 plain=correlation_map(image, w), normalised=normalised)


# ---------------------------------------------------------------- the lecture's 3x8 example


@dataclass(frozen=True)
class LectureExample:
    template: np.ndarray  # (2, 1)
    image: np.ndarray  # (3, 8)
    plain: np.ndarray  # (2, 8) Z
    cosine: np.ndarray  # (2, 8) Z / (‖W‖ ‖window‖): normalised, without removing means
    big: tuple[int, int]
    small: tuple[int, int]


def lecture_example() -> LectureExample:
    """The slide's numbers: Z (plain correlation) and the cosine of W and each window (the
    template is flat, so the mean-removed NCC is undefined; the cosine still compares shapes)."""
    w = np.asarray(lecture.PATTERN_TEMPLATE_2X1, dtype=np.float64)
    x = np.asarray(lecture.PATTERN_IMAGE_3X8, dtype=np.float64)
    plain = signal.correlate2d(x, w, mode="valid")
    window_norms = np.sqrt(signal.correlate2d(x * x, np.ones_like(w), mode="valid"))
    cosine = plain / (np.linalg.norm(w) * np.where(window_norms > 0, window_norms, np.inf))
    return LectureExample(template=w, image=x, plain=plain, cosine=cosine,
                          big=lecture.PATTERN_BIG, small=lecture.PATTERN_SMALL)


# ---------------------------------------------------------------- the figure


def match_figure(result: Match, *, height: int = 360) -> go.Figure:
    """The scene with the pattern's box, Z with its peak, and the normalised map with its peak;
    maps are signed: one diverging scale each, white = 0 (the NCC's fixed at -1..1)."""
    k1, k2 = result.template.shape
    row, col = result.position
    titles = ("Scene X: the pattern at its box", "Plain correlation Z",
              "Normalised cross-correlation")
    figure = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.04)
    figure.add_trace(go.Heatmap(z=result.image.astype(np.float32), colorscale="gray", zmin=0.0, zmax=1.0,
                                showscale=False, hovertemplate="x %{x}, y %{y}: %{z:.2f}"
                                "<extra></extra>"), row=1, col=1)
    limit = float(np.max(np.abs(result.plain))) or 1.0
    figure.add_trace(go.Heatmap(z=result.plain.astype(np.float32), colorscale=DIVERGING, zmin=-limit, zmax=limit,
                                showscale=False, hovertemplate="Z[%{y}, %{x}] = %{z:.2f}"
                                "<extra></extra>"), row=1, col=2)
    if result.normalised is not None:
        figure.add_trace(go.Heatmap(z=result.normalised.astype(np.float32), colorscale=DIVERGING, zmin=-1.0,
                                    zmax=1.0, showscale=False,
                                    hovertemplate="NCC[%{y}, %{x}] = %{z:.2f}<extra></extra>"),
                         row=1, col=3)
    figure.add_shape(type="rect", x0=col - 0.5, x1=col + k2 - 0.5, y0=row - 0.5,
                     y1=row + k1 - 0.5, line={"color": "#ff7f0e", "width": 2}, row=1, col=1)
    peaks = [(2, result.plain_peak, "peak of Z")]
    if result.normalised_peak is not None:
        peaks.append((3, result.normalised_peak, "peak of NCC"))
    for column, (peak_row, peak_col), name in peaks:
        figure.add_trace(go.Scatter(x=[peak_col], y=[peak_row], mode="markers", name=name,
                                    marker={"symbol": "circle-open", "size": 16,
                                            "color": "#ff7f0e", "line": {"width": 3}},
                                    showlegend=False), row=1, col=column)
        # where the peak says the pattern is, drawn on the scene too
        figure.add_shape(type="rect", x0=peak_col - 0.5, x1=peak_col + k2 - 0.5,
                         y0=peak_row - 0.5, y1=peak_row + k1 - 0.5, row=1, col=1,
                         line={"color": "#b2182b" if column == 2 else "#2166ac", "width": 2,
                               "dash": "dot"})
    for column in (1, 2, 3):
        figure.update_yaxes(autorange="reversed", scaleanchor=f"x{column if column > 1 else ''}",
                            showticklabels=False, row=1, col=column)
        figure.update_xaxes(showticklabels=False, row=1, col=column)
    figure.update_layout(height=height, margin={"l": 5, "r": 5, "t": 40, "b": 5})
    return figure
