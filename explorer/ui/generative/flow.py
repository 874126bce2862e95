"""The Generative models page's normalizing-flow tab: data (moons, rings or drawn points), the
coupling flow's settings, Train / Stop / Restart, the density heat map, a grid through f and
f^-1 layer by layer, the NLL with its log-det term apart, and samples."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.generative import flow
from explorer.generative.flow_plots import (
    density_figure,
    layer_figure,
    nll_bars,
    nll_figure,
    samples_figure,
)
from explorer.generative.job import GenerativeSnapshot
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.ui.generative import live
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel
from explorer.user_input import InputError

TAB = "flow"
K = f"generative.{TAB}."
DRAWN_KEY = kept(K + "drawn")  # [[x, y], ...] the user's points
COUPLINGS = (2, 4, 6, 8, 12, 16)
HIDDEN = (8, 16, 32, 64, 128)
RATES = (3e-4, 1e-3, 3e-3, 1e-2)
SECONDS = (10, 30, 60, 120)
STEPS = (100, 500, 2_000, 10_000, 100_000)  # whichever bound comes first: steps or seconds
CLICK_STEP = 0.25  # the drawing targets' spacing on the plane
CHART = {"displayModeBar": False}


def settings_form() -> flow.Settings | None:
    """The widgets (each in the link) -> Settings, or None with the message shown."""
    s = flow.Settings()
    data = seed(kept(K + "data"), s.dataset, valid=one_of(list(flow.DATASETS)), url="fl_data")
    st.selectbox("Data", list(flow.DATASETS), key=data,
                 format_func=lambda k: flow.DATASETS[k].label,
                 help="Your points: click them onto the plane below the settings.")
    left, right = st.columns(2)
    noise = seed(kept(K + "noise"), s.noise, valid=number_in(0, 0.5), url="fl_noise")
    left.slider("Noise", 0.0, 0.5, step=0.05, key=noise)
    couplings = seed(kept(K + "couplings"), s.couplings, valid=one_of(COUPLINGS),
                     url="fl_couplings")
    right.select_slider("Couplings", COUPLINGS, key=couplings)
    hidden = seed(kept(K + "hidden"), s.hidden, valid=one_of(HIDDEN), url="fl_hidden")
    left.select_slider("Hidden units", HIDDEN, key=hidden)
    rate = seed(kept(K + "lr"), s.learning_rate, valid=one_of(RATES), url="fl_lr")
    right.select_slider("Learning rate", RATES, key=rate, format_func=lambda r: f"{r:g}")
    seconds = seed(kept(K + "seconds"), int(s.max_seconds), valid=one_of(SECONDS),
                   url="fl_seconds")
    left.select_slider("Seconds", SECONDS, key=seconds)
    steps = seed(kept(K + "steps"), s.max_steps, valid=one_of(STEPS), url="fl_steps")
    right.select_slider("Steps", STEPS, key=steps, format_func=lambda n: f"{n:,}")
    seed_key = seed(kept(K + "seed"), 0, valid=number_in(0, 9_999, integer=True), url="fl_seed")
    left.number_input("Seed", 0, 9_999, key=seed_key)
    try:
        return flow.Settings(
            dataset=st.session_state[data], noise=float(st.session_state[noise]),
            couplings=st.session_state[couplings], hidden=st.session_state[hidden],
            learning_rate=st.session_state[rate], max_seconds=float(st.session_state[seconds]),
            max_steps=int(st.session_state[steps]), seed=int(st.session_state[seed_key]),
            drawn=tuple(tuple(p) for p in st.session_state.get(DRAWN_KEY) or ()))
    except InputError as error:
        st.warning(str(error), icon=":material/edit:")
        return None


def _draw_points() -> None:
    """Click points onto the plane (the dataset "Your points")."""
    points = st.session_state.get(DRAWN_KEY) or []
    axis = np.arange(-flow.EXTENT + CLICK_STEP, flow.EXTENT, CLICK_STEP)
    xx, yy = np.meshgrid(axis, axis)
    table = np.asarray(points, dtype=float).reshape(-1, 2)
    figure = go.Figure([
        go.Scatter(x=xx.ravel(), y=yy.ravel(), mode="markers", hoverinfo="x+y", name="targets",
                   marker=dict(size=12, symbol="square", opacity=0.02, color="#888")),
        go.Scatter(x=table[:, 0], y=table[:, 1], mode="markers", hoverinfo="skip",
                   marker=dict(size=8, color="#1f77b4"), name="your points")])
    figure.update_layout(height=330, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    figure.update_xaxes(range=[-flow.EXTENT, flow.EXTENT])
    figure.update_yaxes(range=[-flow.EXTENT, flow.EXTENT], scaleanchor="x")

    def clicked() -> None:
        event = st.session_state.get(K + "click")
        chosen = [p for p in (event.selection.points if event else [])
                  if p.get("curve_number") == 0]
        current = list(st.session_state.get(DRAWN_KEY) or [])
        if not chosen or len(current) >= flow.MAX_DRAWN:
            return
        x, y = float(chosen[0]["x"]), float(chosen[0]["y"])
        rng = np.random.default_rng(len(current))  # a little spread around each click
        for dx, dy in rng.normal(0, 0.08, (5, 2)):
            if abs(x + dx) <= flow.EXTENT and abs(y + dy) <= flow.EXTENT:
                current.append([round(x + dx, 3), round(y + dy, 3)])
        st.session_state[DRAWN_KEY] = current[:flow.MAX_DRAWN]

    st.plotly_chart(figure, width="stretch", key=K + "click", on_select=clicked,
                    selection_mode="points", config=CHART)
    left, right = st.columns([2, 1])
    left.caption(f"{len(points)} of at most {flow.MAX_DRAWN:,} points: each click adds five "
                 "around it.")
    if right.button("Clear", icon=":material/delete:", key=K + "clear"):
        st.session_state[DRAWN_KEY] = []
        st.rerun()


def _preview(snap: GenerativeSnapshot | None, settings: flow.Settings | None):
    """The run's latest preview; before a run the shipped flow for its dataset, else the
    untrained flow (the identity after standardising)."""
    if snap is not None and isinstance(snap.preview, flow.Preview):
        return snap.preview
    if settings is None:
        return None
    shipped = _shipped()
    if shipped is not None and shipped.settings.dataset == settings.dataset:
        st.caption("Before your run: the shipped flow (assets/generative/flow.pt, "
                   f"{shipped.settings.dataset}, {shipped.settings.max_steps:,} steps).")
        return _shipped_preview()
    return _untrained(settings).preview()


@st.cache_resource(max_entries=1, show_spinner=False)
def _shipped() -> flow.FlowTrainer | None:
    from explorer.generative.autoencoder import pretrained_trainer

    return pretrained_trainer(flow, TAB)


@st.cache_resource(max_entries=1, show_spinner=False)
def _shipped_preview() -> flow.Preview:
    return _shipped().preview()


@st.cache_resource(max_entries=8, show_spinner=False)
def _untrained(settings: flow.Settings) -> flow.FlowTrainer:
    return flow.make_trainer(settings)


def _figures(preview: flow.Preview, losses: dict) -> None:
    view = st.segmented_control("Show", ["Density", "Layers", "Samples"], default="Density",
                                key=K + "view") or "Density"
    if view == "Density":
        st.plotly_chart(density_figure(preview), width="stretch", key=K + "density",
                        config=CHART)
    elif view == "Samples":
        st.plotly_chart(samples_figure(preview), width="stretch", key=K + "samples",
                        config=CHART)
    else:
        total = len(preview.layer_names)
        left, right = st.columns([1, 2])
        inverse = left.toggle("Inverse f⁻¹ (z → x)", key=K + "inverse")
        layer = right.slider("Layers applied", 0, total, total, key=K + "layer")
        st.plotly_chart(layer_figure(preview, int(layer), inverse=inverse), width="stretch",
                        key=K + "layers", config=CHART)
    left, right = st.columns(2)
    left.plotly_chart(nll_bars(preview), width="stretch", key=K + "bars", config=CHART)
    right.plotly_chart(nll_figure(losses), width="stretch", key=K + "curve", config=CHART)
    st.caption(f"Test NLL {preview.nll:.3f} = {preview.base:.3f} (−log N(f(x); 0, I)) + "
               f"{preview.log_det:.3f} (−log |det ∂f/∂x|) nats per point; one Gaussian fitted "
               f"to the same points: {preview.gaussian:.3f}.")


def panel() -> None:
    info = MODELS[TAB]
    st.markdown(f"**{info.label}**: {info.summary} Maximum likelihood: log p(x) = "
                "log N(f(x); 0, I) + log |det ∂f/∂x| (the lecture's J(θ), whose f⁻¹ is our f: "
                "the map from the data to the Gaussian).")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        settings = settings_form()
        if settings is not None:
            live.controls(TAB, TAB, settings, stacked=True)
        if st.session_state.get(kept(K + "data")) == flow.DRAWN:
            _draw_points()

    def draw(snap: GenerativeSnapshot | None) -> None:
        if snap is not None:
            st.markdown(live.status(snap))
        preview = _preview(snap, settings)
        if preview is None:
            return
        _figures(preview, snap.losses if snap is not None else {})

    with right:
        live.live(TAB, draw)
    if settings is not None:
        code_panel(generative_script(TAB, settings),
                   title=f"Show the code: {MODELS[TAB].label} as a script")
