"""The CNN layers page's "Pattern matching" tab: a template found by correlation, plain and
normalised, the lecture's 3x8 example, and conv vs dense parameters beside it."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.catalogue import PAGES_BY_KEY
from explorer.codegen.pattern_matching import pattern_code
from explorer.convolution import dense_conv
from explorer.convolution import pattern_matching as pm
from explorer.images import plots
from explorer.ui.convolution.kernel_paint import paint_grid
from explorer.ui.convolution.layers import scientific
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel

PAGE = "layers"
DRAWN = "drawn"  # the template choice that reads the painted grid
CHOICES = [*pm.TEMPLATES, DRAWN]


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.pm.{name}"), default, valid=valid, url=url)


def _is_grid(value) -> bool:
    """A link's or the painter's grid: rows of plain numbers, 2x2 ... 9x9 (values are judged
    by pm.check_template, which says what is wrong)."""
    if not isinstance(value, list | tuple) or not pm.MIN_DRAWN <= len(value) <= pm.MAX_DRAWN:
        return False
    width = len(value[0]) if isinstance(value[0], list | tuple) else -1
    return pm.MIN_DRAWN <= width <= pm.MAX_DRAWN and all(
        isinstance(row, list | tuple) and len(row) == width
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        for row in value)


def _drawn_grid(preset: str) -> list[list[float]]:
    """The painted template (link `pm_grid`); "Copy the preset" starts it from a preset."""
    key = _seeded("grid", pm.TEMPLATES["cross"]().tolist(), _is_grid, "pm_grid")
    grid = [list(row) for row in st.session_state[key]]
    left, right = st.columns([3, 2])
    with left:
        shown = np.nan_to_num(np.asarray(grid, dtype=np.float64), nan=0.0, posinf=0.0,
                              neginf=0.0)  # the painter draws numbers only
        painted = paint_grid(shown.tolist(), brush=1.0, key=f"{PAGE}.pm.paint")
    with right:
        if st.button("Start from the preset", key=f"{PAGE}.pm.copy",
                     help="Copy the last preset into the grid"):
            st.session_state[key] = pm.TEMPLATES[preset]().tolist()
            st.rerun()
        if st.button("Clear", key=f"{PAGE}.pm.clear"):
            st.session_state[key] = np.zeros_like(shown).tolist()
            st.rerun()
    # what the browser sends back is checked like a link's grid: same shape, plain numbers
    if painted is not None and _is_grid(painted) and np.shape(painted) == shown.shape:
        st.session_state[key] = [list(row) for row in painted]
        st.rerun()
    return grid


@st.cache_data(show_spinner=False, max_entries=64)
def _match(template: tuple, background: str, row: int, col: int) -> pm.Match:
    return pm.match(np.asarray(template), background, row, col)


def pattern_panel() -> None:
    st.markdown(
        "Find a local pattern by sliding a template **W** over the image **X** and taking an "
        "inner product at each offset, `Z[j₁, j₂] = Σ W[k₁, k₂] X[j₁ + k₁, j₂ + k₂]` (a "
        "correlation). **Move the pattern**: the peak follows it (the same W finds it anywhere: "
        "translation invariance). Put it beside a bright area: plain correlation prefers "
        "bright regions; the **normalised** correlation compares shapes.")
    controls = st.columns([2, 2, 3, 3])
    choice = controls[0].selectbox("Template W", CHOICES, key=_seeded(
        "template", "cross", one_of(CHOICES), "pm_tpl"))
    backgrounds = list(pm.BACKGROUNDS)
    background = controls[1].selectbox("Scene X", backgrounds, key=_seeded(
        "scene", "noise and a bright square", one_of(backgrounds), "pm_scene"))
    if choice == DRAWN:
        with st.expander("Draw the template (drag to paint 1, right-click for 0)", expanded=True):
            template = _drawn_grid(st.session_state.get(kept(f"{PAGE}.pm.last_preset"), "cross"))
    else:
        st.session_state[kept(f"{PAGE}.pm.last_preset")] = choice
        template = pm.TEMPLATES[choice]()
    try:
        w = pm.check_template(template)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    last_row, last_col = pm.positions(w)
    row = controls[2].slider("Pattern row", 0, last_row, key=_seeded(
        f"row.{last_row}", min(40, last_row), number_in(0, last_row, integer=True), "pm_row"))
    col = controls[3].slider("Pattern column", 0, last_col, key=_seeded(
        f"col.{last_col}", min(20, last_col), number_in(0, last_col, integer=True), "pm_col"))
    result = _match(tuple(map(tuple, w.tolist())), background, row, col)
    st.plotly_chart(pm.match_figure(result), width="stretch", key="pm_figure",
                    config={"displayModeBar": False})
    _verdict(result)
    code_panel(pattern_code(w, background, row, col))
    if choice != DRAWN:
        st.caption("The numbers from a terminal: `python -m explorer.convolution pattern "
                   f"--template '{choice}' --scene '{background}' --row {row} --col {col}`")
    left, right = st.columns([3, 2])
    with left:
        _lecture_example()
    with right:
        _parameters()


def _verdict(result: pm.Match) -> None:
    where = result.position
    plain, normalised = result.plain_peak, result.normalised_peak
    found = "finds the pattern" if plain == where else "misses it"
    st.markdown(
        f"Pattern at **{where}**. Peak of Z at **{plain}** ({found}, Z = "
        f"{result.plain[plain]:.2f} vs {result.plain[where]:.2f} at the pattern)"
        + (f"; peak of the normalised correlation at **{normalised}** (NCC = "
           f"{result.normalised[normalised]:.2f})." if normalised is not None else
           ". A flat template has no shape: the normalised correlation is undefined."))
    if plain != where:
        st.caption("Plain correlation grows with the window's brightness: a bright area with no "
                   "pattern scores more than the pattern itself. Subtracting the means and "
                   "dividing by the norms (normalised cross-correlation) removes that.")


def _lecture_example() -> None:
    example = pm.lecture_example()
    big, small = example.big, example.small
    st.markdown(
        f"**The lecture's example**: W = (4, 4)ᵀ in a 3x8 image. Z{big} = 4·4 + 4·6 = "
        f"**{example.plain[big]:g}** (\"Big\"), Z{small} = 4·5 + 4·3 = "
        f"**{example.plain[small]:g}** (\"Small\"). Yet Z's largest value is "
        f"{example.plain.max():g} at {pm.peak(example.plain)}, the brightest window (9, 7); "
        f"divided by the norms (a cosine) the best match is {pm.peak(example.cosine)}, the "
        "window (1, 1) with W's shape.")
    row = st.columns(2)
    with row[0]:
        st.plotly_chart(plots.matrix_heatmap(example.image, title="X (the slide's \"Big\" window)",
                                             signed=False, highlight=(*big, 2, 1), height=180),
                        width="stretch", key="pm_lecture_x", config={"displayModeBar": False})
    with row[1]:
        st.plotly_chart(plots.matrix_heatmap(example.plain, title="Z = correlate(X, W)",
                                             signed=False, highlight=(*big, 1, 1), height=180),
                        width="stretch", key="pm_lecture_z", config={"displayModeBar": False})


def _parameters() -> None:
    example = dense_conv.ALEXNET_LAYER2
    counts = dense_conv.conv_vs_dense(example["c_in"], example["c_out"], example["size"],
                                      example["kernel"])
    st.markdown("**Why convolution**: one small W shared over every position. AlexNet's 2nd "
                "layer, (96, 55, 55) → (256, 55, 55) with 5x5 kernels:")
    st.metric("Conv weights", scientific(counts.conv_weights),  # stacked: the values are wide
              help=f"C_out·C_in·K₁·K₂ = {counts.conv_weights:,}")
    st.metric("Dense weights", scientific(counts.dense_weights),
              help=f"C_out·C_in·N₁²·N₂² = {counts.dense_weights:,}")
    st.page_link(PAGES_BY_KEY[PAGE].script, label="Change the layer (Parameters tab)",
                 icon=":material/calculate:", query_params={"tab": "Parameters"})
