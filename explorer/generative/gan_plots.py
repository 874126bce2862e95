"""The GAN tabs' figures: the 2-D plane (D's output as a heat map, real points, G's samples and
the arrows of G's gradient), D(x) and D(G(z)) on a [0, 1] axis, the 2-D mode counts, and the
image GAN's grids and interpolation strips (arrays for st.image)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.generative.gan2d import PLANE, RES, Preview
from explorer.generative.plots import image_grid, loss_figure
from explorer.images.plots import DIVERGING

REAL_COLOUR = "#1b7837"  # green: what D should call real (D near 1 is red on the heat map)
FAKE_COLOUR = "#762a83"  # purple: G's samples
ARROW_LENGTH = 0.06  # the longest arrow, as a fraction of the plane's side


def arrow_segments(points: np.ndarray, arrows: np.ndarray,
                   length: float = ARROW_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """x and y of line segments from each point along its arrow, the longest `length` long,
    separated by NaN (one plotly trace draws them all); (3N,) each."""
    norms = np.linalg.norm(arrows, axis=1)
    longest = float(norms.max()) if len(norms) else 0.0
    scaled = arrows * (length / longest) if longest > 0 else np.zeros_like(arrows)
    ends = points + scaled
    gap = np.full(len(points), np.nan)
    xs = np.stack([points[:, 0], ends[:, 0], gap], 1).ravel()
    ys = np.stack([points[:, 1], ends[:, 1], gap], 1).ravel()
    return xs, ys


def plane_figure(preview: Preview, *, heat: bool = True, real: bool = True, fake: bool = True,
                 arrows: bool = True, height: int = 460, title: str | None = None) -> go.Figure:
    """GAN Lab's view: D's probability that a point is real over the plane (0 blue .. 0.5 white
    .. 1 red), real points (green), G's samples (purple) and where J_G's gradient pushes each."""
    figure = go.Figure()
    if heat:
        axis = np.linspace(*PLANE, RES)
        figure.add_trace(go.Heatmap(
            x=axis, y=axis, z=preview.heat, zmin=0, zmax=1, colorscale=DIVERGING,
            colorbar={"title": "D(x)", "thickness": 12, "len": 0.8},
            hovertemplate="x1 %{x:.2f}, x2 %{y:.2f}: D = %{z:.2f}<extra></extra>"))
    if real:
        figure.add_trace(go.Scatter(
            x=preview.real[:, 0], y=preview.real[:, 1], mode="markers", name="real data",
            marker={"color": REAL_COLOUR, "size": 5, "line": {"color": "white", "width": 0.5}},
            hoverinfo="skip"))
    if arrows:
        xs, ys = arrow_segments(preview.fake, preview.arrows)
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="G's gradient",
                                    line={"color": "black", "width": 1}, hoverinfo="skip"))
    if fake:
        figure.add_trace(go.Scatter(
            x=preview.fake[:, 0], y=preview.fake[:, 1], mode="markers", name="G(z)",
            marker={"color": FAKE_COLOUR, "size": 5, "line": {"color": "white", "width": 0.5}},
            hoverinfo="skip"))
    span = list(PLANE)
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 36 if title else 10, "b": 10},
        title=title, legend={"orientation": "h", "y": -0.08},
        xaxis={"range": span, "title": "x₁", "constrain": "domain"},
        yaxis={"range": span, "title": "x₂", "scaleanchor": "x", "constrain": "domain"})
    return figure


def discriminator_figure(losses: Mapping[str, Sequence[float]], *, max_steps: int | None = None,
                         height: int = 260) -> go.Figure:
    """D(x) (on real batches) and D(G(z)) (on fake ones) per step, on [0, 1], with the
    equilibrium 1/2 marked: where both end when G's samples cannot be told from the data."""
    figure = loss_figure(losses, ["D(x)", "D(G(z))"], max_steps=max_steps, height=height)
    figure.update_yaxes(range=[0, 1])
    figure.add_hline(y=0.5, line={"dash": "dot", "color": "grey"})
    return figure


def losses_figure(losses: Mapping[str, Sequence[float]], *, max_steps: int | None = None,
                  height: int = 260) -> go.Figure:
    """J_D and J_G per step, with ln 4 (J_D at the equilibrium D = 1/2) and ln 2 (J_G there)."""
    figure = loss_figure(losses, ["J_D", "J_G"], max_steps=max_steps, height=height)
    for value, text in ((np.log(4), "ln 4"), (np.log(2), "ln 2")):
        figure.add_hline(y=value, line={"dash": "dot", "color": "grey"},
                         annotation_text=text, annotation_position="top left")
    return figure


def samples_picture(images: np.ndarray, columns: int = 8, scale: int = 3) -> np.ndarray:
    """uint8 (N, C, H, W) or float [0, 1] images -> one RGB picture, each pixel `scale` x
    `scale` (nearest neighbour: a projector shows the real pixels)."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    picture = image_grid(x, columns=columns)
    return picture.repeat(scale, axis=0).repeat(scale, axis=1)
