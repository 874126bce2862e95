"""Figures of the 2-D flow: the learned density as a heat map with the data, a grid pushed
through the layers, the NLL's two terms, samples beside the data (plotly, never streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

DATA, SAMPLES, GRID = "#1f77b4", "#d62728", "#7f7f7f"


def _square(fig: go.Figure, extent: float, height: int, title: str = "") -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      title=title or None, showlegend=True,
                      legend=dict(orientation="h", y=-0.08, font=dict(size=11)))
    fig.update_xaxes(range=[-extent, extent], zeroline=False)
    fig.update_yaxes(range=[-extent, extent], scaleanchor="x", scaleratio=1, zeroline=False)
    return fig


def density_figure(preview, *, height: int = 420, show_data: bool = True) -> go.Figure:
    """p(x) = N(f(x); 0, I) |det df/dx| on the plane (a sequential scale: a density is >= 0),
    with the training points over it."""
    fig = go.Figure(go.Heatmap(x=preview.axis, y=preview.axis, z=preview.density,
                               colorscale="Viridis", zmin=0, colorbar=dict(title="p(x)"),
                               name="density", showlegend=False))
    if show_data:
        fig.add_trace(go.Scatter(x=preview.train[:, 0], y=preview.train[:, 1], mode="markers",
                                 marker=dict(size=3, color="white", opacity=0.6),
                                 name="training points"))
    return _square(fig, preview.extent, height, "Learned density p(x)")


def layer_figure(preview, layer: int, *, inverse: bool = False, height: int = 420) -> go.Figure:
    """The grid (and, forwards, the training points) after `layer` layers: forwards from the
    data plane towards z through f, or inverse from z towards the data through f^-1."""
    lines = (preview.inverse if inverse else preview.forward)[layer]  # (lines, points, 2)
    fig = go.Figure()
    for k, line in enumerate(lines):
        fig.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines",
                                 line=dict(color=GRID, width=1), hoverinfo="skip",
                                 name="grid", legendgroup="grid", showlegend=k == 0))
    if not inverse:
        points = preview.points_forward[layer]
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers",
                                 marker=dict(size=3, color=DATA), name="training points"))
    total = len(preview.layer_names)
    if inverse:
        where = "z" if layer == 0 else f"after f⁻¹ of {preview.layer_names[total - layer]}"
    else:
        where = "x (data)" if layer == 0 else f"after {preview.layer_names[layer - 1]}"
    ends = np.abs(lines).max() if np.isfinite(lines).all() else 4.0
    return _square(fig, float(min(max(ends, 3.0), 8.0)), height, where)


def nll_figure(losses: dict, *, height: int = 300) -> go.Figure:
    """Training NLL per step and its two terms: -log N(f(x)) (the base) and -log|det|."""
    fig = go.Figure()
    names = {"loss": "NLL = base + log-det", "base": "−log N(f(x); 0, I)",
             "log_det": "−log |det ∂f/∂x|"}
    for key, label in names.items():
        values = np.asarray(losses.get(key, ()), dtype=float)
        if len(values) > 400:  # window means keep the figure small
            width = len(values) // 400
            values = values[: width * 400].reshape(400, width).mean(1)
            steps = np.arange(400) * width + width / 2
        else:
            steps = np.arange(1, len(values) + 1)
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines", name=label))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      title="NLL while training (nats)", xaxis_title="step",
                      legend=dict(orientation="h", y=-0.25))
    return fig


def nll_bars(preview, *, height: int = 260) -> go.Figure:
    """The test NLL split into its terms, beside the single Gaussian's NLL."""
    labels = ["−log N(f(x))", "−log |det|", "flow NLL", "one Gaussian"]
    values = [preview.base, preview.log_det, preview.nll, preview.gaussian]
    fig = go.Figure(go.Bar(x=labels, y=values, text=[f"{v:.2f}" for v in values],
                           marker_color=["#9ecae1", "#fdae6b", DATA, GRID]))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      title="Test NLL (nats, lower is better)")
    return fig


def samples_figure(preview, *, height: int = 420) -> go.Figure:
    """Samples x = f⁻¹(z) beside the training points."""
    fig = go.Figure([
        go.Scatter(x=preview.train[:, 0], y=preview.train[:, 1], mode="markers",
                   marker=dict(size=3, color=DATA, opacity=0.5), name="data"),
        go.Scatter(x=preview.samples[:, 0], y=preview.samples[:, 1], mode="markers",
                   marker=dict(size=3, color=SAMPLES), name="samples f⁻¹(z)")])
    return _square(fig, preview.extent, height, "Samples")
