"""Figures the generative tabs share: named loss curves (one axis or one panel each) and image
grids of samples (arrays the page shows as one picture)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MAX_POINTS = 400  # per curve: longer runs are averaged in windows (the figure stays small)


def thin(values: Sequence[float], max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(steps 1-based, values) with at most max_points points: means over equal windows."""
    y = np.asarray(values, dtype=np.float64)
    if len(y) <= max_points:
        return np.arange(1, len(y) + 1), y
    edges = np.linspace(0, len(y), max_points + 1).astype(int)
    means = np.add.reduceat(y, edges[:-1]) / np.diff(edges)
    return (edges[:-1] + edges[1:]) / 2 + 0.5, means


def loss_figure(losses: Mapping[str, Sequence[float]], names: Sequence[str] | None = None, *,
                separate: bool = False, max_steps: int | None = None, height: int = 300,
                log_y: bool = False) -> go.Figure:
    """The named losses per step: on one axis, or (separate=True) one panel each with its own
    y-axis (terms of different sizes, e.g. reconstruction and KL). `names` picks and orders the
    curves (default: all); max_steps fixes the x-axis to the whole run from the start."""
    names = [n for n in (names or list(losses)) if n in losses] or list(names or ["loss"])
    rows = len(names) if separate else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=names if separate else None)
    for i, name in enumerate(names):
        x, y = thin(losses.get(name, ()))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name),
                      row=i + 1 if separate else 1, col=1)
    fig.update_layout(height=height if not separate else max(height, 160 * rows),
                      margin=dict(l=10, r=10, t=30, b=10), showlegend=not separate,
                      legend=dict(orientation="h", y=1.08))
    fig.update_xaxes(title_text="step", row=rows, col=1)
    if max_steps:
        fig.update_xaxes(range=[0, max_steps])
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 1) -> np.ndarray:
    """Images (N, C, H, W) or (N, H, W) in [0, 1] -> one (rows*(H+pad)+pad, ...) RGB picture
    as uint8 (white gaps), for st.image."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, _, h, w = x.shape
    columns = max(1, min(columns, n)) if n else 1
    rows = max(1, -(-n // columns))
    out = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def scatter_figure(points: np.ndarray, labels: np.ndarray | None = None,
                   classes: Sequence[str] = (), *, height: int = 380,
                   title: str = "") -> go.Figure:
    """2-D points (N, 2) coloured by class (a legend entry per class), clickable."""
    fig = go.Figure()
    pts = np.asarray(points, dtype=np.float64)
    if labels is None:
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers",
                                 marker=dict(size=5), name="points"))
    else:
        for k in np.unique(labels):
            name = classes[int(k)] if int(k) < len(classes) else str(int(k))
            chosen = labels == k
            fig.add_trace(go.Scatter(x=pts[chosen, 0], y=pts[chosen, 1], mode="markers",
                                     marker=dict(size=5), name=name))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      title=title or None, xaxis_title="z1", yaxis_title="z2",
                      legend=dict(font=dict(size=10)))
    return fig
