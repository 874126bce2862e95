"""The nn.Conv2d proof: a colour filter bank loaded into a real module gives the same maps."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.colour.bank import as_bias, as_weight
from explorer.colour.feature_maps import MODES, apply_filters

if TYPE_CHECKING:  # torch is imported inside functions: importing it takes seconds
    import torch

# PyTorch warns about its own extra copy when padding="same" meets an even kernel.
_EVEN_SAME_WARNING = "Using padding='same' with even kernel lengths"
# Installed once for the process: warnings.catch_warnings() around the call would swap the
# process-wide filter list while other sessions' threads run (it is not thread-safe).
warnings.filterwarnings("ignore", message=_EVEN_SAME_WARNING)


def conv2d_module(
    weight: np.ndarray, bias: np.ndarray | None = None, *, mode: str = "same"
) -> torch.nn.Conv2d:
    """torch.nn.Conv2d(3, C_out, (K_h, K_w)) loaded with `weight` and `bias` the lecture's way.

    padding="same" for mode 'same', 0 for 'valid'; float32; bias zero when None.
    """
    import torch
    from torch import nn

    w = as_weight(weight)
    b = as_bias(bias, w.shape[0])
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
