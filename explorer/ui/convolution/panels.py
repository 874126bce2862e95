"""The Convolution page's panels: sliding settings, results, step-through, Sobel, pooling, engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.codegen import scripts as codegen
from explorer.convolution import comparisons, conv, engines, kernels, operations, shapes, specs
from explorer.images import plots
from explorer.ui.cell_picker import clickable_heatmap
from explorer.ui.convolution.kernel_editor import KernelChoice, replace_grid
from explorer.ui.state import kept, number_in, one_of, seed

PAGE = "convolution"
SMALL = 32  # arrays up to this side are shown as heatmaps with their numbers
STEP_MAX = 32  # step-through works on inputs up to 32 x 32
SHORT_NAMES = {"scipy": "SciPy", "fft": "FFT", "torch": "PyTorch"}  # engines in table headers


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


def settings_panel() -> specs.FilterSettings:
    """Mode, boundary, fill value, stride and dilation (sidebar)."""
    modes, boundaries = list(specs.MODES), list(specs.BOUNDARIES)
    mode = st.selectbox("Mode", modes, format_func=lambda m: specs.MODES[m].label,
                        key=_seeded("mode", "same", one_of(modes), "mode"),
                        help="Output size: valid shrinks, same keeps, full grows.")
    boundary = st.selectbox("Boundary (padding)", boundaries,
                            format_func=lambda b: specs.BOUNDARIES[b].label,
                            key=_seeded("boundary", "fill", one_of(boundaries), "boundary"),
                            disabled=mode == "valid",
                            help="What the kernel sees outside the image ('valid' needs none).")
    st.caption(specs.BOUNDARIES[boundary].explanation)
    fillvalue = 0.0
    if boundary == "fill" and mode != "valid":
        fillvalue = st.number_input("Fill value", step=0.1, format="%.3g",
                                    key=_seeded("fill", 0.0, number_in(-1e6, 1e6), "fill"))
    stride = st.slider("Stride", 1, 8, key=_seeded("stride", 1, number_in(1, 8, integer=True),
                                                   "stride"),
                       help="Keep every s-th output row and column, starting with the first.")
    dilation = st.slider("Dilation", 1, 8, key=_seeded("dilation", 1,
                                                       number_in(1, 8, integer=True), "dilation"),
                         help="Spread the kernel's taps d pixels apart (zeros between).")
    return specs.FilterSettings(mode=mode, boundary=boundary, fillvalue=float(fillvalue),
                                stride=stride, dilation=dilation)


def show_array(values: np.ndarray, caption: str, *, scale: tuple[float, float] | None = None,
               highlight: tuple[int, int, int, int] | None = None, key: str | None = None,
               signed: bool | None = None) -> None:
    """Small arrays as annotated heatmaps, big ones as PNG images on a diverging or grey scale.

    Small arrays follow plots.matrix_heatmap's sign rule (diverging, white = 0, unless
    signed=False for non-negative quantities); `scale` gives side-by-side arrays one scale.
    """
    if max(values.shape) <= SMALL:
        limit = None if scale is None else max(abs(scale[0]), abs(scale[1]))
        figure = plots.matrix_heatmap(values, title=caption, highlight=highlight, signed=signed,
                                      limit=limit)
        st.plotly_chart(figure, width="stretch", key=key, config={"displayModeBar": False})
        return
    if signed:
        limit = plots.signed_limit(values)
        scale = (-limit, limit)
    pixels, scale_text = plots.display_image(values, scale)
    st.image(plots.png_bytes(pixels), caption=f"{caption}: shape {values.shape}; {scale_text}",
             width="stretch", output_format="PNG")


def ordinal(n: int) -> str:
    """2 -> "2nd", 3 -> "3rd", 4 -> "4th", 11 -> "11th"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def difference_note(kernel: np.ndarray, largest: float) -> str:
    """Why correlation and convolution agree or differ here, in one sentence."""
    text = f"max |difference| = {largest:.4g}"
    if not np.allclose(kernel, kernels.flip(kernel)):
        return text + " (the kernel changes under a 180° turn, so the two differ)"
    if largest == 0:
        return text + " (the kernel is the same after a 180° turn, so the two agree)"
    even = [f"{side}" for side in kernel.shape if side % 2 == 0]
    if even:
        return (text + f" (the kernel is the same after a 180° turn, but it has an even side "
                f"({' and '.join(even)} taps): its centre lies between pixels, and the turn "
                "moves it by one pixel, so the outputs are shifted)")
    return text + " (the kernel is the same after a 180° turn; the difference is rounding)"


def kernel_panel(choice: KernelChoice) -> None:
    """The kernel as typed (what correlation slides) and flipped (what convolution slides)."""
    left, right, text = st.columns([2, 2, 3])
    with left:
        st.plotly_chart(plots.matrix_heatmap(choice.kernel, title="W (correlation)"),
                        width="stretch", key="kernel", config={"displayModeBar": False})
    with right:
        st.plotly_chart(plots.matrix_heatmap(kernels.flip(choice.kernel),
                                             title="W flipped (convolution)"),
                        width="stretch", key="flipped", config={"displayModeBar": False})
    with text:
        st.markdown(f"**{choice.label}**: {kernels.describe_kernel(choice.kernel)}")
        st.markdown(f"**Correlation** {specs.OPS['correlate'].explanation}  \n"
                    f"**Convolution** {specs.OPS['convolve'].explanation}")
        if any(n % 2 == 0 for n in choice.kernel.shape):
            st.info(shapes.EVEN_KERNEL_NOTE, icon=":material/grid_4x4:")


def filter_panel(image: np.ndarray, choice: KernelChoice, settings: specs.FilterSettings,
                 image_label: str) -> None:
    """Correlation and convolution side by side, their difference and the output-shape formula."""
    try:
        outputs = {op: conv.filter2d(image, choice.kernel, **settings.kwargs(op=op))
                   for op in ("correlate", "convolve")}
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    rows, cols = shapes.output_shape_text(image.shape, choice.kernel.shape, mode=settings.mode,
                                          stride=settings.stride, dilation=settings.dilation)
    shape = outputs["correlate"].shape
    st.markdown(f"**Output shape** for a {image.shape[0]}x{image.shape[1]} image and a "
                f"{choice.kernel.shape[0]}x{choice.kernel.shape[1]} kernel, mode "
                f"*{settings.mode}*:  \n`{rows}`  \n`{cols}`  \nActual shape: **{shape}**")
    scale = plots.joint_scale(*outputs.values())
    columns = st.columns(3)
    with columns[0]:
        show_array(outputs["correlate"], "Correlation (= torch Conv2d)", scale=scale, key="corr")
    with columns[1]:
        show_array(outputs["convolve"], "Convolution (kernel flipped)", scale=scale, key="conv")
    with columns[2]:
        difference = outputs["correlate"] - outputs["convolve"]
        show_array(difference, "Correlation - convolution", key="diff", signed=True)
        st.caption(difference_note(choice.kernel, float(np.max(np.abs(difference)))))
    if image_label == "Impulse":
        st.success("On an impulse (one bright pixel) **convolution reproduces the kernel** and "
                   "**correlation reproduces the flipped kernel**: here are both outputs, zoomed "
                   "on the impulse, beside the kernel.", icon=":material/lightbulb:")
        impulse_zoom(outputs, choice.kernel, scale)


def impulse_zoom(outputs: dict[str, np.ndarray], kernel: np.ndarray,
                 scale: tuple[float, float]) -> None:
    """The part of each output the impulse touched, big enough to read its numbers."""
    crops = {op: comparisons.nonzero_crop(values) for op, values in outputs.items()}
    if any(crop is None or max(crop.shape) > SMALL for crop in crops.values()):
        return
    columns = st.columns(3)
    with columns[0]:
        show_array(kernel, "The kernel W", key="impulse_kernel")
    with columns[1]:
        show_array(crops["convolve"], "Convolution, zoomed", scale=scale, key="impulse_conv")
    with columns[2]:
        show_array(crops["correlate"], "Correlation, zoomed", scale=scale, key="impulse_corr")


def load_lecture_example() -> None:
    """on_click: the lecture's 5x5 input, 3x3 kernel, 'valid' correlation."""
    st.session_state[kept(f"{PAGE}.source")] = "pattern"
    st.session_state[kept(f"{PAGE}.pattern")] = "lecture 5x5"
    st.session_state[kept(f"{PAGE}.kernel.source")] = "grid"
    st.session_state[kept(f"{PAGE}.mode")] = "valid"
    st.session_state[kept(f"{PAGE}.stride")] = 1
    st.session_state[kept(f"{PAGE}.dilation")] = 1
    st.session_state[kept(f"{PAGE}.kernel.normalise")] = False
    st.session_state[kept(f"{PAGE}.step.op")] = "correlate"
    replace_grid(PAGE, operations.LECTURE_KERNEL_3X3.tolist())


def step_panel(image: np.ndarray, choice: KernelChoice, settings: specs.FilterSettings) -> None:
    """One output cell at a time: the window, the element-wise products and their sum."""
    st.button("Load the lecture's 5x5 example", on_click=load_lecture_example,
              icon=":material/school:",
              help="Input and kernel of the lecture's 'valid' example; output [[12,12,17],...]")
    if max(image.shape) > STEP_MAX:
        st.info(f"Step-through works on inputs up to {STEP_MAX}x{STEP_MAX}; this one is "
                f"{image.shape[0]}x{image.shape[1]}. Load the lecture example, or pick a test "
                "pattern of size 8 to 32 in the sidebar.", icon=":material/zoom_in:")
        return
    ops = list(specs.OPS)
    op = st.radio("Operation", ops, format_func=lambda o: specs.OPS[o].label, horizontal=True,
                  key=_seeded("step.op", "correlate", one_of(ops)))
    try:
        output = conv.filter2d(image, choice.kernel, **settings.kwargs(op=op))
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    out_rows, out_cols = output.shape
    left, right = st.columns(2)
    row_key = _seeded(f"step.row.{out_rows}", 0, number_in(0, out_rows - 1, integer=True))
    col_key = _seeded(f"step.col.{out_cols}", 0, number_in(0, out_cols - 1, integer=True))
    row = left.slider("Output row", 0, out_rows - 1, key=row_key)
    col = right.slider("Output column", 0, out_cols - 1, key=col_key)
    step = operations.step_through(image, choice.kernel, row, col, **settings.kwargs(op=op))
    window_box = (*step.top_left_padded, *step.kernel.shape)
    columns = st.columns(4)
    with columns[0]:
        show_array(step.padded, "Input (padded)", highlight=window_box, key="step_input",
                   signed=False if step.padded.min() >= 0 else None)
    with columns[1]:
        show_array(step.kernel, "Kernel applied" + (" (flipped)" if op == "convolve" else ""),
                   key="step_kernel")
    with columns[2]:
        show_array(step.products, "Window x kernel", key="step_products")
    with columns[3]:
        if max(output.shape) <= SMALL:  # a heatmap: click a cell to step there
            figure = plots.matrix_heatmap(output, title="Output (click a cell)",
                                          highlight=(row, col, 1, 1))
            clickable_heatmap(figure, key="step_output", shape=output.shape, row_key=row_key,
                              col_key=col_key)
        else:
            show_array(output, "Output", highlight=(row, col, 1, 1), key="step_output")
    pairs = [(w, k) for w, k in zip(step.window.ravel(), step.kernel.ravel(), strict=True) if k]
    terms = " + ".join(f"{w:.4g}·{k:.4g}" for w, k in pairs) if len(pairs) <= 25 else (
        f"the sum of {step.products.size} products")
    st.markdown(f"**Output[{row}, {col}]** = {terms or '0'} = **{step.total:.6g}**")


# The side-by-side figures are the same for every student on the same picture (the lecture's
# cameraman): computed once per server and shared; read-only, so no copies are made.
@st.cache_resource(max_entries=8, show_spinner=False)
def _modes(image: np.ndarray, kernel: np.ndarray, boundary: str) -> list[comparisons.Panel]:
    return comparisons.modes_side_by_side(image, kernel, boundary=boundary)


@st.cache_resource(max_entries=8, show_spinner=False)
def _blurs(image: np.ndarray) -> list[comparisons.Panel]:
    return comparisons.blurs_side_by_side(image)


@st.cache_resource(max_entries=8, show_spinner=False)
def _sobel_layer(image: np.ndarray) -> comparisons.SobelLayer:
    return comparisons.sobel_as_conv2d(image)


def modes_panel(image: np.ndarray, choice: KernelChoice, settings: specs.FilterSettings) -> None:
    """The lecture's "boundary effects" figure: one convolution in full, same and valid mode."""
    try:
        panels = _modes(image, choice.kernel, settings.boundary)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    k_rows, k_cols = choice.kernel.shape
    st.markdown(f"`convolve2d(im, W, mode=...)` with this {k_rows}x{k_cols} kernel on the "
                f"{image.shape[0]}x{image.shape[1]} input: **full** pads K−1 on every side "
                f"(N+K−1), **same** keeps N, **valid** uses only whole windows (N−K+1). "
                "Dark borders are the zero padding averaged in. One grey scale for all three.")
    scale = plots.joint_scale(*(panel.values for panel in panels))
    for column, panel in zip(st.columns(3), panels, strict=True):
        with column:
            show_array(panel.values, f"Mode {panel.title}", scale=scale,
                       key=f"modes_{panel.title}")


def blur_panel(image: np.ndarray) -> None:
    """The lecture's "effect of kernel size and type": uniform vs Gaussian, 9x9 vs 15x15."""
    panels = _blurs(image)
    st.markdown("The lecture's local averaging, `mode='same'`: the **uniform** kernel "
                "(`np.ones((K, K)) / K**2`) against a **Gaussian** of the same size, for K = 9 "
                "and 15. Bigger kernels blur more; the Gaussian weighs the centre most, so it "
                "blurs less and without the box's blocky halos. This tab uses its own kernels, "
                "not the sidebar's. One grey scale for all four.")
    scale = plots.joint_scale(*(panel.values for panel in panels))
    for column, panel in zip(st.columns(len(panels)), panels, strict=True):
        with column:
            show_array(panel.values, panel.title, scale=scale, key=f"blur_{panel.title}")
    with st.expander("The 9x9 Gaussian kernel", icon=":material/grid_on:"):
        show_array(comparisons.blur_kernel("gaussian", 9), "9x9 Gaussian, σ = 1.5",
                   key="blur_gaussian_kernel", signed=False)


def sobel_panel(image: np.ndarray, settings: specs.FilterSettings) -> None:
    """The lecture's Sobel edge detector: Gx, Gy, magnitude and direction."""
    ops = list(specs.OPS)
    op = st.radio("Apply the Sobel kernels by", ops, format_func=lambda o: specs.OPS[o].label,
                  horizontal=True, key=_seeded("sobel.op", "convolve", one_of(ops), "sobel"))
    try:
        gradient = operations.sobel(image, op=op, mode=settings.mode, boundary=settings.boundary)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    sign = "dark → light" if op == "convolve" else "light → dark"
    st.markdown(
        f"With **{specs.OPS[op].label.lower()}**, Gx > 0 (red) where the image goes {sign} from "
        f"left to right, and Gy > 0 where it goes {sign} from top to bottom. "
        + ("This is the lecture's convention." if op == "convolve" else
           "Correlation flips both signs (PyTorch's Conv2d correlates).")
    )
    shown = {"Gx kernel": operations.SOBEL_X, "Gy kernel": operations.SOBEL_Y}
    if op == "convolve":
        shown = {f"{name} (flipped: what slides)": kernels.flip(k) for name, k in shown.items()}
    kernel_columns = st.columns(4)
    for column, (name, kernel) in zip(kernel_columns, shown.items(), strict=False):
        with column:
            st.plotly_chart(plots.matrix_heatmap(kernel, title=name, height=150), width="stretch",
                            key=f"sobel_{name[:2]}", config={"displayModeBar": False})
    columns = st.columns(4)
    with columns[0]:
        show_array(gradient.gx, "Gx", key="gx")
    with columns[1]:
        show_array(gradient.gy, "Gy", key="gy")
    with columns[2]:
        show_array(gradient.magnitude, "|G| = √(Gx² + Gy²)", key="magnitude", signed=False)
    with columns[3]:
        st.image(plots.png_bytes(plots.direction_rgb(gradient.direction, gradient.magnitude)),
                 caption="Direction atan2(Gy, Gx) as hue, brightness = magnitude",
                 width="stretch", output_format="PNG")
    with st.expander("The same in PyTorch: nn.Conv2d(1, 2, 3) with Gx and Gy loaded",
                     icon=":material/memory:"):
        sobel_layer_section(image)


def sobel_layer_section(image: np.ndarray) -> None:
    """The lecture's Sobel layer: two output channels from one Conv2d, equal to correlate2d."""
    try:
        layer = _sobel_layer(image)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    st.markdown(f"`model = nn.Conv2d(1, 2, kernel_size=(3, 3))`, weight {layer.weight_shape} = "
                "[Gx, Gy] and bias 0 put in with `model.load_state_dict(state_dict)`. Channel 0 "
                "and 1 of `model(x)` equal `correlate2d(im, Gx / Gy, mode='valid')` (max "
                f"difference **{layer.max_difference:.2g}**, float32): nn.Conv2d correlates.")
    limit = plots.signed_limit(layer.outputs)
    columns = st.columns(2)
    for channel, column in enumerate(columns):
        with column:
            show_array(layer.outputs[channel],
                       f"y[0, {channel}] ({'Gx' if channel == 0 else 'Gy'})",
                       scale=(-limit, limit), key=f"sobel_layer_{channel}")


def pooling_panel(image: np.ndarray) -> None:
    """Max / average pooling and plain subsampling, on the image or the lecture's 4x4 example."""
    sources = {"lecture": "Lecture 4x4 example", "image": "This page's image"}
    source = st.radio("Pool", list(sources), format_func=sources.get, horizontal=True,
                      key=_seeded("pool.source", "lecture", one_of(sources), "pool"))
    x = operations.LECTURE_POOL_4X4 if source == "lecture" else image
    kinds = list(specs.POOLS)
    columns = st.columns(3)
    kind = columns[0].radio("Kind", kinds, format_func=lambda k: specs.POOLS[k].label,
                            key=_seeded("pool.kind", "max", one_of(kinds), "pool_kind"))
    size = columns[1].slider("Window", 1, 8, key=_seeded("pool.size", 2,
                                                         number_in(1, 8, integer=True), "pool_size"))
    stride = columns[2].slider("Stride", 1, 8, key=_seeded("pool.stride", 2,
                                                           number_in(1, 8, integer=True), "pool_stride"))
    try:
        pooled = operations.pool2d(x, size, stride=stride, kind=kind)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    subsampled = operations.subsample(x, stride)
    st.markdown(f"Output size per axis: ⌊(N - window)/stride⌋ + 1 = "
                f"⌊({x.shape[0]} - {size})/{stride}⌋ + 1 = **{pooled.shape[0]}** (rows), "
                f"**{pooled.shape[1]}** (columns). {specs.POOLS[kind].explanation}")
    columns = st.columns(3)
    with columns[0]:
        show_array(x, "Input", highlight=(0, 0, size, size), key="pool_in")
    with columns[1]:
        show_array(pooled, specs.POOLS[kind].label, key="pool_out")
    with columns[2]:
        show_array(subsampled, "Subsampling (every pixel)" if stride == 1 else
                   f"Subsampling (every {ordinal(stride)} pixel)", key="pool_sub")


def engines_panel(image: np.ndarray, choice: KernelChoice, settings: specs.FilterSettings) -> None:
    """The same correlation from SciPy, FFT and PyTorch: max difference and time.

    Bounded before it runs: each engine's cost is estimated from the sizes, an engine whose one
    pass would take more than conv.ENGINE_BUDGET_S is skipped (with what it would cost), and
    big cases are timed fewer times.
    """
    shape_args = dict(mode=settings.mode, stride=settings.stride, dilation=settings.dilation)
    try:
        auto = engines.choose_engine(image.shape, choice.kernel.shape, mode=settings.mode,
                                     dilation=settings.dilation)
        work = engines.engine_work(image.shape, choice.kernel.shape, **shape_args)
        seconds = engines.engine_seconds(image.shape, choice.kernel.shape, **shape_args)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    st.markdown(f"This page computes with the **{specs.ENGINES[auto].label}** engine for these "
                "sizes (PyTorch for kernels up to 5x5, FFT above, SciPy for tiny inputs). "
                "All three give the same numbers:")
    too_slow = [name for name, s in seconds.items() if s > conv.ENGINE_BUDGET_S]
    st.caption("Estimated cost of one pass: " + "; ".join(
        f"{specs.ENGINES[name].label} {work[name]:.3g} operations, about {_duration(s)}"
        for name, s in seconds.items())
        + (f". Engines over {conv.ENGINE_BUDGET_S:g} s a pass are skipped." if too_slow else "."))
    if not st.button("Time the three engines", icon=":material/timer:"):
        return
    try:
        with st.spinner(f"Timing (up to {1 + conv.TIMING_BUDGET_S * 3:.0f} s)..."):
            results = conv.compare_engines(image, choice.kernel, **settings.kwargs())
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    ran = [r for r in results if not r.skipped]
    for r in results:
        if r.skipped:
            st.warning(f"**{specs.ENGINES[r.engine].label}** skipped: {r.skipped} "
                       f"({work[r.engine]:.3g} operations for a "
                       f"{image.shape[0]}x{image.shape[1]} image and a "
                       f"{choice.kernel.shape[0]}x{choice.kernel.shape[1]} kernel at dilation "
                       f"{settings.dilation}, mode {settings.mode}).", icon=":material/timer_off:")
    if not ran:
        return
    reference = SHORT_NAMES[ran[0].reference]
    base_ms = ran[0].milliseconds
    st.dataframe(pd.DataFrame({
        "engine": [specs.ENGINES[r.engine].label for r in ran],
        "milliseconds (median)": [round(r.milliseconds, 2) for r in ran],
        "timed runs": [r.repeats for r in ran],
        f"speed-up vs {reference}": [f"{base_ms / max(r.milliseconds, 1e-9):.1f}x" for r in ran],
        f"max |difference| vs {reference}": [f"{r.max_abs_diff:.2e}" for r in ran],
    }), hide_index=True)
    st.caption("SciPy direct is the exact reference; FFT and PyTorch run in float32."
               + ("" if ran[0].engine == "scipy" else
                  f" SciPy was skipped, so the differences are measured against {reference}."))


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.2g} ms" if seconds < 1 else f"{seconds:.3g} s"


def code_section(tab: str, picked, choice: KernelChoice, settings: specs.FilterSettings) -> None:
    """Runnable SciPy and PyTorch code reproducing the open tab's numbers."""
    source = picked.code_source()
    shape = picked.pixels.shape[:2]
    try:
        if tab == "Edges (Sobel)":
            op = st.session_state.get(kept(f"{PAGE}.sobel.op"), "convolve")
            flavours = {"SciPy": codegen.sobel_code(source, op=op, mode=settings.mode,
                                                    boundary=settings.boundary)}
        elif tab == "Pooling":
            lecture = st.session_state.get(kept(f"{PAGE}.pool.source"), "lecture") == "lecture"
            flavours = {"PyTorch": codegen.pool_code(
                operations.LECTURE_POOL_4X4 if lecture else source,
                st.session_state.get(kept(f"{PAGE}.pool.size"), 2),
                st.session_state.get(kept(f"{PAGE}.pool.stride"), 2),
                st.session_state.get(kept(f"{PAGE}.pool.kind"), "max"))}
        else:
            ops = list(specs.OPS)
            op = st.radio("Code for", ops, format_func=lambda o: specs.OPS[o].label,
                          horizontal=True, key=_seeded("code.op", "correlate", one_of(ops)))
            arguments = dict(preset=choice.preset, params=choice.params, image_shape=shape,
                             **settings.kwargs(op=op))
            flavours = {"SciPy": codegen.scipy_code(source, choice.kernel, **arguments),
                        "PyTorch (nn.Conv2d + load_state_dict)":
                            codegen.torch_code(source, choice.kernel, **arguments)}
    except ValueError as error:
        st.caption(f"No code for these settings: {error}")
        return
    for tab_container, code in zip(st.tabs(list(flavours)), flavours.values(), strict=True):
        with tab_container:
            st.code(code, language="python")
