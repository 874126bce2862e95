"""Pattern matching (explorer.convolution.pattern_matching) against scipy.signal.correlate2d, a
direct normalised cross-correlation and the lecture's 3x8 example; its script; the CNN layers
page's "Pattern matching" tab driven through AppTest, hostile links included."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal
from streamlit.testing.v1 import AppTest

from explorer.codegen.pattern_matching import pattern_code
from explorer.convolution import pattern_matching as pm
from explorer.lecture import reference as lecture
from tests.helpers import run
from tests.test_browser import page  # noqa: F401 - the browser tab fixture

EPS = np.finfo(np.float64).eps
PAGE = "../pages/6_CNN_layers.py"


def _ncc_reference(image: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation written out: each window and W minus their means,
    divided by both norms (what match_template computes, without its running sums)."""
    k1, k2 = w.shape
    wz = w - w.mean()
    out = np.zeros((image.shape[0] - k1 + 1, image.shape[1] - k2 + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            window = image[r:r + k1, c:c + k2]
            xz = window - window.mean()
            denominator = np.linalg.norm(xz) * np.linalg.norm(wz)
            out[r, c] = (xz * wz).sum() / denominator if denominator > 0 else 0.0
    return out


@pytest.mark.parametrize("name", list(pm.TEMPLATES))
@pytest.mark.parametrize("background", list(pm.BACKGROUNDS))
def test_plain_map_is_scipys_correlate2d_and_the_ncc_peak_is_the_pattern(name, background):
    w = pm.TEMPLATES[name]()
    result = pm.match(w, background, row=40, col=20)
    reference = signal.correlate2d(result.image, w, mode="valid")
    # FFT or direct sums of K1*K2 terms of magnitude <= 1: error ~ eps * terms * max |Z|
    tolerance = 8 * EPS * w.size * max(1.0, np.abs(reference).max())
    np.testing.assert_allclose(result.plain, reference, rtol=0, atol=tolerance)
    assert result.plain.shape == (pm.SIDE - 6, pm.SIDE - 6)
    assert result.normalised_peak == (40, 20)  # NCC finds the shape wherever the scene is


def test_ncc_equals_the_written_out_formula_on_a_small_scene():
    rng = np.random.default_rng(1)
    image, w = rng.uniform(size=(14, 12)), rng.uniform(size=(3, 4))
    np.testing.assert_allclose(pm.normalised_map(image, w), _ncc_reference(image, w), atol=1e-6)


@pytest.mark.parametrize("position", [(0, 0), (5, 70), (60, 33), (89, 89)])
def test_the_peak_follows_the_pattern_translation_invariance(position):
    result = pm.match(pm.TEMPLATES["ring"](), "dim noise", *position)
    assert result.plain_peak == position
    assert result.normalised_peak == position


def test_plain_correlation_prefers_the_bright_square_and_ncc_does_not():
    result = pm.match(pm.TEMPLATES["cross"](), "noise and a bright square", row=40, col=20)
    r, c = result.plain_peak
    assert 10 <= r <= 34 - 7 and 58 <= c <= 82 - 7  # inside the bright square
    assert result.plain[r, c] > result.plain[40, 20]
    assert result.normalised_peak == (40, 20)
    assert result.normalised[40, 20] == pytest.approx(1.0, abs=1e-6)  # an exact copy at 0.8x


def test_the_lecture_3x8_example():
    example = pm.lecture_example()
    np.testing.assert_array_equal(example.plain, signal.correlate2d(
        np.array(lecture.PATTERN_IMAGE_3X8), np.array(lecture.PATTERN_TEMPLATE_2X1), "valid"))
    assert example.plain[lecture.PATTERN_BIG] == 4 * 4 + 4 * 6 == 40  # "Big"
    assert example.plain[lecture.PATTERN_SMALL] == 4 * 5 + 4 * 3 == 32  # "Small"
    assert pm.peak(example.plain) == (1, 2) and example.plain.max() == 64  # the bright (9, 7)
    assert pm.peak(example.cosine) == (0, 1)  # the window (1, 1): W's shape
    assert example.cosine[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("bad, message", [
    ([[np.nan, 0], [0, 1]], "NaN"),
    ([[np.inf, 0], [0, 1]], "NaN or infinite"),
    ([[1e300, 0], [0, 1]], "between -1 and 1"),
    ([[1.0]], "2x2 to 9x9"),
    (np.ones((10, 10)), "2x2 to 9x9"),
    ([[1, 2], [3]], "grid of numbers"),
    ("abc", "grid of numbers"),
])
def test_hostile_templates_get_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        pm.check_template(bad)


def test_positions_outside_the_scene_and_flat_templates():
    w = pm.TEMPLATES["cross"]()
    with pytest.raises(ValueError, match="row 0-89, column 0-89"):
        pm.match(w, row=90, col=0)
    with pytest.raises(ValueError, match="row 0-89"):
        pm.match(w, row=-1, col=0)
    with pytest.raises(ValueError, match="Unknown scene"):
        pm.match(w, background="nowhere")
    flat = pm.match(np.full((3, 3), 0.5), row=3, col=4)
    assert flat.normalised is None and flat.normalised_peak is None
    with pytest.raises(ValueError, match="flat template"):
        pm.normalised_map(flat.image, flat.template)


@pytest.mark.parametrize("background", list(pm.BACKGROUNDS))
def test_the_script_finds_the_same_peaks(background, capsys):
    w = pm.TEMPLATES["corner"]()
    result = pm.match(w, background, row=12, col=61)
    exec(compile(pattern_code(w, background, 12, 61), "<generated>", "exec"), {})
    printed = capsys.readouterr().out
    assert printed == (f"peak of Z at {result.plain_peak}\n"
                       f"peak of NCC at {result.normalised_peak}\n")


def test_command_line(capsys):
    from explorer.convolution import __main__ as cli

    assert cli.main(["pattern", "--json", "--scene", "dim noise", "--row", "5", "--col", "70"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["lecture_3x8"]["big"] == [1, 4, 40] and found["lecture_3x8"]["small"] == [1, 5, 32]
    assert found["scene"]["peak_of_Z"] == found["scene"]["peak_of_NCC"] == [5, 70]
    assert found["alexnet_layer2"] == {"conv_weights": 614_400, "dense_weights": 224_885_760_000}
    assert cli.main(["pattern"]) == 0
    assert "peak of Z at (10, 58), peak of NCC at (40, 20)" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a position outside the scene: argparse's error, the range
        cli.main(["pattern", "--row", "95"])
    assert "row 0-89, column 0-89" in capsys.readouterr().err


# ---------------------------------------------------------------- the tab (AppTest)


def _open(params: dict[str, str] | None = None) -> AppTest:
    """The page through the entrypoint (its page links need the navigation), set up by a link."""
    at = AppTest.from_file("../explorer/Home.py", default_timeout=60)
    at.run()
    at.query_params.update({"tab": "Pattern matching", **(params or {})})
    at.switch_page(PAGE)
    return run(at)


def _figure(at: AppTest) -> dict:
    chart = next(c for c in at.get("plotly_chart") if "pm_figure" in c.proto.id)
    return json.loads(chart.proto.spec)


def _peak_markers(at: AppTest) -> list[tuple[int, int]]:
    return [(t["y"][0], t["x"][0]) for t in _figure(at)["data"] if t["type"] == "scatter"]


def test_tab_moves_the_pattern_and_the_peaks_follow():
    at = _open({"pm_scene": '"dim noise"'})
    key = "keep.layers.pm.row.89"
    assert at.slider(key=key).value == 40
    assert _peak_markers(at) == [(40, 20), (40, 20)]
    at.slider(key=key).set_value(70)
    at.slider(key="keep.layers.pm.col.89").set_value(5)
    run(at)
    assert _peak_markers(at) == [(70, 5), (70, 5)]
    assert "Pattern at **(70, 5)**" in " ".join(m.value for m in at.markdown)
    assert "pattern_code" not in str(at.code[0].value) and "match_template" in at.code[0].value


def test_tab_bright_square_plain_misses_normalised_finds():
    at = _open()
    assert at.selectbox(key="keep.layers.pm.scene").value == "noise and a bright square"
    plain, normalised = _peak_markers(at)
    assert normalised == (40, 20) and plain != (40, 20)
    assert any("misses it" in m.value for m in at.markdown)
    texts = " ".join(m.value for m in at.markdown)
    assert "**40**" in texts and "**32**" in texts  # the lecture's Big and Small
    assert [m.value for m in at.metric] == ["6.1 × 10^5", "2.2 × 10^11"]
    at.selectbox(key="keep.layers.pm.template").set_value("ring")
    run(at)
    assert _peak_markers(at)[1] == (40, 20)


def test_tab_drawn_template_from_a_link():
    grid = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    at = _open({"pm_tpl": "drawn", "pm_grid": json.dumps(grid), "pm_row": "7", "pm_col": "9",
                "pm_scene": '"dim noise"'})
    assert at.slider(key="keep.layers.pm.row.93").value == 7
    assert _peak_markers(at) == [(7, 9), (7, 9)]


@pytest.mark.parametrize("params, message", [
    ({"pm_tpl": "drawn", "pm_grid": "[[1e300, 0], [0, 1]]"}, "between -1 and 1"),
    ({"pm_tpl": "drawn", "pm_grid": "[[1, 1], [1, 1]]"}, None),  # flat: a note, no NCC
])
def test_tab_hostile_drawn_templates(params, message):
    at = _open(params)
    if message:
        assert message in at.error[0].value
    else:
        assert any("undefined" in m.value for m in at.markdown)


@pytest.mark.parametrize("params", [
    {"pm_row": "500"}, {"pm_col": "-3"}, {"pm_row": "NaN"}, {"pm_grid": "[[NaN]]",
                                                            "pm_tpl": "drawn"},
    {"pm_scene": "nowhere"}, {"pm_tpl": "[[1]]"},
])
def test_tab_bad_links_are_ignored_with_a_note(params):
    at = _open(params)
    assert any("Ignored the link" in t.value for t in at.toast)
    assert _peak_markers(at)  # the page still draws with its defaults


# ---------------------------------------------------------------- a real browser


@pytest.mark.browser
def test_painting_a_template_moves_the_peak_in_the_browser(page, server_url: str,  # noqa: F811
                                                           screenshot_dir) -> None:
    from tests.test_browser import APP_IDLE, MAIN, TIMEOUT_MS, assert_no_error

    grid = json.dumps([[0, 0, 0], [0, 1, 0], [0, 0, 0]])  # a dot
    page.goto(f"{server_url}/layers?tab=Pattern+matching&pm_tpl=drawn&pm_grid={grid}"
              "&pm_scene=%22dim+noise%22&pm_row=30&pm_col=50")
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    cells = page.locator(".kernel-paint td")
    cells.nth(8).wait_for(timeout=TIMEOUT_MS)  # the component draws after the script ran
    assert cells.count() == 9
    cells.nth(0).click()  # 0 -> 1: the template (and the pattern placed) changes
    page.wait_for_function("() => location.search.includes('pm_grid=%5B%5B1')",
                           timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    assert_no_error(page)
    shown = page.locator(MAIN).inner_text()
    assert "Pattern at (30, 50)" in shown
    assert "peak of the normalised correlation at (30, 50)" in shown
    page.screenshot(path=screenshot_dir / "pattern-matching-painted.png")
