"""Backpropagation through one convolutional layer: autograd's gradients against the lecture's
formulas, a correlation for dJ/dW and a full convolution for dJ/dA.

For Z[m] = sum_n correlate(A[n], W[m, n]) + b[m] ("valid", as torch.nn.Conv2d computes it) and
the loss J = 0.5 * ||Z - Y||^2, so that dJ/dZ = Z - Y:
    dJ/dW[m, n] = correlate2d(A[n], dJ/dZ[m], "valid")        (K x K)
    dJ/dA[n]    = sum_m convolve2d(dJ/dZ[m], W[m, n], "full")  (N x N)
    dJ/db[m]    = sum of dJ/dZ[m]
Small whole numbers are used so every value on screen is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from scipy import signal

SIZES = (4, 5, 6, 7, 8)
KERNELS = (2, 3, 4)
MAX_CHANNELS = 3


@dataclass(frozen=True)
class LayerSetup:
    size: int = 6  # the input is N x N
    kernel: int = 3  # the kernel is K x K
    c_in: int = 1
    c_out: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in SIZES or self.kernel not in KERNELS or self.kernel >= self.size:
            raise ValueError(f"Input {self.size} and kernel {self.kernel}: pick N in {SIZES}, "
                             f"K in {KERNELS}, K < N.")
        if not (1 <= self.c_in <= MAX_CHANNELS and 1 <= self.c_out <= MAX_CHANNELS):
            raise ValueError(f"Channels must be 1 to {MAX_CHANNELS}.")


@dataclass(frozen=True)
class LayerGradients:
    a: np.ndarray  # (C_in, N, N) the layer's input A^{l-1}
    w: np.ndarray  # (C_out, C_in, K, K)
    z: np.ndarray  # (C_out, N-K+1, N-K+1)
    y: np.ndarray  # (C_out, N-K+1, N-K+1) the target
    dz: np.ndarray  # (C_out, N-K+1, N-K+1) dJ/dZ = Z - Y
    dw_autograd: np.ndarray  # (C_out, C_in, K, K)
    dw_formula: np.ndarray
    da_autograd: np.ndarray  # (C_in, N, N)
    da_formula: np.ndarray
    db_autograd: np.ndarray  # (C_out,)
    db_formula: np.ndarray

    @property
    def max_differences(self) -> dict[str, float]:
        """Largest |autograd - formula| for W, A and b (0 up to float64 rounding)."""
        return {name: float(np.max(np.abs(getattr(self, f"d{name}_autograd")
                                          - getattr(self, f"d{name}_formula"))))
                for name in ("w", "a", "b")}


def layer_gradients(setup: LayerSetup = LayerSetup()) -> LayerGradients:
    """One conv layer's forward pass, autograd's backward pass and the lecture's formulas."""
    rng = np.random.default_rng(setup.seed)
    n, k = setup.size, setup.kernel
    out = n - k + 1
    a = rng.integers(-3, 4, (setup.c_in, n, n)).astype(np.float64)
    w = rng.integers(-2, 3, (setup.c_out, setup.c_in, k, k)).astype(np.float64)
    b = rng.integers(-1, 2, setup.c_out).astype(np.float64)
    y = rng.integers(-5, 6, (setup.c_out, out, out)).astype(np.float64)

    a_t = torch.tensor(a[None], requires_grad=True)  # (1, C_in, N, N)
    w_t = torch.tensor(w, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    z_t = F.conv2d(a_t, w_t, b_t)  # (1, C_out, out, out): a correlation
    loss = 0.5 * ((z_t - torch.tensor(y[None])) ** 2).sum()
    loss.backward()

    z = z_t.detach().numpy()[0]
    dz = z - y
    dw = np.array([[signal.correlate2d(a[i], dz[m], mode="valid") for i in range(setup.c_in)]
                   for m in range(setup.c_out)])
    da = np.array([sum(signal.convolve2d(dz[m], w[m, i], mode="full")
                       for m in range(setup.c_out)) for i in range(setup.c_in)])
    return LayerGradients(
        a=a, w=w, z=z, y=y, dz=dz,
        dw_autograd=w_t.grad.numpy(), dw_formula=dw,
        da_autograd=a_t.grad.numpy()[0], da_formula=da,
        db_autograd=b_t.grad.numpy(), db_formula=dz.sum(axis=(1, 2)),
    )
