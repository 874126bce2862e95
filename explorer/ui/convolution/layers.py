"""The CNN layers page's panels: backprop as correlation and convolution, receptive fields,
a dense layer as a 1 x 1 convolution, and the parameters of conv vs dense layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.convolution import backprop, dense_conv
from explorer.convolution import receptive_field as rf
from explorer.images import plots
from explorer.ui.cell_picker import clickable_heatmap
from explorer.ui.state import kept, number_in, one_of, seed

PAGE = "layers"


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


def _heatmap(values: np.ndarray, title: str, *, limit: float | None = None,
             signed: bool | None = None, key: str) -> None:
    st.plotly_chart(plots.matrix_heatmap(values, title=title, limit=limit, signed=signed),
                    width="stretch", key=key, config={"displayModeBar": False})


def scientific(count: float) -> str:
    """6.1 × 10^5, as the lecture writes large counts."""
    exponent = int(np.floor(np.log10(count))) if count > 0 else 0
    return f"{count / 10 ** exponent:.1f} × 10^{exponent}" if exponent >= 4 else f"{count:,.0f}"


# ---------------------------------------------------------------- S17 backprop


def backprop_panel() -> None:
    st.markdown(
        "One conv layer, `Z = correlate(A, W) + b` (as `nn.Conv2d`), loss `J = ½‖Z − Y‖²`: "
        "PyTorch's autograd beside the lecture's formulas (scipy.signal), **dJ/dW[m, n] = "
        "correlate(A[n], dJ/dZ[m])** and **dJ/dA[n] = Σₘ convolve(dJ/dZ[m], W[m, n], full)**: "
        "the backward pass is a correlation and a (flipped) convolution.")
    columns = st.columns(5)
    size = columns[0].select_slider("Input N", backprop.SIZES, key=_seeded(
        "bp.size", 6, one_of(backprop.SIZES), "bp_n"))
    kernels = [k for k in backprop.KERNELS if k < size]
    kernel = columns[1].select_slider("Kernel K", kernels, key=_seeded(
        f"bp.kernel.{size}", min(3, kernels[-1]), one_of(kernels), "bp_k"))
    c_in = columns[2].number_input("C_in", 1, backprop.MAX_CHANNELS, key=_seeded(
        "bp.c_in", 1, number_in(1, backprop.MAX_CHANNELS, integer=True), "bp_cin"))
    c_out = columns[3].number_input("C_out", 1, backprop.MAX_CHANNELS, key=_seeded(
        "bp.c_out", 1, number_in(1, backprop.MAX_CHANNELS, integer=True), "bp_cout"))
    seed_value = columns[4].number_input("Seed", 0, 999, key=_seeded(
        "bp.seed", 0, number_in(0, 999, integer=True), "bp_seed"))
    grads = backprop.layer_gradients(backprop.LayerSetup(size, kernel, c_in, c_out, seed_value))
    m = n = 0
    if c_in > 1 or c_out > 1:
        picks = st.columns(2)
        m = picks[0].selectbox("Output channel m", range(c_out), key=f"{PAGE}.bp.m.{c_out}")
        n = picks[1].selectbox("Input channel n", range(c_in), key=f"{PAGE}.bp.n.{c_in}")
    diffs = grads.max_differences
    st.success(f"Largest |autograd − formula|: dJ/dW {diffs['w']:.1g}, dJ/dA {diffs['a']:.1g}, "
               f"dJ/db {diffs['b']:.1g} (all channels).", icon=":material/check_circle:")
    for name, auto, formula, label in (
        ("w", grads.dw_autograd[m, n], grads.dw_formula[m, n], f"correlate(A[{n}], dJ/dZ[{m}])"),
        ("a", grads.da_autograd[n], grads.da_formula[n],
         f"Σₘ convolve(dJ/dZ[m], W[m, {n}], full)"),
    ):
        limit = plots.signed_limit(np.stack([auto, formula]))  # compared outputs: one scale
        row = st.columns(3)
        with row[0]:
            _heatmap(auto, f"dJ/d{name.upper()} by autograd", limit=limit, key=f"bp_{name}_auto")
        with row[1]:
            _heatmap(formula, label, limit=limit, key=f"bp_{name}_formula")
        with row[2]:
            _heatmap(auto - formula, "Difference", key=f"bp_{name}_diff")
    st.markdown("**The layer**: its input, its kernel and the gradient arriving from above.")
    top = st.columns(3)
    with top[0]:
        _heatmap(grads.a[n], f"A[{n}] (input)", key="bp_a")
    with top[1]:
        _heatmap(grads.w[m, n], f"W[{m}, {n}]", key="bp_w")
    with top[2]:
        _heatmap(grads.dz[m], f"dJ/dZ[{m}] = Z − Y", key="bp_dz")
    st.caption(f"dJ/db = the sum of dJ/dZ over positions: autograd {grads.db_autograd.tolist()}, "
               f"formula {grads.db_formula.tolist()}.")


# ---------------------------------------------------------------- S18 receptive field


def receptive_field_panel() -> None:
    st.markdown(
        "A unit of a deep layer sees a patch of the input, its **receptive field**. Stacking "
        "small kernels widens it: five 3x3 convolutions see as far as one 11x11 (VGG's idea), "
        "with fewer weights (5·9 = 45 vs 121 per channel pair) and five non-linearities. "
        "**Click a unit** of the output (or use the sliders) to see the input pixels it sees; "
        "the shade counts the paths from each pixel to the unit.")
    names = list(rf.STACKS)
    controls = st.columns([2, 1, 1])
    stack_name = controls[0].selectbox("Layers (\"valid\" padding, on a 32x32 input)", names,
                                       key=_seeded("rf.stack", names[0], one_of(names),
                                                   "rf_stack"))
    layers = rf.STACKS[stack_name]
    out = rf.stack_output_size(layers)
    field = rf.stack_field(layers)
    row_key = _seeded(f"rf.row.{out}", out // 2, number_in(0, out - 1, integer=True), "rf_row")
    col_key = _seeded(f"rf.col.{out}", out // 2, number_in(0, out - 1, integer=True), "rf_col")
    row = controls[1].slider("Output row", 0, out - 1, key=row_key)
    col = controls[2].slider("Output column", 0, out - 1, key=col_key)
    paths = rf.paths_to_unit(layers, row, col)
    top, left, bottom, right = field.box(row, col)
    st.markdown(f"**{' → '.join(layer.label for layer in layers)}**  \n"
                f"`{rf.field_formula(layers)}` pixels; neighbouring units are "
                f"{field.jump[0]} pixel(s) apart. Unit ({row}, {col}) sees input rows "
                f"{top}-{bottom - 1}, columns {left}-{right - 1}.")
    columns = st.columns([2, 3])
    with columns[0]:
        figure = plots.unit_grid(out, out, title=f"Output ({out}x{out}): click a unit",
                                 picked=(row, col))
        clickable_heatmap(figure, key="rf_output", shape=(out, out), row_key=row_key,
                          col_key=col_key)
    with columns[1]:
        figure = plots.matrix_heatmap(paths, title="Input (32x32): paths to the unit",
                                      highlight=(top, left, bottom - top, right - left),
                                      annotate=False, signed=False)
        st.plotly_chart(figure, width="stretch", key="rf_input", config={"displayModeBar": False})
    st.dataframe(networks_table(), hide_index=True, width="stretch")


@st.cache_data(show_spinner=False)
def networks_table() -> pd.DataFrame:
    """Receptive fields of the last layers of the app's default network and three ImageNet
    networks, from their architectures (no weights needed)."""
    from explorer.training import app_networks

    rows = []
    default = app_networks.default_network().model
    last_conv = [name for name, m in default.named_modules() if isinstance(m, rf.nn.Conv2d)][-1]
    for label, model, layer in (
        ("CNN Explorer's default network", default, last_conv),
        ("AlexNet", dense_conv.architecture_only("alexnet"), "features.12"),
        ("VGG16", dense_conv.architecture_only("vgg16"), "features.30"),
        ("ResNet-18", dense_conv.architecture_only("resnet18"), "layer4"),
    ):
        field = rf.receptive_field(model, layer)
        rows.append({"network": label, "layer": layer, "receptive field (pixels)": field.size[0],
                     "units apart": field.jump[0]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- S19 dense = 1x1 conv


def dense_panel() -> None:
    st.markdown(
        "A dense layer computes `Z[i, m] = Σₙ W[m, n] A[i, n] + b[m]`. When the feature map is "
        "1x1 (N₁ = N₂ = 1) that is exactly a **convolution with a 1x1 kernel**: load the dense "
        "weight, reshaped to (N_out, C_in, 1, 1), into an `nn.Conv2d` and the numbers agree.")
    columns = st.columns(3)
    c_in = columns[0].slider("Input channels C_in", 1, 16, key=_seeded(
        "dense.c_in", 6, number_in(1, 16, integer=True), "dense_cin"))
    n_out = columns[1].slider("Outputs N_out", 1, 16, key=_seeded(
        "dense.n_out", 4, number_in(1, 16, integer=True), "dense_out"))
    batch = columns[2].slider("Batch B", 1, 4, key=_seeded(
        "dense.batch", 2, number_in(1, 4, integer=True), "dense_batch"))
    result = dense_conv.dense_as_conv(c_in, n_out, batch)
    st.success(f"Largest |dense − conv| = {result.max_difference:.1g}. nn.Linear weight "
               f"{result.weight.shape} → nn.Conv2d weight {result.conv_weight_shape}.",
               icon=":material/check_circle:")
    limit = plots.signed_limit(result.dense)
    row = st.columns([3, 2, 2])
    with row[0]:
        _heatmap(result.weight, f"W {result.weight.shape}", key="dense_w")
    with row[1]:
        _heatmap(result.dense, "nn.Linear(A.flatten(1))", limit=limit, key="dense_out")
    with row[2]:
        _heatmap(result.conv[:, :, 0, 0], "nn.Conv2d 1x1 (A)[:, :, 0, 0]", limit=limit,
                 key="dense_conv")
    st.caption("Rows are the batch's examples; the input A has shape "
               f"{result.a.shape}: {result.a[:, :, 0, 0].astype(int).tolist()}.")


# ---------------------------------------------------------------- S15 parameter counts


def parameters_panel() -> None:
    st.markdown(
        "A convolutional layer shares one small kernel over every position; a dense layer "
        "between the same shapes connects every input value to every output value. The "
        "lecture's example is AlexNet's 2nd layer, (96, 55, 55) → (256, 55, 55) with 5x5 kernels.")
    example = dense_conv.ALEXNET_LAYER2
    columns = st.columns(4)
    c_in = columns[0].number_input("C_in", 1, 4096, key=_seeded(
        "params.c_in", example["c_in"], number_in(1, 4096, integer=True), "p_cin"))
    c_out = columns[1].number_input("C_out", 1, 4096, key=_seeded(
        "params.c_out", example["c_out"], number_in(1, 4096, integer=True), "p_cout"))
    size = columns[2].number_input("N (map N x N)", 1, 512, key=_seeded(
        "params.size", example["size"][0], number_in(1, 512, integer=True), "p_n"))
    kernel = columns[3].number_input("K (kernel K x K)", 1, 15, key=_seeded(
        "params.kernel", example["kernel"][0], number_in(1, 15, integer=True), "p_k"))
    counts = dense_conv.conv_vs_dense(c_in, c_out, (size, size), (kernel, kernel))
    left, right = st.columns(2)
    left.metric("Convolutional layer: weights", scientific(counts.conv_weights),
                help=f"C_out·C_in·K₁·K₂ = {counts.conv_weights:,}")
    left.caption(f"C_out·C_in·K₁·K₂ = {counts.conv_weights:,} weights and {counts.conv_biases:,} "
                 "biases")
    right.metric("Dense layer: weights", scientific(counts.dense_weights),
                 help=f"C_out·C_in·N₁²·N₂² = {counts.dense_weights:,}")
    right.caption(f"C_out·C_in·N₁²·N₂² = {counts.dense_weights:,} weights and "
                  f"{counts.dense_biases:,} biases")
    st.markdown(f"The dense layer needs **{counts.dense_weights / counts.conv_weights:,.0f} times** "
                "as many weights.")
    st.markdown("**Whole networks**: where the parameters are (from torchvision's architectures).")
    st.dataframe(totals_table(), hide_index=True, width="stretch")


@st.cache_data(show_spinner=False)
def totals_table() -> pd.DataFrame:
    rows = []
    for label, name in (("AlexNet", "alexnet"), ("VGG16", "vgg16")):
        totals = dense_conv.parameters_by_kind(dense_conv.architecture_only(name))
        rows.append({"network": label, "convolutional": f"{totals['convolutional']:,}",
                     "dense": f"{totals['dense']:,}",
                     "dense share": f"{totals['dense'] / sum(totals.values()):.0%}"})
    return pd.DataFrame(rows)
