"""The deep-networks figures: gradient norms per layer on a log scale, activation statistics,
the live steps, residual-vs-plain training errors, the unravelled view's path lengths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.gradients.deepnet import GradientReport
from explorer.gradients.residual import VARIANTS, path_lengths
from explorer.gradients.settings import ACTIVATIONS

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _layers(count: int) -> list[int]:
    return list(range(1, count + 1))


def gradient_figure(report: GradientReport, label: str, *, height: int = 340) -> go.Figure:
    """||dL/dW|| of each layer, first (input) to last, on a log axis, with the first / last
    ratio in the title."""
    norms = report.gradient_norms
    figure = go.Figure(go.Bar(
        x=_layers(len(norms)), y=norms, marker_color="#1f77b4",
        text=[f"{v:.0e}" for v in norms], textposition="outside",
        hovertemplate="layer %{x}: |dL/dW| = %{y:.3e}<extra></extra>"))
    finite = norms[norms > 0]
    low = np.log10(finite.min()) - 0.5 if finite.size else -1
    high = np.log10(finite.max()) + 1.0 if finite.size else 1
    figure.update_layout(
        title=f"Gradient norm per layer ({label}): first / last = {report.ratio:.1e}",
        height=height, margin=MARGIN, showlegend=False,
        xaxis={"title": "layer (1 = next to the input)", "dtick": 1 if len(norms) <= 15 else 2},
        yaxis={"title": "‖dL/dW‖ (log scale)", "type": "log", "range": [low, high],
               "exponentformat": "power"})
    return figure


def activation_figure(report: GradientReport, activation: str, *,
                      height: int = 300) -> go.Figure:
    """Per layer: the mean slope h'(z) (the factor each layer multiplies the gradient by),
    the activations' standard deviation, and the share of flat units."""
    layers = _layers(len(report.slope_mean))
    figure = make_subplots(rows=1, cols=3, subplot_titles=(
        "mean slope h'(z)", "std of the activations h(z)", "share of flat units"))
    figure.add_trace(go.Scatter(x=layers, y=report.slope_mean, mode="lines+markers",
                                name="mean h'(z)"), row=1, col=1)
    figure.add_hline(y=ACTIVATIONS[activation].max_slope, line_dash="dot", row=1, col=1,
                     annotation_text=f"largest slope {ACTIVATIONS[activation].max_slope:g}")
    figure.add_trace(go.Scatter(x=layers, y=report.activation_std, mode="lines+markers",
                                name="std"), row=1, col=2)
    figure.add_trace(go.Bar(x=layers, y=report.flat_share, name="flat"), row=1, col=3)
    figure.update_yaxes(rangemode="tozero")
    figure.update_yaxes(range=[0, 1], row=1, col=3)
    figure.update_xaxes(title_text="layer")
    figure.update_layout(height=height, margin=MARGIN, showlegend=False)
    return figure


def steps_figure(changes: np.ndarray, losses: np.ndarray, *, height: int = 320) -> go.Figure:
    """Live steps: how far each layer's weights have moved, ||W(t) − W(0)|| / ||W(0)|| at the
    latest step (log scale), and the loss per step."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], subplot_titles=(
        "relative change of each layer's weights so far", "loss per step"))
    if len(changes):
        latest = np.maximum(changes[-1], 1e-300)  # log axis: a zero change at the bottom
        figure.add_trace(go.Bar(x=_layers(len(latest)), y=latest, marker_color="#ff7f0e",
                                hovertemplate="layer %{x}: %{y:.2e}<extra></extra>"),
                         row=1, col=1)
        figure.add_trace(go.Scatter(x=_layers(len(losses)), y=losses, mode="lines"),
                         row=1, col=2)
    figure.update_yaxes(type="log", exponentformat="power", title_text="‖ΔW‖ / ‖W‖", row=1,
                        col=1)
    figure.update_xaxes(title_text="layer", row=1, col=1)
    figure.update_xaxes(title_text="step", row=1, col=2)
    figure.update_layout(height=height, margin=MARGIN, showlegend=False)
    return figure


def compare_figure(curves: Sequence[tuple[str, str, np.ndarray, np.ndarray]], *,
                   planned_steps: int | None = None, height: int = 360) -> go.Figure:
    """Training error (%) against steps, one line per network: (variant, label, steps,
    errors); `planned_steps`: the run's length, so the axis is the whole run's from the start."""
    figure = go.Figure()
    for variant, label, steps, errors in curves:
        figure.add_trace(go.Scatter(x=steps, y=100 * np.asarray(errors), mode="lines+markers",
                                    name=label, line={"color": VARIANTS[variant].colour}))
    figure.add_hline(y=90, line_dash="dot", annotation_text="chance (10 classes)")
    figure.update_layout(
        title="Training error on 500 training images", height=height, margin=MARGIN,
        xaxis={"title": "training step",
               **({"range": [0, planned_steps]} if planned_steps else {})},
        yaxis={"title": "training error (%)", "range": [0, 100]},
        legend={"orientation": "h", "y": -0.2})
    return figure


def paths_figure(blocks: int, band: tuple[int, int], *, height: int = 300) -> go.Figure:
    """How many of the 2^blocks paths of the unravelled view pass through k residual branches,
    the central 95 % shaded."""
    lengths, counts = path_lengths(blocks)
    share = np.array([float(c) for c in counts]) / 2.0**blocks
    inside = (lengths >= band[0]) & (lengths <= band[1])
    figure = go.Figure(go.Bar(
        x=lengths, y=share, marker_color=np.where(inside, "#1f77b4", "#c7c7c7"),
        hovertemplate="%{x} branches: %{y:.2%} of the paths<extra></extra>"))
    figure.update_layout(
        title=f"{blocks} blocks: 2^{blocks} = {2**blocks:,} paths; 95 % have "
              f"{band[0]}-{band[1]} branches",
        height=height, margin=MARGIN, xaxis={"title": "path length (residual branches passed)"},
        yaxis={"title": "share of paths", "tickformat": ".0%"})
    return figure
