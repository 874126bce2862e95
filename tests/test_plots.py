"""Unit tests of explorer.images.plots: colour scales, RGB colour maps, display helpers and heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.images import plots

WHITE = (0xF7, 0xF7, 0xF7)  # DIVERGING's centre
DARK_BLUE = (0x05, 0x30, 0x61)  # DIVERGING at 0.0
DARK_RED = (0x67, 0x00, 0x1F)  # DIVERGING at 1.0


def scale_colour(scale: list, position: float) -> np.ndarray:
    """The colour of a plotly-style [[position, "#rrggbb"], ...] scale at `position` (float RGB)."""
    positions = [p for p, _ in scale]
    channels = [[int(c[i : i + 2], 16) for c in (c for _, c in scale)] for i in (1, 3, 5)]
    return np.array([np.interp(position, positions, channel) for channel in channels])


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 brightness of ... x 3 colours."""
    return np.asarray(rgb, dtype=np.float64) @ np.array([0.2126, 0.7152, 0.0722])


# ---------------------------------------------------------------------------
# DIVERGING and signed_limit
# ---------------------------------------------------------------------------


def test_diverging_scale_runs_blue_white_red_over_0_to_1() -> None:
    positions = [p for p, _ in plots.DIVERGING]
    assert positions[0] == 0.0 and positions[-1] == 1.0
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert dict(plots.DIVERGING)[0.5] == "#f7f7f7"
    blue_end, red_end = scale_colour(plots.DIVERGING, 0.0), scale_colour(plots.DIVERGING, 1.0)
    assert blue_end[2] > blue_end[0] and red_end[0] > red_end[2]
    # Brightness peaks at the centre and falls off monotonically towards both ends.
    brightness = luma(np.stack([scale_colour(plots.DIVERGING, p) for p in positions]))
    assert np.argmax(brightness) == positions.index(0.5)
    assert np.all(np.diff(brightness[:6]) > 0) and np.all(np.diff(brightness[5:]) < 0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.zeros((3, 3)), 1.0),
        (np.zeros((0, 4)), 1.0),
        (np.array([[0.5, -2.0], [1.0, 0.0]]), 2.0),
        (np.array([[3.0, -1.0]]), 3.0),
        (np.array([-0.25]), 0.25),
    ],
)
def test_signed_limit_is_the_largest_magnitude_or_1(values: np.ndarray, expected: float) -> None:
    assert plots.signed_limit(values) == expected


# ---------------------------------------------------------------------------
# diverging_rgb
# ---------------------------------------------------------------------------


def test_diverging_rgb_is_uint8_h_w_3() -> None:
    values = np.random.default_rng(0).normal(size=(7, 5))
    rgb = plots.diverging_rgb(values)
    assert rgb.shape == (7, 5, 3) and rgb.dtype == np.uint8


@pytest.mark.parametrize("limit", [None, 0.5, 4.0])
def test_diverging_rgb_zero_is_white_and_the_limits_are_the_dark_ends(limit: float | None) -> None:
    bound = 4.0 if limit is None else limit
    rgb = plots.diverging_rgb(np.array([[-bound, 0.0, bound]]), limit)
    np.testing.assert_allclose(rgb[0, 1], WHITE, atol=2)
    assert tuple(rgb[0, 0]) == DARK_BLUE
    assert tuple(rgb[0, 2]) == DARK_RED


def test_diverging_rgb_clips_values_beyond_the_limit() -> None:
    rgb = plots.diverging_rgb(np.array([[-10.0, -1.0, 1.0, 10.0]]), limit=1.0)
    np.testing.assert_array_equal(rgb[0, 0], rgb[0, 1])
    np.testing.assert_array_equal(rgb[0, 2], rgb[0, 3])


def test_diverging_rgb_follows_the_scale_and_mirrors_plus_and_minus() -> None:
    limit = 2.0
    magnitudes = np.linspace(0.0, limit, 41)
    plus = plots.diverging_rgb(magnitudes[None, :], limit)[0]
    minus = plots.diverging_rgb(-magnitudes[None, :], limit)[0]
    for v, colour_plus, colour_minus in zip(magnitudes, plus, minus, strict=True):
        position = (v / limit + 1) / 2
        # Within one step of the 256-entry lookup table of the exact scale colour.
        np.testing.assert_allclose(colour_plus, scale_colour(plots.DIVERGING, position), atol=4)
        np.testing.assert_allclose(colour_minus, scale_colour(plots.DIVERGING, 1 - position), atol=4)
    # Larger |v| -> darker, on both sides.
    assert np.all(np.diff(luma(plus)) <= 0) and np.all(np.diff(luma(minus)) <= 0)
    assert luma(plus[-1]) < luma(plus[0]) and luma(minus[-1]) < luma(minus[0])
    # Red side gets redder, blue side bluer.
    assert np.all(plus[1:, 0] > plus[1:, 2]) and np.all(minus[1:, 2] > minus[1:, 0])


def test_diverging_rgb_maps_zero_to_exactly_the_centre_white() -> None:
    assert tuple(plots.diverging_rgb(np.zeros((1, 1)))[0, 0]) == WHITE


def test_diverging_rgb_default_limit_is_the_signed_limit() -> None:
    values = np.array([[-3.0, 1.0, 0.5]])
    np.testing.assert_array_equal(plots.diverging_rgb(values), plots.diverging_rgb(values, 3.0))


# ---------------------------------------------------------------------------
# heat_rgb
# ---------------------------------------------------------------------------


def test_heat_rgb_is_uint8_with_brightness_rising_along_a_ramp() -> None:
    ramp = np.linspace(0.0, 5.0, 300).reshape(1, -1)
    rgb = plots.heat_rgb(ramp)
    assert rgb.shape == (1, 300, 3) and rgb.dtype == np.uint8
    brightness = luma(rgb[0])
    assert np.all(np.diff(brightness) >= 0)
    assert brightness[-1] - brightness[0] > 200
    assert tuple(rgb[0, 0]) == (0x00, 0x00, 0x04) and tuple(rgb[0, -1]) == (0xFC, 0xFF, 0xA4)


def test_heat_rgb_honours_low_and_high() -> None:
    values = np.array([[0.0, 1.0, 2.0, 4.0]])
    rgb = plots.heat_rgb(values, low=1.0, high=2.0)
    np.testing.assert_array_equal(rgb[0, 0], rgb[0, 1])  # below low -> the dark end
    np.testing.assert_array_equal(rgb[0, 2], rgb[0, 3])  # above high -> the bright end
    np.testing.assert_array_equal(rgb, plots.heat_rgb(np.array([[1.0, 1.0, 2.0, 2.0]])))


def test_heat_rgb_of_a_constant_array_is_uniform() -> None:
    rgb = plots.heat_rgb(np.full((3, 4), 7.0))
    assert rgb.shape == (3, 4, 3)
    assert np.all(rgb == rgb[0, 0])


# ---------------------------------------------------------------------------
# direction_rgb
# ---------------------------------------------------------------------------


def direction_colour(gx: float, gy: float, magnitude: float = 1.0) -> np.ndarray:
    direction = np.array([[np.arctan2(gy, gx)]])
    return plots.direction_rgb(direction, np.array([[magnitude]]))[0, 0]


def test_direction_rgb_is_float_rgb_in_0_1() -> None:
    rng = np.random.default_rng(1)
    gx, gy = rng.normal(size=(2, 6, 8))
    rgb = plots.direction_rgb(np.arctan2(gy, gx), np.hypot(gx, gy))
    assert rgb.shape == (6, 8, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0


@pytest.mark.parametrize(
    ("first", "second"),
    [((1, 0), (-1, 0)), ((0, 1), (0, -1)), ((1, 0), (0, 1)), ((1, 1), (-1, -1))],
)
def test_direction_rgb_hue_follows_the_angle(first: tuple, second: tuple) -> None:
    a, b = direction_colour(*first), direction_colour(*second)
    assert np.max(np.abs(a - b)) > 0.5
    # Full magnitude: fully bright and saturated (max channel 1, min channel 0).
    for colour in (a, b):
        assert colour.max() == pytest.approx(1.0) and colour.min() == pytest.approx(0.0)


def test_direction_rgb_hue_is_continuous_across_plus_minus_pi() -> None:
    just_below = direction_colour(-1.0, 1e-6)  # angle -> +pi
    just_above = direction_colour(-1.0, -1e-6)  # angle -> -pi
    # hues come from a 360-entry table: neighbours differ by at most one step (6/360 per channel)
    np.testing.assert_allclose(just_below, just_above, atol=6 / 360 + 1e-6)


def test_direction_rgb_brightness_is_relative_magnitude_and_zero_is_black() -> None:
    direction = np.zeros((1, 3))
    rgb = plots.direction_rgb(direction, np.array([[0.0, 1.0, 2.0]]))
    np.testing.assert_array_equal(rgb[0, 0], 0.0)
    assert rgb[0, 1].max() == pytest.approx(0.5) and rgb[0, 2].max() == pytest.approx(1.0)
    black = plots.direction_rgb(np.ones((2, 2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(black, 0.0)


# ---------------------------------------------------------------------------
# stretch, joint_scale
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [np.array([[-3.0, 0.0, 5.0]]), np.arange(12, dtype=np.uint8).reshape(3, 4), np.eye(3) * 1e-9],
)
def test_stretch_maps_the_range_onto_0_1(values: np.ndarray) -> None:
    out = plots.stretch(values)
    assert out.dtype == np.float32 and out.shape == values.shape
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("constant", [0.0, -2.0, 7.5])
def test_stretch_of_a_constant_array_is_zeros(constant: float) -> None:
    out = plots.stretch(np.full((2, 3), constant))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros((2, 3)))


def test_joint_scale_covers_every_array() -> None:
    arrays = [np.array([[1.0, 2.0]]), np.array([[-4.0, 0.0], [3.0, 1.0]]), np.array([9.5])]
    low, high = plots.joint_scale(*arrays)
    assert (low, high) == (-4.0, 9.5)
    assert all(low <= a.min() and a.max() <= high for a in arrays)
    assert plots.joint_scale(arrays[0]) == (1.0, 2.0)


# ---------------------------------------------------------------------------
# display_image
# ---------------------------------------------------------------------------


def test_display_image_shows_signed_values_on_the_diverging_scale() -> None:
    values = np.array([[-2.0, 0.0], [1.0, 0.5]])
    image, caption = plots.display_image(values)
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image, plots.diverging_rgb(values, 2.0))
    assert "±2" in caption and "white = 0" in caption


def test_display_image_shows_non_negative_values_in_grey() -> None:
    values = np.array([[0.0, 1.0], [3.0, 4.0]])
    image, caption = plots.display_image(values)
    assert image.dtype == np.float32 and image.shape == (2, 2)
    np.testing.assert_allclose(image, values / 4.0)
    assert caption == "black = 0, white = 4"


def test_display_image_of_a_constant_array_is_black_with_a_caption() -> None:
    image, caption = plots.display_image(np.full((2, 3), 5.0))
    assert image.shape == (2, 3)
    np.testing.assert_array_equal(image, 0.0)
    assert "constant 5" in caption


def test_display_image_honours_a_shared_grey_scale() -> None:
    values = np.array([[1.0, 2.0], [3.0, 5.0]])
    image, caption = plots.display_image(values, scale=(0.0, 10.0))
    np.testing.assert_allclose(image, values / 10.0)
    assert caption == "black = 0, white = 10"
    clipped, _ = plots.display_image(values, scale=(2.0, 3.0))
    np.testing.assert_allclose(clipped, [[0.0, 0.0], [1.0, 1.0]])


def test_display_image_honours_a_shared_signed_scale() -> None:
    values = np.array([[0.0, 1.0], [2.0, 0.5]])  # non-negative itself, but shown beside signed data
    image, caption = plots.display_image(values, scale=(-4.0, 2.0))
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, plots.diverging_rgb(values, 4.0))
    assert "±4" in caption


def test_display_image_with_joint_scale_gives_comparable_images() -> None:
    a, b = np.array([[0.0, 2.0]]), np.array([[1.0, 4.0]])
    scale = plots.joint_scale(a, b)
    image_a, caption_a = plots.display_image(a, scale)
    image_b, caption_b = plots.display_image(b, scale)
    assert caption_a == caption_b
    assert image_a[0, 1] == image_b[0, 0] * 2  # 2 and 1 on the same 0..4 scale


# ---------------------------------------------------------------------------
# matrix_heatmap
# ---------------------------------------------------------------------------


def test_matrix_heatmap_z_is_the_input_and_numbers_are_printed() -> None:
    values = np.array([[1.0, -2.5, 0.0], [0.125, 1 / 81, 100.0], [1e-3, 3.0, -0.5]])
    figure = plots.matrix_heatmap(values, title="Kernel")
    (heatmap,) = figure.data
    np.testing.assert_array_equal(np.asarray(heatmap.z), values)
    assert [list(row) for row in heatmap.text] == [
        ["1", "-2.5", "0"], ["0.125", "0.0123", "100"], ["1.0e-03", "3", "-0.5"],
    ]
    assert heatmap.texttemplate == "%{text}"
    assert heatmap.showscale is False
    assert figure.layout.title.text == "Kernel"


@pytest.mark.parametrize(("side", "annotated"), [(1, True), (12, True), (13, False), (30, False)])
def test_matrix_heatmap_annotates_only_small_arrays(side: int, annotated: bool) -> None:
    values = np.arange(side * side, dtype=float).reshape(side, side)
    (heatmap,) = plots.matrix_heatmap(values).data
    assert (heatmap.text is not None) is annotated
    assert heatmap.showscale is not annotated
    np.testing.assert_array_equal(np.asarray(heatmap.z), values)


def test_matrix_heatmap_annotate_overrides_the_size_rule() -> None:
    (big,) = plots.matrix_heatmap(np.ones((20, 20)), annotate=True).data
    (small,) = plots.matrix_heatmap(np.ones((2, 2)), annotate=False).data
    assert big.text is not None and len(big.text) == 20
    assert small.text is None


@pytest.mark.parametrize(
    ("values", "limit"),
    [(np.array([[1.0, -2.0], [0.5, 3.0]]), 3.0), (np.array([[-4.0, 1.0]]), 4.0)],
)
def test_matrix_heatmap_signed_arrays_get_a_symmetric_diverging_scale(
    values: np.ndarray, limit: float
) -> None:
    (heatmap,) = plots.matrix_heatmap(values).data
    assert (heatmap.zmin, heatmap.zmax) == (-limit, limit)
    assert [list(stop) for stop in heatmap.colorscale] == [list(s) for s in plots.DIVERGING]


def test_matrix_heatmap_non_negative_arrays_start_at_zero_and_say_so() -> None:
    figure = plots.matrix_heatmap(np.full((3, 3), 1 / 9), signed=False, title="Magnitude")
    (heatmap,) = figure.data
    assert heatmap.zmin == 0.0 and heatmap.zmax == pytest.approx(1 / 9)
    assert figure.layout.title.text.startswith("Magnitude" + plots.NON_NEGATIVE)
    (zeros,) = plots.matrix_heatmap(np.zeros((2, 2)), signed=False).data
    assert zeros.zmin == 0.0 and zeros.zmax > 0.0
    # signed=False on values that are negative after all: the diverging scale, never a lie
    (mixed,) = plots.matrix_heatmap(np.array([[-1.0, 2.0]]), signed=False).data
    assert (mixed.zmin, mixed.zmax) == (-2.0, 2.0)


def test_the_sign_rule_plus_and_minus_four_never_look_alike() -> None:
    """The lecture's step edge: correlation gives -4, convolution +4. By default both get the
    diverging scale (white = 0); with one shared limit, +4 is the red end and -4 the blue end."""
    plus = plots.matrix_heatmap(np.full((3, 3), 4.0), limit=4.0).data[0]
    minus = plots.matrix_heatmap(np.full((3, 3), -4.0), limit=4.0).data[0]
    assert (plus.zmin, plus.zmax) == (minus.zmin, minus.zmax) == (-4.0, 4.0)
    assert [list(stop) for stop in plus.colorscale] == [list(s) for s in plots.DIVERGING]
    # all positive, no limit: still diverging, so a positive Gx is drawn red, not blue
    (alone,) = plots.matrix_heatmap(np.array([[0.0, 2.0]])).data
    assert (alone.zmin, alone.zmax) == (-2.0, 2.0)
    # an all-zero map: a unit scale, no pico-units colour bar
    (zeros,) = plots.matrix_heatmap(np.zeros((20, 20))).data
    assert (zeros.zmin, zeros.zmax) == (-1.0, 1.0)


def test_matrix_heatmap_signed_can_be_forced() -> None:
    (heatmap,) = plots.matrix_heatmap(np.array([[1.0, 2.0]]), signed=True).data
    assert (heatmap.zmin, heatmap.zmax) == (-2.0, 2.0)


@pytest.mark.parametrize(("row", "col", "rows", "cols"), [(0, 0, 3, 3), (1, 2, 2, 3), (4, 1, 1, 1)])
def test_matrix_heatmap_highlight_adds_one_box_around_the_window(
    row: int, col: int, rows: int, cols: int
) -> None:
    figure = plots.matrix_heatmap(np.zeros((5, 6)), highlight=(row, col, rows, cols))
    (shape,) = figure.layout.shapes
    assert shape.type == "rect"
    assert (shape.x0, shape.x1) == (col - 0.5, col + cols - 0.5)
    assert (shape.y0, shape.y1) == (row - 0.5, row + rows - 0.5)


def test_matrix_heatmap_without_highlight_has_no_shapes() -> None:
    assert plots.matrix_heatmap(np.zeros((3, 3))).layout.shapes == ()


def test_matrix_heatmap_puts_row_0_on_top() -> None:
    figure = plots.matrix_heatmap(np.eye(4))
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.side == "top"


# ---------------------------------------------------------------------------
# image_grid, confusion_figure, line_figure
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid_places_every_tile(channels: int) -> None:
    images = np.stack([np.full((channels, 4, 5), 10 * i, np.uint8) for i in range(7)])
    grid = plots.image_grid(images, columns=3, pad=1)
    assert grid.shape == (3 * 5 + 1, 3 * 6 + 1, 3) and grid.dtype == np.uint8
    for i in range(7):
        r, c = divmod(i, 3)
        tile = grid[1 + r * 5 : 1 + r * 5 + 4, 1 + c * 6 : 1 + c * 6 + 5]
        assert np.all(tile == 10 * i)
    assert np.all(grid[0] == 255)  # padding is white
    assert plots.image_grid(images, columns=3, scale=2).shape == (32, 38, 3)


def test_image_grid_accepts_float_channels_last_and_refuses_3d() -> None:
    images = np.ones((2, 6, 6, 3), np.float32) * 0.5
    grid = plots.image_grid(images, columns=2, pad=0)
    assert grid.shape == (6, 12, 3) and np.all(grid == 128)
    with pytest.raises(ValueError):
        plots.image_grid(np.zeros((6, 6, 3)))


def test_confusion_figure_rows_are_true_classes() -> None:
    matrix = np.array([[5, 1], [0, 4]])
    figure = plots.confusion_figure(matrix, ["cat", "dog"])
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), matrix)
    assert list(figure.data[0].y) == ["cat", "dog"]
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.data[0].text[0][1] == "1"


def test_line_figure_one_trace_per_series() -> None:
    figure = plots.line_figure({"train": ([0, 1], [0.5, 0.7]), "test": ([0, 1], [0.4, 0.6])},
                               x_title="epoch", y_title="accuracy", log_x=True)
    assert [t.name for t in figure.data] == ["train", "test"]
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.title.text == "accuracy"


def test_jpeg_bytes_is_a_jpeg_of_the_picture():
    import io

    from PIL import Image

    pixels = np.linspace(0, 1, 64 * 48 * 3, dtype=np.float32).reshape(48, 64, 3)
    decoded = Image.open(io.BytesIO(plots.jpeg_bytes(pixels)))
    assert decoded.format == "JPEG" and decoded.size == (64, 48)
    assert np.abs(np.asarray(decoded) / 255.0 - pixels).max() < 0.05


def test_png_bytes_decode_to_the_pixels_and_identical_pictures_are_encoded_once() -> None:
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    picture = rng.random((40, 30, 3)).astype(np.float32)
    before = plots._ENCODED.misses
    first = plots.png_bytes(picture)
    again = plots.png_bytes(picture.copy())  # another array with the same pixels
    assert again is first and plots._ENCODED.misses == before + 1
    decoded = np.asarray(Image.open(io.BytesIO(first)))
    np.testing.assert_array_equal(decoded, (picture * 255.0 + 0.5).astype(np.uint8))
    changed = picture.copy()
    changed[0, 0, 0] = 1.0 - changed[0, 0, 0]  # one pixel: a new picture, not the cached one
    assert plots.png_bytes(changed) != first
    assert plots.jpeg_bytes(picture) != first  # the format is part of the key


@pytest.mark.parametrize("limit", [0.0, -1.0, float("nan"), float("inf"), None])
def test_diverging_rgb_draws_nan_white_and_survives_any_limit(limit) -> None:
    values = np.array([[np.nan, 0.0], [2.0, -2.0]])
    rgb = plots.diverging_rgb(values, limit)
    white = plots.diverging_rgb(np.zeros((1, 1)))[0, 0]
    assert rgb.dtype == np.uint8 and (rgb[0, 0] == white).all() and (rgb[0, 1] == white).all()
    np.testing.assert_array_equal(rgb[1, 0], plots.diverging_rgb(np.ones((1, 1)))[0, 0])
    np.testing.assert_array_equal(rgb[1, 1], plots.diverging_rgb(-np.ones((1, 1)))[0, 0])
