"""The drawing pad: strokes from the browser are checked, rasterised like the browser draws them,
and the drawing reaches the pages as any picture does."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.images import drawing
from tests.helpers import run

DISK = [{"size": 64, "colour": "#ffffff", "points": [[128, 128]]}]
RING = [{"size": 10, "colour": "#ffffff",
         "points": [[128 + 70 * np.cos(a), 128 + 70 * np.sin(a)]
                    for a in np.linspace(0, 2 * np.pi, 60)]}]


def test_a_dot_is_a_disk_of_the_brush_size():
    pixels = drawing.rasterise(drawing.clean_strokes(DISK), size=256)
    assert pixels.shape == (256, 256, 3) and pixels.dtype == np.float32
    covered = pixels[..., 0] > 0.5
    assert abs(covered.sum() - np.pi * 32**2) < 0.05 * np.pi * 32**2
    assert covered[128, 128] and not covered[128, 128 + 40] and not covered[0, 0]


def test_a_line_is_drawn_between_points_with_round_ends():
    line = [{"size": 8, "colour": "#ff0000", "points": [[20, 100], [220, 100]]}]
    pixels = drawing.rasterise(drawing.clean_strokes(line), size=256)
    assert (pixels[100, 20:221, 0] > 0.9).all() and (pixels[100, 20:221, 1] < 0.1).all()
    assert pixels[100, 17, 0] > 0.9 and pixels[100, 10, 0] < 0.1  # a round cap, radius 4


def test_the_size_shrinks_with_antialiasing():
    small = drawing.rasterise(drawing.clean_strokes(RING), size=32)
    assert small.shape == (32, 32, 3) and 0 < small.max() <= 1
    assert ((small > 0.05) & (small < 0.95)).any()  # soft edges, not aliased


@pytest.mark.parametrize("hostile", [
    None, "strokes", 42, {"size": 4}, [None, 1, "x"],
    [{"size": "big", "colour": "#ffffff", "points": [[1, 1]]}],
    [{"size": 4, "colour": "red", "points": [[1, 1]]}],
    [{"size": 4, "colour": "#ffffff", "points": "here"}],
    [{"size": 4, "colour": "#ffffff", "points": [[float("nan"), 1], [1], ["a", 2], True]}],
    [{"size": float("inf"), "colour": "#ffffff", "points": [[1, 1]]}],
    [{"size": True, "colour": "#ffffff", "points": [[1, 1]]}],
])
def test_malformed_strokes_are_dropped(hostile):
    assert drawing.clean_strokes(hostile) == ()


def test_huge_drawings_are_bounded_and_coordinates_clamped():
    many = [{"size": 10_000, "colour": "#FFFFFF", "points": [[-50, 9e9]] * 5000}] * 500
    strokes = drawing.clean_strokes(many)
    assert len(strokes) <= drawing.MAX_STROKES
    assert sum(len(s.points) for s in strokes) <= drawing.MAX_TOTAL_POINTS
    assert strokes[0].size == drawing.MAX_BRUSH and strokes[0].colour == "#ffffff"
    assert strokes[0].points[0] == (0.0, float(drawing.PAD_SIZE))
    drawing.rasterise(strokes, size=64)  # bounded work, no error


def test_a_drawn_disk_is_a_disk_for_the_default_network_on_the_pretrained_page():
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.switch_page("../pages/5_Pretrained_networks.py").run()
    at.radio(key="keep.pretrained.source").set_value("draw")
    at.session_state["pretrained.pad"] = {"strokes": DISK}
    run(at)
    table = at.dataframe[0].value
    assert table["class"][0] == "disk"
    assert any("1 stroke" in c.value for c in at.caption)
    at.session_state["pretrained.pad"] = {"strokes": [{"bad": 1}]}
    run(at)  # nothing drawn: a black picture, no error
    assert any("0 strokes" in c.value for c in at.caption)
