"""The Playground page's settings: sidebar widgets, each a link parameter, checked into PlaygroundSettings."""

from __future__ import annotations

import math
import re
from typing import Any

import streamlit as st

from explorer.playground.datasets import CLICKED, DATASETS, EXTENT, datasets_for
from explorer.playground.settings import (
    ACTIVATIONS,
    FEATURES,
    MAX_CLICKED,
    MAX_DEPTH,
    MAX_WIDTH,
    ONE_CLASS_ONLY,
    OPTIMISERS,
    PROBLEMS,
    REGULARISERS,
    TOO_FEW_POINTS,
    PlaygroundSettings,
    parse_hidden,
)
from explorer.ui.state import Check, kept, number_in, one_of, seed

PAGE = "playground"
RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REG_RATES = (0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
BUDGETS = (5, 10, 20, 30, 60, 120)
CLICKED_KEY = kept(f"{PAGE}.clicked")  # [[x1, x2, +1 | -1], ...] the user's points
DEFAULT = PlaygroundSettings()


def key(name: str) -> str:
    return kept(f"{PAGE}.{name}")


def _seeded(name: str, default: Any, valid: Any, url: str,
            link_valid: Any = None) -> str:
    return seed(key(name), default, valid=valid, url=url, link_valid=link_valid)


def _features_check() -> Check:
    def valid(value: Any) -> bool:
        return isinstance(value, list | tuple) and len(value) > 0 \
            and all(isinstance(v, str) and v in FEATURES for v in value) \
            and len(set(value)) == len(value)
    return Check(valid, list)


def _hidden_check() -> Check:
    """Any short text or whole number (a link's 8 decodes as a number); parse_hidden judges."""
    return Check(lambda v: isinstance(v, str) and len(v) <= 60
                 or isinstance(v, int) and not isinstance(v, bool), str)


def _hidden_link() -> Check:
    """A link's hidden layers: a whole number (one layer; 0 for none) or a comma list of
    widths, each 1 to MAX_WIDTH, at most MAX_DEPTH of them (else a note, and the default)."""
    def valid(value: Any) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):
            return 0 <= value <= MAX_WIDTH
        if not isinstance(value, str) or not re.fullmatch(r"\s*\d{1,2}(\s*,\s*\d{1,2})+\s*",
                                                          value):
            return False
        widths = parse_hidden(value)
        return len(widths) <= MAX_DEPTH and all(1 <= w <= MAX_WIDTH for w in widths)
    return Check(valid, str)


def _clicked_link() -> Check:
    """A link's points: at most MAX_CLICKED rows [x1, x2, +1 | -1] inside the plane."""
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    def valid(value: Any) -> bool:
        return isinstance(value, list | tuple) and len(value) <= MAX_CLICKED and all(
            isinstance(row, list | tuple) and len(row) == 3 and all(map(number, row))
            and abs(row[0]) <= EXTENT and abs(row[1]) <= EXTENT and row[2] in (-1, 1)
            for row in value)
    return Check(valid, lambda value: [list(row) for row in value])


def _clicked_check() -> Check:
    """A list of [x1, x2, value] rows (the settings check the numbers and the plane)."""
    def valid(value: Any) -> bool:
        return isinstance(value, list | tuple) and all(
            isinstance(row, list | tuple) and len(row) == 3 for row in value)
    return Check(valid, lambda value: [list(row) for row in value])


def chosen_dataset() -> str | None:
    """The dataset picked in the sidebar, even while other settings are invalid."""
    problem = st.session_state.get(key("problem")) or DEFAULT.problem
    return st.session_state.get(key(f"dataset.{problem}"))


def show_problem(problem: str) -> None:
    """Why the settings cannot run: a hint while one's own points are still being clicked (how
    that dataset starts, not a mistake), else an error."""
    if problem in (TOO_FEW_POINTS, ONE_CLASS_ONLY):
        st.info(f"Your points: {problem}, in the **Data** tab; **Start** waits for them.",
                icon=":material/ads_click:")
    else:
        st.error(f"These settings cannot run: {problem}.", icon=":material/error:")


def settings_form() -> tuple[PlaygroundSettings | None, str | None]:
    """The sidebar's widgets -> (settings, None), or (None, what is wrong) for a bad value."""
    st.sidebar.subheader("Data")
    problem = st.sidebar.segmented_control(
        "Problem", list(PROBLEMS), key=_seeded("problem", DEFAULT.problem,
                                               one_of(PROBLEMS), "pg_problem"),
        format_func=str.capitalize)
    problem = problem or DEFAULT.problem
    choices = datasets_for(problem)
    dataset = st.sidebar.selectbox(
        "Dataset", choices, key=_seeded(f"dataset.{problem}", choices[0], one_of(choices),
                                        "pg_data"),
        format_func=lambda k: DATASETS[k].label, help="Your points: click them onto the plane "
        "in the Data tab.")
    noise = st.sidebar.slider("Noise", 0.0, 0.5, step=0.05,
                              key=_seeded("noise", DEFAULT.noise, number_in(0, 0.5), "pg_noise"))
    test = st.sidebar.slider("Test share", 0.1, 0.9, step=0.1,
                             key=_seeded("test", DEFAULT.test_fraction, number_in(0.1, 0.9),
                                         "pg_test"), help="The share of points held out as test "
                             "points (drawn with a black rim).")
    points = st.sidebar.slider("Points", 100, 2000, step=100,
                               key=_seeded("points", DEFAULT.points,
                                           number_in(100, 2000, integer=True), "pg_points"))
    st.sidebar.subheader("Network")
    features = st.sidebar.multiselect(
        "Input features", list(FEATURES), key=_seeded("features", list(DEFAULT.features),
                                                      _features_check(), "pg_features"),
        format_func=lambda k: FEATURES[k].label,
        help="What the first layer sees: x₁ and x₂ alone make it learn every curve itself.")
    hidden_text = st.sidebar.text_input(
        "Neurons per hidden layer", key=_seeded("hidden", "4, 2", _hidden_check(), "pg_hidden",
                                                      _hidden_link()),
        help=f"Comma-separated, e.g. 8, 8; empty or 0 for no hidden layer (at most "
             f"{MAX_DEPTH} layers of {MAX_WIDTH}).")
    activation = st.sidebar.selectbox(
        "Activation", list(ACTIVATIONS), format_func=lambda k: ACTIVATIONS[k].label,
        key=_seeded("activation", DEFAULT.activation, one_of(list(ACTIVATIONS)), "pg_act"))
    st.sidebar.subheader("Training")
    optimiser = st.sidebar.selectbox(
        "Optimiser", list(OPTIMISERS), format_func=lambda k: {"adam": "Adam"}.get(k, "SGD"),
        key=_seeded("optimiser", DEFAULT.optimiser, one_of(list(OPTIMISERS)), "pg_opt"))
    rate = st.sidebar.select_slider(
        "Learning rate", RATES, key=_seeded("rate", DEFAULT.learning_rate, one_of(RATES), "pg_lr"))
    batch = st.sidebar.slider("Batch size", 1, 100, key=_seeded(
        "batch", DEFAULT.batch_size, number_in(1, 100, integer=True), "pg_batch"))
    regulariser = st.sidebar.selectbox(
        "Regularisation", list(REGULARISERS), format_func=lambda k: k.upper() if k != "none"
        else "None", key=_seeded("reg", DEFAULT.regularisation, one_of(REGULARISERS), "pg_reg"))
    reg_rate = st.sidebar.select_slider(
        "Regularisation rate", REG_RATES, disabled=regulariser == "none",
        key=_seeded("reg_rate", 0.0, one_of(REG_RATES), "pg_reg_rate"))
    seed_value = st.sidebar.number_input(
        "Seed", 0, 2**31 - 1, step=1, key=_seeded("seed", DEFAULT.seed,
                                                  number_in(0, 2**31 - 1, integer=True), "pg_seed"),
        help="The same seed and settings give the same data, weights and run, for everyone.")
    budget = st.sidebar.select_slider(
        "Budget (seconds of training)", BUDGETS,
        key=_seeded("budget", 10, one_of(BUDGETS), "pg_budget"),
        help="Seconds of computing, not of waiting: a class shares the cores, so a run of "
        "10 s may take longer on a busy server.")
    clicked = st.session_state.get(seed(CLICKED_KEY, [], valid=_clicked_check(),
                                        url="pg_clicked", link_valid=_clicked_link()))
    try:
        hidden = parse_hidden(hidden_text)
        settings = PlaygroundSettings(
            problem=problem, dataset=dataset, points=int(points), noise=float(noise),
            test_fraction=float(test), features=tuple(features), hidden=hidden,
            activation=activation, optimiser=optimiser, learning_rate=float(rate),
            batch_size=int(batch), regularisation=regulariser,
            regularisation_rate=float(reg_rate) if regulariser != "none" else 0.0,
            seed=int(seed_value), max_seconds=float(budget),
            clicked=_clicked_tuple(clicked) if dataset == CLICKED else ())
    except (ValueError, TypeError) as error:
        return None, str(error)
    return settings, None


def _clicked_tuple(rows: Any) -> tuple[tuple[float, float, float], ...]:
    """The session's clicked rows as the settings want them (checked there)."""
    if len(rows) > MAX_CLICKED:
        raise ValueError(f"at most {MAX_CLICKED} clicked points, not {len(rows)}: clear some")
    return tuple(tuple(float(v) if isinstance(v, int | float) and not isinstance(v, bool)
                       else float("nan") for v in row) for row in rows)
