"""Colour filters: colour weights times spatial kernels as a (C_out, 3, K, K) nn.Conv2d weight."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.convolution import conv
from explorer.convolution.kernels import make_kernel
from explorer.lecture import reference as lecture

if TYPE_CHECKING:  # torch is imported inside functions: importing it takes seconds
    import torch

MAX_FILTERS = 8  # most filters the page offers; the functions here accept any number
MAX_WEIGHT = 100.0  # largest |colour weight| and |bias| the page (its table and links) accepts
# Most multiply-adds one bank may cost on an image (C_out * 3 * K_h * K_w * H' * W'): 8 filters
# of 31x31 on a 512x512 image are 6.0e9 (about 0.1-0.3 s on 2 cores); the same on a 1024x1024
# upload would be 2.4e10 and is refused.
MAX_MULTIPLY_ADDS = 8e9

# The lecture's kernel: 9x9 Gaussian with sigma 2 (make_kernel keywords as (name, value) pairs).
LECTURE_KERNEL_NAME = "gaussian"
LECTURE_KERNEL_PARAMS: tuple[tuple[str, object], ...] = (("size", 9), ("sigma", 2.0))

# Output modes offered for colour filtering (keys are what the page's select box shows).
MODES: dict[str, conv.ModeSpec] = {name: conv.MODES[name] for name in ("same", "valid")}

# PyTorch warns about its own extra copy when padding="same" meets an even kernel.
_EVEN_SAME_WARNING = "Using padding='same' with even kernel lengths"
# Installed once for the process: warnings.catch_warnings() around the call would swap the
# process-wide filter list while other sessions' threads run (it is not thread-safe).
warnings.filterwarnings("ignore", message=_EVEN_SAME_WARNING)


# ---------------------------------------------------------------------------
# Colour presets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColourPreset:
    label: str
    weights: tuple[float, float, float]  # (w_R, w_G, w_B): one output channel's weight per input
    description: str


_ZERO_SUM = "The weights add up to 0, so flat grey, white and black all give 0."

# Magenta = red + blue, so "magenta minus the mean" scaled to max |w| = 1 is (.5, -1, .5): the
# lecture's red-blue filter exactly. Rather than list the same filter twice, red-blue keeps the
# lecture's name and its label and description say it is the magenta detector.
COLOUR_PRESETS: dict[str, ColourPreset] = {
    "red": ColourPreset(
        "Red",
        lecture.COLOUR_WEIGHTS["red"],
        "Red minus half of green and half of blue: positive on red (and, less, on yellow and "
        "magenta), negative on green, blue and cyan. " + _ZERO_SUM,
    ),
    "green": ColourPreset(
        "Green",
        lecture.COLOUR_WEIGHTS["green"],
        "Green minus half of red and half of blue: positive on green, negative on red, blue and "
        "magenta. " + _ZERO_SUM,
    ),
    "blue": ColourPreset(
        "Blue",
        lecture.COLOUR_WEIGHTS["blue"],
        "Blue minus half of red and half of green: positive on blue, negative on red, green and "
        "yellow. " + _ZERO_SUM,
    ),
    "red-blue": ColourPreset(
        "Red-blue (magenta)",
        lecture.COLOUR_WEIGHTS["red-blue"],
        "Half of red plus half of blue minus green: positive on red and on blue, most on "
        "magenta (red + blue), negative on green. It is the magenta detector (picking magenta "
        "gives the same weights) and exactly minus the green filter. " + _ZERO_SUM,
    ),
    "yellow": ColourPreset(
        "Yellow",
        (0.5, 0.5, -1.0),
        "Half of red plus half of green minus blue: positive on yellow (red + green), negative "
        "on blue. Exactly minus the blue filter, so after a ReLU the two keep opposite halves of "
        "the same map. " + _ZERO_SUM,
    ),
    "cyan": ColourPreset(
        "Cyan",
        (-1.0, 0.5, 0.5),
        "Half of green plus half of blue minus red: positive on cyan (green + blue), negative "
        "on red. Exactly minus the red filter. " + _ZERO_SUM,
    ),
    "brightness": ColourPreset(
        "Brightness",
        (1 / 3, 1 / 3, 1 / 3),
        "The mean of red, green and blue: responds to light versus dark, not to colour. The "
        "weights add up to 1, not 0, so flat grey of level g gives g times the kernel's sum "
        "(g itself for a Gaussian).",
    ),
}


_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def _parse_colour(rgb: tuple[float, float, float] | str) -> np.ndarray:
    """A '#rrggbb' string or three numbers in [0, 1], as a float64 array of shape (3,)."""
    if isinstance(rgb, str):
        match = _HEX.fullmatch(rgb.strip())
        if match is None:
            raise ValueError(f"A colour string must look like '#ff8800' (#rrggbb); got {rgb!r}.")
        digits = match.group(1)
        return np.array([int(digits[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255
    try:
        c = np.asarray(rgb, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"A colour must be three numbers (R, G, B); got {rgb!r}.") from exc
    if c.shape != (3,):
        raise ValueError(f"A colour must be three numbers (R, G, B); got {rgb!r}.")
    if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
        raise ValueError(f"Colour values must be finite numbers between 0 and 1; got {rgb!r}.")
    return c


def weights_for_colour(rgb: tuple[float, float, float] | str) -> tuple[float, float, float]:
    """Colour weights that detect a picked colour: the colour minus its mean, max |weight| 1.

    The weights add up to 0, so flat grey of any level gives 0. The response to a colour x is
    w · x = w · (x - mean(x)): among colours with the same brightness (channel mean) and the
    same saturation (distance |x - mean(x)| from grey) the picked colour responds most
    (Cauchy-Schwarz); a more saturated colour of the same hue responds more. Picking pure red,
    green, blue or magenta gives the lecture's filters. A grey pick has no colour to detect
    and raises ValueError.
    """
    c = _parse_colour(rgb)
    w = c - c.mean()
    largest = np.abs(w).max()
    if largest < 1e-6:
        raise ValueError(
            "That colour is a shade of grey (red, green and blue are equal), so it has no "
            "colour to detect: pick a colour with some hue."
        )
    # Rounded so that pure red gives exactly (1, -0.5, -0.5), not 0.5000000000000001; + 0.0
    # turns -0.0 into 0.0.
    w = np.round(w / largest, 12) + 0.0
    return float(w[0]), float(w[1]), float(w[2])


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _as_image(image: object) -> np.ndarray:
    x = conv.as_finite(image, "image")
    if x.ndim == 2:
        raise ValueError(
            f"This is a greyscale image (shape {x.shape}); colour filters need an "
            "H x W x 3 RGB image (explorer.images.pictures.to_rgb turns grey into RGB)."
        )
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"The image must be H x W x 3 (red, green, blue); got shape {x.shape}.")
    return x


def _as_weight(weight: object) -> np.ndarray:
    w = conv.as_finite(weight, "weight")
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(
            "The weight must have shape (C_out, 3, K_h, K_w): one 3-channel kernel per output "
            f"channel; got shape {w.shape}."
        )
    return w


def _as_bias(bias: object, c_out: int) -> np.ndarray:
    if bias is None:
        return np.zeros(c_out)
    b = conv.as_finite(bias, "bias")
    if b.shape != (c_out,):
        raise ValueError(f"The bias must have shape ({c_out},), one per filter; got {b.shape}.")
    return b


def _as_colour_weights(colour_weights: object) -> np.ndarray:
    w = conv.as_finite(colour_weights, "colour weights")
    if w.ndim != 2 or w.shape[1] != 3:
        raise ValueError(
            "The colour weights must have shape (C_out, 3), one (R, G, B) row per filter; "
            f"got shape {w.shape}."
        )
    return w


def check_bank_values(colour_weights: object, bias: object = None) -> None:
    """ValueError naming the first colour weight or bias beyond +-MAX_WEIGHT (the page's bound)."""
    w = _as_colour_weights(colour_weights)
    for m, n in zip(*np.nonzero(np.abs(w) > MAX_WEIGHT), strict=True):
        raise ValueError(
            f"Filter {m + 1}'s {'RGB'[n]} weight is {w[m, n]:.3g}; colour weights must lie "
            f"between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}."
        )
    if bias is not None:
        b = _as_bias(bias, w.shape[0])
        for m in np.nonzero(np.abs(b) > MAX_WEIGHT)[0]:
            raise ValueError(
                f"Filter {m + 1}'s bias is {b[m]:.3g}; a bias must lie between "
                f"-{MAX_WEIGHT:g} and {MAX_WEIGHT:g}."
            )


def bank_work(image_shape: tuple[int, ...], weight_shape: tuple[int, ...], mode: str) -> float:
    """Multiply-adds of apply_filters: C_out * 3 * K_h * K_w per output pixel."""
    c_out, c_in, k_h, k_w = weight_shape
    n_h, n_w = image_shape[:2]
    out_h, out_w = (n_h, n_w) if mode == "same" else (n_h - k_h + 1, n_w - k_w + 1)
    return float(c_out) * c_in * k_h * k_w * max(out_h, 0) * max(out_w, 0)


def _check_work(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, mode: str) -> None:
    work = bank_work(x.shape, w.shape, mode)
    if work > MAX_MULTIPLY_ADDS:
        c_out, _, k_h, k_w = w.shape
        raise ValueError(
            f"This bank would cost {work:.2g} multiply-adds ({c_out} filters x 3 channels x "
            f"{k_h}x{k_w} taps x {x.shape[0]}x{x.shape[1]} pixels); the limit is "
            f"{MAX_MULTIPLY_ADDS:.2g}, to keep the page quick for everyone. Use a smaller "
            "kernel, fewer filters or a smaller image."
        )
    # |map| <= sum |W[m]| * max |x| + |b[m]|: keep float32 finite
    largest = float(np.abs(w).sum(axis=(1, 2, 3)).max()) * float(np.abs(x).max())
    if bias is not None and bias.size:
        largest += float(np.abs(bias).max())
    conv.check_float32_range(largest, "feature maps")


def _check_mode(mode: str, image_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> None:
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}.")
    (n_h, n_w), (k_h, k_w) = image_shape[:2], kernel_shape[-2:]
    if mode == "valid" and (k_h > n_h or k_w > n_w):
        raise ValueError(
            f"In 'valid' mode the kernel must fit inside the image, but the {k_h}x{k_w} kernel "
            f"is larger than the {n_h}x{n_w} image. Use 'same' mode, a smaller kernel, or a "
            "larger image."
        )


# ---------------------------------------------------------------------------
# Filter banks
# ---------------------------------------------------------------------------


def filter_bank(colour_weights: object, kernel: object) -> np.ndarray:
    """Conv2d weight (C_out, 3, K_h, K_w) = colour weights (C_out, 3) times one spatial kernel.

    W[m, n] = w[m, n] * G, the lecture's `G[None, None, :, :] * color_wt[:, :, None, None]`.
    """
    w = _as_colour_weights(colour_weights)  # (C_out, 3)
    g = conv.as_finite_2d(kernel, "kernel")  # (K_h, K_w)
    return g[None, None, :, :] * w[:, :, None, None]  # (C_out, 3, K_h, K_w)


def pad_kernel(kernel: object, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad a kernel to `shape` so that 'same' correlation gives exactly the same output.

    'same' (PyTorch and SciPy) puts entry (K-1)//2 over the output pixel, so the kernel moves
    (M-1)//2 - (K-1)//2 down/right inside the M-tap kernel, which keeps its anchor where it
    was. That works for any mix of odd and even sizes.
    """
    k = conv.as_finite_2d(kernel, "kernel")
    (k_h, k_w), (m_h, m_w) = k.shape, shape
    if m_h < k_h or m_w < k_w:
        raise ValueError(f"Can't pad a {k_h}x{k_w} kernel to the smaller shape {m_h}x{m_w}.")
    top, left = (m_h - 1) // 2 - (k_h - 1) // 2, (m_w - 1) // 2 - (k_w - 1) // 2
    out = np.zeros((m_h, m_w))
    out[top : top + k_h, left : left + k_w] = k
    return out


def filter_bank_per_filter(colour_weights: object, kernels: Sequence[object]) -> np.ndarray:
    """Like filter_bank, but filter m uses its own kernel; different sizes are zero-padded.

    The bank has the largest height and width among the kernels (see pad_kernel). In 'same'
    mode filter m's feature map equals the one from its own kernel alone, even at the border
    (the extra taps are 0). In 'valid' mode the bank's smaller output is that map cropped by
    (M-1)//2 - (K-1)//2 rows/columns at the top/left.
    """
    w = _as_colour_weights(colour_weights)  # (C_out, 3)
    ks = [conv.as_finite_2d(k, f"kernel of filter {m + 1}") for m, k in enumerate(kernels)]
    if len(ks) != len(w):
        raise ValueError(
            f"Got {len(w)} rows of colour weights but {len(ks)} kernels; "
            "give one kernel per filter."
        )
    shape = max(k.shape[0] for k in ks), max(k.shape[1] for k in ks)
    padded = np.stack([pad_kernel(k, shape) for k in ks])  # (C_out, M_h, M_w)
    return padded[:, None, :, :] * w[:, :, None, None]  # (C_out, 3, M_h, M_w)


# ---------------------------------------------------------------------------
# Applying a bank (PyTorch, float32)
# ---------------------------------------------------------------------------


def _torch_inputs(
    image: object, weight: object, mode: str, bias: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Checked image and weight as float32 tensors, the image already padded for `mode`.

    ValueError beyond MAX_MULTIPLY_ADDS or when the maps could overflow float32.
    """
    import torch
    import torch.nn.functional as F

    x = _as_image(image)
    w = _as_weight(weight)
    _check_mode(mode, x.shape, w.shape)
    _check_work(x, w, bias, mode)
    (top, bottom), (left, right) = conv.padding(w.shape[-2:], op="correlate", mode=mode)
    # (H, W, 3) -> (1, 3, H, W), as in the lecture; float32 because float64 conv is slow on CPU.
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    # Explicit zero padding (extra row/column bottom/right for even kernels, as PyTorch's
    # padding="same" does) then a 'valid' pass: one code path for both modes, no warning.
    xt = F.pad(xt, (left, right, top, bottom))
    return xt, torch.from_numpy(w.astype(np.float32)), w.shape[0]


def apply_filters(
    image: np.ndarray,
    weight: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    mode: str = "same",
    relu: bool = False,
) -> np.ndarray:
    """Feature maps (C_out, H', W') of an H x W x 3 image, float32: F.conv2d's numbers.

    Correlation (no flip), like nn.Conv2d; 'same' pads zeros as PyTorch's padding="same"
    (equal to scipy correlate2d 'same', even kernels included), 'valid' pads nothing.
    """
    import torch
    import torch.nn.functional as F

    w = _as_weight(weight)
    b = _as_bias(bias, w.shape[0])
    xt, wt, c_out = _torch_inputs(image, w, mode, b)
    bt = torch.from_numpy(b.astype(np.float32))
    with torch.inference_mode():
        y = F.conv2d(xt, wt, bt)[0]  # (C_out, H', W')
        if relu:
            y = torch.relu(y)
    return y.numpy()


def channel_contributions(
    image: np.ndarray, weight: np.ndarray, *, mode: str = "same"
) -> np.ndarray:
    """(C_out, 3, H', W') float32: part [m, n] = correlate(image[..., n], weight[m, n]).

    Summing over axis 1 and adding the bias gives apply_filters's maps before the ReLU.
    """
    import torch
    import torch.nn.functional as F

    xt, wt, _ = _torch_inputs(image, weight, mode)
    with torch.inference_mode():
        # One 1-in, C_out-out conv per input channel: 3 calls. On 2 CPU threads (512x512,
        # benchmarks/colour.py) this beats one grouped conv (groups=3) 1.4-1.6x and 3 C_out
        # single-channel convs 3-6x.
        parts = [F.conv2d(xt[:, n : n + 1], wt[:, n : n + 1].contiguous()) for n in range(3)]
        out = torch.stack([p[0] for p in parts], dim=1)  # (C_out, 3, H', W')
    return out.numpy()


# ---------------------------------------------------------------------------
# The same bank as a real nn.Conv2d
# ---------------------------------------------------------------------------


def conv2d_module(
    weight: np.ndarray, bias: np.ndarray | None = None, *, mode: str = "same"
) -> torch.nn.Conv2d:
    """torch.nn.Conv2d(3, C_out, (K_h, K_w)) loaded with `weight` and `bias` the lecture's way.

    padding="same" for mode 'same', 0 for 'valid'; float32; bias zero when None.
    """
    import torch
    from torch import nn

    w = _as_weight(weight)
    b = _as_bias(bias, w.shape[0])
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}.")
    model = nn.Conv2d(
        3, w.shape[0], tuple(w.shape[-2:]), padding="same" if mode == "same" else 0, bias=True
    )
    state_dict = model.state_dict()
    state_dict["weight"] = torch.tensor(w, dtype=torch.float32)  # (C_out, 3, K_h, K_w)
    state_dict["bias"] = torch.tensor(b, dtype=torch.float32)  # (C_out,)
    model.load_state_dict(state_dict)
    return model.eval()


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class Proof:
    output: np.ndarray  # (C_out, H', W') float32, from the nn.Conv2d module
    max_abs_diff: float  # against apply_filters with the same settings
    weight_shape: tuple[int, int, int, int]  # (C_out, 3, K_h, K_w)
    # {"weight": (C_out, 3, K_h, K_w), "bias": (C_out,)}
    state_dict_shapes: dict[str, tuple[int, ...]]
    module: str  # repr of the module, e.g. "Conv2d(3, 4, kernel_size=(9, 9), ..., padding=same)"


def prove_with_conv2d(
    image: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    mode: str = "same",
    relu: bool = False,
) -> Proof:
    """Run the bank through a real nn.Conv2d and compare with apply_filters."""
    import torch

    expected = apply_filters(image, weight, bias=bias, mode=mode, relu=relu)  # validates
    model = conv2d_module(weight, bias, mode=mode)
    x = np.asarray(image, dtype=np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # (1, 3, H, W)
    with torch.inference_mode():
        y = model(xt)
        if relu:
            y = torch.relu(y)
    output = y[0].numpy()
    return Proof(
        output=output,
        max_abs_diff=float(np.max(np.abs(output - expected))),
        weight_shape=tuple(model.weight.shape),
        state_dict_shapes={k: tuple(v.shape) for k, v in model.state_dict().items()},
        module=repr(model),
    )


# ---------------------------------------------------------------------------
# Named filters: colour weights + spatial kernel + bias
# ---------------------------------------------------------------------------


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class ColourFilter:
    """One output channel: colour weights (R, G, B) times a registry kernel, plus a bias.

    kernel_params are make_kernel keywords as (name, value) pairs (a dict is accepted and
    stored sorted as pairs, so the filter stays frozen and hashable); () means the kernel's
    defaults. Checked on construction: a bad kernel name or parameter raises ValueError.
    """

    label: str
    weights: tuple[float, float, float]
    kernel_name: str = "gaussian"
    kernel_params: tuple[tuple[str, object], ...] | Mapping[str, object] = ()
    bias: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        weights = conv.as_finite(self.weights, f"colour weights of {self.label!r}")
        if weights.shape != (3,):
            raise ValueError(
                f"{self.label!r} needs three colour weights (R, G, B); got {self.weights!r}."
            )
        params = self.kernel_params
        pairs = params.items() if isinstance(params, Mapping) else params
        pairs = tuple(sorted((str(k), _hashable(v)) for k, v in pairs))
        bias = conv.as_finite(self.bias, f"bias of {self.label!r}")
        if bias.shape != ():
            raise ValueError(f"The bias of {self.label!r} must be one number; got {self.bias!r}.")
        # Frozen: normalise the fields through object.__setattr__.
        object.__setattr__(self, "weights", tuple(float(v) for v in weights))
        object.__setattr__(self, "kernel_params", pairs)
        object.__setattr__(self, "bias", float(bias))
        self.kernel()  # fail now, not when the bank is built

    def kernel(self) -> np.ndarray:
        """The spatial kernel (K_h, K_w), float64."""
        return make_kernel(self.kernel_name, **dict(self.kernel_params))


def build_bank(filters: Sequence[ColourFilter]) -> tuple[np.ndarray, np.ndarray]:
    """(weight (C_out, 3, K_h, K_w), bias (C_out,)), float64; kernels padded to the largest."""
    if len(filters) == 0:
        raise ValueError("Add at least one filter.")
    weight = filter_bank_per_filter([f.weights for f in filters], [f.kernel() for f in filters])
    return weight, np.array([f.bias for f in filters])


def _lecture_filter(name: str) -> ColourFilter:
    preset = COLOUR_PRESETS[name]
    return ColourFilter(
        preset.label,
        preset.weights,
        LECTURE_KERNEL_NAME,
        LECTURE_KERNEL_PARAMS,
        description=preset.description + " Spatial kernel: the lecture's 9x9 Gaussian, σ = 2.",
    )


# The lecture's bank: red, green, blue, red-blue, each with a 9x9 Gaussian (sigma 2), bias 0.
LECTURE_BANK: tuple[ColourFilter, ...] = tuple(
    _lecture_filter(name) for name in lecture.COLOUR_WEIGHTS
)

EDGE_AXES = {"x": "sobel_x", "y": "sobel_y"}


def colour_edge_filter(colour: str = "red", axis: str = "x") -> ColourFilter:
    """A Sobel kernel (x: vertical edges, y: horizontal edges) with a colour preset's weights."""
    if colour not in COLOUR_PRESETS:
        raise ValueError(f"Unknown colour {colour!r}; choose one of {', '.join(COLOUR_PRESETS)}.")
    if axis not in EDGE_AXES:
        raise ValueError(f"Unknown edge axis {axis!r}; choose 'x' or 'y'.")
    preset = COLOUR_PRESETS[colour]
    # Correlated without a flip (as nn.Conv2d does), Sobel x gives left column minus right
    # column, Sobel y top row minus bottom row.
    where = "left than on the right" if axis == "x" else "top than at the bottom"
    kind = "vertical" if axis == "x" else "horizontal"
    return ColourFilter(
        f"{preset.label} edges ({kind})",
        preset.weights,
        EDGE_AXES[axis],
        description=(
            f"Sobel {axis} with the {preset.label.lower()} weights: responds to {kind} edges in "
            f"{preset.label.lower()}, positive where there is more of it on the {where}, "
            "negative the other way round, 0 on flat areas of any colour."
        ),
    )


# Filters the page's "add a filter" select box offers.
FILTER_TEMPLATES: dict[str, ColourFilter] = {
    **{name: _lecture_filter(name) for name in COLOUR_PRESETS},
    "red edges": colour_edge_filter("red"),
    "green edges": colour_edge_filter("green"),
    "blue edges": colour_edge_filter("blue"),
    "brightness edges": colour_edge_filter("brightness"),
}
