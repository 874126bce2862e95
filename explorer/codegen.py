"""Runnable SciPy and PyTorch scripts that reproduce the Convolution page's numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UPLOAD_FILENAME = "your_image.png"
LITERAL_MAX_SIDE = 9  # kernels up to 9x9 are written out number by number
SOURCE_KINDS = ("builtin", "pattern", "upload")
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601, as explorer.images.to_grey and Pillow's "L"
UPLOAD_MAX_SIDE = 1024  # explorer.images.DEFAULT_MAX_SIDE: the picker shrinks bigger uploads

# Import lines in the order a generated script lists them (ruff/isort order: "import x", then
# "from x import y"). Scripts never import explorer: they run with the libraries alone.
_IMPORT_ORDER = (
    "import numpy as np",
    "import scipy.signal",
    "import skimage.data",
    "import torch",
    "import torch.nn.functional as F",
    "from PIL import Image, ImageOps",
    "from torch import nn",
)


@dataclass(frozen=True)
class ImageSource:
    """Where the page's image comes from.

    kind: "builtin" (name: a key of explorer.images.BUILTIN_IMAGES), "pattern" (a key of
    PATTERNS; size: its side in pixels, default 64, ignored by fixed-size lecture patterns) or
    "upload" (name: the file the generated code opens; a camera shot is an upload too).
    """

    kind: str
    name: str
    size: int | None = None

    def __post_init__(self) -> None:
        from explorer import images

        if self.kind not in SOURCE_KINDS:
            raise ValueError(
                f"Unknown image source {self.kind!r}; choose one of "
                f"{', '.join(map(repr, SOURCE_KINDS))}."
            )
        if self.kind == "builtin" and self.name not in images.BUILTIN_IMAGES:
            raise ValueError(
                f"Unknown built-in image {self.name!r}; choose one of {list(images.BUILTIN_IMAGES)}"
            )
        if self.kind == "pattern" and self.name not in images.PATTERNS:
            raise ValueError(
                f"Unknown pattern {self.name!r}; choose one of {list(images.PATTERNS)}"
            )
        if self.kind == "upload" and not self.name:
            raise ValueError("An upload needs a file name for the generated code to open.")


def source_image(source: ImageSource) -> np.ndarray:
    """The 2-D float64 image the page filters for `source`, obtained the app's way."""
    from explorer import images

    if source.kind == "builtin":
        grey = images.builtin_image(source.name, mode="L")
    elif source.kind == "pattern":
        grey = images.pattern(source.name, size=_pattern_size(source), mode="L")
    else:  # as explorer.ui.image_picker: decode to RGB, then to grey
        with open(source.name, "rb") as file:
            rgb = images.load_image(file.read(), mode="RGB")
        grey = images.as_mode(rgb, "L")
    return grey.astype(np.float64)


# ---------------------------------------------------------------------------
# Small formatting helpers
# ---------------------------------------------------------------------------


def _str(text: str) -> str:
    """A double-quoted Python string literal where possible (repr otherwise)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return repr(text)


def _num(value: float) -> str:
    """Shortest text that reads back as exactly this float64."""
    return repr(float(value))


def _value(value: object) -> str:
    """A make_kernel keyword value as Python source (numpy scalars as plain numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    return repr(value)


def _array_literal(name: str, array: np.ndarray) -> list[str]:
    """`name = np.array([...])`, one row per line, columns right-aligned, exact float reprs."""
    cells = [[_num(v) for v in row] for row in array]
    width = max(len(c) for row in cells for c in row)
    rows = ["[" + ", ".join(c.rjust(width) for c in row) + "]" for row in cells]
    if len(rows) == 1:
        return [f"{name} = np.array([{rows[0]}])"]
    return [f"{name} = np.array(["] + [f"    {row}," for row in rows] + ["])"]


def _report(name: str) -> list[str]:
    """Print what the page shows: the shape, the range (its colour scale) and, for outputs up
    to 16x16, every number (its annotated heatmap)."""
    return [
        f"print(\"shape\", {name}.shape)",
        f"print(f\"min {{{name}.min():.6g}}  max {{{name}.max():.6g}}\")",
        f"if {name}.size <= 256:",
        f"    print(np.array2string({name}, precision=4, suppress_small=True, max_line_width=120))",
    ]


def _script(imports: set[str], *blocks: list[str]) -> str:
    head = [line for line in _IMPORT_ORDER if line in imports]
    body: list[str] = []
    for block in blocks:
        if block:
            body += [""] + block
    return "\n".join(head + body) + "\n"


# ---------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------


def _pattern_size(source: ImageSource) -> int:
    return 64 if source.size is None else int(source.size)


def _pattern_parts(source: ImageSource, mode: str) -> tuple[set[str], list[str]]:
    """Lines defining `im` (float32) as explorer.images.pattern(name, size, mode) does: the
    pattern's own builder, copied in (the lecture's examples written out as numbers)."""
    import inspect
    import textwrap

    from explorer import images

    spec = images.PATTERNS[source.name]
    if spec.raw_values:
        values = images.pattern(source.name)
        lines = [f"# The lecture's {spec.label[len('Lecture '):]} (its raw integer values)",
                 *_array_literal("im", values), "im = im.astype(np.float32)"]
    else:
        builders = [spec.builder]
        if spec.builder is images._step_horizontal:  # it transposes the vertical step
            builders.insert(0, images._step_vertical)
        lines = [f"# The app's '{spec.label}' test pattern, built as the app builds it"]
        for builder in builders:
            lines += textwrap.dedent(inspect.getsource(builder)).replace(
                "from skimage.color import hsv2rgb", "from skimage.color import hsv2rgb  # noqa"
            ).rstrip().splitlines() + [""]
        lines.append(f"im = {spec.builder.__name__}({_pattern_size(source)})")
    weights = "np.array([" + ", ".join(map(str, GREY_WEIGHTS)) + "], dtype=np.float32)"
    if mode == "grey" and spec.colour:
        lines.append(f"im = (im @ {weights}).astype(np.float32)  # grey, ITU-R 601 weights")
    elif mode == "RGB" and not spec.colour:
        lines.append("im = np.repeat(im[..., None], 3, axis=-1)  # the same grey in R, G and B")
    return {"import numpy as np"}, lines


def _image_parts(source: ImageSource) -> tuple[set[str], list[str]]:
    from explorer import images

    weights = "np.array([" + ", ".join(map(str, GREY_WEIGHTS)) + "], dtype=np.float32)"
    if source.kind == "builtin":
        info = images.BUILTIN_IMAGES[source.name]
        loader = f"skimage.data.{info.loader}()"
        if info.colour:
            lines = [
                f"# {info.label} from scikit-image, as grey values in [0, 1]. Like the app,",
                "# use the ITU-R 601 weights (Pillow's 'L'), in float32; skimage.color.rgb2gray",
                "# uses other (Rec. 709) weights and would give slightly different numbers.",
                f"rgb = {loader}[..., :3].astype(np.float32) / 255.0",
                f"im = (rgb @ {weights}).astype(np.float64)",
            ]
        else:
            lines = [
                f"# {info.label} from scikit-image: uint8 0..255 -> grey values in [0, 1]",
                "# (float32 like the app, then float64 for the filtering)",
                f"im = ({loader}.astype(np.float32) / 255.0).astype(np.float64)",
            ]
        return {"import numpy as np", "import skimage.data"}, lines
    if source.kind == "pattern":
        imports, lines = _pattern_parts(source, "grey")
        return imports, lines + ["im = im.astype(np.float64)"]
    lines = [
        "# Your picture, read like the app does: upright by the camera's EXIF tag, transparent",
        "# areas on white, shrunk to at most 1024 pixels a side, then grey with the ITU-R 601",
        "# weights (Pillow's 'L'), all in float32. (16-bit and CMYK files may differ slightly.)",
        f"picture = ImageOps.exif_transpose(Image.open({_str(source.name)}))",
        "rgba = np.asarray(picture.convert(\"RGBA\"), dtype=np.float32) / 255.0",
        "alpha = rgba[..., 3:]",
        "rgb = rgba[..., :3] * alpha + (1.0 - alpha)",
        f"if max(rgb.shape[:2]) > {UPLOAD_MAX_SIDE}:",
        "    from skimage.transform import resize",
        "",
        f"    scale = {UPLOAD_MAX_SIDE} / max(rgb.shape[:2])",
        "    shape = tuple(max(1, round(n * scale)) for n in rgb.shape[:2]) + (3,)",
        "    rgb = resize(rgb, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)",
        f"im = (rgb @ {weights}).astype(np.float64)",
    ]
    return {"import numpy as np", "from PIL import Image, ImageOps"}, lines


def image_code(source: ImageSource) -> str:
    """Python lines (with their imports) that define `im`, the page's 2-D float64 image."""
    imports, lines = _image_parts(source)
    return _script(imports, lines).lstrip("\n")


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


def _compact_kernel(name: str, kernel: np.ndarray, sigma: float | None = None) -> list[str] | None:
    """A short NumPy expression for `kernel` when one rebuilds it exactly (a box, a Gaussian,
    an identity), checked by running it; None otherwise."""
    h, w = kernel.shape
    candidates = [
        [f"{name} = np.ones(({h}, {w})) / {h * w}  # a box: every weight 1/{h * w}"],
        [f"{name} = np.zeros(({h}, {w}))", f"{name}[{(h - 1) // 2}, {(w - 1) // 2}] = 1.0"],
    ]
    centre = np.unravel_index(np.argmax(kernel), kernel.shape)
    if kernel.min() > 0 and h > 1 and w > 1 and centre == ((h - 1) // 2, (w - 1) // 2):
        # a Gaussian exp(-r^2 / (2 sigma^2)) / sum: sigma from the centre and its neighbour
        ratio = kernel[centre[0], centre[1] + 1] / kernel[centre]
        if 0 < ratio < 1 and (w % 2 == 1):
            guess = float(np.sqrt(-1 / (2 * np.log(ratio))))
            for value in dict.fromkeys(([] if sigma is None else [float(sigma)])
                                       + [round(guess, 3), round(guess, 1)]):
                candidates.append([
                    f"# a Gaussian, sigma {value:g}: exp(-(x² + y²) / (2 sigma²)), summing to 1",
                    f"y, x = np.mgrid[{-(h - 1) / 2}:{(h + 1) / 2}, {-(w - 1) / 2}:{(w + 1) / 2}]"
                    "  # from the centre",
                    f"{name} = np.exp(-(x**2 + y**2) / (2 * {value!r}**2))",
                    f"{name} = {name} / {name}.sum()",
                ])
    for lines in candidates:
        namespace = {"np": np}
        exec("\n".join(lines), namespace)  # our own lines: the kernel they build
        if np.array_equal(namespace[name], kernel):
            return lines
    return None


def _kernel_definition(name: str, kernel: np.ndarray, params: dict | None = None) -> list[str]:
    """`name = ...`: a compact expression when one is exact, else the numbers written out."""
    sigma = (params or {}).get("sigma")
    return _compact_kernel(name, kernel, sigma) or _array_literal(name, kernel)


def _kernel_parts(
    kernel: np.ndarray, preset: str | None, params: dict | None
) -> tuple[set[str], list[str]]:
    from explorer import conv, kernels

    k = conv.as_finite_2d(kernel, "kernel")
    label = f" '{kernels.KERNELS[preset].label}'" if preset in kernels.KERNELS else ""
    return {"import numpy as np"}, [f"# The {k.shape[0]}x{k.shape[1]}{label} kernel",
                                    *_kernel_definition("k", k, params)]


def kernel_code(kernel: np.ndarray, preset: str | None = None, params: dict | None = None) -> str:
    """Python lines (with their imports) that define `k`, exactly the page's kernel.

    Boxes, Gaussians and identities are short NumPy expressions (np.ones((9, 9)) / 81); other
    kernels are written out number by number. Never an import of explorer.
    """
    imports, lines = _kernel_parts(kernel, preset, params)
    return _script(imports, lines).lstrip("\n")


# ---------------------------------------------------------------------------
# Settings checks (the same ValueErrors as explorer.conv.filter2d)
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
    from explorer import conv

    k = conv.as_finite_2d(kernel, "kernel")
    pads = conv.padding(k.shape, op=op, mode=mode, dilation=dilation)  # op, mode, dilation
    if shape is None:  # an image just big enough that only the settings can be wrong
        shape = tuple(conv.dilated_size(n, dilation) for n in k.shape)
    conv.pad_image(
        np.zeros(shape), k.shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue,
        dilation=dilation,
    )
    conv.output_shape(shape, k.shape, mode=mode, stride=stride, dilation=dilation)
    return k, pads


def _settings_comment(op: str, mode: str, boundary: str, fillvalue: float, s: int, d: int) -> str:
    fill = f" {_num(fillvalue)}" if boundary == "fill" else ""
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
    from explorer import conv

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
    ke = tuple(conv.dilated_size(n, dilation) for n in k_shape)
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
        fill = f", fillvalue={_num(fillvalue)}" if boundary == "fill" else ""
        lines.append(
            f'{out} = scipy.signal.{func}({src}, {ker}, mode="{mode}", boundary="{boundary}"{fill})'
        )
    else:
        pads = conv.padding(k_shape, op=op, mode=mode, dilation=dilation)
        numpy_mode = conv.BOUNDARIES[boundary].numpy_mode
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
    """A runnable SciPy script whose `out` equals explorer.conv.filter2d for these settings.

    image_shape (the page's image) lets the settings be checked without loading the image;
    settings filter2d refuses raise its ValueError.
    """
    k, _ = _check(
        _known_shape(source, image_shape), kernel, op, mode, boundary, fillvalue, stride, dilation
    )
    image_imports, image_lines = _image_parts(source)
    kernel_imports, kernel_lines = _kernel_parts(k, preset, params)
    lines = _scipy_filter_lines(
        k.shape, op=op, mode=mode, boundary=boundary, fillvalue=fillvalue, stride=stride,
        dilation=dilation,
    )
    imports = image_imports | kernel_imports | {"import numpy as np", "import scipy.signal"}
    head = [_settings_comment(op, mode, boundary, fillvalue, stride, dilation) + " (SciPy)"]
    return _script(imports, head, image_lines, kernel_lines, lines + _report("out"))


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
    from explorer import conv

    pads = conv.padding(k_shape, op=op, mode=mode, dilation=dilation)
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
    return start + f", padding={padding}, padding_mode={_str(padding_mode)}, bias=False)"


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
    from explorer import conv

    shape = _known_shape(source, image_shape)
    k, pads = _check(shape, kernel, op, mode, boundary, fillvalue, stride, dilation)
    image_imports, image_lines = _image_parts(source)
    kernel_imports, kernel_lines = _kernel_parts(k, preset, params)
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
    numpy_mode = conv.BOUNDARIES[boundary].numpy_mode
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
        value = f", value={_num(fillvalue)}" if torch_mode == "constant" else ""
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
        *_report("out"),
    ]
    head = [_settings_comment(op, mode, boundary, fillvalue, stride, dilation) + " (PyTorch)"]
    return _script(imports, head, image_lines, kernel_lines, layer, padding, run)


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
    from explorer import conv

    s = size if stride is None else stride
    if isinstance(source, ImageSource):
        imports, image_lines = _image_parts(source)
        shape = _known_shape(source, None)
    else:
        array = conv.as_finite_2d(source, "input")
        imports, image_lines = {"import numpy as np"}, _array_literal("im", array)
        shape = array.shape
    conv.pool2d(np.zeros(shape or (size, size)), size, stride=s, kind=kind)  # filter2d's errors
    function = conv.POOLS[kind].torch_function
    numpy_reduce = "max" if kind == "max" else "mean"
    lines = [
        f"# {conv.POOLS[kind].label}: {size}x{size} windows, stride {s}, no padding (floor mode)",
        "x = torch.tensor(im, dtype=torch.float32)[None, None]  # (batch, channel, height, width)",
        f"out = F.{function}(x, kernel_size={size}, stride={s})[0, 0].numpy().astype(np.float64)",
        "# The same in NumPy: every window, stepping by the stride",
        f"windows = np.lib.stride_tricks.sliding_window_view(im, ({size}, {size}))[::{s}, ::{s}]",
        f"assert np.allclose(out, windows.{numpy_reduce}(axis=(2, 3)), rtol=1e-6, atol=1e-6)",
        *_report("out"),
    ]
    imports |= {"import numpy as np", "import torch", "import torch.nn.functional as F"}
    return _script(imports, image_lines, lines)


def sobel_code(
    source: ImageSource, op: str = "convolve", mode: str = "valid", boundary: str = "fill"
) -> str:
    """A runnable SciPy script: the lecture's Sobel Gx, Gy, gradient magnitude and direction."""
    from explorer import conv

    shape = _known_shape(source, None)
    _check(shape, conv.SOBEL_X, op, mode, boundary, 0.0, 1, 1)
    imports, image_lines = _image_parts(source)
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
        *_report("gx"),
        *_report("gy"),
        *_report("out"),
    ]
    imports |= {"import numpy as np", "import scipy.signal"}
    return _script(imports, image_lines, sobel, gx + gy, result)


# ---------------------------------------------------------------------------
# Colour filter bank (page 2), the lecture's "Color filtering in PyTorch"
# ---------------------------------------------------------------------------


def _colour_image_parts(source: ImageSource) -> tuple[set[str], list[str]]:
    """Lines defining `im` as an H x W x 3 float32 array in [0, 1], read as the app reads it."""
    from explorer import images

    if source.kind == "builtin":
        info = images.BUILTIN_IMAGES[source.name]
        loader = f"skimage.data.{info.loader}()"
        if info.colour:
            lines = [f"# {info.label} from scikit-image: uint8 0..255 -> [0, 1]",
                     f"im = {loader}[..., :3].astype(np.float32) / 255.0"]
        else:
            lines = [f"# {info.label} is greyscale: the same values in R, G and B",
                     f"im = np.repeat({loader}[..., None], 3, axis=-1).astype(np.float32) / 255.0"]
        return {"import numpy as np", "import skimage.data"}, lines
    if source.kind == "pattern":
        return _pattern_parts(source, "RGB")
    return {"import numpy as np", "from PIL import Image, ImageOps"}, [
        "# Your picture, read like the app does: upright by the camera's EXIF tag, transparent",
        f"# areas on white, shrunk to at most {UPLOAD_MAX_SIDE} pixels a side.",
        f"picture = ImageOps.exif_transpose(Image.open({_str(source.name)}))",
        'rgba = np.asarray(picture.convert("RGBA"), dtype=np.float32) / 255.0',
        "alpha = rgba[..., 3:]",
        "im = rgba[..., :3] * alpha + (1.0 - alpha)",
        f"if max(im.shape[:2]) > {UPLOAD_MAX_SIDE}:",
        "    from skimage.transform import resize",
        "",
        f"    scale = {UPLOAD_MAX_SIDE} / max(im.shape[:2])",
        "    shape = tuple(max(1, round(n * scale)) for n in im.shape[:2]) + (3,)",
        "    im = resize(im, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)",
    ]


def _named_kernel(name: str, preset: str | None, params: dict | None, kernel: np.ndarray
                  ) -> tuple[set[str], list[str]]:
    """`name = ...` for one filter's kernel (see _kernel_definition)."""
    return set(), _kernel_definition(name, np.asarray(kernel, dtype=np.float64), params)


def colour_code(
    source: ImageSource,
    colour_weights: np.ndarray,
    kernels: list[tuple[str | None, dict | None, np.ndarray]],
    bias: np.ndarray,
    *,
    mode: str = "same",
    relu: bool = False,
) -> str:
    """A runnable script whose `y` (C_out, H', W') equals explorer.colour.apply_filters.

    kernels: per filter (registry preset or None, its parameters, the kernel array). When all
    filters share one kernel, W is built exactly as in the lecture:
    W = G[None, None, :, :] * color_wt[:, :, None, None].
    """
    colour_weights = np.asarray(colour_weights, dtype=np.float64)
    c_out = colour_weights.shape[0]
    image_imports, image_lines = _colour_image_parts(source)
    shared = all(np.array_equal(k[2], kernels[0][2]) for k in kernels)
    weight_lines = ["# colour weights (C_out, 3): one row per filter, columns R, G, B",
                    *_array_literal("color_wt", colour_weights)]
    imports = {"import numpy as np", "import torch", "from torch import nn"} | image_imports
    if shared:
        more, lines = _named_kernel("G", *kernels[0])
        imports |= more
        weight_lines += ["# spatial kernel (K_h, K_w)", *lines,
                         "W = G[None, None, :, :] * color_wt[:, :, None, None]  # (C_out, 3, K, K)"]
    else:
        names = []
        for index, kernel in enumerate(kernels):
            more, lines = _named_kernel(f"k{index}", *kernel)
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
        f"b = np.array([{', '.join(_num(v) for v in np.asarray(bias, dtype=np.float64))}])",
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
    return _script(imports, image_lines, weight_lines, model_lines)
