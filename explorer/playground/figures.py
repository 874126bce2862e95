"""The playground's figures: every neuron over the plane, the decision surface with train and test points, the network graph and the loss curves."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.images.plots import DIVERGING, diverging_rgb, heat_rgb, line_figure, png_bytes
from explorer.playground.datasets import EXTENT, PlaneData
from explorer.playground.model import (
    Weights,
    build_model,
    feature_matrix,
    layer_outputs,
    set_weights,
    squash,
)
from explorer.playground.settings import ACTIVATIONS, FEATURES, PlaygroundSettings

CLASS_COLOURS = {1.0: "#d6604d", 0.0: "#4393c3"}  # the diverging scale's two sides
SURFACE_RESOLUTION = 81  # grid points per axis of the decision surface
THUMB_RESOLUTION = 33  # grid points per axis of a neuron's thumbnail
NON_NEGATIVE = ("sigmoid", "relu")  # activations whose outputs are >= 0 (heat scale)


def plane_axis(resolution: int) -> np.ndarray:
    """(R,) coordinates from -EXTENT to EXTENT."""
    return np.linspace(-EXTENT, EXTENT, resolution, dtype=np.float32)


def plane_grid(resolution: int) -> np.ndarray:
    """(R * R, 2) points, row-major with x2 (rows, bottom to top) and x1 (columns)."""
    axis = plane_axis(resolution)
    x1, x2 = np.meshgrid(axis, axis)
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


@dataclass(frozen=True)
class PlaneView:
    """Every neuron's output over a grid of the plane."""

    resolution: int
    hidden: tuple[np.ndarray, ...]  # per hidden layer (width, R, R), after the activation
    output: np.ndarray  # (R, R) on [-1, 1]: 2 p - 1 (classification) or the value


def plane_view(settings: PlaygroundSettings, weights: Weights,
               resolution: int = SURFACE_RESOLUTION) -> PlaneView:
    """Run the network with these weights over a resolution x resolution grid."""
    model = set_weights(build_model(settings), weights)
    outputs = layer_outputs(model, feature_matrix(settings, plane_grid(resolution)))
    shape = (resolution, resolution)
    hidden = tuple(layer.T.reshape(-1, *shape).numpy() for layer in outputs[:-1])
    output = squash(settings, outputs[-1]).reshape(shape).numpy()
    return PlaneView(resolution, hidden, output)


def predict(settings: PlaygroundSettings, weights: Weights, points: np.ndarray) -> np.ndarray:
    """(N,) outputs on [-1, 1] at (N, 2) plane points."""
    model = set_weights(build_model(settings), weights)
    with torch.no_grad():
        raw = model(feature_matrix(settings, points))
    return squash(settings, raw).squeeze(1).numpy()


# -- decision surface ---------------------------------------------------------------


def _points_trace(points: np.ndarray, targets: np.ndarray, settings: PlaygroundSettings, *,
                  name: str, test: bool) -> go.Scatter:
    """Train points filled with a white rim; test points with a thick black rim."""
    if settings.problem == "classification":  # 0 -> blue, 1 -> red (numbers validate fast)
        marker: dict = {"color": targets, "cmin": 0, "cmax": 1,
                        "colorscale": [[0, CLASS_COLOURS[0.0]], [1, CLASS_COLOURS[1.0]]]}
    else:
        marker = {"color": targets, "colorscale": DIVERGING, "cmin": -1, "cmax": 1}
    marker.update(size=8 if test else 7, symbol="circle",
                  line={"color": "black" if test else "white", "width": 1.5 if test else 1})
    return go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name, marker=marker,
                      hovertemplate="x1 %{x:.2f}, x2 %{y:.2f}<extra>" + name + "</extra>")


def decision_figure(settings: PlaygroundSettings, view: PlaneView, data: PlaneData | None, *,
                    show_test: bool = True, height: int = 460,
                    title: str | None = None) -> go.Figure:
    """The output over the plane (blue -1 .. white 0 .. red +1), its 0 contour (the decision
    boundary), train points and, marked with a black rim, test points."""
    axis = plane_axis(view.resolution)
    figure = go.Figure(go.Heatmap(
        x=axis, y=axis, z=view.output, zmin=-1, zmax=1, colorscale=DIVERGING, showscale=False,
        hovertemplate="x1 %{x:.2f}, x2 %{y:.2f}: %{z:.2f}<extra></extra>"))
    if settings.problem == "classification" and view.output.min() < 0 < view.output.max():
        figure.add_trace(go.Contour(x=axis, y=axis, z=view.output, showscale=False,
                                    contours={"start": 0, "end": 0, "size": 1,
                                              "coloring": "lines"},
                                    line={"color": "black", "width": 2}, hoverinfo="skip",
                                    name="boundary"))
    if data is not None:
        figure.add_trace(_points_trace(data.train_points, data.train_targets, settings,
                                       name="train", test=False))
        if show_test:
            figure.add_trace(_points_trace(data.test_points, data.test_targets, settings,
                                           name="test", test=True))
    return square_plane(figure, height, title)


def square_plane(figure: go.Figure, height: int, title: str | None = None) -> go.Figure:
    """The plane's axes, equal in scale, fixed to [-EXTENT, EXTENT]."""
    span = [-EXTENT, EXTENT]
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 36 if title else 10, "b": 10},
        title=title, showlegend=False,
        xaxis={"range": span, "title": "x₁", "constrain": "domain"},
        yaxis={"range": span, "title": "x₂", "scaleanchor": "x", "constrain": "domain"},
    )
    return figure


# -- neuron thumbnails and the network graph ----------------------------------------


def neuron_images(settings: PlaygroundSettings, view: PlaneView) -> list[list[np.ndarray]]:
    """Per layer (hidden layers, then the output), each neuron as an (R, R, 3) uint8 image,
    top row = largest x2. Signed outputs (tanh, linear, the output) on the diverging scale
    with white 0, one limit per layer; sigmoid and ReLU outputs (>= 0) on the heat scale."""
    layers = []
    for values in view.hidden:
        flipped = values[:, ::-1]  # image rows run top to bottom
        if settings.activation in NON_NEGATIVE:
            high = max(float(values.max()), 1e-6)
            layers.append([heat_rgb(v, 0.0, high) for v in flipped])
        else:
            limit = float(np.abs(values).max()) or 1.0
            layers.append([diverging_rgb(v, limit) for v in flipped])
    layers.append([diverging_rgb(view.output[::-1], 1.0)])
    return layers


def _data_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode()


def network_figure(settings: PlaygroundSettings, weights: Weights,
                   images: list[list[np.ndarray]] | None = None, *,
                   height: int | None = None) -> go.Figure:
    """The network as a graph: input features on the left, each neuron drawn as its output
    over the plane, weights as edges whose width grows with |w| and whose colour is the sign
    (red +, blue −); hover an edge's middle for its value."""
    sizes = settings.layer_sizes
    tallest = max(sizes)
    place = [[(layer, (count - 1) / 2 - k) for k in range(count)]
             for layer, count in enumerate(sizes)]
    largest = max((float(np.abs(w).max()) for w, _ in weights if w.size), default=1.0) or 1.0
    figure = go.Figure()
    buckets: dict[tuple[int, bool], tuple[list, list]] = {}
    mid_x, mid_y, mid_text = [], [], []
    for layer, (w, _b) in enumerate(weights):  # w: (out, in)
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                (x0, y0), (x1, y1) = place[layer][i], place[layer + 1][j]
                level = min(3, int(abs(w[j, i]) / largest * 4))
                xs, ys = buckets.setdefault((level, bool(w[j, i] >= 0)), ([], []))
                xs += [x0 + 0.22, x1 - 0.22, np.nan]  # NaN breaks the line, as None does
                ys += [y0, y1, np.nan]
                mid_x.append((x0 + x1) / 2)
                mid_y.append((y0 + y1) / 2)
                mid_text.append(f"w = {w[j, i]:.3f}")
    for (level, positive), (xs, ys) in sorted(buckets.items()):
        figure.add_trace(go.Scatter(  # numpy arrays: plotly validates them in one go
            x=np.array(xs), y=np.array(ys), mode="lines", hoverinfo="skip", showlegend=False,
            line={"width": 0.6 + 2.2 * level, "color": DIVERGING[8 if positive else 2][1]},
            opacity=0.85))
    figure.add_trace(go.Scatter(x=np.array(mid_x), y=np.array(mid_y), mode="markers",
                                text=np.array(mid_text),
                                hoverinfo="text", marker={"size": 6, "opacity": 0},
                                showlegend=False))
    labels = [FEATURES[name].label for name in settings.features]
    figure.add_trace(go.Scatter(
        x=[0] * sizes[0], y=[y for _, y in place[0]], mode="markers+text", text=labels,
        textposition="middle left", marker={"size": 26, "color": "#eeeeee", "symbol": "square",
                                            "line": {"color": "#555", "width": 1}},
        hoverinfo="text", showlegend=False))
    pictures = [] if images is None else [  # set at once: add_layout_image is quadratic
        {"source": _data_uri(picture), "x": x, "y": y, "xref": "x", "yref": "y", "sizex": 0.42,
         "sizey": 0.8, "xanchor": "center", "yanchor": "middle", "sizing": "stretch",
         "layer": "above"}
        for layer, row in enumerate(images, start=1)
        for (x, y), picture in zip(place[layer], row, strict=True)]
    biases = [(place[layer + 1][j], float(b[j])) for layer, (_w, b) in enumerate(weights)
              for j in range(len(b))]
    figure.add_trace(go.Scatter(
        x=[x for (x, _), _ in biases], y=[y for (_, y), _ in biases], mode="markers",
        marker={"size": 34, "symbol": "square-open", "color": "#555"},
        text=[f"bias {value:.3f}" for _, value in biases], hoverinfo="text", showlegend=False))
    names = ["inputs", *[f"layer {k}" for k in range(1, len(sizes) - 1)], "output"]
    activation = ACTIVATIONS[settings.activation].label
    figure.update_layout(
        images=pictures, height=height or max(260, 56 * tallest + 60),
        margin={"l": 60, "r": 10, "t": 10, "b": 30}, plot_bgcolor="white",
        xaxis={"range": [-0.6, len(sizes) - 0.5], "tickvals": list(range(len(sizes))),
               "ticktext": names,
               "showgrid": False, "zeroline": False},
        yaxis={"range": [-(tallest / 2), tallest / 2], "visible": False},
        annotations=[{"text": f"hidden activation: {activation}", "xref": "paper",
                      "yref": "paper", "x": 1, "y": 0, "showarrow": False,
                      "font": {"size": 11, "color": "#555"}}],
    )
    return figure


def loss_figure(steps: tuple[int, ...], train: tuple[float, ...], test: tuple[float, ...], *,
                problem: str = "classification", height: int = 240) -> go.Figure:
    """Train and test loss (cross-entropy or squared error, without the penalty) per step."""
    name = "cross-entropy" if problem == "classification" else "squared error"
    return line_figure({"train": (np.asarray(steps), np.asarray(train)),
                        "test": (np.asarray(steps), np.asarray(test))},
                       x_title="step", y_title=f"loss ({name})", height=height)
