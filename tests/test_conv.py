"""Tests for filter2d and its neighbours (conv, specs, shapes, engines, operations), pooling, steps."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal

from explorer.convolution import conv, engines, operations, shapes, specs
from explorer.convolution.kernels import make_kernel

ENGINES = ["scipy", "fft", "torch"]
# max|a - b| <= TOL * max(1, max|reference|). fft and torch compute in float32; measured worst
# cases: scipy ~1e-15, fft ~1e-6, torch ~1e-6 (K=31 on a 512x512 image).
TOL = {"scipy": 1e-12, "fft": 1e-5, "torch": 1e-5, "auto": 1e-5}
SCIPY = {"correlate": signal.correlate2d, "convolve": signal.convolve2d}

# (image shape, kernel shape): odd, even, non-square, 1-wide, and kernels bigger than the image
# (only used where the mode allows it).
SHAPES = [
    ((7, 9), (3, 3)),
    ((8, 6), (4, 4)),
    ((6, 10), (2, 5)),
    ((9, 7), (4, 3)),
    ((5, 8), (1, 6)),
    ((10, 4), (5, 2)),
    ((4, 4), (1, 1)),
    ((3, 4), (7, 9)),
    ((2, 3), (6, 5)),
    ((1, 1), (3, 2)),
]


def close(out: np.ndarray, ref: np.ndarray, engine: str) -> bool:
    return out.shape == ref.shape and np.max(np.abs(out - ref)) <= TOL[engine] * max(
        1.0, np.max(np.abs(ref))
    )


def fits(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> bool:
    return kernel_shape[0] <= image_shape[0] and kernel_shape[1] <= image_shape[1]


def torch_conv(x: np.ndarray, w: np.ndarray, **kwargs: object) -> np.ndarray:
    t = torch.from_numpy(x)[None, None]
    k = torch.from_numpy(np.ascontiguousarray(w))[None, None]
    return F.conv2d(t, k, **kwargs)[0, 0].numpy()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# --- agreement with SciPy ---------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("op", list(specs.OPS))
@pytest.mark.parametrize("mode", list(specs.MODES))
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_matches_scipy(engine, op, mode, boundary, rng):
    for image_shape, kernel_shape in SHAPES:
        if mode == "valid" and not fits(image_shape, kernel_shape):
            continue
        image = rng.normal(size=image_shape)
        kernel = rng.normal(size=kernel_shape)
        for fillvalue in (0.0, 1.5):
            ref = SCIPY[op](image, kernel, mode=mode, boundary=boundary, fillvalue=fillvalue)
            out = conv.filter2d(
                image,
                kernel,
                op=op,
                mode=mode,
                boundary=boundary,
                fillvalue=fillvalue,
                engine=engine,
            )
            assert out.dtype == np.float64
            assert close(out, ref, engine), (image_shape, kernel_shape, fillvalue)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("op", list(specs.OPS))
@pytest.mark.parametrize("mode", list(specs.MODES))
def test_dilation_and_stride_use_the_dilated_kernel(engine, op, mode, rng):
    # Definition: the dilated kernel acts as an ordinary kernel; the stride slices afterwards.
    for (image_shape, kernel_shape), dilation, stride in [
        (((11, 13), (3, 3)), 2, 1),
        (((12, 10), (2, 3)), 3, 2),
        (((9, 9), (4, 2)), 2, 3),
    ]:
        image = rng.normal(size=image_shape)
        kernel = rng.normal(size=kernel_shape)
        dilated = shapes.dilate_kernel(kernel, dilation)
        ref = SCIPY[op](image, dilated, mode=mode, boundary="symm")[::stride, ::stride]
        out = conv.filter2d(
            image,
            kernel,
            op=op,
            mode=mode,
            boundary="symm",
            stride=stride,
            dilation=dilation,
            engine=engine,
        )
        assert close(out, ref, engine)


def test_large_image_agrees_across_engines(rng):
    image = rng.normal(size=(512, 512))
    for size in (3, 15):
        kernel = rng.normal(size=(size, size))
        ref = signal.convolve2d(image, kernel, mode="same")
        for engine in [*ENGINES, "auto"]:
            out = conv.filter2d(image, kernel, op="convolve", mode="same", engine=engine)
            assert close(out, ref, engine), (size, engine)


# --- agreement with PyTorch -------------------------------------------------


# PyTorch warns that even kernels need an extra copy of the input; that is expected here.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "reflect", "replicate"])
def test_same_correlation_matches_nn_conv2d_padding_same(engine, boundary, rng):
    # nn.Conv2d(padding="same") splits even padding like SciPy's correlate2d: less before.
    for kernel_shape, dilation in [((3, 3), 1), ((4, 4), 1), ((2, 5), 1), ((3, 2), 2)]:
        image = rng.normal(size=(9, 11))
        kernel = rng.normal(size=kernel_shape)
        layer = torch.nn.Conv2d(
            1,
            1,
            kernel_shape,
            padding="same",
            padding_mode=specs.BOUNDARIES[boundary].torch_padding_mode,
            dilation=dilation,
            bias=False,
            dtype=torch.float64,
        )
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(kernel)[None, None])
            ref = layer(torch.from_numpy(image)[None, None])[0, 0].numpy()
        out = conv.filter2d(
            image, kernel, mode="same", boundary=boundary, dilation=dilation, engine=engine
        )
        assert close(out, ref, engine), (kernel_shape, dilation)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("op", list(specs.OPS))
@pytest.mark.parametrize("mode", ["same", "full"])
@pytest.mark.parametrize("boundary", ["reflect", "replicate"])
def test_reflect_replicate_match_torch_pad(engine, op, mode, boundary, rng):
    for kernel_shape in [(3, 3), (4, 4), (2, 5), (5, 2)]:
        image = rng.normal(size=(8, 9))
        kernel = rng.normal(size=kernel_shape)
        (top, bottom), (left, right) = shapes.padding(kernel_shape, op=op, mode=mode)
        if mode == "full":
            assert (top, bottom, left, right) == (
                kernel_shape[0] - 1,
                kernel_shape[0] - 1,
                kernel_shape[1] - 1,
                kernel_shape[1] - 1,
            )
        padded = F.pad(
            torch.from_numpy(image)[None, None], (left, right, top, bottom), mode=boundary
        )
        taps = kernel[::-1, ::-1] if op == "convolve" else kernel
        ref = torch_conv(padded[0, 0].numpy(), taps)
        out = conv.filter2d(image, kernel, op=op, mode=mode, boundary=boundary, engine=engine)
        assert close(out, ref, engine), kernel_shape


@pytest.mark.parametrize("engine", ENGINES)
def test_valid_stride_dilation_match_torch(engine, rng):
    for stride in (1, 2, 3):
        for dilation in (1, 2, 3):
            for kernel_shape in [(3, 3), (2, 4)]:
                image = rng.normal(size=(13, 16))
                kernel = rng.normal(size=kernel_shape)
                ref = torch_conv(image, kernel, stride=stride, dilation=dilation)
                out = conv.filter2d(image, kernel, stride=stride, dilation=dilation, engine=engine)
                assert close(out, ref, engine), (stride, dilation, kernel_shape)


def test_same_padding_split_for_even_kernels():
    assert shapes.padding((4, 4), op="correlate", mode="same") == ((1, 2), (1, 2))
    assert shapes.padding((4, 4), op="convolve", mode="same") == ((2, 1), (2, 1))
    assert shapes.padding((3, 3), op="convolve", mode="same") == ((1, 1), (1, 1))
    assert shapes.padding((3, 3), mode="full", dilation=2) == ((4, 4), (4, 4))
    assert "K/2" in shapes.EVEN_KERNEL_NOTE


@pytest.mark.parametrize("op", list(specs.OPS))
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 3), (4, 6), (5, 2)])
def test_identity_kernel_keeps_image_in_same_mode(op, size, rng):
    image = rng.normal(size=(7, 8))
    identity = make_kernel("identity", size=size)
    out = conv.filter2d(image, identity, op=op, mode="same", engine="scipy")
    np.testing.assert_array_equal(out, image)


# --- shapes -----------------------------------------------------------------


def test_output_shape_matches_filter2d_everywhere(rng):
    for image_shape in [(5, 7), (8, 8), (1, 4), (12, 3)]:
        image = rng.normal(size=image_shape)
        for kernel_shape in [(1, 1), (3, 3), (2, 4), (5, 2)]:
            kernel = rng.normal(size=kernel_shape)
            for mode in specs.MODES:
                for stride in (1, 2, 3):
                    for dilation in (1, 2):
                        settings = dict(mode=mode, stride=stride, dilation=dilation)
                        try:
                            expected = shapes.output_shape(image_shape, kernel_shape, **settings)
                        except ValueError:
                            with pytest.raises(ValueError):
                                conv.filter2d(image, kernel, **settings)
                            continue
                        assert conv.filter2d(image, kernel, **settings).shape == expected


def test_lecture_cameraman_sizes():
    sizes = {m: shapes.output_shape((512, 512), (9, 9), mode=m) for m in specs.MODES}
    assert sizes == {"full": (520, 520), "same": (512, 512), "valid": (504, 504)}
    rows, cols = shapes.output_shape_text((512, 512), (9, 9), mode="valid")
    assert rows.endswith("(512 - 8 - 1)/1⌋ + 1 = 504") and rows.startswith("rows")
    assert cols.startswith("columns")
    assert shapes.output_shape_text((512, 512), (9, 9), mode="full")[0].endswith("= 520")
    assert shapes.output_shape_text((512, 512), (9, 9), mode="same", stride=2)[1].endswith("= 256")


# --- lecture examples ---------------------------------------------------------


def test_lecture_5x5_correlation():
    out = conv.filter2d(operations.LECTURE_INPUT_5X5, operations.LECTURE_KERNEL_3X3)
    np.testing.assert_array_equal(out, [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    np.testing.assert_array_equal(out, operations.LECTURE_OUTPUT_3X3)
    assert isinstance(operations.LECTURE_INPUT_5X5, np.ndarray)


def test_lecture_pooling():
    np.testing.assert_array_equal(operations.pool2d(operations.LECTURE_POOL_4X4, 2),
                                  [[5, 4], [4, 6]])
    np.testing.assert_array_equal(
        operations.pool2d(operations.LECTURE_POOL_4X4, 2), operations.LECTURE_POOL_OUTPUT_2X2
    )


# --- pooling ------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(specs.POOLS))
@pytest.mark.parametrize(
    "size, stride", [(2, None), (3, None), (2, 1), (3, 2), ((2, 3), None), ((3, 2), (1, 2)), (1, 1)]
)
def test_pool2d_matches_torch(kind, size, stride, rng):
    x = rng.normal(size=(9, 11))
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    ref = pool(torch.from_numpy(x)[None, None], size, stride=stride)[0, 0].numpy()
    out = operations.pool2d(x, size, stride=stride, kind=kind)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_subsample():
    x = np.arange(30.0).reshape(5, 6)
    np.testing.assert_array_equal(operations.subsample(x, 2), x[::2, ::2])
    np.testing.assert_array_equal(operations.subsample(x, 1), x)


# --- step-through -------------------------------------------------------------


def test_step_through_sum_equals_filter2d(rng):
    for _ in range(60):
        image_shape = tuple(rng.integers(3, 10, 2))
        kernel_shape = tuple(rng.integers(1, 4, 2))
        settings = dict(
            op=str(rng.choice(list(specs.OPS))),
            mode=str(rng.choice(list(specs.MODES))),
            boundary=str(rng.choice(["fill", "wrap", "symm", "replicate"])),
            fillvalue=float(rng.normal()),
            stride=int(rng.integers(1, 3)),
            dilation=int(rng.integers(1, 3)),
        )
        image = rng.normal(size=image_shape)
        kernel = rng.normal(size=kernel_shape)
        try:
            out = conv.filter2d(image, kernel, engine="scipy", **settings)
        except ValueError:  # dilated kernel too big for 'valid'
            continue
        row, col = int(rng.integers(out.shape[0])), int(rng.integers(out.shape[1]))
        step = operations.step_through(image, kernel, row, col, **settings)
        assert step.total == pytest.approx(out[row, col], abs=1e-12)
        assert step.window.shape == step.kernel.shape == step.products.shape
        np.testing.assert_array_equal(step.products, step.window * step.kernel)
        top, left = step.top_left_padded
        assert (top, left) == (row * settings["stride"], col * settings["stride"])
        assert step.top_left_image == (top - step.pads[0][0], left - step.pads[1][0])
        np.testing.assert_array_equal(
            step.window,
            step.padded[top : top + step.window.shape[0], left : left + step.window.shape[1]],
        )


def test_step_through_lecture_example():
    step = operations.step_through(operations.LECTURE_INPUT_5X5, operations.LECTURE_KERNEL_3X3,
                                   0, 2)
    np.testing.assert_array_equal(step.window, operations.LECTURE_INPUT_5X5[0:3, 2:5])
    assert step.total == 17
    assert step.top_left_image == (0, 2)


def test_step_through_convolve_shows_flipped_dilated_kernel():
    kernel = np.arange(6.0).reshape(2, 3)
    step = operations.step_through(np.ones((9, 9)), kernel, 0, 0, op="convolve", dilation=2)
    np.testing.assert_array_equal(step.kernel, shapes.dilate_kernel(kernel[::-1, ::-1], 2))
    assert step.kernel.shape == (3, 5)


@pytest.mark.parametrize("row, col", [(-1, 0), (0, 3), (3, 0), (1.0, 0), (True, 0)])
def test_step_through_bad_positions(row, col):
    with pytest.raises(ValueError):
        operations.step_through(operations.LECTURE_INPUT_5X5, operations.LECTURE_KERNEL_3X3,
                                row, col)


# --- teaching points ----------------------------------------------------------


@pytest.mark.parametrize("kernel_shape", [(3, 3), (4, 2), (2, 5)])
def test_impulse_response(kernel_shape, rng):
    kernel = rng.normal(size=kernel_shape)
    impulse = np.zeros((9, 9))
    impulse[4, 4] = 1.0
    h, w = kernel_shape
    for op, expected in [("convolve", kernel), ("correlate", kernel[::-1, ::-1])]:
        out = conv.filter2d(impulse, kernel, op=op, mode="full")
        np.testing.assert_allclose(out[4 : 4 + h, 4 : 4 + w], expected, atol=1e-12)
        assert np.count_nonzero(np.abs(out) > 1e-12) == np.count_nonzero(kernel)
        one = conv.filter2d([[1.0]], kernel, op=op, mode="full")
        np.testing.assert_allclose(one, expected, atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "same"])
def test_sobel_signs(mode):
    # Dark (0) on the left, light (1) on the right: a vertical edge.
    step = np.zeros((8, 8))
    step[:, 4:] = 1.0
    g = operations.sobel(step, mode=mode, boundary="symm")
    assert g.gx.max() > 0 and g.gx.min() >= 0  # convolution: dark -> light gives gx > 0
    np.testing.assert_allclose(g.gy, 0, atol=1e-12)
    np.testing.assert_allclose(g.magnitude, np.abs(g.gx), atol=1e-12)
    assert np.allclose(g.direction[g.magnitude > 0], 0)
    flipped = operations.sobel(step, op="correlate", mode=mode, boundary="symm")
    np.testing.assert_allclose(flipped.gx, -g.gx, atol=1e-12)

    # Dark on top, light below: gy > 0 with convolution.
    g = operations.sobel(step.T, mode=mode, boundary="symm")
    assert g.gy.max() > 0 and g.gy.min() >= 0
    np.testing.assert_allclose(g.gx, 0, atol=1e-12)
    assert operations.sobel(step.T, op="correlate", mode=mode, boundary="symm").gy.max() <= 0


# --- engines ------------------------------------------------------------------


def test_auto_engine_choice():
    assert engines.choose_engine((5, 5), (3, 3)) == "scipy"
    assert engines.choose_engine((512, 512), (3, 3), mode="same") == "torch"
    assert engines.choose_engine((512, 512), (5, 5), mode="same") == "torch"
    assert engines.choose_engine((512, 512), (9, 9), mode="same") == "fft"
    assert set(specs.ENGINES) == {"auto", *ENGINES}


def test_compare_engines(rng):
    results = conv.compare_engines(
        rng.normal(size=(32, 40)), rng.normal(size=(5, 4)), repeats=2, mode="same", boundary="wrap"
    )
    assert [r.engine for r in results] == ENGINES
    for r in results:
        assert r.output.shape == (32, 40)
        assert r.milliseconds > 0
        assert r.max_abs_diff <= TOL[r.engine] * max(1.0, np.abs(results[0].output).max())
    with pytest.raises(ValueError):
        conv.compare_engines(np.ones((4, 4)), np.ones((2, 2)), engine="fft")


def test_boundary_registry_torch_modes():
    assert {n: b.torch_padding_mode for n, b in specs.BOUNDARIES.items()} == {
        "fill": "zeros",
        "wrap": "circular",
        "symm": None,
        "reflect": "reflect",
        "replicate": "replicate",
    }


def test_importing_does_not_load_torch_or_streamlit():
    code = (
        "import sys, explorer.convolution.conv, explorer.convolution.engines,"
        " explorer.convolution.operations, explorer.convolution.shapes,"
        " explorer.convolution.specs, explorer.convolution.kernels;"
        "assert 'torch' not in sys.modules and 'streamlit' not in sys.modules"
    )
    repo_root = Path(conv.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


# --- bad input ----------------------------------------------------------------

IMG = np.ones((5, 5))
K3 = np.ones((3, 3))
BAD_CALLS = {
    "empty image": lambda: conv.filter2d(np.ones((0, 3)), K3, mode="same"),
    "empty kernel": lambda: conv.filter2d(IMG, np.ones((0, 0)), mode="same"),
    "empty list kernel": lambda: conv.filter2d(IMG, [], mode="same"),
    "1-D image": lambda: conv.filter2d(np.ones(5), K3),
    "3-D kernel": lambda: conv.filter2d(IMG, np.ones((3, 3, 1))),
    "NaN image": lambda: conv.filter2d(np.full((5, 5), np.nan), K3),
    "inf kernel": lambda: conv.filter2d(IMG, [[1.0, np.inf]]),
    "ragged kernel": lambda: conv.filter2d(IMG, [[1, 2], [3]]),
    "text kernel": lambda: conv.filter2d(IMG, [["a", "b"]]),
    "complex kernel": lambda: conv.filter2d(IMG, [[1j]]),
    "too large for valid": lambda: conv.filter2d(IMG, np.ones((6, 3))),
    "dilated too large for valid": lambda: conv.filter2d(IMG, K3, dilation=3),
    "stride 0": lambda: conv.filter2d(IMG, K3, stride=0),
    "stride float": lambda: conv.filter2d(IMG, K3, stride=1.5),
    "dilation 0": lambda: conv.filter2d(IMG, K3, dilation=0),
    "unknown op": lambda: conv.filter2d(IMG, K3, op="conv"),
    "unknown mode": lambda: conv.filter2d(IMG, K3, mode="half"),
    "unknown boundary": lambda: conv.filter2d(IMG, K3, boundary="zeros"),
    "unknown engine": lambda: conv.filter2d(IMG, K3, engine="cuda"),
    "NaN fill value": lambda: conv.filter2d(IMG, K3, mode="same", fillvalue=np.nan),
    "reflect wider than image": lambda: conv.filter2d(
        IMG, np.ones((11, 3)), mode="same", boundary="reflect"
    ),
    "reflect on one pixel": lambda: conv.filter2d([[1.0]], K3, mode="same", boundary="reflect"),
    "output_shape too large": lambda: shapes.output_shape((5, 5), (6, 6), mode="valid"),
    "output_shape bad mode": lambda: shapes.output_shape((5, 5), (3, 3), mode="nope"),
    "output_shape zero size": lambda: shapes.output_shape((0, 5), (3, 3), mode="same"),
    "pool window too big": lambda: operations.pool2d(IMG, 6),
    "pool size 0": lambda: operations.pool2d(IMG, 0),
    "pool stride 0": lambda: operations.pool2d(IMG, 2, stride=0),
    "pool unknown kind": lambda: operations.pool2d(IMG, 2, kind="min"),
    "pool NaN": lambda: operations.pool2d(np.full((4, 4), np.nan), 2),
    "subsample stride 0": lambda: operations.subsample(IMG, 0),
    "sobel NaN": lambda: operations.sobel(np.full((5, 5), np.inf)),
    "step unknown op": lambda: operations.step_through(IMG, K3, 0, 0, op="x"),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_are_readable():
    with pytest.raises(ValueError, match="larger than the 5x5 image"):
        conv.filter2d(IMG, np.ones((6, 3)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        conv.filter2d(IMG, [[np.nan]])
    with pytest.raises(ValueError, match="choose one of 'correlate', 'convolve'"):
        conv.filter2d(IMG, K3, op="conv")


@pytest.mark.parametrize("boundary", ["wrap", "symm", "replicate"])
def test_padding_wider_than_image_is_supported(boundary, rng):
    # SciPy's wrap/symm repeat as often as needed (same as np.pad); replicate has no limit.
    image = rng.normal(size=(2, 3))
    kernel = rng.normal(size=(9, 11))
    out = conv.filter2d(image, kernel, mode="full", boundary=boundary)
    assert out.shape == (10, 13)
    if boundary != "replicate":
        np.testing.assert_allclose(
            out, signal.correlate2d(image, kernel, mode="full", boundary=boundary), atol=1e-12
        )


# --- bounded work (issue 12) ---------------------------------------------------


@pytest.mark.parametrize("image, kernel, mode, stride, dilation", [
    ((7, 9), (3, 3), "same", 1, 1), ((20, 16), (4, 5), "full", 2, 3),
    ((30, 30), (3, 3), "valid", 3, 4), ((12, 40), (1, 7), "same", 1, 8),
])
def test_engine_work_counts_what_each_engine_does(image, kernel, mode, stride, dilation, rng):
    work = engines.engine_work(image, kernel, mode=mode, stride=stride, dilation=dilation)
    padded, _ = shapes.pad_image(np.zeros(image), kernel, mode=mode, dilation=dilation)
    dilated = shapes.dilate_kernel(np.ones(kernel), dilation)
    direct = signal.correlate2d(padded, dilated, mode="valid")  # what the SciPy engine computes
    assert work["scipy"] == direct.size * dilated.size
    out = conv.filter2d(rng.random(image), rng.random(kernel), mode=mode, stride=stride,
                        dilation=dilation)
    assert work["torch"] == out.size * kernel[0] * kernel[1]
    assert work["fft"] >= padded.size
    seconds = engines.engine_seconds(image, kernel, mode=mode, stride=stride, dilation=dilation)
    assert all(0 < s < 0.1 for s in seconds.values())


def test_the_reported_case_is_estimated_far_over_budget():
    """31x31, dilation 8, mode full on the 512x512 cameraman: one SciPy pass took 41 s."""
    seconds = engines.engine_seconds((512, 512), (31, 31), mode="full", dilation=8)
    assert seconds["scipy"] > 10 * conv.ENGINE_BUDGET_S
    assert seconds["fft"] < conv.ENGINE_BUDGET_S and seconds["torch"] < conv.ENGINE_BUDGET_S


def test_compare_engines_skips_what_is_over_budget(rng, monkeypatch):
    calls = []
    real = engines.VALID_PASSES["scipy"]
    monkeypatch.setitem(engines.VALID_PASSES, "scipy", lambda *a: calls.append(1) or real(*a))
    image, kernel = rng.normal(size=(64, 64)), rng.normal(size=(9, 9))
    estimates = engines.engine_seconds(image.shape, kernel.shape, mode="full", dilation=8)
    budget = (estimates["scipy"] + max(estimates["fft"], estimates["torch"])) / 2
    assert max(estimates["fft"], estimates["torch"]) < budget < estimates["scipy"]
    results = conv.compare_engines(image, kernel, mode="full", dilation=8, budget_seconds=budget)
    assert not calls
    scipy, fft, torch_result = results
    assert "budget" in scipy.skipped and scipy.output is None and np.isnan(scipy.milliseconds)
    assert fft.reference == torch_result.reference == "fft" and fft.max_abs_diff == 0
    assert torch_result.max_abs_diff <= 1e-5 * max(1.0, np.abs(fft.output).max())
    none = conv.compare_engines(image, kernel, budget_seconds=0.0)
    assert all(r.skipped and r.output is None for r in none)


def test_compare_engines_times_big_cases_fewer_times(rng, monkeypatch):
    monkeypatch.setattr(conv, "TIMING_BUDGET_S", 0.0)  # every pass "over" the timing budget
    results = conv.compare_engines(rng.normal(size=(16, 16)), rng.normal(size=(3, 3)), repeats=5)
    assert [r.repeats for r in results] == [1, 1, 1]
    results = conv.compare_engines(rng.normal(size=(16, 16)), rng.normal(size=(3, 3)), repeats=3,
                                   budget_seconds=10.0)
    assert all(1 <= r.repeats <= 3 for r in results)


def test_filter2d_refuses_huge_padded_images():
    side = int(np.sqrt(specs.MAX_PIXELS)) + 1
    with pytest.raises(ValueError, match="megapixels"):
        conv.filter2d(np.zeros((side, side)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="megapixels"):  # full mode at a huge dilation
        conv.filter2d(np.zeros((8, 8)), np.ones((3, 3)), mode="full", dilation=2000)
    with pytest.raises(ValueError, match="megapixels"):
        operations.step_through(np.zeros((8, 8)), np.ones((3, 3)), 0, 0, mode="full", dilation=2000)


@pytest.mark.parametrize("kernel, image, fill", [
    ([[1e39]], [[1.0]], 0.0), ([[1e30, 1e30]], [[1e8, 1.0]], 0.0), ([[1e32]], [[0.0]], 1e6),
])
def test_filter2d_refuses_outputs_float32_cannot_hold(kernel, image, fill):
    for engine in ("scipy", "fft", "torch"):
        with pytest.raises(ValueError, match="float32"):
            conv.filter2d(np.array(image), np.array(kernel), mode="same", fillvalue=fill,
                          engine=engine)


def test_separable_pooling_matches_the_windows(rng):
    x = rng.normal(size=(37, 29))
    for kind, reduce in (("max", np.max), ("avg", np.mean)):
        for size, stride in (((3, 5), (2, 1)), ((8, 8), (1, 1)), ((1, 1), (3, 3))):
            windows = np.lib.stride_tricks.sliding_window_view(x, size)[::stride[0], ::stride[1]]
            np.testing.assert_allclose(operations.pool2d(x, size, stride=stride, kind=kind),
                                       reduce(windows, axis=(2, 3)), rtol=1e-12)
