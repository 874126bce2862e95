"""The inputs of the "Show the code" scripts as Python lines: the image (read as the app reads it)
and the kernel, plus the helpers that write numbers and assemble a script. Never `import explorer`:
the scripts run with the libraries alone."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

UPLOAD_FILENAME = "your_image.png"
LITERAL_MAX_SIDE = 9  # kernels up to 9x9 are written out number by number
SOURCE_KINDS = ("builtin", "pattern", "upload")
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601, as explorer.images.pictures.to_grey and Pillow's "L"
UPLOAD_MAX_SIDE = 1024  # explorer.images.files.DEFAULT_MAX_SIDE: the picker shrinks bigger uploads

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

    kind: "builtin" (name: a key of explorer.images.pictures.BUILTIN_IMAGES), "pattern" (a key of
    PATTERNS; size: its side in pixels, default 64, ignored by fixed-size lecture patterns) or
    "upload" (name: the file the generated code opens; a camera shot is an upload too).
    """

    kind: str
    name: str
    size: int | None = None

    def __post_init__(self) -> None:
        from explorer.images import pictures as images

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
    from explorer.images import files as image_files
    from explorer.images import pictures as images

    if source.kind == "builtin":
        grey = images.builtin_image(source.name, mode="L")
    elif source.kind == "pattern":
        grey = images.pattern(source.name, size=_pattern_size(source), mode="L")
    else:  # as explorer.ui.image_picker: decode to RGB, then to grey
        with open(source.name, "rb") as file:
            rgb = image_files.load_image(file.read(), mode="RGB")
        grey = images.as_mode(rgb, "L")
    return grey.astype(np.float64)


# ---------------------------------------------------------------------------
# Small formatting helpers
# ---------------------------------------------------------------------------


def str_literal(text: str) -> str:
    """A double-quoted Python string literal where possible (repr otherwise)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return repr(text)


def num_literal(value: float) -> str:
    """Shortest text that reads back as exactly this float64."""
    return repr(float(value))


def value_literal(value: object) -> str:
    """A make_kernel keyword value as Python source (numpy scalars as plain numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(value_literal(v) for v in value) + ")"
    return repr(value)


def array_literal(name: str, array: np.ndarray) -> list[str]:
    """`name = np.array([...])`, one row per line, columns right-aligned, exact float reprs."""
    cells = [[num_literal(v) for v in row] for row in array]
    width = max(len(c) for row in cells for c in row)
    rows = ["[" + ", ".join(c.rjust(width) for c in row) + "]" for row in cells]
    if len(rows) == 1:
        return [f"{name} = np.array([{rows[0]}])"]
    return [f"{name} = np.array(["] + [f"    {row}," for row in rows] + ["])"]


def report_lines(name: str) -> list[str]:
    """Print what the page shows: the shape, the range (its colour scale) and, for outputs up
    to 16x16, every number (its annotated heatmap)."""
    return [
        f"print(\"shape\", {name}.shape)",
        f"print(f\"min {{{name}.min():.6g}}  max {{{name}.max():.6g}}\")",
        f"if {name}.size <= 256:",
        f"    print(np.array2string({name}, precision=4, suppress_small=True, max_line_width=120))",
    ]


def definitions(module: ModuleType, names: Iterable[str]) -> list[str]:
    """The source lines of `module`'s top-level functions, classes and constants called `names`,
    in the module's order, each with the comment lines just above it: the app's own code,
    copied into a script so that it runs without explorer."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    wanted = set(names)
    found: list[str] = []
    out: list[str] = []
    after_definition = False
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        else:
            continue
        if name not in wanted:
            continue
        found.append(name)
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        block = lines[first : node.end_lineno]
        is_definition = isinstance(node, ast.FunctionDef | ast.ClassDef)
        if out and (is_definition or after_definition):
            out += ["", ""]  # PEP 8: two blank lines around definitions
        elif out and (block[0].startswith("#") or out[-1] == ")"):
            out.append("")
        out += block
        after_definition = is_definition
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"{module.__name__} defines no {sorted(missing)}")
    return out


def script(imports: set[str], *blocks: list[str]) -> str:
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
    """Lines defining `im` (float32) as explorer.images.pictures.pattern(name, size, mode) does: the
    pattern's own builder, copied in (the lecture's examples written out as numbers)."""
    import inspect
    import textwrap

    from explorer.images import pictures as images

    spec = images.PATTERNS[source.name]
    if spec.raw_values:
        values = images.pattern(source.name)
        lines = [f"# The lecture's {spec.label[len('Lecture '):]} (its raw integer values)",
                 *array_literal("im", values), "im = im.astype(np.float32)"]
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


def image_parts(source: ImageSource) -> tuple[set[str], list[str]]:
    from explorer.images import pictures as images

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
        f"picture = ImageOps.exif_transpose(Image.open({str_literal(source.name)}))",
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
    imports, lines = image_parts(source)
    return script(imports, lines).lstrip("\n")


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


def kernel_definition(name: str, kernel: np.ndarray, params: dict | None = None) -> list[str]:
    """`name = ...`: a compact expression when one is exact, else the numbers written out."""
    sigma = (params or {}).get("sigma")
    return _compact_kernel(name, kernel, sigma) or array_literal(name, kernel)


def kernel_parts(
    kernel: np.ndarray, preset: str | None, params: dict | None
) -> tuple[set[str], list[str]]:
    from explorer.convolution import kernels, specs

    k = specs.as_finite_2d(kernel, "kernel")
    label = f" '{kernels.KERNELS[preset].label}'" if preset in kernels.KERNELS else ""
    return {"import numpy as np"}, [f"# The {k.shape[0]}x{k.shape[1]}{label} kernel",
                                    *kernel_definition("k", k, params)]


def kernel_code(kernel: np.ndarray, preset: str | None = None, params: dict | None = None) -> str:
    """Python lines (with their imports) that define `k`, exactly the page's kernel.

    Boxes, Gaussians and identities are short NumPy expressions (np.ones((9, 9)) / 81); other
    kernels are written out number by number. Never an import of explorer.
    """
    imports, lines = kernel_parts(kernel, preset, params)
    return script(imports, lines).lstrip("\n")


def colour_image_parts(source: ImageSource) -> tuple[set[str], list[str]]:
    """Lines defining `im` as an H x W x 3 float32 array in [0, 1], read as the app reads it."""
    from explorer.images import pictures as images

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
        f"picture = ImageOps.exif_transpose(Image.open({str_literal(source.name)}))",
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


def named_kernel(name: str, preset: str | None, params: dict | None, kernel: np.ndarray
                  ) -> tuple[set[str], list[str]]:
    """`name = ...` for one filter's kernel (see kernel_definition)."""
    return set(), kernel_definition(name, np.asarray(kernel, dtype=np.float64), params)
