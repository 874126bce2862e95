"""Runnable SciPy and PyTorch scripts that reproduce the Convolution and Colour pages' numbers."""

from __future__ import annotations

import numpy as np

from explorer.codegen.inputs import (  # noqa: F401 - ImageSource, image_code, ... re-exported
    UPLOAD_FILENAME,
    ImageSource,
    array_literal,
    colour_image_parts,
    image_code,
    image_parts,
    kernel_code,
    kernel_parts,
    named_kernel,
    num_literal,
    report_lines,
    script,
    source_image,
    str_literal,
)

# ---------------------------------------------------------------------------
# Settings checks (the same ValueErrors as explorer.convolution.conv.filter2d)
# ---------------------------------------------------------------------------


def _known_shape(
    source: ImageSource | None, image_shape: tuple[int, int] | None
) -> tuple[int, int] | None:
    if image_shape is not None:
        return int(image_shape[0]), int(image_shape[1])
    if source is None or source.kind == "upload":
        return None  # the file may not exist here; shape checks wait for the script
    return source_image(source).shape


def _check(
    shape: tuple[int, int] | None,
    kernel: np.ndarray,
    op: str,
    mode: str,
    boundary: str,
    fillvalue: float,
    stride: int,
    dilation: int,
) -> tuple[np.ndarray, tuple[tuple[int, int], tuple[int, int]]]:
    """The kernel as float64 and the padding, or filter2d's ValueError for these settings."""
    from explorer.convolution import shapes, specs

    k = specs.as_finite_2d(kernel, "kernel")
    pads = shapes.padding(k.shape, op=op, mode=mode, dilation=dilation)  # op, mode, dilation
    if shape is None:  # an image just big enough that only the settings can be wrong
        shape = tuple(shapes.dilated_size(n, dilation) for n in k.shape)
    shapes.pad_image(
        np.zeros(shape), k.shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue,
        dilation=dilation,
    )
    shapes.output_shape(shape, k.shape, mode=mode, stride=stride, dilation=dilation)
    return k, pads


def _settings_comment(op: str, mode: str, boundary: str, fillvalue: float, s: int, d: int) -> str:
    fill = f" {num_literal(fillvalue)}" if boundary == "fill" else ""
    return (
        f"# CNN Explorer, Convolution page: {op}, mode '{mode}', boundary '{boundary}'{fill}, "
        f"stride {s}, dilation {d}"
    )


# ---------------------------------------------------------------------------
# SciPy
# ---------------------------------------------------------------------------


def _scipy_filter_lines(
    k_shape: tuple[int, int],
    *,
    op: str,
    mode: str,
    boundary: str,
    fillvalue: float,
    stride: int,
    dilation: int,
    src: str = "im",
    ker: str = "k",
    out: str = "out",
) -> list[str]:
    from explorer.convolution import shapes, specs

    func = "correlate2d" if op == "correlate" else "convolve2d"
    lines = ["# convolve2d flips the kernel; correlate2d does not (torch.nn.Conv2d correlates)"]
    if dilation > 1:
        kd = f"{ker}d"
        lines += [
            f"# Dilation {dilation}: spread the taps {dilation} apart with zeros in between,",
            "# size d(K-1)+1 per axis; then use it like an ordinary kernel",
            f"d = {dilation}",
            f"{kd} = np.zeros((d * ({ker}.shape[0] - 1) + 1, d * ({ker}.shape[1] - 1) + 1))",
            f"{kd}[::d, ::d] = {ker}",
        ]
        ker = kd
    ke = tuple(shapes.dilated_size(n, dilation) for n in k_shape)
    if mode == "valid":
        lines += [
            "# 'valid': only where the whole kernel fits inside, so the boundary never matters",
            f'{out} = scipy.signal.{func}({src}, {ker}, mode="valid")',
        ]
    elif boundary in ("fill", "wrap", "symm"):
        if mode == "same" and (ke[0] % 2 == 0 or ke[1] % 2 == 0):
            lines.append(
                "# Even kernel, no centre pixel: 'same' anchors entry (K-1)//2 on each output pixel"
            )
        fill = f", fillvalue={num_literal(fillvalue)}" if boundary == "fill" else ""
        lines.append(
            f'{out} = scipy.signal.{func}({src}, {ker}, mode="{mode}", boundary="{boundary}"{fill})'
        )
    else:
        pads = shapes.padding(k_shape, op=op, mode=mode, dilation=dilation)
        numpy_mode = specs.BOUNDARIES[boundary].numpy_mode
        lines += [
            f"# SciPy has no '{boundary}' boundary (a PyTorch padding mode): pad with np.pad,",
            f"# ((top, bottom), (left, right)) as the page does for '{mode}', then keep only",
            "# the positions where the kernel fits ('valid')",
            f'{src}_padded = np.pad({src}, {pads}, mode="{numpy_mode}")',
            f'{out} = scipy.signal.{func}({src}_padded, {ker}, mode="valid")',
        ]
    if stride > 1:
        lines += [
            f"# Stride {stride}: keep rows and columns 0, {stride}, {2 * stride}, ... only",
            f"{out} = {out}[::{stride}, ::{stride}]",
        ]
    return lines


def scipy_code(
    source: ImageSource,
    kernel: np.ndarray,
    *,
    preset: str | None = None,
    params: dict | None = None,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
    image_shape: tuple[int, int] | None = None,
) -> str:
    """A runnable SciPy script whose `out` equals explorer.convolution.conv.filter2d for these settings.

    image_shape (the page's image) lets the settings be checked without loading the image;
    settings filter2d refuses raise its ValueError.
    """
    k, _ = _check(
        _known_shape(source, image_shape), kernel, op, mode, boundary, fillvalue, stride, dilation
    )
    image_imports, image_lines = image_parts(source)
    kernel_imports, kernel_lines = kernel_parts(k, preset, params)
    lines = _scipy_filter_lines(
        k.shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue, stride=stride,
        dilation=dilation,
    )
    imports = image_imports | kernel_imports | {"import numpy as np", "import scipy.signal"}
    head = [_settings_comment(op, mode, boundary, fillvalue, stride, dilation) + " (SciPy)"]
    return script(imports, head, image_lines, kernel_lines, lines + report_lines("out"))


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


def _conv2d_equivalent(
    k_shape: tuple[int, int],
    image_shape: tuple[int, int] | None,
    *,
    op: str,
    mode: str,
    boundary: str,
    fillvalue: float,
    stride: int,
    dilation: int,
) -> str | None:
    """nn.Conv2d(...) padding the same way by itself (padding=, padding_mode=), or None."""
    from explorer.convolution import shapes

    pads = shapes.padding(k_shape, op=op, mode=mode, dilation=dilation)
    extra = (f", stride={stride}" if stride > 1 else "") + (
        f", dilation={dilation}" if dilation > 1 else ""
    )
    start = f"nn.Conv2d(1, 1, kernel_size={tuple(k_shape)}{extra}"
    if mode == "valid":
        return start + ", padding=0, bias=False)"
    padding_mode = {"wrap": "circular", "reflect": "reflect", "replicate": "replicate"}.get(
        boundary, "zeros" if boundary == "fill" and fillvalue == 0 else None
    )
    if padding_mode is None:
        return None
    if padding_mode == "circular" and image_shape is not None and any(
        max(p) > n for p, n in zip(pads, image_shape, strict=True)
    ):
        return None  # circular padding may wrap around at most once
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        padding = '"same"' if mode == "same" and stride == 1 else f"{(top, left)}"
    elif stride == 1 and op == "correlate":
        padding = '"same"'  # PyTorch puts the odd extra pixel bottom/right, as correlation does
    else:
        return None
    return start + f", padding={padding}, padding_mode={str_literal(padding_mode)}, bias=False)"


def torch_code(
    source: ImageSource,
    kernel: np.ndarray,
    *,
    preset: str | None = None,
    params: dict | None = None,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
    image_shape: tuple[int, int] | None = None,
) -> str:
    """A runnable PyTorch script (nn.Conv2d in float32) whose `out` equals filter2d's output."""
    from explorer.convolution import specs

    shape = _known_shape(source, image_shape)
    k, pads = _check(shape, kernel, op, mode, boundary, fillvalue, stride, dilation)
    image_imports, image_lines = image_parts(source)
    kernel_imports, kernel_lines = kernel_parts(k, preset, params)
    imports = image_imports | kernel_imports
    imports |= {"import numpy as np", "import torch", "from torch import nn"}
    weight = "torch.tensor(k, dtype=torch.float32)"
    layer = [
        "# One input channel, one output channel; its weight is the page's kernel",
        f"conv = nn.Conv2d(1, 1, kernel_size=k.shape, stride={stride}, dilation={dilation}, "
        "bias=False)",
        "state_dict = conv.state_dict()",
    ]
    if op == "convolve":
        layer += [
            "# nn.Conv2d correlates (no flip): to convolve, flip the kernel in both axes first",
            f'state_dict["weight"] = {weight}.flip(0, 1)[None, None]  # (out, in, kh, kw)',
        ]
    else:
        layer.append(
            f'state_dict["weight"] = {weight}[None, None]  # (out, in, kh, kw); Conv2d correlates'
        )
    layer.append("conv.load_state_dict(state_dict)")

    (top, bottom), (left, right) = pads
    x = "torch.tensor({}, dtype=torch.float32)[None, None]  # (batch, channel, height, width)"
    equivalent = _conv2d_equivalent(
        k.shape, shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue, stride=stride,
        dilation=dilation,
    )
    numpy_mode = specs.BOUNDARIES[boundary].numpy_mode
    torch_mode = {"fill": "constant", "wrap": "circular", "reflect": "reflect",
                  "replicate": "replicate"}.get(boundary)
    too_big = shape is not None and any(max(p) > n for p, n in zip(pads, shape, strict=True))
    if boundary == "wrap" and (too_big or shape is None):
        torch_mode = None  # F.pad "circular" may wrap around at most once
    if not any((top, bottom, left, right)):
        why = "'valid'" if mode == "valid" else "This kernel"
        padding = [f"# {why} needs no padding", "x = " + x.format("im")]
    elif torch_mode is None:
        reason = (
            "PyTorch has no 'symmetric' padding"
            if boundary == "symm"
            else "F.pad 'circular' wraps around at most once, SciPy's 'wrap' any number of times"
        )
        padding = [
            f"# {reason}, so pad in NumPy first: ((top, bottom), (left, right))",
            f'im_padded = np.pad(im, {pads}, mode="{numpy_mode}")',
            "x = " + x.format("im_padded"),
        ]
    else:
        imports.add("import torch.nn.functional as F")
        value = f", value={num_literal(fillvalue)}" if torch_mode == "constant" else ""
        padding = [
            "x = " + x.format("im"),
            f"# Pad explicitly as the page does for '{mode}': (left, right, top, bottom)",
            f'x = F.pad(x, {(left, right, top, bottom)}, mode="{torch_mode}"{value})',
        ]
    if mode != "valid":
        if equivalent is None:
            padding.append("# (no nn.Conv2d(padding=..., padding_mode=...) does this padding)")
        else:
            padding += [
                "# The same without F.pad, unpadded x, the layer padding by itself:",
                f"#   {equivalent}",
            ]
    run = [
        "# float32 as in a CNN (PyTorch's float64 convolution takes a slow path on the CPU)",
        "with torch.no_grad():",
        "    y = conv(x)",
        "out = y[0, 0].numpy().astype(np.float64)",
        *report_lines("out"),
    ]
    head = [_settings_comment(op, mode, boundary, fillvalue, stride, dilation) + " (PyTorch)"]
    return script(imports, head, image_lines, kernel_lines, layer, padding, run)


# ---------------------------------------------------------------------------
# Pooling and Sobel
# ---------------------------------------------------------------------------


def pool_code(
    source: ImageSource | np.ndarray,
    size: int,
    stride: int | None = None,
    kind: str = "max",
) -> str:
    """A runnable script: F.max_pool2d / F.avg_pool2d on the image or array, checked with NumPy.

    `source` is an ImageSource, or an array (e.g. the lecture's 4x4) written out as `im`.
    """
    from explorer.convolution import operations, specs

    s = size if stride is None else stride
    if isinstance(source, ImageSource):
        imports, image_lines = image_parts(source)
        shape = _known_shape(source, None)
    else:
        array = specs.as_finite_2d(source, "input")
        imports, image_lines = {"import numpy as np"}, array_literal("im", array)
        shape = array.shape
    # the page's ValueErrors for bad sizes (pool2d's checks)
    operations.pool2d(np.zeros(shape or (size, size)), size, stride=s, kind=kind)
    function = specs.POOLS[kind].torch_function
    numpy_reduce = "max" if kind == "max" else "mean"
    lines = [
        f"# {specs.POOLS[kind].label}: {size}x{size} windows, stride {s}, no padding (floor mode)",
        "x = torch.tensor(im, dtype=torch.float32)[None, None]  # (batch, channel, height, width)",
        f"out = F.{function}(x, kernel_size={size}, stride={s})[0, 0].numpy().astype(np.float64)",
        "# The same in NumPy: every window, stepping by the stride",
        f"windows = np.lib.stride_tricks.sliding_window_view(im, ({size}, {size}))[::{s}, ::{s}]",
        f"assert np.allclose(out, windows.{numpy_reduce}(axis=(2, 3)), rtol=1e-6, atol=1e-6)",
        *report_lines("out"),
    ]
    imports |= {"import numpy as np", "import torch", "import torch.nn.functional as F"}
    return script(imports, image_lines, lines)


def sobel_code(
    source: ImageSource, op: str = "convolve", mode: str = "valid", boundary: str = "fill"
) -> str:
    """A runnable SciPy script: the lecture's Sobel Gx, Gy, gradient magnitude and direction."""
    from explorer.convolution import operations

    shape = _known_shape(source, None)
    _check(shape, operations.SOBEL_X, op, mode, boundary, 0.0, 1, 1)
    imports, image_lines = image_parts(source)
    sobel = [
        "# The lecture's Sobel operators (meant to be convolved: flipped before sliding)",
        "Gx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)",
        "Gy = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float)",
    ]
    settings = dict(op=op, mode=mode, boundary=boundary, fillvalue=0.0, stride=1, dilation=1)
    gx = _scipy_filter_lines((3, 3), **settings, ker="Gx", out="gx")
    gy = _scipy_filter_lines((3, 3), **settings, ker="Gy", out="gy")
    gy = [line for line in gy if line not in gx]  # comments and padding only once
    result = [
        "magnitude = np.hypot(gx, gy)  # sqrt(gx² + gy²): how strong the edge is",
        "direction = np.arctan2(gy, gx)  # radians in (-pi, pi]: the direction of steepest change",
        "out = magnitude",
        *report_lines("gx"),
        *report_lines("gy"),
        *report_lines("out"),
    ]
    imports |= {"import numpy as np", "import scipy.signal"}
    return script(imports, image_lines, sobel, gx + gy, result)


# ---------------------------------------------------------------------------
# Colour filter bank (page 2), the lecture's "Color filtering in PyTorch"
# ---------------------------------------------------------------------------


def colour_code(
    source: ImageSource,
    colour_weights: np.ndarray,
    kernels: list[tuple[str | None, dict | None, np.ndarray]],
    bias: np.ndarray,
    *,
    mode: str = "same",
    relu: bool = False,
) -> str:
    """A runnable script: its `y` (C_out, H', W') equals explorer.colour.feature_maps.apply_filters.

    kernels: per filter (registry preset or None, its parameters, the kernel array). When all
    filters share one kernel, W is built exactly as in the lecture:
    W = G[None, None, :, :] * color_wt[:, :, None, None].
    """
    colour_weights = np.asarray(colour_weights, dtype=np.float64)
    c_out = colour_weights.shape[0]
    image_imports, image_lines = colour_image_parts(source)
    shared = all(np.array_equal(k[2], kernels[0][2]) for k in kernels)
    weight_lines = ["# colour weights (C_out, 3): one row per filter, columns R, G, B",
                    *array_literal("color_wt", colour_weights)]
    imports = {"import numpy as np", "import torch", "from torch import nn"} | image_imports
    if shared:
        more, lines = named_kernel("G", *kernels[0])
        imports |= more
        weight_lines += ["# spatial kernel (K_h, K_w)", *lines,
                         "W = G[None, None, :, :] * color_wt[:, :, None, None]  # (C_out, 3, K, K)"]
    else:
        names = []
        for index, kernel in enumerate(kernels):
            more, lines = named_kernel(f"k{index}", *kernel)
            imports |= more
            weight_lines += lines
            names.append(f"k{index}")
        weight_lines += [
            "# each filter its own kernel, zero-padded (centred) to the largest; 'same' mode",
            "# puts tap (K-1)//2 over the output pixel, so each keeps its anchor",
            f"kernels = [{', '.join(names)}]",
            "m_h, m_w = max(k.shape[0] for k in kernels), max(k.shape[1] for k in kernels)",
            "padded = np.zeros((len(kernels), m_h, m_w))",
            "for m, k in enumerate(kernels):",
            "    top = (m_h - 1) // 2 - (k.shape[0] - 1) // 2",
            "    left = (m_w - 1) // 2 - (k.shape[1] - 1) // 2",
            "    padded[m, top:top + k.shape[0], left:left + k.shape[1]] = k",
            "W = padded[:, None, :, :] * color_wt[:, :, None, None]  # (C_out, 3, M_h, M_w)"]
    padding = ', padding="same"' if mode == "same" else ""
    model_lines = [
        f"b = np.array([{', '.join(num_literal(v) for v in np.asarray(bias, dtype=np.float64))}])",
        "",
        "# (H, W, 3) in numpy -> (1, 3, H, W) for PyTorch",
        "x_torch = torch.tensor(im.transpose(2, 0, 1)[None], dtype=torch.float32)",
        f"model = nn.Conv2d(3, {c_out}, kernel_size=W.shape[2:]{padding})",
        "state_dict = model.state_dict()",
        "state_dict[\"weight\"] = torch.tensor(W, dtype=torch.float32)",
        "state_dict[\"bias\"] = torch.tensor(b, dtype=torch.float32)",
        "model.load_state_dict(state_dict)",
        "with torch.no_grad():",
        "    y_torch = model(x_torch)" + (".relu()" if relu else ""),
        "y = y_torch[0].numpy()  # (C_out, H', W'): one feature map per filter",
        "print(\"shape\", y.shape)",
        "for m, feature_map in enumerate(y):  # the page draws each on its own scale",
        "    print(f\"filter {m}: min {feature_map.min():.6g}  max {feature_map.max():.6g}\")",
    ]
    return script(imports, image_lines, weight_lines, model_lines)
