"""AppTest of the Convolution page: kernels, modes, boundaries, step-through, Sobel, pooling, engines."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.convolution import comparisons, conv, engines, kernels, operations, specs
from tests.helpers import captions, heatmaps, run

PAGE = "../pages/1_Convolution.py"
K = "keep.convolution."






def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at




def use_tab(at: AppTest, name: str) -> AppTest:
    at.session_state["tab"] = name
    return run(at)


def test_default_is_the_lecture_box_blur_on_cameraman(app: AppTest) -> None:
    assert "Input: **Cameraman**, 512x512" in app.caption[0].value
    assert app.selectbox(key=K + "kernel.preset").value == "box"
    np.testing.assert_allclose(heatmaps(app)["W (correlation)"], np.full((9, 9), 1 / 81))
    assert [c.split(":")[1].strip().split(";")[0] for c in captions(app)] == ["shape (512, 512)"] * 3
    assert "max |difference| = 0" in " ".join(c.value for c in app.caption)


def test_code_panel_scripts_run_and_give_the_page_numbers(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("pattern")
    run(app)
    app.selectbox(key=K + "pattern").set_value("lecture 5x5")
    app.selectbox(key=K + "kernel.preset").set_value("sobel_x")
    app.selectbox(key=K + "mode").set_value("valid")
    run(app)
    scripts = [c.value for c in app.code]
    assert len(scripts) == 2 and "load_state_dict" in scripts[1]
    expected = conv.filter2d(operations.LECTURE_INPUT_5X5, operations.SOBEL_X, mode="valid")
    for script in scripts:
        namespace: dict = {}
        exec(script, namespace)
        np.testing.assert_allclose(namespace["out"], expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_lecture_output_shapes_for_a_9x9_box(app: AppTest, mode: str) -> None:
    app.selectbox(key=K + "mode").set_value(mode)
    run(app)
    expected = {"full": 520, "same": 512, "valid": 504}[mode]
    assert f"shape ({expected}, {expected})" in captions(app)[0]
    assert f"Actual shape: **({expected}, {expected})**" in text(app)
    assert f"= {expected}`" in text(app)  # the formula with the numbers filled in


@pytest.mark.parametrize("preset", list(kernels.KERNELS))
def test_every_preset_runs_and_matches_the_engine(app: AppTest, preset: str) -> None:
    app.selectbox(key=K + "kernel.preset").set_value(preset)
    run(app)
    shown = heatmaps(app)["W (correlation)"]
    np.testing.assert_allclose(shown, kernels.make_kernel(preset, **_defaults(preset)))
    np.testing.assert_allclose(heatmaps(app)["W flipped (convolution)"], shown[::-1, ::-1])


def _defaults(preset: str) -> dict:
    return {"size": 9} if preset == "box" else {}


@pytest.mark.parametrize("boundary", list(specs.BOUNDARIES))
def test_every_boundary_runs(app: AppTest, boundary: str) -> None:
    app.selectbox(key=K + "boundary").set_value(boundary)
    run(app)
    assert "shape (512, 512)" in captions(app)[0]


def test_stride_dilation_and_non_square_kernel(app: AppTest) -> None:
    app.selectbox(key=K + "mode").set_value("valid")
    app.slider(key=K + "stride").set_value(2)
    app.slider(key=K + "dilation").set_value(2)
    run(app)
    # valid: floor((512 - 2*(9-1) - 1)/2) + 1 = 248
    assert "shape (248, 248)" in captions(app)[0]
    app.toggle(key=K + "kernel.box.size.square").set_value(False)
    run(app)
    app.slider(key=K + "kernel.box.size.cols").set_value(4)
    run(app)
    assert heatmaps(app)["W (correlation)"].shape == (9, 4)
    # rows 248 as before; columns floor((512 - 2*3 - 1)/2) + 1 = 253
    assert "shape (248, 253)" in captions(app)[0]
    assert any("even" in i.value.lower() for i in app.info)


def test_kernel_larger_than_the_image_in_valid_mode_is_explained(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("pattern")
    run(app)
    app.selectbox(key=K + "pattern").set_value("lecture 5x5")
    app.selectbox(key=K + "mode").set_value("valid")
    run(app)
    assert any("must fit inside the image" in e.value for e in app.error)


def test_impulse_shows_the_kernel_and_its_flip(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("pattern")
    app.selectbox(key=K + "kernel.preset").set_value("sobel_x")
    run(app)
    app.select_slider(key=K + "size").set_value(8)
    run(app)
    maps = heatmaps(app)
    correlation = maps["Correlation (= torch Conv2d)"]
    convolution = maps["Convolution (kernel flipped)"]
    np.testing.assert_allclose(convolution[3:6, 3:6], operations.SOBEL_X)
    np.testing.assert_allclose(correlation[3:6, 3:6], operations.SOBEL_X[::-1, ::-1])
    assert any("reproduces the kernel" in s.value for s in app.success)


def test_step_through_the_lecture_example(app: AppTest) -> None:
    use_tab(app, "Step through")
    assert any("Step-through works on inputs up to" in i.value for i in app.info)
    app.button[0].click()
    run(app)
    maps = heatmaps(app)
    np.testing.assert_array_equal(maps["Output (click a cell)"], operations.LECTURE_OUTPUT_3X3)
    assert "= **12**" in text(app)
    app.slider(key=K + "step.row.3").set_value(2)
    app.slider(key=K + "step.col.3").set_value(2)
    run(app)
    assert "Output[2, 2]" in text(app) and "= **14**" in text(app)
    np.testing.assert_array_equal(
        heatmaps(app)["Window x kernel"],
        operations.LECTURE_INPUT_5X5[2:, 2:] * operations.LECTURE_KERNEL_3X3,
    )
    app.radio(key=K + "step.op").set_value("convolve")
    run(app)
    np.testing.assert_array_equal(heatmaps(app)["Kernel applied (flipped)"],
                                  operations.LECTURE_KERNEL_3X3[::-1, ::-1])


def test_typed_grid_values_and_a_blank_cell(app: AppTest) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    grid = app.session_state[K + "grid"]
    editor = f"convolution.grid.editor.{grid['version']}"
    app.session_state[editor] = {"edited_rows": {0: {"0": 7.0}}, "added_rows": [],
                                 "deleted_rows": []}
    run(app)
    assert heatmaps(app)["W (correlation)"][0, 0] == 7.0
    app.session_state[editor] = {"edited_rows": {1: {"1": None}}, "added_rows": [],
                                 "deleted_rows": []}
    run(app)
    assert any("NaN" in e.value and "Fill in every cell" in e.value for e in app.error)


def test_normalising_a_zero_sum_kernel_is_refused_politely(app: AppTest) -> None:
    app.selectbox(key=K + "kernel.preset").set_value("laplacian_4")
    app.checkbox(key=K + "kernel.normalise").check()
    run(app)
    assert any("add up to 0" in w.value for w in app.warning)
    app.selectbox(key=K + "kernel.preset").set_value("gaussian")
    run(app)
    assert heatmaps(app)["W (correlation)"].sum() == pytest.approx(1.0)


def test_sobel_signs_follow_the_operation(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("pattern")
    run(app)
    app.selectbox(key=K + "pattern").set_value("step edge (vertical)")
    app.select_slider(key=K + "size").set_value(8)
    app.selectbox(key=K + "mode").set_value("valid")  # the lecture's mode: no border effects
    use_tab(app, "Edges (Sobel)")
    gx = heatmaps(app)["Gx"]
    assert gx.max() > 0 and gx.min() >= 0  # dark -> light, convolution: positive
    app.radio(key=K + "sobel.op").set_value("correlate")
    run(app)
    assert heatmaps(app)["Gx"].min() < 0 and heatmaps(app)["Gx"].max() <= 0


def test_pooling_the_lecture_example(app: AppTest) -> None:
    use_tab(app, "Pooling")
    np.testing.assert_array_equal(heatmaps(app)["Max pooling"], operations.LECTURE_POOL_OUTPUT_2X2)
    app.radio(key=K + "pool.kind").set_value("avg")
    run(app)
    np.testing.assert_allclose(heatmaps(app)["Average pooling"], [[2.75, 2.25], [1.25, 3.0]])
    app.radio(key=K + "pool.source").set_value("image")
    run(app)
    assert "shape (256, 256)" in captions(app)[1]


def test_engines_agree(app: AppTest) -> None:
    app.selectbox(key=K + "kernel.preset").set_value("gaussian")
    use_tab(app, "Engines")
    app.button[0].click()
    run(app)
    table = app.dataframe[0].value
    assert list(table["engine"]) == ["SciPy direct", "FFT", "PyTorch conv2d"]
    assert all(float(d) < 1e-5 for d in table["max |difference| vs SciPy"])


def test_a_link_reopens_the_same_view() -> None:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    at.run()
    at.query_params.update({"kernel": "gaussian", "k_size": "7", "k_sigma": "2.0",
                            "mode": "valid", "stride": "3", "from": "preset"})
    at.switch_page(PAGE).run()
    assert not at.exception
    np.testing.assert_allclose(heatmaps(at)["W (correlation)"],
                               kernels.make_kernel("gaussian", size=7, sigma=2.0))
    assert "shape (169, 169)" in captions(at)[0]  # floor((512 - 6 - 1)/3) + 1


def test_a_bad_link_value_is_ignored() -> None:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    at.run()
    at.query_params.update({"kernel": "no-such-kernel", "stride": "999", "mode": "sideways"})
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key=K + "kernel.preset").value == "box"
    assert at.slider(key=K + "stride").value == 1


def test_grid_edits_survive_a_visit_to_another_page(app: AppTest) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    editor = f"convolution.grid.editor.{app.session_state[K + 'grid']['version']}"
    app.session_state[editor] = {"edited_rows": {2: {"2": 9.0}}, "added_rows": [],
                                 "deleted_rows": []}
    run(app)
    assert heatmaps(app)["W (correlation)"][2, 2] == 9.0
    app.switch_page("../pages/3_Train_a_CNN.py").run()
    app.switch_page(PAGE).run()
    assert not app.exception
    assert heatmaps(app)["W (correlation)"][2, 2] == 9.0


# ---------------------------------------------------------------- hostile input (issue 12)


def _edit_grid(app: AppTest, edited_rows: dict) -> None:
    editor = f"convolution.grid.editor.{app.session_state[K + 'grid']['version']}"
    app.session_state[editor] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    app.run()
    assert not app.exception, app.exception


def test_text_in_a_kernel_cell_is_refused_with_a_message(app: AppTest) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    _edit_grid(app, {0: {"0": "abc"}, 1: {"2": [1, 2]}})
    errors = " ".join(e.value for e in app.error)
    assert "'abc', not a number" in errors and "(row 1, column 2)" in errors
    _edit_grid(app, {0: {"0": " 2.5 "}})
    assert not app.error  # a number typed as text is a number
    assert heatmaps(app)["W (correlation)"][0, 0] == 2.5
    _edit_grid(app, {0: {"0": True}})
    assert any("True" in e.value for e in app.error)


@pytest.mark.parametrize("edits", [{99: {"0": 1.0}}, {1: {"77": 1.0}}, {"x": {"y": 1.0}},
                                   {0: "not a dict"}, {-1: {"-1": 5.0}}])
def test_edits_for_cells_the_grid_lacks_are_dropped(app: AppTest, edits: dict) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    _edit_grid(app, {2: {"2": 4.0}})
    _edit_grid(app, {2: {"2": 4.0}, **edits})
    assert heatmaps(app)["W (correlation)"][2, 2] == 4.0
    assert not app.error
    run(app)


@pytest.mark.parametrize("value", [1e39, 1e308, -2e6])
def test_kernel_values_beyond_float32_range_are_refused(app: AppTest, value: float) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    _edit_grid(app, {1: {"1": value}})
    errors = " ".join(e.value for e in app.error)
    assert f"between -{kernels.MAX_ABS:g} and {kernels.MAX_ABS:g}" in errors
    assert "nan" not in " ".join(c.value for c in app.caption).lower()
    _edit_grid(app, {1: {"1": kernels.MAX_ABS}})  # the largest allowed value works
    assert not app.error
    assert heatmaps(app)["W (correlation)"][1, 1] == kernels.MAX_ABS


def test_normalising_to_huge_entries_is_refused(app: AppTest) -> None:
    app.radio(key=K + "kernel.source").set_value("grid")
    run(app)
    _edit_grid(app, {0: {"0": 1.0, "1": 0.0, "2": -1.0}, 1: {"0": 1.0, "1": 0.0, "2": -1.0},
                     2: {"0": 1.0, "1": 1e-6, "2": -1.0}})
    app.checkbox(key=K + "kernel.normalise").check()
    run(app)
    assert any("the limit is" in w.value for w in app.warning)


def test_timing_the_engines_is_bounded_before_it_runs(app: AppTest, monkeypatch) -> None:
    """Issue 12: 31x31, dilation 8, full: one SciPy pass took 41 s and ran 7 times."""
    def refuse(*args, **kwargs):
        raise AssertionError("SciPy direct ran on a 31x31 kernel at dilation 8")

    monkeypatch.setitem(engines.VALID_PASSES, "scipy", refuse)
    app.slider(key=K + "kernel.box.size").set_value(31)
    app.slider(key=K + "dilation").set_value(8)
    app.selectbox(key=K + "mode").set_value("full")
    use_tab(app, "Engines")
    assert any("Estimated cost" in c.value for c in app.caption)
    app.button[0].click()
    run(app)
    skipped = [w.value for w in app.warning if "skipped" in w.value]
    assert len(skipped) == 1 and "SciPy direct" in skipped[0] and "budget" in skipped[0]
    table = app.dataframe[0].value
    assert list(table["engine"]) == ["FFT", "PyTorch conv2d"]
    assert all(float(d) < 1e-4 for d in table["max |difference| vs FFT"])
    assert all(1 <= n <= 5 for n in table["timed runs"])


def test_every_engine_skipped_leaves_the_page_working(app: AppTest, monkeypatch) -> None:
    monkeypatch.setattr(conv, "ENGINE_BUDGET_S", 0.0)
    use_tab(app, "Engines")
    app.button[0].click()
    run(app)
    assert len([w for w in app.warning if "skipped" in w.value]) == 3
    assert not app.dataframe


def test_full_mode_at_dilation_8_with_a_31x31_kernel_stays_quick(app: AppTest) -> None:
    app.slider(key=K + "kernel.box.size").set_value(31)
    app.slider(key=K + "dilation").set_value(8)
    app.selectbox(key=K + "mode").set_value("full")
    run(app)
    assert "shape (752, 752)" in captions(app)[0]  # 512 + 8 * 30
    for tab in ("Step through", "Edges (Sobel)", "Pooling"):
        use_tab(app, tab)


@pytest.mark.parametrize(("kernel", "largest", "expected"), [
    (np.array([[1.0, 0, -1]] * 3), 8.0, "changes under a 180° turn"),
    (np.ones((3, 3)) / 9, 0.0, "so the two agree"),
    (np.ones((4, 12)) / 48, 0.5, "even side (4 and 12 taps)"),
    (np.ones((3, 3)) / 9, 1e-16, "rounding"),
])
def test_the_difference_note_says_why(kernel, largest, expected):
    from explorer.ui.convolution.panels import difference_note

    note = difference_note(kernel, largest)
    assert expected in note and "symmetric" not in note


@pytest.mark.parametrize("preset", ["sobel_x", "emboss", "motion_blur"])
def test_an_impulse_reproduces_the_kernel_big_enough_to_read(preset: str) -> None:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    at.run()
    at.query_params.update({"image": "pattern", "pattern": "impulse", "size": "64",
                            "from": "preset", "kernel": preset, "mode": "same"})
    at.switch_page(PAGE).run()
    assert not at.exception
    maps = heatmaps(at)
    kernel = maps["The kernel W"]
    np.testing.assert_allclose(maps["Convolution, zoomed"], comparisons.nonzero_crop(kernel), atol=1e-6)
    np.testing.assert_allclose(maps["Correlation, zoomed"], comparisons.nonzero_crop(kernel[::-1, ::-1]),
                               atol=1e-6)  # the FFT engine computes in float32
