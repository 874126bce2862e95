"""The kernel widget: a registry preset with its parameters, or your own grid (paint or type numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from explorer.convolution import kernels
from explorer.ui.convolution.kernel_paint import paint_grid
from explorer.ui.state import boolean, kept, link_applied, number_in, one_of, seed

GRID_MAX = 9  # the editable grid goes up to 9 x 9; presets go up to kernels.MAX_SIZE
SOURCES = {"preset": "Preset", "grid": "Your own grid"}


@dataclass(frozen=True)
class KernelChoice:
    kernel: np.ndarray  # (K_h, K_w) float64
    label: str
    preset: str | None  # registry key, None for a user grid
    params: dict = field(default_factory=dict)  # the preset's parameters as passed to make_kernel
    normalised: bool = False


# ---------------------------------------------------------------- preset


def _param_widget(page: str, preset: str, param: kernels.Param, default=None):
    """A slider for one builder parameter, seeded from the URL (names k_<param>)."""
    key = kept(f"{page}.kernel.{preset}.{param.name}")
    default = param.default if default is None else default
    url = f"k_{param.name}"
    if param.kind == "size":
        square_key = seed(key + ".square", True, valid=boolean(), url="k_square")
        square = st.toggle("Square", key=square_key)
        size = number_in(1, param.max, integer=True)
        rows_key = seed(key, int(default), valid=size, url=url)
        rows = st.slider("Size" if square else "Rows", 1, int(param.max), key=rows_key,
                         help=param.help)
        if square:
            return rows
        cols_key = seed(key + ".cols", int(default), valid=size, url="k_cols")
        return (rows, st.slider("Columns", 1, int(param.max), key=cols_key))
    integer = param.kind == "int"
    cast = int if integer else float
    valid = number_in(param.min, param.max, integer=integer)
    value_key = seed(key, cast(default), valid=valid, url=url)
    return st.slider(param.label, cast(param.min), cast(param.max), step=cast(param.step),
                     key=value_key, help=param.help)


def _preset(page: str, default: str, defaults: dict) -> KernelChoice:
    names = list(kernels.KERNELS)
    key = seed(kept(f"{page}.kernel.preset"), default, valid=one_of(names), url="kernel")
    name = st.selectbox("Preset", names, format_func=lambda n: kernels.KERNELS[n].label, key=key)
    spec = kernels.KERNELS[name]
    st.caption(spec.description)
    own = defaults if name == default else {}
    params = {p.name: _param_widget(page, name, p, own.get(p.name)) for p in spec.params}
    kernel = kernels.make_kernel(name, **params)
    st.session_state[f"{page}.kernel.last_preset"] = kernel  # "From preset" in the grid copies it
    return KernelChoice(kernel, spec.label, name, params)


# ---------------------------------------------------------------- grid


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _valid_grid(value) -> bool:
    """1 to GRID_MAX rows of equally many (1 to GRID_MAX) plain numbers that make a usable kernel.

    Booleans and numeric strings are refused: the number table cannot edit them.
    """
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= GRID_MAX:
        return False
    if not all(isinstance(row, list | tuple) for row in value):
        return False
    width = len(value[0])
    if not 1 <= width <= GRID_MAX or any(len(row) != width for row in value):
        return False
    if not all(_is_number(v) for row in value for v in row):
        return False
    try:
        kernels.validate_kernel(value)
    except ValueError:
        return False
    return True


def _state(page: str) -> dict:
    """The grid's base values (what the number table starts from) and its version.

    A link's `grid=[[...],...]` gives the first values (and is kept up to date by `seed`).
    """
    key = kept(f"{page}.grid")
    url_grid = seed(kept(f"{page}.grid.url"), kernels.make_kernel("sobel_x").tolist(),
                    valid=_valid_grid, url="grid")
    linked = [list(r) for r in st.session_state[url_grid]]
    if key not in st.session_state:
        st.session_state[key] = {"base": linked, "version": 0}
    elif link_applied("grid") and st.session_state[key]["base"] != linked:
        st.session_state[key]["base"] = linked  # a link followed in this session
        st.session_state[key]["version"] += 1
    return st.session_state[key]


def editor_key(page: str) -> str:
    return f"{page}.grid.editor.{_state(page)['version']}"


def replace_grid(page: str, values: list[list[float]]) -> None:
    """New base values; a new table key drops the table's own pending edits."""
    state = _state(page)
    state["base"] = [[float(v) for v in row] for row in values]
    state["version"] += 1
    st.session_state[kept(f"{page}.grid.url")] = state["base"]  # the grid now shown


def _cell_value(value) -> float | None:
    """An edited cell as a float: NaN for an emptied cell, None when it is not a number."""
    if value is None:
        return np.nan
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not _is_number(value):
        return None
    return float(value)


def _table_edits(page: str) -> dict:
    """The number table's edited cells, {row: {column: value}}; {} for anything else."""
    state = st.session_state.get(editor_key(page))
    edits = state.get("edited_rows") if isinstance(state, dict) else None
    return edits if isinstance(edits, dict) else {}


def _current_grid(page: str) -> tuple[np.ndarray, list[str]]:
    """Base values with the number table's edits applied (edits may leave a cell empty: NaN),
    and a note per cell whose edit is not a number (that cell keeps NaN)."""
    grid = np.array(_state(page)["base"], dtype=np.float64)
    problems = []
    for row, changes in _table_edits(page).items():
        if not isinstance(changes, dict):
            continue
        for col, value in changes.items():
            try:
                r, c = int(row), int(col)
            except (TypeError, ValueError):
                continue
            if not (0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]):
                continue  # an edit for a cell the grid no longer has
            number = _cell_value(value)
            if number is None:
                shown = str(value)[:20]
                problems.append(f"cell (row {r}, column {c}) holds {shown!r}, not a number")
                number = np.nan
            grid[r, c] = number
    return grid, problems


def _resize(page: str, rows: int, cols: int) -> None:
    grid = np.nan_to_num(_current_grid(page)[0], nan=0.0, posinf=0.0, neginf=0.0)
    resized = np.zeros((rows, cols))
    h, w = min(rows, grid.shape[0]), min(cols, grid.shape[1])
    resized[:h, :w] = grid[:h, :w]
    replace_grid(page, resized.tolist())


def _grid(page: str, preset_kernel: np.ndarray | None) -> KernelChoice | None:
    last = st.session_state.get(kept(f"{page}.grid.url"))
    base = _state(page)["base"]
    if editor_key(page) not in st.session_state and last is not None and (
            np.shape(last) != np.shape(base) or not np.array_equal(last, base)):
        replace_grid(page, last)  # back from another page: Streamlit dropped the table's edits
    grid, problems = _current_grid(page)
    rows_col, cols_col = st.columns(2)
    rows = rows_col.number_input("Rows", 1, GRID_MAX, grid.shape[0], key=f"{page}.grid.rows.{_state(page)['version']}")
    cols = cols_col.number_input("Columns", 1, GRID_MAX, grid.shape[1], key=f"{page}.grid.cols.{_state(page)['version']}")
    if (rows, cols) != grid.shape:
        _resize(page, rows, cols)
        grid, problems = _current_grid(page)
    shown = np.nan_to_num(grid, nan=0.0, posinf=0.0, neginf=0.0)  # what the buttons start from

    buttons = st.columns(3)
    if buttons[0].button("Preset", help="Copy the preset kernel (up to 9x9) into the grid",
                         disabled=preset_kernel is None or max(preset_kernel.shape) > GRID_MAX):
        replace_grid(page, preset_kernel.tolist())
        st.rerun()
    if buttons[1].button("Zero", help="Set every cell to 0"):
        replace_grid(page, np.zeros_like(grid).tolist())
        st.rerun()
    if buttons[2].button("Flip", help="Rotate the grid by 180 degrees"):
        replace_grid(page, shown[::-1, ::-1].tolist())
        st.rerun()

    brush_key = seed(kept(f"{page}.grid.brush"), 1.0,
                     valid=number_in(-kernels.MAX_ABS, kernels.MAX_ABS))
    brush = st.number_input("Brush value", -kernels.MAX_ABS, kernels.MAX_ABS, step=0.5,
                            key=brush_key)
    painted = paint_grid(shown.tolist(), brush=brush, key=f"{page}.grid.paint")
    # what the browser sends back is checked like a link's grid: same shape, plain numbers
    if (painted is not None and _valid_grid(painted)
            and (len(painted), len(painted[0])) == grid.shape):
        replace_grid(page, painted)
        st.rerun()

    st.caption("Exact numbers (double-click a cell):")
    try:
        _number_table(page, grid.shape[1])
    except Exception:  # noqa: BLE001 - any error applying the edits
        # edits Streamlit cannot apply (cells the table lacks: a stale or forged message):
        # a fresh table holding the grid as this run reads it
        replace_grid(page, grid.tolist())
        st.warning("Some edits of the number table could not be applied and were dropped.",
                   icon=":material/grid_off:")
        _number_table(page, grid.shape[1])
    if problems:
        st.error("The kernel needs a number in every cell: " + "; ".join(problems) + ".",
                 icon=":material/grid_off:")
        return None
    try:
        kernel = kernels.validate_kernel(grid)
    except ValueError as error:
        hint = " Fill in every cell." if np.isnan(grid).any() else ""
        st.error(f"{error}{hint}", icon=":material/grid_off:")
        return None
    # the current values go into the link (`grid=`), so a copied URL reopens this kernel
    seed(kept(f"{page}.grid.url"), kernel.tolist(), valid=_valid_grid, url="grid")
    st.session_state[kept(f"{page}.grid.url")] = kernel.tolist()
    return KernelChoice(kernel, f"Your {kernel.shape[0]}x{kernel.shape[1]} grid", None)


def _number_table(page: str, columns: int) -> None:
    table = pd.DataFrame(_state(page)["base"], columns=[str(c) for c in range(columns)])
    st.data_editor(table, key=editor_key(page), width="stretch", hide_index=False,
                   column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table})


# ---------------------------------------------------------------- widget


def kernel_editor(
    page: str, *, default: str = "box", default_params: dict | None = None
) -> KernelChoice | None:
    """Draw the kernel controls; None when the user's grid is not usable yet (message shown).

    `default_params` are the default preset's starting values (e.g. the lecture's 9x9 box).
    """
    source_key = seed(kept(f"{page}.kernel.source"), "preset", valid=one_of(SOURCES), url="from")
    source = st.radio("Kernel from", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      key=source_key)
    preset_choice = _preset(page, default, default_params or {}) if source == "preset" else None
    if source == "grid":
        preset_kernel = st.session_state.get(f"{page}.kernel.last_preset")
        choice = _grid(page, kernels.make_kernel(default) if preset_kernel is None else preset_kernel)
    else:
        choice = preset_choice
    if choice is None:
        return None
    normalise_key = seed(kept(f"{page}.kernel.normalise"), False, valid=boolean(),
                         url="normalise")
    if st.checkbox("Normalise to sum 1", key=normalise_key):
        try:
            return KernelChoice(kernels.normalise(choice.kernel), choice.label + ", normalised",
                                choice.preset, choice.params, normalised=True)
        except ValueError as error:
            st.warning(str(error), icon=":material/functions:")
    return choice
