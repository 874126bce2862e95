"""The ILSVRC story: the lecture's top-5 error by year beside each network's parameters and GFLOPS
from torchvision's weights metadata (read offline: no download, no model built)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torchvision.models import get_model_weights

from explorer.lecture import reference as lecture


@dataclass(frozen=True)
class Entry:
    label: str  # a key of lecture.ILSVRC_TOP5_ERROR
    year: int  # the ILSVRC it took part in
    torchvision: str | None  # the network whose weights' meta gives parameters and GFLOPS
    pretrained: str | None  # the Pretrained page's `model` for it (its closest network)
    note: str


# One registry: the points of the chart, in the lecture's order
ENTRIES: dict[str, Entry] = {
    "runner-up": Entry("2012 runner-up", 2012, None, None,
                       "Second in 2012, without a deep network (the lecture's 25.6 %)."),
    "alexnet": Entry("AlexNet", 2012, "alexnet", "alexnet",
                     "Won 2012: 5 conv + 3 dense layers, ReLU, max pooling, dropout."),
    "vgg16": Entry("VGG16", 2014, "vgg16", "vgg16",
                   "2014: only 3x3 kernels, 16 layers; about 3x AlexNet's parameters."),
    "googlenet": Entry("GoogLeNet", 2014, "googlenet", "googlenet",
                       "Won 2014: 22 layers of inception modules, about 5 million parameters."),
    "resnet": Entry("ResNet", 2015, "resnet152", "resnet50",
                    "Won 2015 with ResNet-152 (residual blocks); the Pretrained page's deepest "
                    "ResNet is ResNet-50."),
}
WEIGHTS = "IMAGENET1K_V1"  # the first weights torchvision published for each: the paper's recipe


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    year: int
    top5_error: float  # %, the lecture's (the competition's, test set)
    network: str | None  # torchvision's name
    parameters_m: float | None  # meta["num_params"] / 1e6
    gflops: float | None  # meta["_ops"]: torchvision's GFLOPS count multiply-adds
    torchvision_top5_error: float | None  # 100 - meta acc@5 (one 224 crop, the validation set)
    link: str | None  # the Pretrained page, set up for it

    @property
    def short(self) -> str:
        return self.label.removeprefix(f"{self.year} ")  # "runner-up": the year is below it

    @property
    def tick(self) -> str:
        return f"{self.short}<br>{self.year}"


def pretrained_link(model: str) -> str:
    return "/pretrained?" + urlencode({"model": model, "tab": "Architecture"})


def rows() -> list[Row]:
    """Every entry with the lecture's error and its network's metadata."""
    found = []
    for key, entry in ENTRIES.items():
        meta = None
        if entry.torchvision is not None:
            meta = get_model_weights(entry.torchvision)[WEIGHTS].meta
        found.append(Row(
            key=key, label=entry.label, year=entry.year,
            top5_error=lecture.ILSVRC_TOP5_ERROR[entry.label], network=entry.torchvision,
            parameters_m=None if meta is None else meta["num_params"] / 1e6,
            gflops=None if meta is None else float(meta["_ops"]),
            torchvision_top5_error=None if meta is None else
            round(100.0 - float(meta["_metrics"]["ImageNet-1K"]["acc@5"]), 3),
            link=None if entry.pretrained is None else pretrained_link(entry.pretrained),
        ))
    return found


def _tick_text(row: Row) -> str:
    """The category label; a link to the Pretrained page where there is a network."""
    if row.link is None:
        return row.tick
    return f'<a href="{row.link}" target="_self">{row.short}</a><br>{row.year}'


def story_figure(table: list[Row], *, height: int = 380) -> go.Figure:
    """Three panels over the same networks in time order: the lecture's top-5 error, then
    parameters (millions) and GFLOPS from torchvision's metadata."""
    figure = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "ILSVRC top-5 error (%)", "Parameters (millions)", "GFLOPS (multiply-adds, 224x224)"))
    ticks = [r.tick for r in table]
    text = [_tick_text(r) for r in table]
    colours = ["#999999" if r.network is None else "#1f5fbf" for r in table]
    panels = (
        ([r.top5_error for r in table], "{:.1f} %"),
        ([r.parameters_m for r in table], "{:.1f} M"),
        ([r.gflops for r in table], "{:.2f}"),
    )
    for column, (values, form) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(
            x=ticks, y=[v if v is not None else 0 for v in values], marker_color=colours,
            text=[form.format(v) if v is not None else "no network" for v in values],
            # the error's labels sit inside the bars: the diamonds are above them
            textposition="inside" if column == 1 else "outside", insidetextanchor="end",
            cliponaxis=False, showlegend=False,
            hovertemplate="%{x}: %{text}<extra></extra>"), row=1, col=column)
        figure.update_xaxes(tickvals=ticks, ticktext=text, tickangle=0, tickfont={"size": 11},
                            row=1, col=column)
    figure.add_trace(go.Scatter(
        x=[r.tick for r in table if r.torchvision_top5_error is not None],
        y=[r.torchvision_top5_error for r in table if r.torchvision_top5_error is not None],
        mode="markers", name="torchvision's weights<br>(1 crop, validation)",
        marker={"symbol": "diamond", "size": 10, "color": "#ff7f0e"}), row=1, col=1)
    top = max(r.top5_error for r in table)
    figure.update_yaxes(range=[0, top * 1.2], row=1, col=1)
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         legend={"x": 0.29, "y": 1.0, "xanchor": "right", "yanchor": "top",
                                 "bgcolor": "rgba(255,255,255,0.8)", "font": {"size": 11}},
                         bargap=0.25)
    return figure
