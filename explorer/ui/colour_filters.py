"""The Colour filters page's parts: the filter-bank editor and the panels showing its feature maps."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from explorer.codegen import scripts as codegen
from explorer.colour.bank import (
    FILTER_TEMPLATES,
    LECTURE_BANK,
    LECTURE_KERNEL_NAME,
    LECTURE_KERNEL_PARAMS,
    MAX_FILTERS,
    MAX_WEIGHT,
    ColourFilter,
    check_bank_values,
    filter_bank_per_filter,
)
from explorer.colour.feature_maps import channel_contributions
from explorer.colour.presets import weights_for_colour
from explorer.colour.proof import prove_with_conv2d
from explorer.convolution import kernels
from explorer.images import plots
from explorer.jobs.bounded_cache import array_digest
from explorer.networks import first_layer
from explorer.ui.state import boolean, kept, link_applied, number_in, one_of, seed, text_matching

PAGE = "colour"
DEFAULT_NET = Path(__file__).resolve().parents[2] / "assets" / "default_net.pt"
SHARED = "shared"  # a filter whose spatial kernel is the sidebar's kernel
COLUMNS = ["filter", "R", "G", "B", "bias", "kernel"]
KERNEL_CHOICES = [SHARED, *kernels.KERNELS]
PER_ROW = 4
LABEL_MAX = 40  # characters in a filter's name


@dataclass(frozen=True, eq=False)
class Bank:
    labels: tuple[str, ...]
    weight: np.ndarray  # (C_out, 3, K_h, K_w)
    bias: np.ndarray  # (C_out,)
    rows: tuple[tuple, ...]  # the table, for the URL and the code panel


# ---------------------------------------------------------------- the bank table


def _row(template: ColourFilter, shared_is_lecture: bool = True) -> list:
    lecture_kernel = (template.kernel_name == LECTURE_KERNEL_NAME
                      and dict(template.kernel_params) == dict(LECTURE_KERNEL_PARAMS))
    kernel = SHARED if lecture_kernel and shared_is_lecture else template.kernel_name
    return [template.label, *template.weights, template.bias, kernel]


LECTURE_ROWS = [_row(f) for f in LECTURE_BANK]


def _plain(text: str) -> str:
    """A user's filter name inside markdown: every markdown character escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def _weight_ok(value) -> bool:
    """A plain finite number within the table's bound (booleans are not numbers here)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and abs(value) <= MAX_WEIGHT)


def _valid_rows(value) -> bool:
    """1 to MAX_FILTERS rows [name, R, G, B, bias, kernel] the filter table can show."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_FILTERS:
        return False
    return all(
        isinstance(r, list | tuple) and len(r) == len(COLUMNS)
        and isinstance(r[0], str) and len(r[0]) <= LABEL_MAX
        and isinstance(r[5], str) and r[5] in KERNEL_CHOICES
        and all(_weight_ok(v) for v in r[1:5]) for r in value)


def _state() -> dict:
    """The table's base rows and version (a new version gives the table a fresh key)."""
    key = kept(f"{PAGE}.bank")
    url_rows = seed(kept(f"{PAGE}.bank.url"), LECTURE_ROWS, valid=_valid_rows, url="bank")
    linked = [list(r) for r in st.session_state[url_rows]]
    if key not in st.session_state:
        st.session_state[key] = {"rows": linked, "version": 0}
    elif link_applied("bank") and st.session_state[key]["rows"] != linked:
        st.session_state[key]["rows"] = linked  # a link followed in this session
        st.session_state[key]["version"] += 1
    return st.session_state[key]


def replace_rows(rows: list[list]) -> None:
    state = _state()
    state["rows"] = [list(r) for r in rows][: MAX_FILTERS]
    state["version"] += 1
    # the new table has no edits yet: it is the current bank (callbacks run before the page)
    st.session_state[f"{PAGE}.bank.current"] = [list(r) for r in state["rows"]]


def table_key() -> str:
    return f"{PAGE}.bank.table.{_state()['version']}"


def _current_rows() -> list[list]:
    table = st.session_state.get(f"{PAGE}.bank.current")
    return [list(r) for r in table] if table is not None else _state()["rows"]


def _row_count() -> int:
    """Rows the table shows in this run: base rows plus the editor's pending additions/deletions."""
    edits = st.session_state.get(table_key())
    if not isinstance(edits, dict):
        return len(_state()["rows"])
    added, deleted = edits.get("added_rows"), edits.get("deleted_rows")
    return (len(_state()["rows"]) + (len(added) if isinstance(added, list) else 0)
            - (len(deleted) if isinstance(deleted, list) else 0))


def _add_template(name: str) -> None:
    rows = _current_rows()
    if len(rows) < MAX_FILTERS:
        replace_rows([*rows, _row(FILTER_TEMPLATES[name])])


def _add_colour(hex_colour: str) -> None:
    rows = _current_rows()
    try:
        weights = weights_for_colour(hex_colour)
    except ValueError as error:
        st.session_state[f"{PAGE}.bank.message"] = str(error)
        return
    if len(rows) < MAX_FILTERS:
        replace_rows([*rows, [f"this colour {hex_colour}", *weights, 0.0, SHARED]])


def bank_controls() -> None:
    """Sidebar: add filters from templates or a picked colour, or load the lecture's four."""
    if table_key() not in st.session_state and _current_rows() != _state()["rows"]:
        # back from another page: Streamlit dropped the table's edits, the last bank is kept
        replace_rows(_current_rows())
    full = _row_count() >= MAX_FILTERS
    names = list(FILTER_TEMPLATES)
    template = st.selectbox("Add a filter", names, key=seed(kept(f"{PAGE}.template"), names[0],
                                                             valid=one_of(names)),
                            format_func=lambda n: FILTER_TEMPLATES[n].label)
    st.caption(FILTER_TEMPLATES[template].description)
    left, right = st.columns(2)
    left.button("Add", icon=":material/add:", on_click=_add_template, args=(template,),
                disabled=full, width="stretch")
    right.button("Lecture's 4", icon=":material/school:", on_click=replace_rows,
                 args=(LECTURE_ROWS,), width="stretch",
                 help="Red, green, blue and red-blue filters with a 9x9 Gaussian, sigma 2")
    picked = st.color_picker("Pick a colour", key=seed(
        kept(f"{PAGE}.picked"), "#e0a030", valid=text_matching("#[0-9a-fA-F]{6}")))
    st.button("Add this colour", icon=":material/colorize:", on_click=_add_colour,
              args=(picked,), disabled=full, width="stretch",
              help="Weights = the colour minus its mean: flat grey gives 0")
    if message := st.session_state.pop(f"{PAGE}.bank.message", None):
        st.warning(message, icon=":material/palette:")
    if full:
        st.caption(f"The bank is full ({MAX_FILTERS} filters): delete a row to add more.")


def bank_names() -> str:
    """The bank's filter names, for the table's expander label."""
    names = [str(row[0]) for row in _current_rows()]
    return ", ".join(names) if names else "empty"


def bank_table(shared_kernel: np.ndarray) -> Bank | None:
    """The filter table (main area, wide enough for every column): edit and delete rows."""
    rows = _state()["rows"]
    st.caption("One row per filter: colour weights, bias, spatial kernel "
               f"('{SHARED}' = the kernel above). Select a row and press Delete to remove it.")
    try:
        table = _table(rows)
    except Exception:  # noqa: BLE001 - any error applying the edits
        # edits Streamlit cannot apply (rows the table lacks: a stale or forged message)
        replace_rows(rows)
        st.warning("Some edits of the filter table could not be applied and were dropped.",
                   icon=":material/grid_off:")
        table = _table(_state()["rows"])
    return _bank_from_table(table, shared_kernel)


def _table(rows: list[list]) -> pd.DataFrame:
    return st.data_editor(
        pd.DataFrame(rows, columns=COLUMNS), key=table_key(), num_rows="dynamic",
        hide_index=True, width="stretch",
        column_config={
            "filter": st.column_config.TextColumn("filter", required=True, default="my filter",
                                                  max_chars=LABEL_MAX),
            **{c: st.column_config.NumberColumn(c, format="%.3g", required=True, default=0.0,
                                                min_value=-MAX_WEIGHT,
                                                max_value=MAX_WEIGHT)
               for c in ("R", "G", "B", "bias")},
            "kernel": st.column_config.SelectboxColumn("kernel", options=KERNEL_CHOICES,
                                                       required=True, default=SHARED),
        })


def _bank_from_table(table: pd.DataFrame, shared_kernel: np.ndarray) -> Bank | None:
    if len(table) == 0:
        st.error("The bank is empty: add at least one filter.", icon=":material/grid_off:")
        return None
    if len(table) > MAX_FILTERS:
        st.warning(f"Only the first {MAX_FILTERS} filters are used.")
        table = table.iloc[: MAX_FILTERS]
    # booleans would pass to_numeric as 0/1: a number column holds numbers only
    numbers = table[["R", "G", "B", "bias"]].map(
        lambda v: np.nan if isinstance(v, bool) else v).apply(pd.to_numeric, errors="coerce")
    if (numbers.isna().any().any() or not np.isfinite(numbers.to_numpy(dtype=float)).all()
            or table["kernel"].isna().any()):
        st.error("Every filter needs numbers for R, G, B and bias, and a kernel.",
                 icon=":material/grid_off:")
        return None
    unknown = [str(k)[:30] for k in table["kernel"] if not isinstance(k, str)
               or k not in KERNEL_CHOICES]
    if unknown:
        st.error(f"Unknown kernel {unknown[0]!r}: choose one from the list.",
                 icon=":material/grid_off:")
        return None
    labels = [label[:LABEL_MAX] if isinstance(label, str) and label else f"filter {i + 1}"
              for i, label in enumerate(table["filter"])]
    kernel_list = [shared_kernel if k == SHARED else kernels.make_kernel(k) for k in table["kernel"]]
    try:
        check_bank_values(numbers[["R", "G", "B"]].to_numpy(), numbers["bias"].to_numpy())
        weight = filter_bank_per_filter(numbers[["R", "G", "B"]].to_numpy(), kernel_list)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None
    rows = tuple((label, *map(float, number_row[:4]), kernel) for label, number_row, kernel in
                 zip(labels, numbers.to_numpy(), table["kernel"], strict=True))
    st.session_state[f"{PAGE}.bank.current"] = [list(r) for r in rows]
    # the current table goes into the link (`bank=`), so a copied URL reopens this bank
    seed(kept(f"{PAGE}.bank.url"), [list(r) for r in rows], valid=_valid_rows, url="bank")
    st.session_state[kept(f"{PAGE}.bank.url")] = [list(r) for r in rows]
    return Bank(tuple(labels), weight, numbers["bias"].to_numpy(dtype=np.float64), rows)


# ---------------------------------------------------------------- panels


def _map_image(values: np.ndarray, relu: bool, scale: tuple[float, float] | None) -> tuple:
    """A feature map as an image: heat scale after ReLU, diverging (white = 0) before."""
    if relu:
        low, high = (0.0, float(values.max())) if scale is None else scale
        return plots.heat_rgb(values, low, high), f"black = {low:.3g}, yellow = {high:.3g}"
    limit = plots.signed_limit(values) if scale is None else max(map(abs, scale))
    return plots.diverging_rgb(values, limit), f"blue < 0 < red, ±{limit:.3g}"


@st.cache_resource(max_entries=32, show_spinner=False)
def _tiles(key: tuple[str, str], labels: tuple[str, ...], relu: bool, shared: bool,
           _image: np.ndarray, _maps: np.ndarray) -> list[tuple[str, bytes, str]]:
    """(label, PNG, scale text) for the input and each map, encoded once per server for each
    (picture, maps, scale): a class on one picture and bank shares them (~60 ms a rerun)."""
    scale = plots.joint_scale(*_maps) if shared else None
    tiles = [("Input", plots.png_bytes(_image), f"{_image.shape[0]}x{_image.shape[1]}x3")]
    for label, values in zip(labels, _maps, strict=True):
        pixels, text = _map_image(values, relu, scale)
        tiles.append((label, plots.png_bytes(pixels), text))
    return tiles


def feature_maps_panel(image: np.ndarray, bank: Bank, maps: np.ndarray, relu: bool) -> None:
    """The image and one feature map ("heat map") per filter."""
    shared = st.toggle("One colour scale for all maps", key=seed(
        kept(f"{PAGE}.shared_scale"), False, valid=boolean(), url="shared"))
    tiles = _tiles((array_digest(image), array_digest(maps)), tuple(bank.labels), relu, shared,
                   image, maps)
    per_row = 5 if len(tiles) <= 5 else PER_ROW  # the lecture's four maps beside the image
    for start in range(0, len(tiles), per_row):
        for column, (label, png, text) in zip(st.columns(per_row), tiles[start:start + per_row],
                                              strict=False):
            column.image(png, caption=f"{label}: {text}", width="stretch", output_format="PNG")


def _pick_filter(bank: Bank, name: str) -> int:
    key = seed(kept(f"{PAGE}.{name}"), 0, valid=one_of(range(len(bank.labels))))
    return st.selectbox("Filter", range(len(bank.labels)), format_func=lambda i: bank.labels[i],
                        key=key)


def overlay_panel(image: np.ndarray, bank: Bank, maps: np.ndarray) -> None:
    """A chosen map's positive part laid over the image."""
    left, right = st.columns(2)
    with left:
        index = _pick_filter(bank, "overlay.filter")
    opacity = right.slider("Opacity of the map", 0.0, 1.0, key=seed(
        kept(f"{PAGE}.overlay.opacity"), 0.6, valid=number_in(0.0, 1.0)))
    positive = np.clip(maps[index], 0, None)
    heat = plots.heat_rgb(positive, 0.0, max(float(positive.max()), 1e-12)).astype(np.float32) / 255
    weight = opacity * (positive / max(float(positive.max()), 1e-12))[..., None]
    # mode "valid" makes the map smaller than the image: lay it over the pixels it was
    # computed at (the centres of the kernel's positions)
    top, left_edge = ((np.array(image.shape[:2]) - np.array(positive.shape)) // 2).tolist()
    under = image[top : top + positive.shape[0], left_edge : left_edge + positive.shape[1]]
    st.image(plots.png_bytes(under * (1 - weight) + heat * weight), width="stretch",
             caption=f"{bank.labels[index]}: where the response is positive (bright = strong)",
             output_format="PNG")


def contributions_panel(image: np.ndarray, bank: Bank, mode: str) -> None:
    """The R, G and B parts of one feature map: part[n] = correlate(channel n, W[m, n])."""
    index = _pick_filter(bank, "contrib.filter")
    parts = channel_contributions(image, bank.weight[index : index + 1], mode=mode)[0]
    total = parts.sum(axis=0) + bank.bias[index]
    limit = max(plots.signed_limit(parts), plots.signed_limit(total))
    shares = np.abs(parts).sum(axis=(1, 2))
    shares = shares / max(float(shares.sum()), 1e-12)
    st.markdown(f"**{_plain(bank.labels[index])}** = R part + G part + B part + bias "
                f"({bank.bias[index]:g}). Share of the total |response|: "
                + ", ".join(f"{c} {100 * s:.0f} %" for c, s in zip("RGB", shares, strict=True)))
    names = ["Red part", "Green part", "Blue part", "Sum + bias (the feature map)"]
    for column, name, values in zip(st.columns(4), names, [*parts, total], strict=True):
        column.image(plots.png_bytes(plots.diverging_rgb(values, limit)), width="stretch",
                     caption=f"{name}: blue < 0 < red, ±{limit:.3g}", output_format="PNG")


def weight_panel(bank: Bank) -> None:
    """The Conv2d weight tensor: its shape, each filter as a colour image, one filter's slices."""
    c_out, c_in, k_h, k_w = bank.weight.shape
    st.markdown(f"Weight tensor **W** of shape **(C_out, C_in, K_h, K_w) = ({c_out}, {c_in}, "
                f"{k_h}, {k_w})**, bias of shape **({c_out},)**: {bank.weight.size} weights. "
                "Built as `W[m, n] = colour_weight[m, n] * kernel_m`.")
    images = first_layer.kernels_to_images(bank.weight)
    for column, label, picture in zip(st.columns(min(c_out, 8)), bank.labels, images, strict=False):
        column.image(plots.png_bytes(picture), caption=label, width="stretch", output_format="PNG")
    index = _pick_filter(bank, "weight.filter")
    for column, name, values in zip(st.columns(3), ("R", "G", "B"), bank.weight[index],
                                    strict=True):
        with column:
            st.plotly_chart(plots.matrix_heatmap(values, title=f"W[{index}, {name}]", signed=True),
                            width="stretch", key=f"slice_{name}", config={"displayModeBar": False})


def proof_panel(image: np.ndarray, bank: Bank, maps: np.ndarray, mode: str, relu: bool) -> None:
    """The same feature maps from a real nn.Conv2d loaded with load_state_dict."""
    proof = prove_with_conv2d(image, bank.weight, bank.bias, mode=mode, relu=relu)
    shapes = ", ".join(f"`{k}`: {tuple(v)}" for k, v in proof.state_dict_shapes.items())
    st.markdown(f"`nn.Conv2d(3, {bank.weight.shape[0]}, kernel_size={bank.weight.shape[2:]}"
                f"{', padding=' + repr('same') if mode == 'same' else ''})` with state dict "
                f"{shapes}, loaded with `load_state_dict`, gives output of shape "
                f"{proof.output.shape}. Largest difference from this page's maps: "
                f"**{np.max(np.abs(proof.output - maps)):.2e}** (float32 arithmetic).")


def _mtime(path) -> float | None:
    return path.stat().st_mtime if path.exists() else None


@st.cache_resource(show_spinner="Reading AlexNet's weights...", max_entries=1)
def _alexnet_first_layer(modified: float | None) -> np.ndarray | None:
    """Read once per process (the file is 233 MB); a changed file (mtime) is read again."""
    return first_layer.cached_alexnet_first_layer()


@st.cache_resource(show_spinner=False)
def _default_net_first_layer() -> np.ndarray:
    """The first conv weight (32, 3, 3, 3) of the app's network trained on the shapes."""
    from explorer.training import runs as train_runs

    model = train_runs.load_run(DEFAULT_NET).model
    return model.get_submodule("conv1").weight.detach().numpy().copy()


def _kernel_mosaic(weight: np.ndarray, columns: int, scale: int) -> bytes:
    return plots.png_bytes(plots.image_grid(first_layer.kernels_to_images(weight),
                                            columns=columns, scale=scale))


def learned_panel() -> None:
    """First-layer kernels that networks learned, beside the hand-made ones."""
    weight = _default_net_first_layer()
    st.image(_kernel_mosaic(weight, columns=16, scale=12), width=640,
             caption=f"CNN Explorer's default network (trained on the shapes, page 3): its "
                     f"{weight.shape[0]} first-layer filters of 3x3x3 (grey = 0). Like the "
                     "hand-made ones, they mix colour weights with small spatial patterns.",
             output_format="PNG")
    try:
        alexnet = _alexnet_first_layer(_mtime(first_layer.alexnet_weights_path()))
    except ValueError as error:
        st.error(f"AlexNet's cached weights could not be read: {error}")
        return
    if alexnet is None:
        st.caption(f"AlexNet's ImageNet weights are not in the local cache "
                   f"(`{first_layer.alexnet_weights_path()}`), so its 64 learned 11x11 filters "
                   "cannot be shown offline. They appear here once the file is cached.")
        return
    st.image(_kernel_mosaic(alexnet, columns=8, scale=4), width=520,
             caption="AlexNet's 64 first-layer filters (11x11x3): edges, stripes and colour blobs",
             output_format="PNG")


def bank_code(picked, bank: Bank, choice, mode: str, relu: bool) -> str:
    """The lecture's PyTorch code for this bank (runnable; prints the feature maps' shape)."""
    shared = (choice.preset, choice.params, choice.kernel)
    kernel_list = [shared if row[5] == SHARED else (row[5], None, kernels.make_kernel(row[5]))
                   for row in bank.rows]
    colour_weights = np.array([row[1:4] for row in bank.rows])  # (C_out, 3)
    return codegen.colour_code(picked.code_source(), colour_weights, kernel_list, bank.bias,
                               mode=mode, relu=relu)


# ---------------------------------------------------------------- downloads


def feature_maps_zip(bank: Bank, maps: np.ndarray, relu: bool) -> bytes:
    """One PNG per feature map, in a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (label, values) in enumerate(zip(bank.labels, maps, strict=True)):
            pixels, _ = _map_image(values, relu, None)
            safe = "".join(ch if ch.isalnum() else "_" for ch in label)
            archive.writestr(f"{index}_{safe}.png", plots.png_bytes(pixels))
    return buffer.getvalue()


def weight_npy(bank: Bank) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, bank.weight.astype(np.float32))
    return buffer.getvalue()


def weight_pt(bank: Bank) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save({"weight": torch.tensor(bank.weight, dtype=torch.float32),
                "bias": torch.tensor(bank.bias, dtype=torch.float32)}, buffer)
    return buffer.getvalue()


def downloads(bank: Bank, maps: np.ndarray, relu: bool) -> None:
    columns = st.columns(3)
    columns[0].download_button("Feature maps (PNG, zip)", lambda: feature_maps_zip(bank, maps, relu),
                               file_name="feature_maps.zip", mime="application/zip",
                               icon=":material/download:", on_click="ignore")
    columns[1].download_button("Weights (.npy)", lambda: weight_npy(bank), file_name="weight.npy",
                               mime="application/octet-stream", icon=":material/download:",
                               on_click="ignore")
    columns[2].download_button("Weights + bias (.pt)", lambda: weight_pt(bank),
                               file_name="colour_filters.pt", mime="application/octet-stream",
                               icon=":material/download:", on_click="ignore")
