"""The Playground page's panels: the network and its decision surface, the half-space view, the points you click."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.images.plots import diverging_rgb
from explorer.jobs.bounded_cache import BoundedCache
from explorer.playground import figures, halfspace
from explorer.playground.datasets import CLICKED, EXTENT, make_data
from explorer.playground.job import PlaygroundSnapshot
from explorer.playground.script import playground_script
from explorer.playground.settings import MAX_CLICKED, PlaygroundSettings
from explorer.ui.playground.form import CLICKED_KEY, PAGE, chosen_dataset
from explorer.ui.playground.run import preview, status
from explorer.ui.presenter import presenting
from explorer.ui.state import kept, number_in, seed
from explorer.ui.widgets import code_panel

CHART = {"displayModeBar": False}
CLICK_STEP = 0.5  # the click targets' spacing in plane units (25 x 25 targets)


def _snap(settings: PlaygroundSettings, snap: PlaygroundSnapshot | None) -> PlaygroundSnapshot:
    """The run's snapshot; before its first frame (or without a run) with the initial weights,
    which the seed fixes: the run starts from exactly these."""
    if snap is None:
        return preview(settings)
    if snap.weights is None:
        return dataclasses.replace(snap, weights=preview(snap.settings).weights)
    return snap


@st.cache_data(max_entries=64, show_spinner=False)
def _data(settings: PlaygroundSettings):
    """The run's points (the same seed gives the same split as the job's)."""
    return make_data(settings.dataset, settings.points, settings.noise, settings.test_fraction,
                     settings.seed, settings.clicked, settings.problem)


@st.cache_resource
def _figure_cache() -> BoundedCache:
    """Figures of every tab's runs, by (panel, run, frame): a class following one shared run
    builds each frame's figures once (a 6 x 16 network's take about 0.3 s). Shared and never
    changed after they are made (st.plotly_chart only reads a figure)."""
    return BoundedCache(max_entries=256, max_bytes=256 * 2**20, size=lambda _figures: 2**20)


def _cached(panel: str, snap: PlaygroundSnapshot, build: Callable[[], Any], *extra: Hashable):
    run_key = (snap.job_id, snap.frame) if snap.job_id else (snap.settings,)
    return _figure_cache().get_or_compute((panel, *run_key, *extra), build)


def network_panel(settings: PlaygroundSettings, snap: PlaygroundSnapshot | None) -> None:
    """Decision surface with train and test points beside the network graph, loss curves."""
    snap = _snap(settings, snap)
    settings = snap.settings
    st.markdown(status(snap))
    height = 400 if presenting() else 440

    def build() -> tuple[go.Figure, go.Figure]:
        view = figures.plane_view(settings, snap.weights)
        thumbs = figures.neuron_images(settings, figures.plane_view(
            settings, snap.weights, figures.THUMB_RESOLUTION))
        return (figures.decision_figure(settings, view, _data(settings), height=height),
                figures.network_figure(settings, snap.weights, thumbs, height=height))

    surface, graph = _cached("network", snap, build, height)
    left, right = st.columns([5, 6])
    left.plotly_chart(surface, width="stretch", config=CHART, key=f"{PAGE}.surface")
    right.plotly_chart(graph, width="stretch", config=CHART, key=f"{PAGE}.graph")
    if snap.curve_steps:
        st.plotly_chart(figures.loss_figure(snap.curve_steps, snap.curve_train,
                                            snap.curve_test, problem=settings.problem),
                        width="stretch", config=CHART, key=f"{PAGE}.loss")
    st.caption("Colours: blue −1 … white 0 … red +1 (the output is 2p − 1 for a class "
               "probability p). Points with a black rim are test points, never trained on. "
               "Each neuron is drawn as its output over the plane; edges are weights, wider "
               "for larger |w|, red positive, blue negative.")


def halfspace_panel(settings: PlaygroundSettings, snap: PlaygroundSnapshot | None, *,
                    unit: int = 0) -> None:
    """The lecture's hidden unit as a half-space, and the output as their combination."""
    snap = _snap(settings, snap)
    settings = snap.settings
    st.markdown(status(snap))
    height = 350 if presenting() else 460

    def build() -> tuple:
        units = halfspace.first_units(settings, snap.weights)
        chosen = units[min(unit, len(units) - 1)]
        combined = None if not settings.hidden else halfspace.combination_figure(
            settings, snap.weights, figures.plane_view(settings, snap.weights),
            _data(settings), height=height)
        return (chosen, halfspace.halfspace_figure(settings, chosen, height=height), combined,
                halfspace.output_terms(settings, snap.weights))

    chosen, unit_figure, combined, terms = _cached("halfspace", snap, build, unit, height)
    left, right = st.columns(2)
    left.plotly_chart(unit_figure, width="stretch", config=CHART, key=f"{PAGE}.halfspace")
    if combined is not None:
        right.plotly_chart(combined, width="stretch", config=CHART, key=f"{PAGE}.combination")
    else:
        right.info("With no hidden layer the output unit is itself one half-space (left): a "
                   "single line is all this network can draw.", icon=":material/info:")
    if chosen.straight:
        st.caption(f"z = w·x + b is 0 on the black line, which is perpendicular to w (green) "
                   f"and shifted from the dashed line through the origin by −b/‖w‖ = "
                   f"{chosen.shift:.2f}. On the dotted circle a is largest at the star, where "
                   "x points along w (Cauchy–Schwarz: w·x ≤ ‖w‖‖x‖).")
    if terms is not None:
        st.markdown("**The output's score, term by term:** z_out = c + Σⱼ vⱼ aⱼ(x) "
                    "(blue − … white 0 … red +, one scale)")
        limit = max(float(np.abs(values).max()) for _, values in terms) or 1.0
        columns = st.columns(min(len(terms), 9))
        for index, (title, values) in enumerate(terms[:-1][:8] + terms[-1:]):
            columns[index % len(columns)].image(diverging_rgb(values[::-1], limit),
                                                caption=title, width="stretch",
                                                output_format="PNG")


def code(settings: PlaygroundSettings | None, steps: int) -> None:
    """"Show the code": a plain PyTorch script that reproduces this run (same seed, same
    batches) and saves its decision surface."""
    if settings is not None:
        code_panel(playground_script(settings, max(steps, 1)))


def unit_choice(settings: PlaygroundSettings | None) -> int:
    """Which first-layer unit the half-space view shows (a link parameter too)."""
    count = (settings.hidden[0] if settings is not None and settings.hidden else 1)
    if count == 1:
        return 0
    chosen = st.segmented_control(
        "Hidden unit of layer 1", list(range(count)), format_func=lambda j: f"unit {j + 1}",
        label_visibility="collapsed",
        key=seed(kept(f"{PAGE}.unit"), 0, valid=number_in(0, count - 1, integer=True),
                 url="pg_unit"))
    return int(chosen or 0)


# -- clicked points -------------------------------------------------------------------


def _click_figure(settings: PlaygroundSettings | None, points: list) -> go.Figure:
    axis = np.arange(-EXTENT + CLICK_STEP, EXTENT, CLICK_STEP)
    x1, x2 = np.meshgrid(axis, axis)
    figure = go.Figure(go.Scatter(x=x1.ravel(), y=x2.ravel(), mode="markers",
                                  marker={"size": 14, "symbol": "square", "opacity": 0.02,
                                          "color": "#888"}, hoverinfo="x+y", name="targets"))
    table = np.asarray(points, dtype=float).reshape(-1, 3) if points else np.zeros((0, 3))
    for value, colour in ((1.0, figures.CLASS_COLOURS[1.0]), (-1.0, figures.CLASS_COLOURS[0.0])):
        chosen = table[table[:, 2] == value]
        figure.add_trace(go.Scatter(x=chosen[:, 0], y=chosen[:, 1], mode="markers",
                                    marker={"size": 10, "color": colour,
                                            "line": {"color": "white", "width": 1}},
                                    hoverinfo="skip", name=f"{value:+g}"))
    return figures.square_plane(figure, 460 if not presenting() else 400)


def data_panel(settings: PlaygroundSettings | None) -> None:
    """Click points onto the plane (for the dataset "Your points")."""
    points = st.session_state.get(CLICKED_KEY) or []
    if chosen_dataset() != CLICKED:
        st.info("Choose **Your points** as the dataset in the sidebar to train on points you "
                "click here.", icon=":material/ads_click:")
    label_key = f"{PAGE}.click_value"
    left, right = st.columns([3, 1])
    with right:
        st.radio("Next click adds", (1.0, -1.0), key=label_key,
                 format_func=lambda v: "red (+1)" if v > 0 else "blue (−1)")
        st.metric("Points", f"{len(points)} / {MAX_CLICKED}")
        if st.button("Clear points", icon=":material/delete:", key=f"{PAGE}.clear"):
            st.session_state[CLICKED_KEY] = []
            st.rerun()

    def clicked() -> None:
        event = st.session_state.get(f"{PAGE}.click")
        chosen = [p for p in (event.selection.points if event else [])
                  if p.get("curve_number") == 0]
        current = list(st.session_state.get(CLICKED_KEY) or [])
        if not chosen or len(current) >= MAX_CLICKED:
            return
        x, y = float(chosen[0]["x"]), float(chosen[0]["y"])
        if abs(x) <= EXTENT and abs(y) <= EXTENT:
            current.append([round(x, 2), round(y, 2),
                            float(st.session_state.get(label_key, 1.0))])
            st.session_state[CLICKED_KEY] = current

    with left:
        st.plotly_chart(_click_figure(settings, points), width="stretch", key=f"{PAGE}.click",
                        on_select=clicked, selection_mode="points", config=CHART)
