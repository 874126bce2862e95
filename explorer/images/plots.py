"""Plot builders and colour maps: arrays in, plotly figures or RGB images out (never streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.jobs.bounded_cache import BoundedCache, array_digest

# Diverging scale for signed values: blue < 0 < red, white at 0 (ColorBrewer RdBu, reversed).
DIVERGING = [
    [0.0, "#053061"], [0.1, "#2166ac"], [0.2, "#4393c3"], [0.3, "#92c5de"], [0.4, "#d1e5f0"],
    [0.5, "#f7f7f7"],
    [0.6, "#fddbc7"], [0.7, "#f4a582"], [0.8, "#d6604d"], [0.9, "#b2182b"], [1.0, "#67001f"],
]
SEQUENTIAL = "gray"
HEAT = "inferno"
HIGHLIGHT = "#1f5fbf"


def _hex_to_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def _lookup_table(scale: list, size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours sampled from a plotly-style [[position, "#rrggbb"], ...] scale."""
    positions = np.array([p for p, _ in scale])
    colours = np.stack([_hex_to_rgb(c) for _, c in scale])
    samples = np.linspace(0.0, 1.0, size)
    table = np.stack([np.interp(samples, positions, colours[:, i]) for i in range(3)], axis=1)
    return (table + 0.5).astype(np.uint8)


_DIVERGING_TABLE = _lookup_table(DIVERGING, 257)  # odd size: entry 128 is the exact centre
_INFERNO_TABLE = _lookup_table(
    [[0.0, "#000004"], [0.25, "#57106e"], [0.5, "#bc3754"], [0.75, "#f98e09"], [1.0, "#fcffa4"]]
)


NON_NEGATIVE = " · ≥ 0"  # title suffix of a sequential (non-negative) heatmap


def signed_limit(values: np.ndarray) -> float:
    """Half-width of a colour scale centred on 0 that shows every finite value (1 for all-zero
    or non-finite input)."""
    finite = np.abs(values[np.isfinite(values)]) if values.size else values
    limit = float(finite.max()) if finite.size else 0.0
    return limit if limit > 0 else 1.0


def diverging_rgb(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """Signed H x W values -> H x W x 3 uint8: blue negative, white 0, red positive. A limit
    that is not a positive number falls back to the values' own; NaN is drawn white (no
    value), +-inf at the dark ends."""
    if limit is None or not np.isfinite(limit) or limit <= 0:
        limit = signed_limit(values)
    with np.errstate(invalid="ignore"):
        ratio = np.nan_to_num(np.clip(values / limit, -1.0, 1.0), nan=0.0)
    # round (symmetric under negation) rather than truncate, so -v mirrors +v about entry 128
    index = np.rint((ratio + 1.0) * 128.0).astype(np.uint16)
    return _DIVERGING_TABLE[index]


def heat_rgb(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Non-negative H x W values -> H x W x 3 uint8 on the inferno scale."""
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    span = high - low if high > low else 1.0
    index = np.clip((values - low) / span * 255.0, 0, 255).astype(np.uint8)
    return _INFERNO_TABLE[index]


def _hue_table(size: int = 360) -> np.ndarray:
    """(size, 3) fully saturated colours around the hue circle, float32 in [0, 1]."""
    from skimage.color import hsv2rgb

    hue = np.linspace(0.0, 1.0, size, endpoint=False)
    return hsv2rgb(np.stack([hue, np.ones(size), np.ones(size)], axis=-1)).astype(np.float32)


_HUE_TABLE = _hue_table()


def direction_rgb(direction: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Gradient direction (radians) as hue, magnitude as brightness: H x W x 3 float in [0, 1]."""
    # a lookup table instead of hsv2rgb per pixel: 360 hues are finer than the eye can tell
    index = ((direction + np.pi) / (2 * np.pi) * len(_HUE_TABLE)).astype(np.int64) % len(_HUE_TABLE)
    value = (magnitude / max(float(magnitude.max()), 1e-12)).astype(np.float32)
    return _HUE_TABLE[index] * value[..., None]


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 or float [0, 1] image as PNG, fast compression: st.image's default is ~5x slower."""
    return _encoded(pixels, format="PNG", compress_level=1)


def jpeg_bytes(pixels: np.ndarray, quality: int = 90) -> bytes:
    """uint8 or float [0, 1] image as JPEG: for photographs only (edges and pixel grids ring)."""
    return _encoded(pixels, format="JPEG", quality=quality)


# Encoded pictures for the whole server: a class looks at the same pictures (the defaults, a
# lecture link, a dataset's examples), and encoding was a quarter of the pages' time while a
# class trained (py-spy, benchmarks/stload.py --jobs); hashing the pixels costs about a tenth
# of encoding them.
_ENCODED: BoundedCache = BoundedCache(max_entries=2048, max_bytes=48 * 2**20, size=len)


def _encoded(pixels: np.ndarray, **options) -> bytes:
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    key = (array_digest(pixels), tuple(sorted(options.items())))
    return _ENCODED.get_or_compute(key, lambda: _encode(pixels, options))


def _encode(pixels: np.ndarray, options: dict) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, **options)
    return buffer.getvalue()


def stretch(values: np.ndarray) -> np.ndarray:
    """Min-max stretch to [0, 1] for showing an unsigned result as a grey image."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def display_image(
    values: np.ndarray, scale: tuple[float, float] | None = None
) -> tuple[np.ndarray, str]:
    """An image for st.image and a caption of its colour scale: diverging when values are signed.

    `scale` = (low, high) shares one scale between several arrays (default: this array's range).
    """
    low, high = (float(values.min()), float(values.max())) if scale is None else scale
    if low < 0:
        limit = max(abs(low), abs(high)) or 1.0
        return diverging_rgb(values, limit), f"blue < 0 < red, white = 0, scale ±{limit:.3g}"
    if high <= low:
        return np.zeros_like(values, dtype=np.float32), f"constant {low:.3g}"
    pixels = np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)
    return pixels, f"black = {low:.3g}, white = {high:.3g}"


def joint_scale(*arrays: np.ndarray) -> tuple[float, float]:
    """One (low, high) range covering every array, for side-by-side comparison."""
    return min(float(a.min()) for a in arrays), max(float(a.max()) for a in arrays)


def _format(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value - round(value)) < 1e-9 and abs(value) < 1e5:
        return str(int(round(value)))
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.1e}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _cell_texts(values: np.ndarray) -> tuple[list[list[str]], str]:
    """Numbers to print in the cells, and a title suffix when they are shown scaled.

    Cells of grids wider than 5 hold about four characters: small non-integer values
    (e.g. a 9x9 Gaussian, max 0.04) are printed times 10^k with one decimal, and the title says
    "×10⁻ᵏ", as textbooks do.
    """
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    integers = bool(np.all(np.abs(values - np.round(values)) < 1e-9))
    if max(values.shape) <= 5 or integers or largest == 0 or largest >= 0.1:
        return [[_format(v) for v in row] for row in values], ""
    exponent = int(np.floor(np.log10(largest)))
    scaled = values * 10.0 ** (-exponent)
    texts = [["0" if abs(v) < 0.05 else f"{v:.1f}" for v in row] for row in scaled]
    return texts, f" (×10{str(exponent).translate(_SUPERSCRIPT)})"


def matrix_heatmap(
    values: np.ndarray,
    *,
    title: str = "",
    signed: bool | None = None,
    annotate: bool | None = None,
    highlight: tuple[int, int, int, int] | None = None,
    height: int | None = None,
    limit: float | None = None,
) -> go.Figure:
    """A small array as a heatmap with its numbers printed on it.

    The app's sign rule: by default every array gets the diverging scale centred on white = 0
    (red > 0, blue < 0), so a +4 and a -4 never look alike; `limit` gives arrays shown side by
    side one scale (-limit..limit). signed=False is for quantities that cannot be negative
    (intensities, magnitudes): a sequential scale from white = 0, and the title says so
    (NON_NEGATIVE). `highlight` = (row, col, height, width) draws a box around a window.
    """
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    annotate = max(rows, cols) <= 12 if annotate is None else annotate
    if signed is False and values.size and values.min() >= 0:
        top = limit if limit is not None else max(float(values.max()), 1e-12)
        colour = {"colorscale": "Blues", "zmin": 0.0, "zmax": top}
        title = title + NON_NEGATIVE if title else title
    else:
        limit = limit if limit is not None and limit > 0 else signed_limit(values)
        colour = {"colorscale": DIVERGING, "zmin": -limit, "zmax": limit}
    text, factor = _cell_texts(values) if annotate else (None, "")
    title = title + factor if title else title
    heatmap = go.Heatmap(
        z=values,
        text=text,
        texttemplate="%{text}" if annotate else None,
        textfont={"size": 16 if max(rows, cols) <= 5 else 12 if max(rows, cols) <= 9 else 9},
        hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>",
        showscale=not annotate,
        xgap=1,
        ygap=1,
        **colour,
    )
    layout = _grid_layout(rows, cols, title, height)
    if highlight is not None:
        row, col, box_rows, box_cols = highlight
        layout["shapes"] = [{
            "type": "rect", "x0": col - 0.5, "x1": col + box_cols - 0.5,
            "y0": row - 0.5, "y1": row + box_rows - 0.5, "line": {"color": HIGHLIGHT, "width": 4}}]
    return go.Figure(heatmap, layout=layout)


def _grid_layout(rows: int, cols: int, title: str, height: int | None = None) -> dict:
    """Square cells, row 0 at the top, column numbers above, a title that never clips.

    A plain dict given to go.Figure at once: `update_layout` on a built figure took 5 of the
    7 ms a small heatmap cost (the pages draw several per rerun).
    """
    side = min(420, 60 + 34 * max(rows, cols)) if height is None else height
    return {
        # long titles (a scale factor, a note) get smaller type: narrow columns must not clip
        **({"title": {"text": title, "x": 0.5, "xanchor": "center", "y": 0.98, "yanchor": "top",
                      "font": {"size": 16 if len(title) <= 22 else 13}}} if title else {}),
        "height": side + (60 if title else 20),
        "margin": {"l": 10, "r": 10, "t": 70 if title else 30, "b": 10},
        "xaxis": {"showticklabels": cols <= 12, "dtick": 1, "side": "top", "constrain": "domain"},
        "yaxis": {"autorange": "reversed", "showticklabels": rows <= 12, "dtick": 1,
                  # in a narrow column the square grid sits under its title, not mid-height
                  "scaleanchor": "x", "constrain": "domain", "constraintoward": "top"},
        "plot_bgcolor": "white",
    }


def unit_grid(rows: int, cols: int, *, title: str, picked: tuple[int, int]) -> go.Figure:
    """A plain rows x cols grid of units (no values, no colour bar) with one unit marked."""
    row, col = picked
    layout = _grid_layout(rows, cols, title)
    layout["shapes"] = [{"type": "rect", "x0": col - 0.5, "x1": col + 0.5, "y0": row - 0.5,
                         "y1": row + 0.5, "fillcolor": HIGHLIGHT,
                         "line": {"color": HIGHLIGHT, "width": 2}}]
    return go.Figure(go.Heatmap(
        z=np.zeros((rows, cols)), colorscale=[[0, "#e8ecf3"], [1, "#e8ecf3"]], showscale=False,
        xgap=1, ygap=1, hoverinfo="skip"), layout=layout)


def with_cell_targets(figure: go.Figure, rows: int, cols: int) -> go.Figure:
    """Adds an invisible marker on every cell of a rows x cols heatmap, so that a click on a
    cell selects a point (Streamlit reports point selections, not heatmap clicks)."""
    grid_rows, grid_cols = np.mgrid[0:rows, 0:cols]
    figure.add_trace(go.Scatter(
        x=grid_cols.ravel(), y=grid_rows.ravel(), mode="markers", showlegend=False,
        marker={"size": max(8, 300 // max(rows, cols)), "color": "rgba(0, 0, 0, 0)"},
        hovertemplate="row %{y}, col %{x}: click to pick<extra></extra>",
    ))
    # the markers must not widen the axes: the cells fill the plot area exactly
    figure.update_xaxes(range=[-0.5, cols - 0.5], autorange=False)
    figure.update_yaxes(range=[rows - 0.5, -0.5], autorange=False)
    figure.update_layout(clickmode="event+select", dragmode=False)
    return figure


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 1, scale: int = 1) -> np.ndarray:
    """(N, C, H, W) or (N, H, W, C) uint8/float images -> one H' x W' x 3 uint8 mosaic.

    C is 1 or 3; greyscale tiles are repeated to RGB. Cells are separated by `pad` white pixels
    and each pixel is repeated `scale` times (nearest neighbour, for small 28x28 / 32x32 images).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be 4-D (N, C, H, W); got shape {images.shape}")
    if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)  # (N, H, W, C)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    count, height, width = images.shape[:3]
    if count == 0:
        return np.full((height + 2 * pad, width + 2 * pad, 3), 255, np.uint8)
    rows = -(-count // columns)
    grid = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, np.uint8)
    for index, tile in enumerate(images):
        r, c = divmod(index, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top : top + height, left : left + width] = tile
    return np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1) if scale > 1 else grid


def confusion_figure(matrix: np.ndarray, classes: list[str] | tuple[str, ...]) -> go.Figure:
    """Confusion matrix (rows = true class, columns = predicted) with counts printed."""
    matrix = np.asarray(matrix)
    labels = list(classes)
    figure = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale="Blues", showscale=False,
        text=matrix.astype(int).astype(str), texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
    ))
    side = 140 + 34 * len(labels)
    figure.update_layout(
        height=side, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "predicted", "side": "top", "tickangle": -45},
        yaxis={"title": "true", "autorange": "reversed"},
    )
    return figure


def line_figure(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    x_title: str,
    y_title: str,
    log_x: bool = False,
    log_y: bool = False,
    height: int = 320,
) -> go.Figure:
    """One line per named (x, y) series, e.g. train and test accuracy against epochs."""
    figure = go.Figure()
    for name, (x, y) in series.items():
        x, y = np.asarray(x), np.asarray(y)
        mode = "lines+markers" if len(x) <= 30 else "lines"  # a lone point is visible too
        figure.add_trace(go.Scatter(x=x, y=y, mode=mode, name=name))
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": x_title, "type": "log" if log_x else "linear"},
        yaxis={"title": y_title, "type": "log" if log_y else "linear"},
        legend={"orientation": "h", "y": 1.12},
    )
    return figure
