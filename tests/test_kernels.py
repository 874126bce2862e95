"""Tests for explorer.convolution.kernels: the kernel registry, its parameters and the kernel helpers."""

import re

import numpy as np
import pytest

from explorer.convolution import kernels
from explorer.convolution.kernels import KERNELS, flip, make_kernel, normalise, validate_kernel

SUM_ONE = {"identity", "box", "gaussian", "motion_blur", "sharpen", "emboss"}
SUM_ZERO = {
    "sobel_x",
    "sobel_y",
    "prewitt_x",
    "prewitt_y",
    "scharr_x",
    "scharr_y",
    "laplacian_4",
    "laplacian_8",
    "log",
}
ANY_SUM = {"gabor", "random"}
SIZED = [name for name, spec in KERNELS.items() if any(p.kind == "size" for p in spec.params)]


def default_shape(name: str) -> tuple[int, int]:
    params = {p.name: p.default for p in KERNELS[name].params}
    n = params.get("size", params.get("length", 3))
    return n, n


def test_every_kernel_is_classified():
    assert set(KERNELS) == SUM_ONE | SUM_ZERO | ANY_SUM
    assert {"identity", "box", "gaussian", "random"} <= set(SIZED)


@pytest.mark.parametrize("name", list(KERNELS))
def test_default_kernel(name):
    k = make_kernel(name)
    assert k.ndim == 2 and k.dtype == np.float64
    assert np.isfinite(k).all()
    assert k.shape == default_shape(name)
    if name in SUM_ONE:
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
    if name in SUM_ZERO:
        assert k.sum() == pytest.approx(0.0, abs=1e-12)
    spec = KERNELS[name]
    assert spec.label and spec.description and "\n" not in spec.description


@pytest.mark.parametrize("name", list(KERNELS))
def test_params_are_slider_ready_and_their_extremes_work(name):
    for p in KERNELS[name].params:
        assert p.kind in {"int", "float", "size"}
        assert p.min <= p.default <= p.max and p.step > 0
        for value in (p.min, p.max):
            k = make_kernel(name, **{p.name: value})
            assert np.isfinite(k).all()


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize("size", [1, 2, 4, (2, 2), (4, 6), (5, 3), (1, 31), (31, 31)])
def test_even_and_non_square_sizes(name, size):
    k = make_kernel(name, size=size)
    expected = (size, size) if isinstance(size, int) else size
    assert k.shape == expected
    assert np.isfinite(k).all()
    if name in SUM_ONE:
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
    if name in SUM_ZERO:
        assert k.sum() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("size", [(3, 3), (4, 4), (2, 5)])
def test_identity_is_a_single_one(size):
    k = make_kernel("identity", size=size)
    assert np.count_nonzero(k) == 1
    assert k[(size[0] - 1) // 2, (size[1] - 1) // 2] == 1.0


def test_lecture_sobel_kernels():
    np.testing.assert_array_equal(make_kernel("sobel_x"), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.testing.assert_array_equal(make_kernel("sobel_y"), [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_derivative_symmetries(family):
    kx, ky = make_kernel(f"{family}_x"), make_kernel(f"{family}_y")
    np.testing.assert_array_equal(kx[:, ::-1], -kx)  # antisymmetric left-right
    np.testing.assert_array_equal(kx[::-1, :], kx)  # symmetric up-down
    np.testing.assert_array_equal(ky, kx.T)


@pytest.mark.parametrize("name", ["gaussian", "log", "laplacian_4", "laplacian_8", "box"])
def test_symmetric_kernels(name):
    k = make_kernel(name)
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    np.testing.assert_allclose(k, k[:, ::-1], atol=1e-15)


def test_gaussian_spreads_with_sigma():
    narrow = make_kernel("gaussian", size=9, sigma=1.0)
    wide = make_kernel("gaussian", size=9, sigma=3.0)
    assert narrow[4, 4] > wide[4, 4]
    assert narrow[4, 4] == narrow.max()


def test_log_has_negative_centre():
    k = make_kernel("log", size=9, sigma=1.4)
    assert k[4, 4] == k.min() < 0


def test_motion_blur_direction():
    horizontal = make_kernel("motion_blur", length=5, angle=0.0)
    np.testing.assert_allclose(horizontal[2], 0.2)
    assert np.count_nonzero(horizontal) == 5
    vertical = make_kernel("motion_blur", length=5, angle=90.0)
    np.testing.assert_allclose(vertical, horizontal.T, atol=1e-15)
    diagonal = make_kernel("motion_blur", length=7, angle=45.0)
    assert diagonal.sum() == pytest.approx(1.0)
    assert np.count_nonzero(diagonal) == np.count_nonzero(np.diag(diagonal[:, ::-1]))


def test_gabor_phase_symmetry():
    even = make_kernel("gabor", size=15, phase=0.0)
    odd = make_kernel("gabor", size=15, phase=90.0)
    np.testing.assert_allclose(even, even[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(odd, -odd[::-1, ::-1], atol=1e-12)
    rotated = make_kernel("gabor", size=15, theta=90.0)
    np.testing.assert_allclose(rotated, make_kernel("gabor", size=15, theta=0.0).T, atol=1e-12)


def test_random_is_deterministic():
    a = make_kernel("random", size=(4, 3), seed=7)
    np.testing.assert_array_equal(a, make_kernel("random", size=(4, 3), seed=7))
    assert not np.array_equal(a, make_kernel("random", size=(4, 3), seed=8))
    assert np.abs(a).max() <= 1


def test_normalise():
    k = normalise([[1.0, 2.0], [3.0, 4.0]])
    assert k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k, np.array([[1, 2], [3, 4]]) / 10)
    np.testing.assert_allclose(normalise(make_kernel("sharpen")), make_kernel("sharpen"))


@pytest.mark.parametrize(
    "kernel", [make_kernel("sobel_x"), make_kernel("log"), np.zeros((3, 3)), [[1.0, -1.0]]]
)
def test_normalise_refuses_zero_sum(kernel):
    with pytest.raises(ValueError, match="add up to 0"):
        normalise(kernel)


def test_flip():
    k = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(flip(k), [[5, 4, 3], [2, 1, 0]])
    np.testing.assert_array_equal(flip(make_kernel("sobel_x")), -make_kernel("sobel_x"))


def test_validate_kernel_accepts_lists_and_zeros():
    np.testing.assert_array_equal(validate_kernel([[1, 2], [3, 4]]), [[1.0, 2.0], [3.0, 4.0]])
    zeros = validate_kernel(np.zeros((3, 3)))
    assert not zeros.any()
    assert any("all zero" in w for w in kernels.kernel_warnings(zeros))
    assert "all zero" in kernels.describe_kernel(zeros)
    assert kernels.kernel_warnings(make_kernel("box")) == []


def test_describe_kernel():
    assert "sum 1" in kernels.describe_kernel(make_kernel("box"))
    assert "sum 0" in kernels.describe_kernel(make_kernel("sobel_x"))
    assert "even size" in kernels.describe_kernel(np.ones((2, 2)))
    assert "3x3" in kernels.describe_kernel(2 * make_kernel("box"))


@pytest.mark.parametrize(
    "kernel",
    [
        [],
        [[]],
        [1, 2, 3],
        np.ones((2, 2, 2)),
        [[np.nan]],
        [[1, np.inf]],
        [[1, 2], [3]],
        [["a"]],
        [[1j]],
    ],
    ids=["empty", "empty row", "1-D", "3-D", "NaN", "inf", "ragged", "text", "complex"],
)
def test_validate_kernel_rejects(kernel):
    with pytest.raises(ValueError):
        validate_kernel(kernel)


BAD_PARAMS = [
    ("nope", {}),
    ("box", {"sigma": 1.0}),
    ("sobel_x", {"size": 3}),
    ("box", {"size": 0}),
    ("box", {"size": 32}),
    ("box", {"size": (3,)}),
    ("box", {"size": (3, 0)}),
    ("box", {"size": 2.5}),
    ("box", {"size": True}),
    ("box", {"size": "3"}),
    ("gaussian", {"sigma": 0.0}),
    ("gaussian", {"sigma": -1.0}),
    ("gaussian", {"sigma": float("nan")}),
    ("log", {"sigma": float("inf")}),
    ("motion_blur", {"length": 0}),
    ("motion_blur", {"angle": 400.0}),
    ("gabor", {"wavelength": 0.0}),
    ("random", {"seed": -1}),
    ("random", {"seed": 1.5}),
]


@pytest.mark.parametrize("name, params", BAD_PARAMS)
def test_bad_parameters_raise(name, params):
    with pytest.raises(ValueError):
        make_kernel(name, **params)


def test_bad_parameter_messages():
    with pytest.raises(ValueError, match="between 1 and 31"):
        make_kernel("box", size=40)
    with pytest.raises(ValueError, match="does not take sigma; it accepts size"):
        make_kernel("box", sigma=1.0)
    with pytest.raises(ValueError, match="Unknown kernel 'nope'"):
        make_kernel("nope")


# --- magnitudes float32 can hold (issue 12) ---------------------------------------------


@pytest.mark.parametrize("value", [1e39, -1e39, 1e308, 2e6, -1.000001e6])
def test_validate_kernel_refuses_entries_beyond_the_limit(value):
    limit = kernels.MAX_ABS
    kernel = [[0.0, 1.0], [value, 0.0]]
    with pytest.raises(ValueError, match=re.escape(f"between -{limit:g} and {limit:g}")) as error:
        validate_kernel(kernel)
    assert "(row 1, column 0)" in str(error.value)
    validate_kernel([[limit, -limit]])  # the limit itself is fine


def test_normalise_refuses_to_blow_a_kernel_up():
    with pytest.raises(ValueError, match="the limit is"):
        normalise([[1.0, -1.0 + 1e-7]])
    np.testing.assert_allclose(normalise([[1.0, 3.0]]), [[0.25, 0.75]])
