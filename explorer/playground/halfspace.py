"""The lecture's half-space view: one unit's boundary w·x + b = 0 with w perpendicular to it, its activation over the plane, and the output as a combination of the hidden units' half-spaces."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from explorer.images.plots import DIVERGING, HEAT
from explorer.playground.datasets import EXTENT, PlaneData
from explorer.playground.figures import (
    PlaneView,
    decision_figure,
    plane_axis,
    plane_grid,
    square_plane,
)
from explorer.playground.model import Weights, feature_matrix
from explorer.playground.settings import ACTIVATIONS, FEATURES, SCALE, PlaygroundSettings

CIRCLE = 4.0  # radius of the circle on which "a is largest where x is colinear with w"
ARROW = 2.5  # drawn length of the w arrow, in plane units


@dataclass(frozen=True)
class Unit:
    """One unit of the first layer that sees the inputs: z = w · features(x) + b.

    In plane coordinates the part linear in x is u · x with u = (w_x1, w_x2) / SCALE (the
    features see x / SCALE); `straight` when no other feature has a weight, so z = 0 is a line."""

    layer: int  # 1 for a hidden unit, or the output layer when there is no hidden layer
    index: int
    weights: np.ndarray  # (F,) over settings.features
    bias: float
    u: np.ndarray  # (2,) the normal of the boundary in plane coordinates
    straight: bool
    activation: str  # registry key; the output unit's is "sigmoid" (classification)

    @property
    def foot(self) -> np.ndarray | None:
        """The boundary's point nearest the origin, -b u / |u|^2 (None when u = 0)."""
        norm2 = float(self.u @ self.u)
        return None if norm2 == 0 else -self.bias * self.u / norm2

    @property
    def shift(self) -> float | None:
        """Signed distance from the origin to the boundary along u: -b / |u|."""
        norm = float(np.linalg.norm(self.u))
        return None if norm == 0 else -self.bias / norm


def first_units(settings: PlaygroundSettings, weights: Weights) -> list[Unit]:
    """The units that look straight at the inputs (first hidden layer, or the output)."""
    w, b = weights[0]  # (units, F), (units,)
    columns = {name: k for k, name in enumerate(settings.features)}
    hidden = bool(settings.hidden)
    activation = settings.activation if hidden else (
        "sigmoid" if settings.problem == "classification" else "linear")
    units = []
    for j in range(w.shape[0]):
        u = np.array([w[j, columns[f]] / SCALE if f in columns else 0.0
                      for f in ("x1", "x2")], dtype=np.float64)
        others = [w[j, k] for name, k in columns.items() if name not in ("x1", "x2")]
        straight = all(value == 0 for value in others) and bool(np.any(u))
        units.append(Unit(1 if hidden else len(settings.hidden) + 1, j, w[j].astype(np.float64),
                          float(b[j]), u, straight, activation))
    return units


def unit_values(settings: PlaygroundSettings, unit: Unit,
                points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, a) at (N, 2) plane points."""
    features = feature_matrix(settings, points).double()  # (N, F)
    z = features @ torch.as_tensor(unit.weights) + unit.bias
    a = ACTIVATIONS[unit.activation].make()(z)
    return z.numpy(), a.numpy()


def _line(unit: Unit) -> tuple[list[float], list[float]]:
    """Two far points of the boundary line (clipped by the axes' ranges)."""
    foot = unit.foot
    direction = np.array([-unit.u[1], unit.u[0]]) / np.linalg.norm(unit.u)
    ends = [foot + t * direction for t in (-4 * EXTENT, 4 * EXTENT)]
    return [e[0] for e in ends], [e[1] for e in ends]


def _formula(settings: PlaygroundSettings, unit: Unit) -> str:
    terms = " ".join(f"{'+' if w >= 0 else '−'} {abs(w):.2f}·{FEATURES[f].label}"
                     for w, f in zip(unit.weights, settings.features, strict=True))
    return f"z = {terms.lstrip('+ ')} {'+' if unit.bias >= 0 else '−'} {abs(unit.bias):.2f}"


def halfspace_figure(settings: PlaygroundSettings, unit: Unit, *, resolution: int = 81,
                     height: int = 460) -> go.Figure:
    """The lecture's picture of one unit: a = h(w·x + b) over the plane, the boundary z = 0,
    the w arrow perpendicular to it from its point nearest the origin, the dashed parallel
    line through the origin (where b = 0 would put it) and b's shift between them, and on a
    circle the point where a is largest: where x is colinear with w (Cauchy-Schwarz)."""
    axis = plane_axis(resolution)
    _z, a = unit_values(settings, unit, plane_grid(resolution))
    a = a.reshape(resolution, resolution)
    signed = unit.activation in ("tanh", "linear")
    limit = float(np.abs(a).max()) or 1.0
    heat = go.Heatmap(x=axis, y=axis, z=a, colorscale=DIVERGING if signed else HEAT,
                      zmin=-limit if signed else 0.0, zmax=limit if signed else None,
                      colorbar={"title": "a", "len": 0.8},
                      hovertemplate="x1 %{x:.2f}, x2 %{y:.2f}: a = %{z:.3f}<extra></extra>")
    figure = go.Figure(heat)
    name = "output unit" if unit.layer > 1 or not settings.hidden else f"unit {unit.index + 1}"
    title = f"{name}: {_formula(settings, unit)}"
    if not unit.straight:
        figure.add_trace(go.Contour(x=axis, y=axis, z=_z.reshape(resolution, resolution),
                                    showscale=False, contours={"start": 0, "end": 0, "size": 1,
                                                               "coloring": "lines"},
                                    line={"color": "black", "width": 3}, hoverinfo="skip"))
        return square_plane(figure, height, title + " (curved: nonlinear features)")
    xs, ys = _line(unit)
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "black", "width": 3},
                                name="w·x + b = 0", hoverinfo="name"))
    through = _line(Unit(unit.layer, unit.index, unit.weights, 0.0, unit.u, True,
                         unit.activation))
    figure.add_trace(go.Scatter(x=through[0], y=through[1], mode="lines", hoverinfo="name",
                                line={"color": "black", "width": 1, "dash": "dash"},
                                name="b = 0 (through the origin)"))
    foot, direction = unit.foot, unit.u / np.linalg.norm(unit.u)
    tip = foot + ARROW * direction
    figure.add_annotation(x=tip[0], y=tip[1], ax=foot[0], ay=foot[1], xref="x", yref="y",
                          axref="x", ayref="y", showarrow=True, arrowhead=3, arrowwidth=3,
                          arrowcolor="#1a9641", text="<b>w</b>", font={"color": "#1a9641"})
    figure.add_annotation(x=foot[0], y=foot[1], ax=0, ay=0, xref="x", yref="y", axref="x",
                          ayref="y", showarrow=True, arrowhead=2, arrowside="end+start",
                          arrowcolor="#555", text="", standoff=0)
    figure.add_annotation(x=foot[0] / 2, y=foot[1] / 2, showarrow=False, yshift=12,
                          text=f"shift −b/‖w‖ = {unit.shift:.2f}", font={"color": "#333"},
                          bgcolor="rgba(255,255,255,0.75)")
    angle = np.linspace(0, 2 * math.pi, 121)
    figure.add_trace(go.Scatter(x=CIRCLE * np.cos(angle), y=CIRCLE * np.sin(angle),
                                mode="lines", line={"color": "#777", "width": 1, "dash": "dot"},
                                hoverinfo="skip"))
    best = CIRCLE * direction
    figure.add_trace(go.Scatter(x=[best[0]], y=[best[1]], mode="markers+text",
                                marker={"size": 14, "symbol": "star", "color": "#1a9641",
                                        "line": {"color": "white", "width": 1}},
                                text=["<b>a largest: x ∥ w</b>"],
                                textposition="bottom center", hoverinfo="text",
                                textfont={"color": "#1a9641"}))
    return square_plane(figure, height, title)


def output_terms(settings: PlaygroundSettings, weights: Weights,
                 resolution: int = 41) -> list[tuple[str, np.ndarray]] | None:
    """For one hidden layer: the output's score as a sum over the plane, z_out = c + sum_j
    v_j a_j(x), as (title, (R, R) values) per term v_j a_j, then c, then the sum. None for
    other depths (each term is then itself a network)."""
    if len(settings.hidden) != 1:
        return None
    grid = plane_grid(resolution)
    (v, c) = weights[1]  # (1, H), (1,)
    terms, total = [], np.full(len(grid), float(c[0]))
    for unit in first_units(settings, weights):
        _z, a = unit_values(settings, unit, grid)
        term = float(v[0, unit.index]) * a
        total = total + term
        terms.append((f"{v[0, unit.index]:+.2f} · a{unit.index + 1}",
                      term.reshape(resolution, resolution)))
    terms.append((f"bias {float(c[0]):+.2f}", np.full((resolution, resolution), float(c[0]))))
    terms.append(("= z_out", total.reshape(resolution, resolution)))
    return terms


def combination_figure(settings: PlaygroundSettings, weights: Weights, view: PlaneView,
                       data: PlaneData | None, *, height: int = 460) -> go.Figure:
    """The output's decision surface with every first-layer unit's boundary line on it; with
    one hidden layer each line's colour is the sign of its weight into the output (red +,
    blue −) and its width |v_j|. Nonlinear regions come from intersecting half-spaces."""
    figure = decision_figure(settings, view, data, show_test=False, height=height,
                             title="output = combination of the hidden half-spaces")
    units = first_units(settings, weights)
    one_layer = len(settings.hidden) == 1
    out = weights[1][0][0] if one_layer else None  # (H,) weights into the output
    largest = float(np.abs(out).max()) if out is not None and out.size else 1.0
    for unit in units:
        if not unit.straight:
            continue
        xs, ys = _line(unit)
        if out is not None:
            weight = float(out[unit.index])
            colour = DIVERGING[9 if weight >= 0 else 1][1]
            width = 1 + 4 * abs(weight) / (largest or 1.0)
        else:
            colour, width = "#333", 1.5
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour,
                                                                    "width": width},
                                    name=f"unit {unit.index + 1}", hoverinfo="name"))
        foot = unit.foot
        tip = foot + 1.2 * unit.u / np.linalg.norm(unit.u)
        if np.all(np.abs(foot) < EXTENT):
            figure.add_annotation(x=tip[0], y=tip[1], ax=foot[0], ay=foot[1], xref="x",
                                  yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
                                  arrowwidth=2, arrowcolor=colour, text=str(unit.index + 1))
    return figure
