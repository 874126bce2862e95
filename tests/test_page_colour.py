"""AppTest of the Colour filters page: the bank editor, modes, ReLU, every tab, URL, code panel."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.codegen import scripts as codegen
from explorer.codegen.scripts import ImageSource
from explorer.colour.bank import (
    FILTER_TEMPLATES,
    LECTURE_BANK,
    MAX_FILTERS,
    MAX_WEIGHT,
    build_bank,
    filter_bank,
    filter_bank_per_filter,
)
from explorer.colour.feature_maps import MODES, apply_filters
from explorer.convolution import kernels
from explorer.images import files as image_files
from explorer.images import pictures as images
from explorer.networks import first_layer
from explorer.ui import colour_filters
from tests.helpers import captions, heatmaps, run

PAGE = "../pages/2_Colour_filters.py"
K = "keep.colour."
LECTURE_LABELS = ["Red", "Green", "Blue", "Red-blue (magenta)"]
TOL = 1e-5


# ---------------------------------------------------------------- helpers






def map_labels(at: AppTest) -> list[str]:
    """The feature maps' labels (the first tile is the input image)."""
    return [caption.split(":")[0] for caption in captions(at)[1:]]


def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)




def use_tab(at: AppTest, name: str) -> AppTest:
    at.session_state["tab"] = name
    return run(at)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click()
    return run(at)


def table_key(at: AppTest) -> str:
    return f"colour.bank.table.{at.session_state[K + 'bank']['version']}"


def edit_table(at: AppTest, edited=None, added=None, deleted=None) -> AppTest:
    """Edit the bank table the way the data editor reports edits (set_value doesn't work)."""
    at.session_state[table_key(at)] = {"edited_rows": edited or {}, "added_rows": added or [],
                                       "deleted_rows": deleted or []}
    return run(at)


def exec_code(at: AppTest) -> dict:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(at.code[0].value, "<code panel>", "exec"), namespace)
    return namespace


def colour_rows(at: AppTest) -> list[list[float]]:
    """The code panel's color_wt rows."""
    block = at.code[0].value.split("color_wt = np.array(", 1)[1].split(")\n", 1)[0]
    return [json.loads(row) for row in re.findall(r"\[[^\[\]]+\]", block)]


def lecture_maps(image: np.ndarray, **settings) -> np.ndarray:
    weight, bias = build_bank(LECTURE_BANK)
    return apply_filters(image, weight, bias=bias, **settings)


def astronaut() -> np.ndarray:
    return images.builtin_image("astronaut", "RGB")


def new_app(**params: str) -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    run(at)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(PAGE)
    return run(at)


@pytest.fixture
def app() -> AppTest:
    return new_app()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache, read by the page at run time; AlexNet's cached read forgotten."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    colour_filters._alexnet_first_layer.clear()
    yield tmp_path
    colour_filters._alexnet_first_layer.clear()


# ---------------------------------------------------------------- default view


def test_default_is_the_lecture_bank_on_the_astronaut(app: AppTest) -> None:
    assert any("Input: **Astronaut**, 512x512x3" in c.value for c in app.caption)
    assert captions(app)[0] == "Input: 512x512x3"
    assert map_labels(app) == LECTURE_LABELS
    assert all("blue < 0 < red" in c for c in captions(app)[1:])
    assert len(app.get("download_button")) == 3
    y = exec_code(app)["y"]
    assert y.shape == (4, 512, 512)
    np.testing.assert_allclose(y, lecture_maps(astronaut()), atol=TOL)


# ---------------------------------------------------------------- the bank editor


def test_add_templates_until_full_then_back_to_the_lecture(app: AppTest) -> None:
    app.selectbox(key=K + "template").set_value("red edges")
    run(app)
    click(app, "Add")
    assert map_labels(app) == [*LECTURE_LABELS, FILTER_TEMPLATES["red edges"].label]
    # red edges uses a 3x3 Sobel, padded into the 9x9 bank
    assert colour_filters.SHARED not in app.session_state["colour.bank.current"][4][5]
    for _ in range(3):
        click(app, "Add")
    assert len(map_labels(app)) == MAX_FILTERS
    run(app)  # the "full" state lags one rerun (see test_add_is_enabled_or_disabled_at_once)
    assert button(app, "Add").disabled and button(app, "Add this colour").disabled
    assert any("The bank is full (8 filters)" in c.value for c in app.caption)
    y = exec_code(app)["y"]
    assert y.shape == (8, 512, 512)
    click(app, "Lecture's 4")
    assert map_labels(app) == LECTURE_LABELS
    run(app)  # the "full" state lags one rerun (see test_add_is_enabled_or_disabled_at_once)
    click(app, "Add")  # the template is still red edges
    assert len(map_labels(app)) == 5


def test_add_is_enabled_or_disabled_at_once(app: AppTest) -> None:
    for _ in range(4):
        click(app, "Add")
    assert len(map_labels(app)) == MAX_FILTERS
    assert button(app, "Add").disabled  # fails: still enabled until the next rerun
    click(app, "Lecture's 4")
    assert not button(app, "Add").disabled  # fails: disabled with 4 filters shown
    row = {"filter": "x", "R": 1.0, "G": 0.0, "B": 0.0, "bias": 0.0, "kernel": "shared"}
    edit_table(app, added=[row] * 4)  # rows added in the table fill the bank too
    assert len(map_labels(app)) == MAX_FILTERS
    assert button(app, "Add").disabled


def test_table_edits_survive_a_visit_to_another_page(app: AppTest) -> None:
    edit_table(app, edited={0: {"filter": "edited", "G": 1.0}})
    assert map_labels(app)[0] == "edited"
    app.switch_page("../pages/1_Convolution.py")
    run(app)
    app.switch_page(PAGE)
    run(app)
    assert map_labels(app)[0] == "edited"  # fails: back to "Red"
    assert colour_rows(app)[0] == [1.0, 1.0, -0.5]


def test_add_a_picked_colour_and_refuse_grey(app: AppTest) -> None:
    app.color_picker(key=K + "picked").set_value("#2080e0")
    run(app)  # the button's callback gets the picker's value of the previous run
    click(app, "Add this colour")
    assert map_labels(app)[-1] == "this colour #2080e0"
    row = app.session_state["colour.bank.current"][-1]
    assert row[0] == "this colour #2080e0" and row[5] == colour_filters.SHARED
    weights = np.array(row[1:4])
    assert weights.sum() == pytest.approx(0.0, abs=1e-9)
    assert np.abs(weights).max() == pytest.approx(1.0)
    assert weights[2] > 0 > weights[0]  # a blue-ish colour: B positive, R negative
    assert colour_rows(app)[-1] == pytest.approx(list(weights))

    app.color_picker(key=K + "picked").set_value("#808080")
    run(app)
    click(app, "Add this colour")
    assert any("shade of grey" in w.value for w in app.warning)
    assert len(map_labels(app)) == 5


def test_edit_weights_in_the_table(app: AppTest) -> None:
    before = captions(app)[1]
    edit_table(app, edited={0: {"G": 1.0}})
    assert colour_rows(app)[0] == [1.0, 1.0, -0.5]
    assert captions(app)[1] != before and captions(app)[1].startswith("Red:")
    image = astronaut()
    weight = filter_bank([[1.0, 1.0, -0.5]], kernels.make_kernel("gaussian", size=9,
                                                                          sigma=2.0))
    expected = apply_filters(image, weight)[0]
    limit = float(np.abs(expected).max())
    assert captions(app)[1] == f"Red: blue < 0 < red, ±{limit:.3g}"
    np.testing.assert_allclose(exec_code(app)["y"][0], expected, atol=TOL)


def test_blank_cell_and_empty_bank_are_explained(app: AppTest) -> None:
    edit_table(app, edited={1: {"bias": None}})
    assert any("Every filter needs numbers" in e.value for e in app.error)
    assert captions(app) == []  # no maps, no crash
    edit_table(app, deleted=[0, 1, 2, 3])
    assert any("The bank is empty" in e.value for e in app.error)
    assert captions(app) == []


def test_add_and_delete_rows_in_the_table(app: AppTest) -> None:
    row = {"filter": "mine", "R": 0.0, "G": 1.0, "B": -1.0, "bias": 0.25, "kernel": "shared"}
    edit_table(app, added=[row], deleted=[0])
    assert map_labels(app) == [*LECTURE_LABELS[1:], "mine"]
    assert exec_code(app)["b"].tolist() == [0.0, 0.0, 0.0, 0.25]


# ---------------------------------------------------------------- image, mode, ReLU


def test_colour_chart_red_and_green_maps(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("pattern")
    run(app)
    assert app.selectbox(key=K + "pattern").value == "colour chart"
    size = app.select_slider(key=K + "size").value
    assert captions(app)[0] == f"Input: {size}x{size}x3"
    chart = images.pattern("colour chart", size, "RGB")
    expected = lecture_maps(chart)
    y = exec_code(app)["y"]
    np.testing.assert_allclose(y, expected, atol=TOL)
    centre = size // 6  # the red patch is the top-left third
    assert y[0, centre, centre] == pytest.approx(1.0, abs=1e-4)  # Red: 1 on pure red
    assert y[1, centre, centre] == pytest.approx(-0.5, abs=1e-4)  # Green: -0.5 on red
    white = 5 * size // 6  # the bottom-right patch is white: zero-sum filters give 0
    np.testing.assert_allclose(y[:, white, white], 0.0, atol=1e-5)


def test_valid_mode_shrinks_the_maps(app: AppTest) -> None:
    app.radio(key=K + "mode").set_value("valid")
    run(app)
    y = exec_code(app)["y"]
    assert y.shape == (4, 512 - 8, 512 - 8)
    np.testing.assert_allclose(y, lecture_maps(astronaut(), mode="valid"), atol=TOL)
    use_tab(app, "Proof: nn.Conv2d")
    assert "output of shape (4, 504, 504)" in text(app)


def test_relu_switches_to_the_heat_scale(app: AppTest) -> None:
    app.checkbox(key=K + "relu").check()
    run(app)
    assert all(c.split(": ", 1)[1].startswith("black = 0, yellow = ") for c in captions(app)[1:])
    assert ".relu()" in app.code[0].value
    y = exec_code(app)["y"]
    assert y.min() >= 0
    np.testing.assert_allclose(y, lecture_maps(astronaut(), relu=True), atol=TOL)


def test_shared_colour_scale(app: AppTest) -> None:
    app.toggle(key=K + "shared_scale").set_value(True)
    run(app)
    limits = {c.rsplit("±", 1)[1] for c in captions(app)[1:]}
    assert limits == {f"{np.abs(lecture_maps(astronaut())).max():.3g}"}


def test_a_box_kernel_changes_the_weight_shape(app: AppTest) -> None:
    app.selectbox(key=K + "kernel.preset").set_value("box")
    run(app)
    app.slider(key=K + "kernel.box.size").set_value(5)
    run(app)
    use_tab(app, "Weight tensor")
    assert "= (4, 3, 5, 5)" in text(app)
    assert "G = np.ones((5, 5)) / 25" in app.code[0].value


# ---------------------------------------------------------------- tabs


def test_overlay_and_contributions_tabs(app: AppTest) -> None:
    use_tab(app, "Overlay")
    assert captions(app) == ["Red: where the response is positive (bright = strong)"]
    app.selectbox(key=K + "overlay.filter").set_value(2)
    run(app)
    assert captions(app) == ["Blue: where the response is positive (bright = strong)"]

    use_tab(app, "Channel contributions")
    match = re.search(r"R (\d+) %, G (\d+) %, B (\d+) %", text(app))
    assert match is not None, text(app)
    shares = [int(v) for v in match.groups()]
    assert abs(sum(shares) - 100) <= 2  # each share rounded to a whole per cent
    assert shares[0] > shares[1] and shares[0] > shares[2]  # the red filter weighs red most
    assert [c.split(":")[0] for c in captions(app)] == [
        "Red part", "Green part", "Blue part", "Sum + bias (the feature map)"]


def test_weight_tensor_tab(app: AppTest) -> None:
    use_tab(app, "Weight tensor")
    assert "= (4, 3, 9, 9)" in text(app) and "**(4,)**" in text(app)
    assert captions(app) == LECTURE_LABELS
    gaussian = kernels.make_kernel("gaussian", size=9, sigma=2.0)
    slices = heatmaps(app)
    assert sorted(slices) == ["W[0, B]", "W[0, G]", "W[0, R]"]
    np.testing.assert_allclose(slices["W[0, R]"], gaussian, atol=1e-6)
    np.testing.assert_allclose(slices["W[0, G]"], -0.5 * gaussian, atol=1e-6)
    app.selectbox(key=K + "weight.filter").set_value(3)
    run(app)
    np.testing.assert_allclose(heatmaps(app)["W[3, G]"], -gaussian, atol=1e-6)


def test_proof_tab_agrees_with_nn_conv2d(app: AppTest) -> None:
    use_tab(app, "Proof: nn.Conv2d")
    page = text(app)
    assert "nn.Conv2d(3, 4, kernel_size=(9, 9), padding='same')" in page
    assert "`weight`: (4, 3, 9, 9)" in page and "`bias`: (4,)" in page
    match = re.search(r"\*\*([0-9.e+-]+)\*\* \(float32", page)
    assert match is not None, page
    assert float(match.group(1)) < 1e-4


def test_learned_filters_without_alexnet(torch_home) -> None:
    app = new_app()  # after torch_home: the page reads TORCH_HOME when it runs
    use_tab(app, "Learned filters")
    assert len(captions(app)) == 1 and "default network" in captions(app)[0]
    assert "32 first-layer filters of 3x3x3" in captions(app)[0]
    assert any("not in the local cache" in c.value and str(torch_home) in c.value
               for c in app.caption)


def test_learned_filters_with_a_cached_alexnet(torch_home) -> None:
    import torch

    directory = torch_home / "hub" / "checkpoints"
    directory.mkdir(parents=True)
    weight = torch.randn(*first_layer.ALEXNET_SHAPE, generator=torch.Generator().manual_seed(0))
    torch.save({first_layer.ALEXNET_KEY: weight}, directory / first_layer.ALEXNET_FILENAME)
    app = new_app()
    use_tab(app, "Learned filters")
    assert len(captions(app)) == 2 and "AlexNet's 64 first-layer filters" in captions(app)[1]
    assert not any("not in the local cache" in c.value for c in app.caption)


# ---------------------------------------------------------------- the link


def test_bank_from_the_url() -> None:
    at = new_app(bank=json.dumps([["mine", 0.0, 1.0, -1.0, 0.5, "shared"]]))
    assert map_labels(at) == ["mine"]
    namespace = exec_code(at)
    assert namespace["b"].tolist() == [0.5]
    assert namespace["color_wt"].tolist() == [[0.0, 1.0, -1.0]]
    assert json.loads(at.query_params["bank"]) == [["mine", 0.0, 1.0, -1.0, 0.5, "shared"]]


@pytest.mark.parametrize("bad", ["[[1, 2]]", "not json", json.dumps([["x", 1, 0, 0, 0, "nope"]])])
def test_a_malformed_bank_in_the_url_is_ignored(bad: str) -> None:
    at = new_app(bank=bad)
    assert map_labels(at) == LECTURE_LABELS


# ---------------------------------------------------------------- codegen.colour_code


def _run(code: str) -> np.ndarray:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<colour_code>", "exec"), namespace)
    return namespace["y"]


def test_colour_code_with_kernels_of_different_sizes() -> None:
    source = ImageSource("pattern", "colour wheel", 32)
    image = images.pattern("colour wheel", 32, "RGB")
    gaussian = kernels.make_kernel("gaussian", size=9, sigma=2.0)
    sobel = kernels.make_kernel("sobel_x")
    weights = np.array([[1.0, -0.5, -0.5], [0.5, 0.5, -1.0]])
    bias = np.array([0.1, -0.2])
    kernel_list = [("gaussian", {"size": 9, "sigma": 2.0}, gaussian), ("sobel_x", None, sobel)]
    for mode in MODES:
        code = codegen.colour_code(source, weights, kernel_list, bias, mode=mode)
        assert "explorer" not in code and "padded[m, top:top + k.shape[0]" in code
        expected = apply_filters(
            image, filter_bank_per_filter(weights, [gaussian, sobel]), bias=bias, mode=mode)
        y = _run(code)
        assert y.shape == expected.shape
        np.testing.assert_allclose(y, expected, atol=TOL)


def test_colour_code_with_a_pattern_and_relu() -> None:
    source = ImageSource("pattern", "colour chart", 16)
    weight, bias = build_bank(LECTURE_BANK)
    shared = ("gaussian", {"size": 9, "sigma": 2.0}, kernels.make_kernel("gaussian", size=9,
                                                                           sigma=2.0))
    weights = np.array([f.weights for f in LECTURE_BANK])
    code = codegen.colour_code(source, weights, [shared] * 4, bias, relu=True)
    assert "W = G[None, None, :, :] * color_wt[:, :, None, None]" in code
    expected = apply_filters(images.pattern("colour chart", 16, "RGB"), weight,
                                    bias=bias, relu=True)
    np.testing.assert_allclose(_run(code), expected, atol=TOL)


def test_colour_code_with_an_upload(tmp_path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (20, 24, 4), dtype=np.uint8)  # RGBA: alpha on white
    path = tmp_path / "picture.png"
    Image.fromarray(pixels, "RGBA").save(path)
    decoded = image_files.read_image(path.read_bytes(), mode="RGB")
    image = images.as_mode(decoded.pixels, "RGB")
    box = kernels.make_kernel("box", size=3)
    weights = np.array([[0.2, 0.3, -0.5]])
    code = codegen.colour_code(ImageSource("upload", str(path)), weights, [("box", {"size": 3},
                                                                              box)],
                               np.array([0.0]), mode="valid")
    expected = apply_filters(image, filter_bank(weights, box), mode="valid")
    y = _run(code)
    assert y.shape == (1, 18, 22)
    np.testing.assert_allclose(y, expected, atol=TOL)


# ---------------------------------------------------------------- hostile input (issue 12)


def edit_quietly(at: AppTest, **edits) -> AppTest:
    """Like edit_table, but a refusal is a message: no exception, no maps."""
    at.session_state[table_key(at)] = {"edited_rows": edits.get("edited", {}),
                                       "added_rows": edits.get("added", []),
                                       "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("column, value, message", [
    ("R", 1e300, "Filter 1's R weight is 1e+300"),
    ("B", -101.0, "Filter 1's B weight is -101"),
    ("bias", 1e3, "Filter 1's bias is 1e+03"),
    ("G", "abc", "Every filter needs numbers"),
    ("kernel", "no-such-kernel", "Unknown kernel 'no-such-kernel'"),
])
def test_bad_table_edits_are_refused_with_a_message(app: AppTest, column, value, message):
    edit_quietly(app, edited={0: {column: value}})
    assert any(message in e.value for e in app.error), [e.value for e in app.error]
    assert captions(app) == []
    edit_quietly(app, edited={0: {column: 0.5 if column != "kernel" else "shared"}})
    assert not app.error and len(map_labels(app)) == 4


@pytest.mark.parametrize("edits", [
    {"edited": {99: {"R": 1.0}}}, {"edited": {0: {"nope": 1.0}}}, {"edited": {"x": {"R": 1.0}}},
])
def test_edits_for_rows_the_table_lacks_are_dropped(app: AppTest, edits: dict) -> None:
    edit_quietly(app, **edits)
    assert len(map_labels(app)) == 4
    run(app)


def test_weights_at_the_bound_are_used(app: AppTest) -> None:
    edit_quietly(app, edited={0: {"R": MAX_WEIGHT, "bias": -MAX_WEIGHT}})
    assert not app.error and colour_rows(app)[0][0] == MAX_WEIGHT


def test_a_long_filter_name_is_cut(app: AppTest) -> None:
    edit_quietly(app, edited={0: {"filter": "x" * 500}})
    assert map_labels(app)[0] == "x" * colour_filters.LABEL_MAX


def test_a_bank_too_costly_for_an_upload_is_refused(app: AppTest) -> None:
    """8 filters of 31x31 on a 1024x1024 upload: 2.4e10 multiply-adds, over the limit."""
    app.radio(key=K + "source").set_value("upload")
    run(app)
    ramp = np.linspace(0, 255, 1024, dtype=np.uint8)
    picture = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128 + 0 * ramp[None, :]),
                       axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    app.file_uploader(key="colour.upload").set_value(("big.png", buffer.getvalue(), "image/png"))
    run(app)
    app.slider(key=K + "kernel.gaussian.size").set_value(31)
    run(app)
    for _ in range(4):
        click(app, "Add")
    assert any("multiply-adds" in e.value and "limit" in e.value for e in app.error)
    assert captions(app) == []


def test_overlay_in_valid_mode_lays_the_smaller_map_over_the_image(app: AppTest) -> None:
    """mode=valid maps are smaller than the image: the overlay crops the image to them."""
    app.radio(key=K + "mode").set_value("valid")
    run(app)
    use_tab(app, "Overlay")
    assert not app.exception
    assert captions(app) == ["Red: where the response is positive (bright = strong)"]


def test_feature_map_tiles_are_encoded_once_per_picture_and_maps() -> None:
    """Every student on the same picture and bank gets the same PNG tiles (encoding five
    512 x 512 pictures was ~60 ms of every rerun); a one-pixel change is a new picture."""
    import numpy as np

    from explorer.jobs.bounded_cache import array_digest
    from explorer.ui import colour_filters

    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    maps = np.random.default_rng(1).standard_normal((2, 64, 64)).astype(np.float32)
    key = (array_digest(image), array_digest(maps))
    first = colour_filters._tiles(key, ("a", "b"), False, False, image, maps)
    again = colour_filters._tiles((array_digest(image.copy()),
                                   array_digest(maps.copy())),
                                  ("a", "b"), False, False, image, maps)
    assert again is first and [t[0] for t in first] == ["Input", "a", "b"]
    changed = maps.copy()
    changed[1, 10, 10] += 1.0
    assert array_digest(changed) != key[1]
    shared = colour_filters._tiles(key, ("a", "b"), False, True, image, maps)
    assert shared is not first and shared[1][2] == shared[2][2]  # one scale for both maps
