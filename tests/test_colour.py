"""Tests for explorer.colour: colour presets, filter banks, applying them like nn.Conv2d."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal

from explorer.colour import presets
from explorer.colour.bank import (
    FILTER_TEMPLATES,
    LECTURE_BANK,
    MAX_WEIGHT,
    ColourFilter,
    build_bank,
    check_bank_values,
    colour_edge_filter,
    filter_bank,
    filter_bank_per_filter,
    pad_kernel,
)
from explorer.colour.feature_maps import (
    MAX_MULTIPLY_ADDS,
    apply_filters,
    bank_work,
    channel_contributions,
)
from explorer.colour.presets import COLOUR_PRESETS, weights_for_colour
from explorer.colour.proof import conv2d_module, prove_with_conv2d
from explorer.convolution.kernels import make_kernel
from explorer.lecture import reference as lecture

ZERO_SUM_PRESETS = [name for name in COLOUR_PRESETS if name != "brightness"]
PURE = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
    "grey": (0.5, 0.5, 0.5),
}


def flat(rgb: tuple[float, float, float], shape: tuple[int, int] = (24, 24)) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, dtype=np.float32), (*shape, 3)).copy()


def reference(image, weight, bias=None, mode="same", relu=False) -> np.ndarray:
    """torch.nn.functional.conv2d itself, float32, with PyTorch's own padding="same"."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
    w = torch.from_numpy(np.asarray(weight, dtype=np.float32))
    b = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # even kernels with padding="same"
        y = F.conv2d(x, w, b, padding="same" if mode == "same" else 0)[0]
    return (torch.relu(y) if relu else y).numpy()


def random_case(seed, c_out, k_h, k_w, h, w, with_bias=True):
    rng = np.random.default_rng(seed)
    image = rng.random((h, w, 3), dtype=np.float32)
    weight = rng.standard_normal((c_out, 3, k_h, k_w))
    bias = rng.standard_normal(c_out) if with_bias else None
    return image, weight, bias


CASES = [
    # (c_out, k_h, k_w, h, w, mode)
    (4, 9, 9, 32, 32, "same"),
    (4, 9, 9, 32, 32, "valid"),
    (1, 1, 1, 5, 7, "same"),
    (3, 4, 4, 20, 17, "same"),  # even kernel: extra padding bottom/right
    (3, 4, 4, 20, 17, "valid"),
    (2, 3, 6, 15, 22, "same"),  # odd x even, non-square
    (8, 5, 2, 11, 30, "same"),
    (8, 5, 2, 11, 30, "valid"),
    (2, 15, 15, 9, 12, "same"),  # kernel larger than the image: fine in 'same'
    (12, 3, 3, 10, 10, "same"),  # more than the page's 8 filters
]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize(("c_out", "k_h", "k_w", "h", "w", "mode"), CASES)
def test_apply_filters_matches_conv2d(c_out, k_h, k_w, h, w, mode, relu):
    image, weight, bias = random_case(c_out * k_h + w, c_out, k_h, k_w, h, w)
    out = apply_filters(image, weight, bias=bias, mode=mode, relu=relu)
    expected = reference(image, weight, bias, mode, relu)
    assert out.dtype == np.float32
    assert out.shape == expected.shape
    if mode == "valid":
        assert out.shape == (c_out, h - k_h + 1, w - k_w + 1)
    else:
        assert out.shape == (c_out, h, w)
    np.testing.assert_allclose(out, expected, atol=1e-5 * max(1.0, np.abs(expected).max()))
    if relu:
        assert out.min() >= 0


@pytest.mark.parametrize(("k_h", "k_w"), [(3, 3), (4, 4), (2, 5), (6, 3)])
def test_same_mode_equals_scipy_correlate2d_same(k_h, k_w):
    # scipy's 'same' anchors even kernels at (K-1)//2 like PyTorch: checked in float64.
    image, weight, _ = random_case(k_h * 10 + k_w, 2, k_h, k_w, 13, 16, with_bias=False)
    expected = np.stack(
        [
            sum(signal.correlate2d(image[..., n], weight[m, n], mode="same") for n in range(3))
            for m in range(2)
        ]
    )
    np.testing.assert_allclose(apply_filters(image, weight), expected, atol=1e-5)


def test_without_bias_is_zero_bias():
    image, weight, _ = random_case(1, 3, 3, 3, 8, 8, with_bias=False)
    np.testing.assert_array_equal(
        apply_filters(image, weight), apply_filters(image, weight, bias=np.zeros(3))
    )


# ---------------------------------------------------------------------------
# Filter banks
# ---------------------------------------------------------------------------


def test_filter_bank_is_the_lecture_expression():
    color_wt = np.array(list(lecture.COLOUR_WEIGHTS.values()))  # (4, 3)
    G = make_kernel("gaussian", size=9, sigma=2.0)  # the lecture's names
    W = filter_bank(color_wt, G)
    assert W.shape == (4, 3, 9, 9)
    np.testing.assert_array_equal(W, G[None, None, :, :] * color_wt[:, :, None, None])
    np.testing.assert_allclose(W, np.einsum("mn,hw->mnhw", color_wt, G), rtol=0, atol=1e-15)


def test_filter_bank_non_square_kernel():
    rng = np.random.default_rng(3)
    w, k = rng.standard_normal((5, 3)), rng.standard_normal((2, 7))
    np.testing.assert_allclose(filter_bank(w, k), np.einsum("mn,hw->mnhw", w, k), atol=1e-15)


def test_lecture_bank():
    weight, bias = build_bank(LECTURE_BANK)
    assert [f.weights for f in LECTURE_BANK] == list(lecture.COLOUR_WEIGHTS.values())
    assert weight.shape == (4, 3, 9, 9)
    np.testing.assert_array_equal(bias, np.zeros(4))
    G = make_kernel("gaussian", size=9, sigma=2.0)
    np.testing.assert_array_equal(weight, filter_bank(list(lecture.COLOUR_WEIGHTS.values()), G))


# Sign of each lecture filter (rows) on each flat colour (columns): +1, -1 or 0.
LECTURE_SIGNS = {
    "red": {"red": 1, "green": -1, "blue": -1, "grey": 0},
    "green": {"red": -1, "green": 1, "blue": -1, "grey": 0},
    "blue": {"red": -1, "green": -1, "blue": 1, "grey": 0},
    "red-blue": {"red": 1, "green": -1, "blue": 1, "grey": 0},
}


@pytest.mark.parametrize("name", list(PURE))
def test_lecture_filters_on_flat_colours(name):
    weight, bias = build_bank(LECTURE_BANK)
    out = apply_filters(flat(PURE[name]), weight, bias=bias)  # (4, 24, 24)
    interior = out[:, 8:-8, 8:-8]  # the 9x9 kernel doesn't reach the zero padding here
    # Flat colour c, kernel summing to 1: every interior pixel is w · c.
    expected = np.array(list(lecture.COLOUR_WEIGHTS.values())) @ np.array(PURE[name])
    np.testing.assert_allclose(
        interior, expected[:, None, None] * np.ones_like(interior), atol=1e-6
    )
    for m, filter_name in enumerate(lecture.COLOUR_WEIGHTS):
        sign = LECTURE_SIGNS[filter_name].get(name)
        if sign is not None:
            assert np.sign(np.round(interior[m], 6)).max() == sign
            assert np.sign(np.round(interior[m], 6)).min() == sign
    if name == "magenta":  # red-blue is the magenta detector: its best colour
        assert interior[3].min() == pytest.approx(1.0, abs=1e-6)


def test_lecture_filters_find_colour_chart_patches():
    from explorer.images.pictures import pattern

    chart = pattern("colour chart", size=90, mode="RGB")  # 3x3 patches of 30 pixels
    weight, _ = build_bank(LECTURE_BANK)
    out = apply_filters(chart, weight)
    centre = out[:, 15::30, 15::30]  # (4, 3, 3): each filter at each patch centre
    # The strongest red response is on the red patch, green on green, blue on blue, red-blue
    # on magenta (patch row 1, column 2).
    assert [np.unravel_index(centre[m].argmax(), (3, 3)) for m in range(4)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 2),
    ]


# ---------------------------------------------------------------------------
# Channel contributions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("c_out", "k_h", "k_w", "h", "w", "mode"), CASES[:8])
def test_contributions_sum_to_output(c_out, k_h, k_w, h, w, mode):
    image, weight, bias = random_case(c_out + k_w * 7, c_out, k_h, k_w, h, w)
    parts = channel_contributions(image, weight, mode=mode)
    out = apply_filters(image, weight, bias=bias, mode=mode)
    assert parts.dtype == np.float32
    assert parts.shape == (c_out, 3, *out.shape[1:])
    atol = 1e-5 * max(1.0, np.abs(out).max())  # float32 sums in a different order
    np.testing.assert_allclose(parts.sum(axis=1) + bias[:, None, None], out, atol=atol)


def test_contribution_is_one_channel_correlated_with_one_kernel():
    image, weight, _ = random_case(9, 3, 4, 5, 12, 14, with_bias=False)
    parts = channel_contributions(image, weight)
    for m in range(3):
        for n in range(3):
            expected = signal.correlate2d(image[..., n], weight[m, n], mode="same")
            np.testing.assert_allclose(parts[m, n], expected, atol=1e-5)


# ---------------------------------------------------------------------------
# Presets, templates, weights_for_colour
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COLOUR_PRESETS))
def test_preset(name):
    preset = COLOUR_PRESETS[name]
    w = np.array(preset.weights)
    assert w.shape == (3,) and np.isfinite(w).all()
    assert np.abs(w).max() == pytest.approx(1.0) or name == "brightness"
    assert preset.label and preset.description
    kernel = make_kernel("gaussian", size=9, sigma=2.0)
    for level in (0.0, 0.3, 1.0):
        out = apply_filters(flat((level,) * 3), filter_bank([w], kernel))[0, 8:-8, 8:-8]
        expected = 0.0 if name in ZERO_SUM_PRESETS else level
        np.testing.assert_allclose(out, expected, atol=1e-6)


def test_lecture_presets_are_the_lecture_weights():
    for name, weights in lecture.COLOUR_WEIGHTS.items():
        assert COLOUR_PRESETS[name].weights == weights


def test_magenta_is_red_blue():
    # The decision: no separate "magenta" preset, because it would equal red-blue.
    assert "magenta" not in COLOUR_PRESETS
    assert weights_for_colour("#ff00ff") == COLOUR_PRESETS["red-blue"].weights
    assert "magenta" in COLOUR_PRESETS["red-blue"].label.lower()


@pytest.mark.parametrize("name", list(FILTER_TEMPLATES))
def test_template(name):
    template = FILTER_TEMPLATES[name]
    assert template.label and template.description
    assert np.isfinite(template.weights).all() and np.isfinite(template.bias)
    kernel = template.kernel()
    assert kernel.ndim == 2 and np.isfinite(kernel).all()
    hash(template)  # frozen and hashable: usable as a cache key
    weight, bias = build_bank([template])
    k_h, k_w = kernel.shape
    for rgb in [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.9, 0.2, 0.1)]:
        out = apply_filters(flat(rgb), weight, bias=bias)[0, k_h:-k_h, k_w:-k_w]
        grey = rgb[0] == rgb[1] == rgb[2]
        # Sobel sums to 0, so edge filters give 0 on flat areas of any colour; zero-sum
        # colour weights give 0 on flat grey.
        if "edges" in name or (grey and name != "brightness"):
            np.testing.assert_allclose(out, 0.0, atol=1e-6)


def test_red_edges_respond_to_red_edges_only():
    image = np.zeros((20, 20, 3), np.float32)
    image[:, :10, 0] = 1.0  # red on the left, black on the right
    weight, _ = build_bank([colour_edge_filter("red"), colour_edge_filter("red", axis="y")])
    out = apply_filters(image, weight)
    # Sobel x correlated: left column minus right column, so more red on the left is positive.
    assert out[0, 5:15, 9:11].min() > 1.0
    np.testing.assert_allclose(out[0, 5:15, 2:7], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 5:15, 13:18], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[1, 2:-2, :], 0.0, atol=1e-6)  # no horizontal edge inside
    # A grey edge of the same brightness change gives 0 for the red (zero-sum) weights.
    grey = np.zeros((20, 20, 3), np.float32)
    grey[:, :10] = 1.0
    np.testing.assert_allclose(apply_filters(grey, weight)[0, 2:-2, 2:-2], 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("picked", "expected"),
    [
        ((1, 0, 0), lecture.COLOUR_WEIGHTS["red"]),
        ("#00ff00", lecture.COLOUR_WEIGHTS["green"]),
        ("0000FF", lecture.COLOUR_WEIGHTS["blue"]),
        ((1, 0, 1), lecture.COLOUR_WEIGHTS["red-blue"]),
        ((1, 1, 0), COLOUR_PRESETS["yellow"].weights),
        ("#00ffff", COLOUR_PRESETS["cyan"].weights),
        ((0.5, 0.25, 0.0), (1.0, 0.0, -1.0)),
    ],
)
def test_weights_for_colour_known(picked, expected):
    assert weights_for_colour(picked) == pytest.approx(expected, abs=1e-12)


def rotations_about_grey(c: np.ndarray, count: int = 72) -> np.ndarray:
    """Colours with c's mean and saturation: c - mean(c) rotated about the grey axis."""
    axis = np.ones(3) / np.sqrt(3)
    m, v = c.mean(), c - c.mean()
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    # Rodrigues' formula; v is perpendicular to the axis.
    rotated = np.cos(angles)[:, None] * v + np.sin(angles)[:, None] * np.cross(axis, v)
    colours = m + rotated
    return colours[(colours >= 0).all(axis=1) & (colours <= 1).all(axis=1)]


@pytest.mark.parametrize(
    "picked", [(0.8, 0.3, 0.2), (0.1, 0.5, 0.4), (0.45, 0.4, 0.6), "#c08030", (0.9, 0.1, 0.1)]
)
def test_picked_colour_gives_the_largest_response(picked):
    w = np.array(weights_for_colour(picked))
    assert abs(w.sum()) < 1e-12 and np.abs(w).max() == pytest.approx(1.0)
    c = presets._parse_colour(picked)
    others = rotations_about_grey(c)
    assert len(others) >= 10
    # One image: a column of each same-brightness colour, the picked one last.
    image = np.concatenate([flat(tuple(x), (4, 1)) for x in [*others, c]], axis=1)
    kernel = make_kernel("identity", size=1)
    response = apply_filters(image, filter_bank([w], kernel))[0, 0]
    assert response[-1] > 0
    assert response[-1] >= response[:-1].max() - 1e-6
    # A more saturated colour of the same hue responds more; grey responds 0.
    assert w @ (c.mean() + 1.1 * (c - c.mean())) > w @ c
    assert w @ np.full(3, c.mean()) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("grey", [(0, 0, 0), (0.5, 0.5, 0.5), (1, 1, 1), "#808080", "#FFFFFF"])
def test_grey_pick_raises(grey):
    with pytest.raises(ValueError, match="grey"):
        weights_for_colour(grey)


@pytest.mark.parametrize("bad", ["red", "#12345", "#gg0000", (1, 0), (1.2, 0, 0), (np.nan, 0, 1)])
def test_bad_colour_raises(bad):
    with pytest.raises(ValueError):
        weights_for_colour(bad)


# ---------------------------------------------------------------------------
# Mixed kernel sizes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel_shape", "shape", "offset"),
    [((3, 3), (9, 9), (3, 3)), ((4, 4), (9, 9), (3, 3)), ((3, 3), (4, 4), (0, 0)),
     ((2, 5), (6, 6), (2, 0)), ((5, 5), (6, 6), (0, 0)), ((1, 1), (8, 8), (3, 3))],
)  # fmt: skip
def test_pad_kernel_offsets(kernel_shape, shape, offset):
    k = np.arange(1, np.prod(kernel_shape) + 1, dtype=float).reshape(kernel_shape)
    padded = pad_kernel(k, shape)
    top, left = offset
    assert padded.shape == shape
    np.testing.assert_array_equal(padded[top : top + k.shape[0], left : left + k.shape[1]], k)
    assert padded.sum() == k.sum()


MIXED = [
    ColourFilter("red blur", (1, -0.5, -0.5), "gaussian", {"size": 9, "sigma": 2.0}),
    ColourFilter("green edges", (-0.5, 1, -0.5), "sobel_x"),
    ColourFilter("blue even box", (-0.5, -0.5, 1), "box", {"size": (4, 6)}, bias=0.25),
    ColourFilter("bright 2x2", (1 / 3, 1 / 3, 1 / 3), "box", {"size": 2}, bias=-0.1),
    ColourFilter("random 5x8", (0.2, -0.7, 0.5), "random", {"size": (5, 8), "seed": 4}),
]


def test_build_bank_mixed_sizes_same_mode_keeps_each_map():
    # Odd and even sizes mixed: each map equals the one from the filter's own kernel, even
    # at the border, because (M-1)//2 - (K-1)//2 keeps the 'same' anchor in place.
    weight, bias = build_bank(MIXED)
    assert weight.shape == (5, 3, 9, 9)
    np.testing.assert_array_equal(bias, [0, 0, 0.25, -0.1, 0])
    image = np.random.default_rng(5).random((17, 23, 3), dtype=np.float32)
    out = apply_filters(image, weight, bias=bias)
    for m, f in enumerate(MIXED):
        own_weight = filter_bank([f.weights], f.kernel())
        alone = reference(image, own_weight, [f.bias])[0]  # F.conv2d, padding="same"
        np.testing.assert_allclose(out[m], alone, atol=1e-5, err_msg=f.label)


def test_build_bank_mixed_sizes_valid_mode_is_a_crop():
    weight, bias = build_bank(MIXED)
    image = np.random.default_rng(6).random((20, 21, 3), dtype=np.float32)
    out = apply_filters(image, weight, bias=bias, mode="valid")
    assert out.shape == (5, 12, 13)
    for m, f in enumerate(MIXED):
        k_h, k_w = f.kernel().shape
        top, left = (9 - 1) // 2 - (k_h - 1) // 2, (9 - 1) // 2 - (k_w - 1) // 2
        alone = reference(image, filter_bank([f.weights], f.kernel()), [f.bias], "valid")[0]
        np.testing.assert_allclose(out[m], alone[top : top + 12, left : left + 13], atol=1e-5)


def test_filter_bank_per_filter_same_size_equals_filter_bank():
    k = make_kernel("gaussian", size=5, sigma=1.0)
    w = np.array(list(lecture.COLOUR_WEIGHTS.values()))
    np.testing.assert_array_equal(filter_bank_per_filter(w, [k] * 4), filter_bank(w, k))


def test_colour_filter_normalises_and_hashes():
    a = ColourFilter("x", [1, 0, -1], "box", {"size": [3, 5]})
    b = ColourFilter("x", (1.0, 0.0, -1.0), "box", (("size", (3, 5)),))
    assert a == b and hash(a) == hash(b)
    assert a.kernel_params == (("size", (3, 5)),)
    assert a.weights == (1.0, 0.0, -1.0)
    assert a.kernel().shape == (3, 5)


# ---------------------------------------------------------------------------
# A real nn.Conv2d
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k_h", "k_w", "mode", "relu"),
    [(9, 9, "same", False), (4, 4, "same", True), (3, 6, "valid", False), (5, 2, "valid", True)],
)
def test_prove_with_conv2d(k_h, k_w, mode, relu):
    image, weight, bias = random_case(k_h + k_w, 4, k_h, k_w, 19, 24)
    proof = prove_with_conv2d(image, weight, bias, mode=mode, relu=relu)
    assert proof.max_abs_diff < 1e-5
    assert proof.weight_shape == (4, 3, k_h, k_w)
    assert proof.state_dict_shapes == {"weight": (4, 3, k_h, k_w), "bias": (4,)}
    assert proof.output.shape == apply_filters(image, weight, mode=mode).shape
    assert proof.module.startswith("Conv2d(3, 4")


def test_prove_lecture_bank_on_astronaut():
    from explorer.images.pictures import builtin_image

    image = builtin_image("astronaut")[::4, ::4]  # 128x128x3
    proof = prove_with_conv2d(image, *build_bank(LECTURE_BANK))
    assert proof.output.shape == (4, 128, 128)
    assert proof.max_abs_diff < 1e-5


def test_conv2d_module_loads_the_weights():
    weight, bias = build_bank(LECTURE_BANK)
    model = conv2d_module(weight, bias + 1)
    assert model.padding == "same" and model.in_channels == 3 and model.out_channels == 4
    np.testing.assert_allclose(model.weight.detach().numpy(), weight, rtol=1e-6)
    np.testing.assert_allclose(model.bias.detach().numpy(), np.ones(4))
    assert conv2d_module(weight, mode="valid").padding == (0, 0)
    np.testing.assert_array_equal(conv2d_module(weight).bias.detach().numpy(), np.zeros(4))


# ---------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------

GOOD_IMAGE = np.full((10, 10, 3), 0.5)
GOOD_WEIGHT = np.ones((2, 3, 3, 3))


def nan_image():
    x = GOOD_IMAGE.copy()
    x[3, 4, 1] = np.nan
    return x


def inf_weight():
    w = GOOD_WEIGHT.copy()
    w[1, 2, 0, 0] = np.inf
    return w


@pytest.mark.parametrize(
    ("image", "weight", "kwargs", "match"),
    [
        (nan_image(), GOOD_WEIGHT, {}, "NaN"),
        (GOOD_IMAGE, inf_weight(), {}, "NaN"),
        (GOOD_IMAGE, GOOD_WEIGHT, {"bias": [0.0, np.nan]}, "NaN"),
        (GOOD_IMAGE[..., 0], GOOD_WEIGHT, {}, "greyscale"),
        (np.ones((10, 10, 4)), GOOD_WEIGHT, {}, "H x W x 3"),
        (np.ones((10, 10, 3, 1)), GOOD_WEIGHT, {}, "H x W x 3"),
        (np.ones((0, 10, 3)), GOOD_WEIGHT, {}, "empty"),
        (GOOD_IMAGE, np.ones((2, 1, 3, 3)), {}, r"\(C_out, 3, K_h, K_w\)"),
        (GOOD_IMAGE, np.ones((3, 3, 3)), {}, r"\(C_out, 3, K_h, K_w\)"),
        (GOOD_IMAGE, GOOD_WEIGHT, {"bias": [0.0, 0.0, 0.0]}, "bias"),
        (GOOD_IMAGE, np.ones((2, 3, 11, 3)), {"mode": "valid"}, "larger than the 10x10"),
        (GOOD_IMAGE, GOOD_WEIGHT, {"mode": "full"}, "Unknown mode"),
        ("not an image", GOOD_WEIGHT, {}, "numbers"),
    ],
)
def test_bad_inputs_raise(image, weight, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_filters(image, weight, **kwargs)
    contribution_kwargs = {k: v for k, v in kwargs.items() if k != "bias"}
    if "bias" not in kwargs:
        with pytest.raises(ValueError, match=match):
            channel_contributions(image, weight, **contribution_kwargs)
    with pytest.raises(ValueError, match=match):
        prove_with_conv2d(image, weight, kwargs.get("bias"), **contribution_kwargs)


def test_bad_banks_raise():
    with pytest.raises(ValueError, match="at least one"):
        build_bank([])
    with pytest.raises(ValueError, match="one kernel per filter"):
        filter_bank_per_filter([(1, 0, 0), (0, 1, 0)], [np.ones((3, 3))])
    with pytest.raises(ValueError, match=r"\(C_out, 3\)"):
        filter_bank([1, 0, 0], np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        filter_bank([(1, 0, np.nan)], np.ones((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        filter_bank([(1, 0, 0)], np.ones(3))
    with pytest.raises(ValueError, match="smaller"):
        pad_kernel(np.ones((5, 5)), (3, 7))
    with pytest.raises(ValueError, match="Unknown kernel"):
        ColourFilter("x", (1, 0, 0), "no such kernel")
    with pytest.raises(ValueError, match="does not take"):
        ColourFilter("x", (1, 0, 0), "sobel_x", {"size": 3})
    with pytest.raises(ValueError, match="three colour weights"):
        ColourFilter("x", (1, 0))
    with pytest.raises(ValueError, match="one number"):
        ColourFilter("x", (1, 0, 0), bias=(1, 2))
    with pytest.raises(ValueError, match="Unknown colour"):
        colour_edge_filter("purple")
    with pytest.raises(ValueError, match="axis"):
        colour_edge_filter("red", axis="z")


def test_import_does_not_load_torch():
    code = "import sys, explorer.colour.bank, explorer.colour.feature_maps, explorer.colour.proof, explorer.networks.first_layer; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(presets.__file__).parents[1])


# --- bounded banks (issue 12) ------------------------------------------------------------


def test_bank_values_are_bounded_with_a_message():
    check_bank_values([[MAX_WEIGHT, -MAX_WEIGHT, 0.0]], [MAX_WEIGHT])
    with pytest.raises(ValueError, match="Filter 2's G weight is 1e\\+300"):
        check_bank_values([[1.0, 0.0, 0.0], [0.0, 1e300, 0.0]])
    with pytest.raises(ValueError, match="Filter 1's bias is -1e\\+03"):
        check_bank_values([[1.0, 0.0, 0.0]], [-1e3])
    with pytest.raises(ValueError, match="NaN"):
        check_bank_values([[np.nan, 0.0, 0.0]])


def test_banks_beyond_the_work_limit_are_refused_before_running():
    image = np.zeros((1024, 1024, 3))
    weight = np.zeros((8, 3, 31, 31))
    assert bank_work(image.shape, weight.shape, "same") > MAX_MULTIPLY_ADDS
    for run in (lambda: apply_filters(image, weight),
                lambda: channel_contributions(image, weight),
                lambda: prove_with_conv2d(image, weight)):
        with pytest.raises(ValueError, match="multiply-adds"):
            run()
    # the page's worst case on a built-in picture (512x512) is allowed
    assert bank_work((512, 512, 3), weight.shape, "same") <= MAX_MULTIPLY_ADDS


@pytest.mark.parametrize("scale, bias", [(1e37, 0.0), (1.0, 1e38), (3e38, 0.0)])
def test_maps_that_would_overflow_float32_are_refused(scale, bias):
    image = np.ones((8, 8, 3))
    weight = np.full((1, 3, 3, 3), scale)
    with pytest.raises(ValueError, match="float32"):
        apply_filters(image, weight, bias=np.array([bias]))
