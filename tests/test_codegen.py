"""The "Show the code" scripts run and give the Convolution page's numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from explorer.codegen import scripts as codegen
from explorer.codegen.scripts import ImageSource
from explorer.convolution import conv, kernels, operations, shapes, specs
from explorer.images import pictures as images

OPS = list(specs.OPS)
MODES = list(specs.MODES)
BOUNDARIES = list(specs.BOUNDARIES)
RNG = np.random.default_rng(7)
KERNELS = {
    "odd 3x3": RNG.uniform(-1, 1, (3, 3)),
    "even 4x4": RNG.uniform(-1, 1, (4, 4)),
    "non-square 2x5": RNG.uniform(-1, 1, (2, 5)),
}
STRIDE_DILATION = [(1, 1), (2, 1), (1, 2), (3, 2)]
DISK = ImageSource("pattern", "disk", 16)
LECTURE = ImageSource("pattern", "lecture 5x5")

# Tolerances achieved: image_code reproduces the app's image exactly (bit for bit); SciPy
# scripts match filter2d(engine="scipy") to 1e-9; PyTorch scripts (float32) to 1e-4 * scale.
SCIPY_TOL = 1e-9
TORCH_TOL = 1e-4


def printed_numbers(out: np.ndarray) -> str:
    """What a script prints for its output `out` (see codegen_inputs.report_lines)."""
    text = f"shape {out.shape}\nmin {out.min():.6g}  max {out.max():.6g}\n"
    if out.size <= 256:
        text += np.array2string(out, precision=4, suppress_small=True, max_line_width=120) + "\n"
    return text


def run_script(code: str, capsys: pytest.CaptureFixture[str]) -> dict:
    """exec a generated script in a fresh namespace; check what it prints."""
    assert "explorer" not in code.split("\n\n")[0]  # the imports: the libraries alone
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<generated>", "exec"), namespace)
    printed = capsys.readouterr().out
    if "out" in namespace:
        assert printed.endswith(printed_numbers(namespace["out"]))
    return namespace


def reference(image: np.ndarray, kernel: np.ndarray, **settings) -> np.ndarray:
    # engine="scipy": the exact float64 answer (the page's 'auto' engine is this for small jobs)
    return conv.filter2d(image, kernel, engine="scipy", **settings)


def check_both(source, image, kernel, capsys, preset=None, params=None, **settings) -> None:
    ref = reference(image, kernel, **settings)
    scale = max(1.0, float(np.abs(ref).max()))
    for make, tol in ((codegen.scipy_code, SCIPY_TOL), (codegen.torch_code, TORCH_TOL)):
        code = make(source, kernel, preset=preset, params=params, **settings)
        out = run_script(code, capsys)["out"]
        assert out.dtype == np.float64 and out.ndim == 2
        assert out.shape == ref.shape, (make.__name__, settings)
        np.testing.assert_allclose(out, ref, rtol=0, atol=tol * scale, err_msg=make.__name__)


# ---------------------------------------------------------------- the grid


@pytest.mark.parametrize("stride,dilation", STRIDE_DILATION)
@pytest.mark.parametrize("kernel_name", list(KERNELS))
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
def test_grid_on_a_pattern(op, mode, boundary, kernel_name, stride, dilation, capsys):
    fill = 0.5 if kernel_name == "odd 3x3" else 0.0
    settings = dict(
        op=op, mode=mode, boundary=boundary, fillvalue=fill, stride=stride, dilation=dilation
    )
    check_both(DISK, images.pattern("disk", 16).astype(np.float64), KERNELS[kernel_name],
               capsys, **settings)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
def test_grid_on_the_lecture_5x5(op, mode, boundary, capsys):
    image = images.pattern("lecture 5x5").astype(np.float64)
    kernel = operations.LECTURE_KERNEL_3X3
    settings = dict(op=op, mode=mode, boundary=boundary, fillvalue=-1.0)
    check_both(LECTURE, image, kernel, capsys, **settings)
    # a kernel wider than the image: padding beyond the image size ('wrap' repeats it)
    wide = KERNELS["non-square 2x5"]
    for s, d in [(1, 2), (2, 1)]:
        settings = dict(op=op, mode=mode, boundary=boundary, stride=s, dilation=d)
        try:
            conv.filter2d(image, wide, **settings)
        except ValueError as error:  # the engine refuses: so must the generators
            for make in (codegen.scipy_code, codegen.torch_code):
                with pytest.raises(ValueError, match=re.escape(str(error))):
                    make(LECTURE, wide, **settings)
            continue
        check_both(LECTURE, image, wide, capsys, **settings)


def test_the_lecture_example(capsys):
    code = codegen.scipy_code(
        LECTURE, operations.LECTURE_KERNEL_3X3, op="correlate", mode="valid", boundary="fill"
    )
    namespace = {"__name__": "__main__"}
    exec(code, namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("shape (3, 3)\nmin 6  max 19\n")
    assert "[[12. 12. 17.]\n [10. 17. 19.]\n [ 9.  6. 14.]]" in printed  # the lecture's numbers
    np.testing.assert_array_equal(namespace["out"], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    torch_ns = run_script(codegen.torch_code(LECTURE, operations.LECTURE_KERNEL_3X3), capsys)
    np.testing.assert_array_equal(torch_ns["out"], operations.LECTURE_OUTPUT_3X3)


@pytest.mark.parametrize(
    "settings",
    [
        dict(op="correlate", mode="same", boundary="fill"),
        dict(op="convolve", mode="valid", boundary="fill", stride=2),
        dict(op="convolve", mode="same", boundary="reflect", dilation=2),
        dict(op="correlate", mode="full", boundary="symm", stride=3),
    ],
    ids=lambda s: "-".join(map(str, s.values())),
)
@pytest.mark.parametrize("name", ["cameraman", "astronaut"])
def test_builtin_photos(name, settings, capsys):
    image = images.builtin_image(name, mode="L").astype(np.float64)
    check_both(ImageSource("builtin", name), image, KERNELS["even 4x4"], capsys, **settings)


# ---------------------------------------------------------------- image_code


@pytest.mark.parametrize("name", list(images.BUILTIN_IMAGES))
def test_builtin_image_code_is_exact(name, capsys):
    im = run_script(codegen.image_code(ImageSource("builtin", name)), capsys)["im"]
    app = images.builtin_image(name, mode="L").astype(np.float64)
    assert im.dtype == np.float64
    np.testing.assert_array_equal(im, app)  # bit for bit, ITU-R 601 weights in float32


def test_colour_code_uses_the_apps_weights_not_rgb2gray():
    code = codegen.image_code(ImageSource("builtin", "astronaut"))
    assert "0.299, 0.587, 0.114" in code
    assert "rgb2gray(" not in code


@pytest.mark.parametrize("size", [5, 16, 64])
@pytest.mark.parametrize("name", list(images.PATTERNS))
def test_pattern_image_code_is_exact(name, size, capsys):
    code = codegen.image_code(ImageSource("pattern", name, size))
    assert "explorer" not in code  # the pattern's own builder, copied in
    im = run_script(code, capsys)["im"]
    np.testing.assert_array_equal(im, images.pattern(name, size).astype(np.float64))
    assert (f"({size})" in code) != images.PATTERNS[name].fixed_size


def _write(path: Path, mode: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    bands = {"L": 1, "RGB": 3, "RGBA": 4}.get(mode, 3)
    pixels = rng.integers(0, 256, (*shape, bands), dtype=np.uint8)
    if mode == "P":
        Image.fromarray(pixels).convert("P").save(path)
    else:
        Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode).save(path)


@pytest.mark.parametrize(
    "mode,shape", [("RGB", (20, 30)), ("L", (17, 12)), ("RGBA", (9, 14)), ("P", (10, 10)),
                   ("RGB", (60, 1100))]  # the last is shrunk to 1024 wide, as in the app
)
def test_upload_image_code_matches_the_picker(tmp_path, mode, shape, capsys):
    path = tmp_path / "my 'picture'.png"
    _write(path, mode, shape)
    source = ImageSource("upload", str(path))
    im = run_script(codegen.image_code(source), capsys)["im"]
    app = codegen.source_image(source)  # explorer.ui.image_picker's way: RGB, then grey
    np.testing.assert_array_equal(im, app)
    assert im.shape == app.shape == (shape if max(shape) <= 1024 else (56, 1024))


def test_upload_filter_scripts(tmp_path, capsys):
    path = tmp_path / "your_image.png"
    _write(path, "RGB", (24, 20))
    source = ImageSource("upload", str(path))
    image = codegen.source_image(source)
    for settings in (
        dict(op="convolve", mode="same", boundary="wrap", stride=2),
        dict(op="correlate", mode="full", boundary="reflect", dilation=2),
        dict(op="correlate", mode="same", boundary="symm", fillvalue=0.25),
    ):
        check_both(source, image, KERNELS["odd 3x3"], capsys, **settings)
    default = codegen.image_code(ImageSource("upload", codegen.UPLOAD_FILENAME))
    assert 'Image.open("your_image.png")' in default


def test_image_source_checks():
    with pytest.raises(ValueError, match="Unknown image source"):
        ImageSource("camera", "x")
    with pytest.raises(ValueError, match="Unknown built-in image"):
        ImageSource("builtin", "lena")
    with pytest.raises(ValueError, match="Unknown pattern"):
        ImageSource("pattern", "spiral")


# ---------------------------------------------------------------- kernel_code


def test_kernels_without_a_short_form_are_exact_literals(capsys):
    for kernel in (*KERNELS.values(), RNG.normal(size=(9, 9)) * 1e-7, np.array([[-0.0, 1e300]])):
        code = codegen.kernel_code(kernel)
        assert "np.array(" in code and "explorer" not in code
        k = run_script(code, capsys)["k"]
        np.testing.assert_array_equal(k, kernel)
        assert np.array_equal(np.signbit(k), np.signbit(kernel))
    log = kernels.make_kernel("log", size=5)
    assert codegen.kernel_code(log, "log", {"size": 5}).count("\n    [") == 5  # a row a line


@pytest.mark.parametrize(
    "preset,params,short",
    [("box", {"size": 9}, "np.ones((9, 9)) / 81"),
     ("box", {"size": (3, 15)}, "np.ones((3, 15)) / 45"),
     ("box", {"size": (4, 12)}, "np.ones((4, 12)) / 48"),
     ("gaussian", {"size": 9, "sigma": 2.0}, "(2 * 2.0**2)"),
     ("gaussian", {"size": (15, 15), "sigma": np.float64(2.0)}, "(2 * 2.0**2)"),
     ("gaussian", {"size": (15, 13), "sigma": 2.5}, "(2 * 2.5**2)"),
     ("identity", {"size": 7}, "k[3, 3] = 1.0")],
)
def test_boxes_gaussians_and_identities_are_short_and_exact(preset, params, short, capsys):
    kernel = kernels.make_kernel(preset, **params)
    code = codegen.kernel_code(kernel, preset, params)
    assert short in code and "np.array([" not in code and "explorer" not in code
    assert "np.float64" not in code
    np.testing.assert_array_equal(run_script(code, capsys)["k"], kernel)


@pytest.mark.parametrize(
    "preset,params",
    [("gabor", {"size": 21, "sigma": 4.0, "theta": 30.0}),
     ("motion_blur", {"length": 11, "angle": 45.0})],
)
def test_other_big_presets_are_written_out_exactly(preset, params, capsys):
    kernel = kernels.make_kernel(preset, **params)
    code = codegen.kernel_code(kernel, preset, params)
    assert "explorer" not in code
    np.testing.assert_array_equal(run_script(code, capsys)["k"], kernel)


def test_edited_or_custom_kernels_are_written_out(capsys):
    edited = kernels.make_kernel("gaussian", size=11, sigma=2.0)
    edited[0, 0] = 0.5
    custom = RNG.uniform(size=(12, 10))
    for kernel, preset in ((edited, "gaussian"), (custom, None), (custom, "no such preset")):
        code = codegen.kernel_code(kernel, preset, {"size": 11, "sigma": 2.0})
        assert "np.array([" in code
        np.testing.assert_array_equal(run_script(code, capsys)["k"], kernel)


def test_preset_kernel_in_a_full_script(capsys):
    params = {"size": (15, 13), "sigma": 2.5}
    kernel = kernels.make_kernel("gaussian", **params)
    image = images.pattern("checkerboard", 32).astype(np.float64)
    check_both(ImageSource("pattern", "checkerboard", 32), image, kernel, capsys,
               preset="gaussian", params=params, mode="same", boundary="symm")


# ---------------------------------------------------------------- what the scripts say


def test_torch_code_uses_conv2d_and_load_state_dict():
    code = codegen.torch_code(DISK, KERNELS["odd 3x3"], op="convolve", mode="same")
    for needle in ("nn.Conv2d(1, 1, kernel_size=k.shape", "conv.load_state_dict(state_dict)",
                   'state_dict["weight"]', ".flip(0, 1)", "torch.no_grad()", "torch.float32",
                   'padding_mode="zeros"', "F.pad("):
        assert needle in code
    assert ".flip(" not in codegen.torch_code(DISK, KERNELS["odd 3x3"], op="correlate")
    symm = codegen.torch_code(DISK, KERNELS["odd 3x3"], mode="same", boundary="symm")
    assert 'np.pad(im, ((1, 1), (1, 1)), mode="symmetric")' in symm
    wrap = codegen.torch_code(DISK, KERNELS["odd 3x3"], mode="full", boundary="wrap")
    assert 'mode="circular"' in wrap


def test_scipy_code_uses_the_lecture_calls():
    code = codegen.scipy_code(DISK, KERNELS["odd 3x3"], op="convolve", mode="same")
    assert 'scipy.signal.convolve2d(im, k, mode="same", boundary="fill", fillvalue=0.0)' in code
    assert "correlate2d does not" in code
    strided = codegen.scipy_code(DISK, KERNELS["odd 3x3"], stride=2, dilation=3)
    assert "out = out[::2, ::2]" in strided and "kd[::d, ::d] = k" in strided
    edge = codegen.scipy_code(DISK, KERNELS["odd 3x3"], mode="full", boundary="replicate")
    assert 'np.pad(im, ((2, 2), (2, 2)), mode="edge")' in edge


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ["same", "full"])
@pytest.mark.parametrize("op", OPS)
def test_the_conv2d_padding_comment_is_true(op, mode, boundary):
    """Where the scripts name an nn.Conv2d(padding=..., padding_mode=...), it does the same."""
    image = images.pattern("disk", 16).astype(np.float64)
    for kernel in KERNELS.values():
        for stride, dilation in STRIDE_DILATION:
            settings = dict(op=op, mode=mode, boundary=boundary, stride=stride, dilation=dilation)
            layer = codegen._conv2d_equivalent(
                kernel.shape, image.shape, fillvalue=0.0, **settings
            )
            even = any(shapes.dilated_size(n, dilation) % 2 == 0 for n in kernel.shape)
            if boundary == "symm" or (op == "convolve" and mode == "same" and even):
                assert layer is None
            if layer is None:
                continue
            assert layer in codegen.torch_code(DISK, kernel, **settings)
            conv2d = eval(layer, {"nn": nn})
            weight = torch.tensor(kernel, dtype=torch.float32)
            weight = weight.flip(0, 1) if op == "convolve" else weight
            conv2d.load_state_dict({"weight": weight[None, None]})
            with torch.no_grad():
                out = conv2d(torch.tensor(image, dtype=torch.float32)[None, None])[0, 0]
            ref = reference(image, kernel, **settings)
            np.testing.assert_allclose(out.numpy(), ref, atol=1e-5, err_msg=layer)
    assert codegen._conv2d_equivalent(
        (3, 3), (16, 16), op=op, mode=mode, boundary="fill", fillvalue=0.5, stride=1, dilation=1
    ) is None


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "kernel,settings",
    [
        (np.ones((7, 7)), dict(mode="full", boundary="reflect")),  # padding 6 >= 5 rows
        (np.ones((3, 3)), dict(mode="same", boundary="reflect", dilation=5)),
        (np.ones((6, 2)), dict(mode="valid")),  # kernel taller than the image
        (np.ones((3, 3)), dict(boundary="mirror")),
        (np.ones((3, 3)), dict(op="flip")),
        (np.ones((3, 3)), dict(mode="half")),
        (np.ones((3, 3)), dict(stride=0)),
        (np.ones((3, 3)), dict(dilation=1.5)),
        (np.ones((3, 3)), dict(mode="same", fillvalue=float("nan"))),
        (np.array([[1.0, np.inf]]), {}),
        (np.ones(3), {}),
    ],
)
def test_refused_settings_raise_filter2ds_error(kernel, settings):
    image = images.pattern("lecture 5x5").astype(np.float64)
    with pytest.raises(ValueError) as refused:
        conv.filter2d(image, kernel, **settings)
    for make in (codegen.scipy_code, codegen.torch_code):
        with pytest.raises(ValueError, match=re.escape(str(refused.value))):
            make(LECTURE, kernel, **settings)
        with pytest.raises(ValueError, match=re.escape(str(refused.value))):
            make(ImageSource("upload", "missing.png"), kernel, image_shape=(5, 5), **settings)


def test_upload_without_a_shape_is_checked_when_it_runs():
    # the file isn't here, so only the settings can be checked; the script itself still runs
    code = codegen.torch_code(ImageSource("upload", "x.png"), np.ones((3, 3)), mode="same",
                              boundary="wrap")
    assert 'mode="wrap"' in code  # np.pad: F.pad "circular" could need to wrap twice
    with pytest.raises(ValueError, match="stride must be at least 1"):
        codegen.scipy_code(ImageSource("upload", "x.png"), np.ones((3, 3)), stride=0)


# ---------------------------------------------------------------- pooling and Sobel


def test_pool_code_on_the_lecture_4x4(capsys):
    code = codegen.pool_code(operations.LECTURE_POOL_4X4, 2, 2, "max")
    assert "F.max_pool2d(x, kernel_size=2, stride=2)" in code
    out = run_script(code, capsys)["out"]
    np.testing.assert_array_equal(out, operations.LECTURE_POOL_OUTPUT_2X2)


@pytest.mark.parametrize("kind", list(specs.POOLS))
@pytest.mark.parametrize("size,stride", [(2, None), (3, 2), (2, 3)])
def test_pool_code_on_a_pattern(kind, size, stride, capsys):
    source = ImageSource("pattern", "noise", 17)
    out = run_script(codegen.pool_code(source, size, stride, kind), capsys)["out"]
    ref = operations.pool2d(codegen.source_image(source), size, stride=stride, kind=kind)
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_pool_code_refuses_what_pool2d_refuses():
    with pytest.raises(ValueError, match="pooling window is larger"):
        codegen.pool_code(operations.LECTURE_POOL_4X4, 5)
    with pytest.raises(ValueError, match="Unknown pooling kind"):
        codegen.pool_code(operations.LECTURE_POOL_4X4, 2, kind="min")


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
def test_sobel_code(op, mode, boundary, capsys):
    source = ImageSource("pattern", "disk", 12)
    namespace = run_script(codegen.sobel_code(source, op, mode, boundary), capsys)
    ref = operations.sobel(codegen.source_image(source), op=op, mode=mode, boundary=boundary)
    for name in ("gx", "gy", "magnitude", "direction"):
        np.testing.assert_allclose(namespace[name], getattr(ref, name), atol=1e-12)


def test_sobel_code_on_cameraman(capsys):
    source = ImageSource("builtin", "cameraman")
    code = codegen.sobel_code(source)
    assert "scipy.signal.convolve2d(im, Gx" in code and "np.hypot(gx, gy)" in code
    namespace = run_script(code, capsys)
    image = codegen.source_image(source)
    exact = conv.filter2d(image, operations.SOBEL_X, op="convolve", engine="scipy")
    np.testing.assert_allclose(namespace["gx"], exact, atol=1e-12)
    # operations.sobel's 'auto' engine picks float32 PyTorch for a photo this big
    np.testing.assert_allclose(namespace["magnitude"], operations.sobel(image).magnitude, atol=1e-5)


# ---------------------------------------------------------------- style


def test_generated_scripts_are_ruff_clean(tmp_path):
    ruff = shutil.which("ruff") or str(Path(__file__).parents[1] / ".venv/bin/ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    (tmp_path / "ruff.toml").write_text(
        'line-length = 100\n[lint]\nselect = ["E", "F", "W", "I", "B", "UP", "SIM", "NPY"]\n'
        'ignore = ["E501"]\nisort.known-first-party = ["explorer"]\n'
    )
    kernel = KERNELS["even 4x4"]
    scripts = [
        codegen.scipy_code(DISK, kernel, op="convolve", mode="same", boundary="reflect", stride=2),
        codegen.torch_code(DISK, kernel, op="convolve", mode="full", boundary="symm", dilation=2),
        codegen.torch_code(ImageSource("upload", "a.png"), kernel, mode="same", boundary="fill"),
        codegen.scipy_code(ImageSource("builtin", "astronaut"), kernel),
        codegen.pool_code(operations.LECTURE_POOL_4X4, 2),
        codegen.sobel_code(ImageSource("builtin", "cameraman"), mode="same", boundary="replicate"),
        codegen.kernel_code(kernels.make_kernel("gaussian", size=15), "gaussian", {"size": 15}),
    ]
    for i, script in enumerate(scripts):
        (tmp_path / f"script_{i}.py").write_text(script)
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(tmp_path / "ruff.toml"), str(tmp_path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- a fresh interpreter

# Run a script as a student would, in a new Python with `explorer` made unimportable.
FRESH = ("import runpy, sys; sys.modules['explorer'] = None; "
         "runpy.run_path(sys.argv[1], run_name='__main__')")


def run_fresh(code: str, tmp_path: Path) -> str:
    import sys

    script = tmp_path / "script.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, "-c", FRESH, str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scripts_run_alone_and_print_the_pages_numbers(tmp_path: Path) -> None:
    lecture_out = conv.filter2d(operations.LECTURE_INPUT_5X5, operations.LECTURE_KERNEL_3X3,
                                mode="valid")
    for make in (codegen.scipy_code, codegen.torch_code):
        printed = run_fresh(make(LECTURE, operations.LECTURE_KERNEL_3X3, mode="valid"), tmp_path)
        assert printed == printed_numbers(lecture_out), make.__name__
    camera = images.builtin_image("cameraman", mode="L").astype(np.float64)
    box = kernels.make_kernel("box", size=9)
    code = codegen.scipy_code(ImageSource("builtin", "cameraman"), box, preset="box",
                              params={"size": 9}, op="convolve", mode="full")
    assert "np.ones((9, 9)) / 81" in code
    assert printed_numbers(conv.filter2d(camera, box, op="convolve", mode="full",
                                         engine="scipy")) == run_fresh(code, tmp_path)
    pooled = operations.pool2d(operations.LECTURE_POOL_4X4, 2)
    assert run_fresh(codegen.pool_code(operations.LECTURE_POOL_4X4, 2), tmp_path) == \
        printed_numbers(pooled)
    wheel = ImageSource("pattern", "colour wheel", 32)
    printed = run_fresh(codegen.scipy_code(wheel, box, preset="box", params={"size": 9}),
                        tmp_path)
    image = images.pattern("colour wheel", 32).astype(np.float64)
    assert printed == printed_numbers(conv.filter2d(image, box, engine="scipy"))
