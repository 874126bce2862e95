"""Colour filter banks: filter specs, presets' filters, and the (C_out, 3, K, K) weight tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from explorer.colour.presets import COLOUR_PRESETS
from explorer.convolution import specs
from explorer.convolution.kernels import make_kernel
from explorer.lecture import reference as lecture

MAX_FILTERS = 8  # most filters the page offers; the functions here accept any number
MAX_WEIGHT = 100.0  # largest |colour weight| and |bias| the page (its table and links) accepts

# The lecture's kernel: 9x9 Gaussian with sigma 2 (make_kernel keywords as (name, value) pairs).
LECTURE_KERNEL_NAME = "gaussian"
LECTURE_KERNEL_PARAMS: tuple[tuple[str, object], ...] = (("size", 9), ("sigma", 2.0))


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def as_weight(weight: object) -> np.ndarray:
    """The bank's weight as a finite array of shape (C_out, 3, K_h, K_w), else ValueError."""
    w = specs.as_finite(weight, "weight")
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(
            "The weight must have shape (C_out, 3, K_h, K_w): one 3-channel kernel per output "
            f"channel; got shape {w.shape}."
        )
    return w


def as_bias(bias: object, c_out: int) -> np.ndarray:
    """The bank's bias as a finite array of shape (C_out,), zeros when None, else ValueError."""
    if bias is None:
        return np.zeros(c_out)
    b = specs.as_finite(bias, "bias")
    if b.shape != (c_out,):
        raise ValueError(f"The bias must have shape ({c_out},), one per filter; got {b.shape}.")
    return b


def _as_colour_weights(colour_weights: object) -> np.ndarray:
    w = specs.as_finite(colour_weights, "colour weights")
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
        b = as_bias(bias, w.shape[0])
        for m in np.nonzero(np.abs(b) > MAX_WEIGHT)[0]:
            raise ValueError(
                f"Filter {m + 1}'s bias is {b[m]:.3g}; a bias must lie between "
                f"-{MAX_WEIGHT:g} and {MAX_WEIGHT:g}."
            )


# ---------------------------------------------------------------------------
# Filter banks
# ---------------------------------------------------------------------------


def filter_bank(colour_weights: object, kernel: object) -> np.ndarray:
    """Conv2d weight (C_out, 3, K_h, K_w) = colour weights (C_out, 3) times one spatial kernel.

    W[m, n] = w[m, n] * G, the lecture's `G[None, None, :, :] * color_wt[:, :, None, None]`.
    """
    w = _as_colour_weights(colour_weights)  # (C_out, 3)
    g = specs.as_finite_2d(kernel, "kernel")  # (K_h, K_w)
    return g[None, None, :, :] * w[:, :, None, None]  # (C_out, 3, K_h, K_w)


def pad_kernel(kernel: object, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad a kernel to `shape` so that 'same' correlation gives exactly the same output.

    'same' (PyTorch and SciPy) puts entry (K-1)//2 over the output pixel, so the kernel moves
    (M-1)//2 - (K-1)//2 down/right inside the M-tap kernel, which keeps its anchor where it
    was. That works for any mix of odd and even sizes.
    """
    k = specs.as_finite_2d(kernel, "kernel")
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
    ks = [specs.as_finite_2d(k, f"kernel of filter {m + 1}") for m, k in enumerate(kernels)]
    if len(ks) != len(w):
        raise ValueError(
            f"Got {len(w)} rows of colour weights but {len(ks)} kernels; "
            "give one kernel per filter."
        )
    shape = max(k.shape[0] for k in ks), max(k.shape[1] for k in ks)
    padded = np.stack([pad_kernel(k, shape) for k in ks])  # (C_out, M_h, M_w)
    return padded[:, None, :, :] * w[:, :, None, None]  # (C_out, 3, M_h, M_w)


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
        weights = specs.as_finite(self.weights, f"colour weights of {self.label!r}")
        if weights.shape != (3,):
            raise ValueError(
                f"{self.label!r} needs three colour weights (R, G, B); got {self.weights!r}."
            )
        params = self.kernel_params
        pairs = params.items() if isinstance(params, Mapping) else params
        pairs = tuple(sorted((str(k), _hashable(v)) for k, v in pairs))
        bias = specs.as_finite(self.bias, f"bias of {self.label!r}")
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
