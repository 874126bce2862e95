"""Figures of the diffusion model: the schedule's beta_t and sqrt(alpha-bar_t) with the chosen t,
x_t along the forward process, and frame strips of the reverse chain (plotly / numpy)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.generative.diffusion import Schedule


def schedule_figure(schedules: dict[str, Schedule], t: int, *, height: int = 300) -> go.Figure:
    """sqrt(alpha-bar_t) (the signal kept) and sqrt(1 - alpha-bar_t) (the noise) per schedule,
    beta_t on a second axis, and a line at t."""
    fig = go.Figure()
    for name, schedule in schedules.items():
        steps = np.arange(1, schedule.steps + 1)
        ab = schedule.alpha_bar.numpy()
        fig.add_trace(go.Scatter(x=steps, y=np.sqrt(ab), mode="lines", name=f"√ᾱ_t ({name})"))
        fig.add_trace(go.Scatter(x=steps, y=schedule.betas.numpy(), mode="lines",
                                 line=dict(dash="dot"), name=f"β_t ({name})", yaxis="y2"))
    fig.add_vline(x=t, line=dict(color="black", width=1))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      title="The noise schedule", xaxis_title="t",
                      yaxis=dict(title="√ᾱ_t", range=[0, 1.02]),
                      yaxis2=dict(title="β_t", overlaying="y", side="right", rangemode="tozero",
                                  showgrid=False),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def as_rgb(frames: np.ndarray) -> np.ndarray:
    """(F, 1 | 3, H, W) -> (F, 3, H, W) float32 clipped to [0, 1]: grey repeated to RGB."""
    x = np.clip(np.asarray(frames, dtype=np.float32), 0, 1)
    return x.repeat(3, axis=1) if x.shape[1] == 1 else x


def strip(frames: np.ndarray, scale: int = 3, pad: int = 2) -> np.ndarray:
    """Frames (F, 1 | 3, H, W) in [0, 1] -> one uint8 RGB strip (H scale, F (W scale + pad))
    with white gaps, each frame enlarged by pixel repetition (crisp on a projector)."""
    x = as_rgb(frames)
    x = x.repeat(scale, axis=2).repeat(scale, axis=3).transpose(0, 2, 3, 1)  # (F, h, w, 3)
    f, h, w, _ = x.shape
    out = np.ones((h, f * (w + pad) - pad, 3), dtype=np.float32)
    for i in range(f):
        out[:, i * (w + pad): i * (w + pad) + w] = x[i]
    return (out * 255).round().astype(np.uint8)


def to_display(x: np.ndarray) -> np.ndarray:
    """x_t in model units ([-1, 1] data plus noise) -> [0, 1] for a picture (clipped)."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1) / 2, 0, 1)
