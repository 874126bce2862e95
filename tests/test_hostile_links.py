"""Hostile link values: every link parameter of every page, driven through the real pages (AppTest).

Each run sets every parameter of a page to the same hostile value (with the parameters that
gate others, such as `kernel=gabor`, held at a valid value in some runs so the gated ones are
read too), opens the tabs, and asserts no exception, a note naming each ignored parameter, and
that the bad value is replaced in the address bar. The values are generated here; values that
the link decoder turns into the same refusal are driven once (REFUSED_BY_THE_DECODER).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.colour.bank import MAX_WEIGHT
from explorer.convolution import kernels
from tests.helpers import heatmaps

ROOT = Path(__file__).resolve().parent.parent
HOME = "../explorer/Home.py"


def hostile_values() -> dict[str, str]:
    """Name -> the text a link carries. Deterministic; nothing here is valid anywhere."""
    return {
        "object": '{"a": 1}',
        "object in a list": '[{"x": 1}]',
        "nested lists": "[[1], [2]]",
        "three deep": "[[[1, 2]]]",
        "5,000 [": "[" * 5000,
        "balanced 3,000 deep": "[" * 3000 + "]" * 3000,
        "NaN": "NaN",
        "Infinity": "Infinity",
        "1e999": "1e999",
        "huge string": "é" + "x" * 9000,  # over the length limit (30 of them stay under
        # Streamlit's own 512 KB query-string limit, beyond which it ignores the whole link)
        "empty": "",
        "null": "null",
        "unicode": "\u202e\u0000🙂 ü",
        "quoted number": '"3"',
        "list of bools": "[[true, false], [true, true]]",
        "ragged": "[[1, 2], [3]]",
        "10x10": json.dumps([[1] * 10] * 10),
        "row of NaN": "[[NaN, 1]]",
        "huge int": "9" * 4000,
        "markup": "<script>alert(1)</script>**x**",
    }


def number_values() -> dict[str, str]:
    """Values of the right JSON kind for some parameters and wrong for others."""
    return {
        "1e308": "1e308",
        "-1e308": "-1e308",
        "zero": "0",
        "negative": "-1",
        "1e9": "1000000000",
        "float 1.0": "1.0",
        "float 2.5": "2.5",
        "true": "true",
        "false": "false",
    }


# page -> (script, tabs opened after the first, parameters, contexts: valid values that make
# gated parameters appear, with the tabs that show them). The parameter lists are checked
# against the app below. The first context (nothing held valid) opens every tab.
KERNEL_PARAMS = ["kernel", "from", "normalise", "grid", "k_size", "k_square", "k_cols", "k_sigma",
                 "k_length", "k_angle", "k_theta", "k_wavelength", "k_phase", "k_gamma", "k_seed"]
PICKER_PARAMS = ["image", "photo", "pattern", "size"]
PAGES = {
    "convolution": (
        "../pages/1_Convolution.py",
        ["Step through", "Edges (Sobel)", "Pooling", "Engines"],
        [*PICKER_PARAMS, *KERNEL_PARAMS, "mode", "boundary", "fill", "stride", "dilation",
         "sobel", "pool", "pool_kind", "pool_size", "pool_stride"],
        [({}, ()), ({"image": "pattern", "from": "grid"}, ()),
         ({"kernel": "gabor", "k_square": "false"}, ()),
         ({"kernel": "motion_blur", "pool": "image"}, ("Pooling",)), ({"kernel": "random"}, ())],
    ),
    "colour": (
        "../pages/2_Colour_filters.py",
        ["Overlay", "Channel contributions", "Weight tensor", "Proof: nn.Conv2d"],
        [*PICKER_PARAMS, *KERNEL_PARAMS, "bank", "mode", "relu", "shared"],
        [({}, ()), ({"image": "pattern", "from": "grid"}, ()),
         ({"kernel": "gabor", "k_square": "false"}, ()), ({"kernel": "motion_blur"}, ()),
         ({"kernel": "random"}, ())],
    ),
    "train": (
        "../pages/3_Train_a_CNN.py",
        [],
        ["dataset", "blocks", "channels", "kernel", "activation", "bn", "dropout", "hidden",
         "flip", "shift", "rotation", "jitter", "optimiser", "lr", "schedule", "decay", "batch",
         "epochs", "budget", "seed", "owner", "job", "preview", "ablation"],
        [({}, ())],
    ),
    "transfer": (
        "../pages/4_Transfer_learning.py",
        [],
        ["backbone", "source", "task", "strategy", "per_class", "budget", "epochs", "size",
         "owner"],
        [({}, ()), ({"source": "examples"}, ())],
    ),
    "layers": (
        "../pages/6_CNN_layers.py",
        ["Receptive field", "Dense = 1x1 conv", "Parameters", "Pattern matching"],
        ["bp_n", "bp_k", "bp_cin", "bp_cout", "bp_seed", "rf_stack", "rf_row", "rf_col",
         "dense_cin", "dense_out", "dense_batch", "p_cin", "p_cout", "p_n", "p_k", "present",
         "pm_tpl", "pm_scene", "pm_row", "pm_col", "pm_grid"],
        [({}, ()), ({"pm_tpl": "drawn"}, ("Pattern matching",))],
    ),
    "architectures": (
        "../pages/9_Architectures.py",
        ["Inception"],
        ["block", "variant", "ipic", "present"],
        [({}, ())],
    ),
    "playground": (
        "../pages/7_Playground.py",
        ["Half-spaces", "Data"],
        ["pg_problem", "pg_data", "pg_noise", "pg_test", "pg_points", "pg_features", "pg_hidden",
         "pg_act", "pg_opt", "pg_lr", "pg_batch", "pg_reg", "pg_reg_rate", "pg_seed",
         "pg_budget", "pg_clicked", "pg_unit", "owner"],
        [({}, ())],
    ),
    "pretrained": (
        "../pages/5_Pretrained_networks.py",
        ["Activations", "First-layer kernels", "Grad-CAM", "Attributions", "What channels look for"],
        [*PICKER_PARAMS, "model", "layer", "strongest", "shared", "channel", "class", "owner",
         "vis_layer", "vis_channels", "methods", "ig_steps", "sg_samples", "sanity"],
        [({}, ()), ({"image": "pattern"}, ())],
    ),
    "deep": (
        "../pages/8_Deep_networks.py",
        ["Residual vs plain"],
        ["depth", "width", "act", "bn", "skip", "batch", "seed", "steps", "lr", "blocks",
         "csteps", "paths", "owner"],
        [({}, ())],
    ),
    # The Generative models page reads about fifty parameters: split in two, so that fifty
    # hostile values of 5,000 characters stay under Streamlit's 512 KiB query-string limit.
    "generative": (
        "../pages/10_Generative_models.py",
        ["VAE", "GAN on images"],
        ["ae_data", "ae_latent", "ae_noise", "ae_steps", "ae_odd", "vae_data", "vae_beta",
         "vae_latent", "vae_steps", "vae_a", "vae_b", "owner",
         "gan_data", "gan_latent", "gan_width", "gan_batch", "gan_lr",
         "gan_seconds", "gan_seed", "gan_count"],
        [({}, ())],
    ),
    "generative (points and diffusion)": (
        "../pages/10_Generative_models.py",
        ["GAN on 2-D points", "Normalizing flow", "Diffusion"],
        ["g2_data", "g2_loss", "g2_hidden", "g2_lr", "g2_batch", "g2_dsteps", "g2_steps",
         "g2_seed", "fl_data", "fl_noise", "fl_couplings", "fl_hidden", "fl_lr", "fl_seconds",
         "fl_steps", "fl_seed", "df_schedule", "df_t", "df_train_schedule", "df_lr",
         "df_seconds", "df_train_steps", "df_seed", "df_class", "df_guidance",
         "df_sample_steps", "df_sampler", "df_count", "df_data"],
        [({}, ())],
    ),
}


def open_page(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=120)
    at.run()
    at.query_params.update(params)
    at.switch_page(PAGES[page][0]).run()
    return at


def notes(at: AppTest) -> str:
    return " ".join(t.value for t in at.toast)


# Read by the page's own code (the run's owner token, the run's id), not through seed().
OWN_READERS = {"owner", "job"}


def drive(page: str, hostile: dict[str, str], context: dict[str, str], tabs, *,
          every_value_bad: bool) -> AppTest:
    """Open the page with these link values, then every tab in turn: no exception anywhere.

    With `every_value_bad`, each hostile parameter the page read got a note naming it, and
    the address bar no longer carries its value. Then a rerun is quiet: read once, noted once.
    """
    at = open_page(page, {**hostile, **context})
    assert not at.exception, at.exception[0].value
    seen = {name for name in hostile if f"`{name}`" in notes(at)}
    for tab in tabs:
        at.session_state["tab"] = tab
        at.run()
        assert not at.exception, (tab, at.exception[0].value)
        seen |= {name for name in hostile if f"`{name}`" in notes(at)}
    read = set(at.session_state["_url_seen"]) & set(hostile)
    assert read, "no parameter was read"
    read -= OWN_READERS
    if every_value_bad:
        assert read <= seen, f"ignored without a note: {sorted(read - seen)}"
        fields = at.session_state["_url_fields"]
        replaced = [name for name in read & set(fields) if at.query_params.get(name) == hostile[name]]
        assert not replaced, f"still in the address bar: {replaced}"
    at.run()
    assert not at.exception, at.exception[0].value
    assert not at.toast, notes(at)
    return at


# With a gating parameter held valid, one value of each kind the decoder tells apart is enough.
KINDS = ["object", "5,000 [", "NaN", "empty", "unicode", "list of bools", "huge int", "null",
         "quoted number"]


# Values the link decoder refuses outright (objects, NaN/inf numbers, too deep, too long) reach a
# page as one and the same INVALID marker: the page is driven with one of them, and
# test_refused_values_reach_the_pages_as_one checks that the others decode to that marker.
REFUSED_BY_THE_DECODER = ["object in a list", "three deep", "balanced 3,000 deep", "1e999",
                          "huge string"]


def page_values() -> list[str]:
    """The hostile values a page can tell apart (all of them but the decoder's duplicates)."""
    return [name for name in hostile_values() if name not in REFUSED_BY_THE_DECODER]


def test_refused_values_reach_the_pages_as_one() -> None:
    from explorer.ui.state import INVALID, _decode

    values = hostile_values()
    assert _decode(values["object"]) is INVALID and _decode(values["5,000 ["]) is INVALID
    assert all(_decode(values[name]) is INVALID for name in REFUSED_BY_THE_DECODER)
    # everything else reaches the page as something else, so the page is driven with it
    assert all(_decode(values[name]) is not INVALID
               for name in page_values() if name not in ("object", "5,000 ["))


def _cases() -> list:
    return [pytest.param(page, index, name, id=f"{page}-{index}-{name}")
            for page, (_, _, _, contexts) in PAGES.items()
            for index in range(len(contexts))
            for name in (page_values() if index == 0 else KINDS)]


# valid somewhere: "[[1], [2]]" is a 2x1 grid
VALID_SOMEWHERE = {"nested lists"}


@pytest.mark.parametrize("page, context_index, value_name", _cases())
def test_every_parameter_with_a_hostile_value(page: str, context_index: int,
                                              value_name: str) -> None:
    _, all_tabs, params, contexts = PAGES[page]
    context, tabs = contexts[context_index]
    text = hostile_values()[value_name]
    drive(page, {name: text for name in params if name not in context}, context,
          all_tabs if context_index == 0 else tabs,
          every_value_bad=value_name not in VALID_SOMEWHERE)


# The tabs that read link parameters (the others only show what the sidebar chose).
PARAMETER_TABS = {"convolution": ("Edges (Sobel)", "Pooling"), "colour": (), "train": (), "transfer": (),
                  "layers": ("Receptive field", "Dense = 1x1 conv", "Parameters",
                             "Pattern matching"),
                  "architectures": ("Inception",),
                  "playground": ("Half-spaces",),
                  "pretrained": ("Activations", "Grad-CAM", "Attributions",
                                 "What channels look for"),
                  "deep": ("Residual vs plain",),
                  "generative": ("VAE", "GAN on images"),
                  "generative (points and diffusion)": ("GAN on 2-D points",
                                                        "Normalizing flow", "Diffusion")}


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("value_name", list(number_values()))
def test_every_parameter_with_a_number_or_boolean(page: str, value_name: str) -> None:
    _, _, params, contexts = PAGES[page]
    text = number_values()[value_name]
    for index, (context, tabs) in enumerate(contexts):
        drive(page, {name: text for name in params if name not in context}, context,
              PARAMETER_TABS[page] if index == 0 else tabs, every_value_bad=False)


def _call_arguments(text: str, name: str) -> list[str]:
    """The argument text of every call `name(...)` in `text` (parentheses balanced)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, start = 1, match.end()
        for end in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                found.append(text[start:end])
                break
    return found


def link_parameters_in_the_source() -> set[str]:
    """Every link parameter the pages read: seed(..., url="x"), _seeded(..., "x") and
    st.query_params.get("x") / ["x"]; preset parameters appear as the f-string k_{...}."""
    found = set()
    for path in [*ROOT.glob("explorer/ui/**/*.py"), *ROOT.glob("pages/*.py")]:
        text = path.read_text()
        found |= set(re.findall(r'url=f?"(\w+)"', text))
        for arguments in _call_arguments(text, "_seeded"):
            last = re.search(r',\s*"(\w+)"\s*,?\s*$', arguments)
            if last:
                found.add(last.group(1))
        found |= set(re.findall(r'query_params(?:\.get\(|\[)"(\w+)"', text))
        if 'f"k_{' in text:
            found.add("k_")
    return found


def test_the_parameter_lists_cover_the_app() -> None:
    """Every link parameter in the source is tested here (a new one must be added above)."""
    found = link_parameters_in_the_source()
    assert {"image", "mode", "stride", "bank", "relu", "epochs", "owner", "model"} <= found
    assert "k_" in found  # the kernel presets' parameters, f"k_{param.name}"
    tested = {name for _, _, params, _ in PAGES.values() for name in params}
    assert found - {"k_"} <= tested, sorted(found - {"k_"} - tested)
    for spec in kernels.KERNELS.values():
        for param in spec.params:
            assert f"k_{param.name}" in tested, param.name


# ---------------------------------------------------------------- the reported cases


def toasts(at: AppTest) -> str:
    return " ".join(t.value for t in at.toast)


@pytest.mark.parametrize("params", [
    {"image": '{"a":1}'}, {"from": "[[1],[2]]"}, {"mode": "[" * 5000},
    {"stride": "0"}, {"stride": "-3"}, {"dilation": "0"}, {"dilation": "1e308"},
    {"k_size": "0"}, {"k_size": "1000000000"}, {"k_size": '"7"'}, {"k_size": "7.5"},
    {"kernel": "gaussian", "k_sigma": "0"}, {"image": "pattern", "size": "1000000"},
    {"fill": "NaN"}, {"fill": "1e308"}, {"normalise": "1"}, {"normalise": "1.0"},
])
def test_reported_convolution_links_are_ignored_with_a_note(params: dict[str, str]) -> None:
    at = open_page("convolution", params)
    assert not at.exception, at.exception
    notes = toasts(at)
    for name in params:
        if name not in ("kernel", "image"):
            assert f"`{name}`" in notes, name


def test_pool_object_in_the_pooling_tab() -> None:
    at = open_page("convolution", {"pool": '{"x":1}', "pool_size": "[[2]]"})
    at.session_state["tab"] = "Pooling"
    at.run()
    assert not at.exception, at.exception
    assert "`pool`" in toasts(at) and "`pool_size`" in toasts(at)
    assert at.slider(key="keep.convolution.pool.size").value == 2


@pytest.mark.parametrize("grid", [
    "[[true, false], [true, true]]", '[["1", "2"], ["3", "4"]]', "[[1, 2], [3]]",
    json.dumps([[1] * 10] * 10), json.dumps([[1] * 3] * 12), "[[1e39]]", "[[1e308, 0]]",
    "[]", "[[]]", "[[null]]", "[1, 2, 3]",
])
def test_a_bad_grid_in_the_link_falls_back_to_sobel(grid: str) -> None:
    at = open_page("convolution", {"from": "grid", "grid": grid})
    assert not at.exception, at.exception
    assert "`grid`" in toasts(at)
    np.testing.assert_array_equal(heatmaps(at)["W (correlation)"],
                                  kernels.make_kernel("sobel_x"))


def test_a_9x3_grid_in_the_link_is_used() -> None:
    grid = np.arange(27, dtype=float).reshape(9, 3).tolist()
    at = open_page("convolution", {"from": "grid", "grid": json.dumps(grid)})
    assert not at.exception and not at.toast
    np.testing.assert_array_equal(heatmaps(at)["W (correlation)"], grid)


def _bank(rows: list) -> str:
    return json.dumps(rows, allow_nan=True)


@pytest.mark.parametrize("bank", [
    _bank([["x", True, 0, 0, 0, "shared"]]),
    _bank([["x", 1e300, 0, 0, 0, "shared"]]),
    _bank([["x", 1000.0, 0, 0, 0, "shared"]]),
    _bank([["x", 1, 0, 0, -1e3, "shared"]]),
    _bank([["x", float("nan"), 0, 0, 0, "shared"]]),
    _bank([]),
    _bank([["x", 1, 0, 0, 0, "shared"]] * 100),
    _bank([["x" * 1000, 1, 0, 0, 0, "shared"]]),
    _bank([[1, 1, 0, 0, 0, "shared"]]),
    _bank([["x", 1, 0, 0, 0, ["shared"]]]),
    _bank([["x", 1, 0, 0, 0, "no-such-kernel"]]),
    _bank([["x", "1", 0, 0, 0, "shared"]]),
    '{"rows": 1}',
])
def test_a_bad_bank_in_the_link_falls_back_to_the_lecture(bank: str) -> None:
    at = open_page("colour", {"bank": bank})
    assert not at.exception, at.exception
    assert "`bank`" in toasts(at)
    assert len(at.session_state["keep.colour.bank"]["rows"]) == 4


def test_relu_one_point_zero_is_not_true() -> None:
    at = open_page("colour", {"relu": "1.0", "shared": "1"})
    assert not at.exception, at.exception
    assert at.checkbox(key="keep.colour.relu").value is False
    assert "`relu`" in toasts(at) and "`shared`" in toasts(at)


def test_bank_weights_at_the_bound_are_used() -> None:
    rows = [["edge", MAX_WEIGHT, -MAX_WEIGHT, 0.0, MAX_WEIGHT, "sobel_x"]]
    at = open_page("colour", {"bank": json.dumps(rows)})
    assert not at.exception and not at.toast
    assert at.session_state["keep.colour.bank"]["rows"] == rows
