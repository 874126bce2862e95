"""The model families compared: torchvision's ImageNet metadata for every zoo network, as a chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from torchvision.models import get_model_weights

from explorer.networks.model_registry import MODELS


@dataclass(frozen=True)
class FamilyRow:
    name: str
    label: str
    family: str
    year: int | None
    parameters_m: float  # millions
    top1: float  # ImageNet-1K accuracy, %
    top5: float
    gflops: float  # meta["_ops"]: torchvision's "GFLOPS" count multiply-adds (GMACs)
    file_mb: float


def families_table() -> list[FamilyRow]:
    """Every registry model's DEFAULT weights' meta (no download, no model built)."""
    rows = []
    for name, spec in MODELS.items():
        meta = get_model_weights(spec.torchvision).DEFAULT.meta
        metrics = meta["_metrics"]["ImageNet-1K"]
        rows.append(FamilyRow(
            name=name,
            label=spec.label,
            family=spec.family,
            year=spec.year,
            parameters_m=meta["num_params"] / 1e6,
            top1=float(metrics["acc@1"]),
            top5=float(metrics["acc@5"]),
            gflops=float(meta["_ops"]),
            file_mb=float(meta["_file_size"]),
        ))
    return rows


def _labels_below(rows: Sequence[FamilyRow]) -> set[str]:
    """Networks whose label goes under the marker: the lower of two points closer than 0.35
    decade in compute and 4 points in accuracy (their labels would overlap above)."""
    below = set()
    for a in rows:
        for b in rows:
            near = (abs(math.log10(a.gflops) - math.log10(b.gflops)) < 0.35
                    and abs(a.top1 - b.top1) < 4)
            if a is not b and near and (a.top1, a.name) < (b.top1, b.name):
                below.add(a.name)
    return below


def families_figure(rows: Sequence[FamilyRow]) -> go.Figure:
    """Top-1 accuracy against compute (log scale); marker area proportional to parameters."""
    figure = go.Figure()
    largest = max((r.parameters_m for r in rows), default=1.0)
    below = _labels_below(rows)
    for family in dict.fromkeys(r.family for r in rows):
        members = [r for r in rows if r.family == family]
        figure.add_trace(go.Scatter(
            x=[r.gflops for r in members],
            y=[r.top1 for r in members],
            mode="markers+text",
            name=family,
            text=[r.label for r in members],
            textposition=["bottom center" if r.name in below else "top center" for r in members],
            cliponaxis=False,
            marker={
                "size": [r.parameters_m for r in members],
                "sizemode": "area",
                "sizeref": 2.0 * largest / 60**2,  # the largest marker is 60 px across
                "sizemin": 4,
                "line": {"width": 1, "color": "white"},
            },
            customdata=[[r.parameters_m, r.top5, r.file_mb, r.year or ""] for r in members],
            hovertemplate=(
                "<b>%{text}</b> (%{customdata[3]})"
                "<br>top-1 %{y:.1f} %, top-5 %{customdata[1]:.1f} %"
                "<br>%{x:.2f} GFLOPS, %{customdata[0]:.1f} M parameters, %{customdata[2]:.0f} MB"
                "<extra></extra>"
            ),
        ))
    figure.update_layout(
        title="ImageNet accuracy vs compute (marker area = parameters)",
        xaxis={
            "title": "GFLOPS per 224 x 224 image (torchvision's: multiply-adds), log scale",
            "type": "log",
            # half a decade of room on each side, so the outermost labels are not cut
            "range": [math.log10(min(r.gflops for r in rows)) - 0.5,
                      math.log10(max(r.gflops for r in rows)) + 0.5] if rows else None,
        },
        yaxis={"title": "top-1 accuracy (%)"},
        legend={"title": "family"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return figure
