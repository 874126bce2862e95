"""filter2d's engines (SciPy, FFT, PyTorch), the Auto choice between them and their cost model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from explorer.convolution.shapes import dilate_kernel, dilated_size, output_shape, padding
from explorer.convolution.specs import check_shape

# Auto engine: below this many multiply-adds SciPy direct is fast enough and exact.
SMALL_WORK = 200_000
# Auto engine: PyTorch for kernels with at most this many taps (5x5), FFT above.
TORCH_MAX_TAPS = 25

# Rough speed of each engine on the 2-core development machine (operations per second, see
# engine_work: multiply-adds for SciPy and PyTorch, n log2 n per transform for the FFT). Only
# used to decide what "Time the three engines" may run, so they err on the slow side.
ENGINE_RATES = {"scipy": 6e8, "fft": 2e9, "torch": 2e9}
ENGINE_OVERHEAD_S = {"scipy": 1e-4, "fft": 2e-4, "torch": 5e-4}


# ---------------------------------------------------------------------------
# Engines: 'valid' cross-correlation of the padded image with the taps
# ---------------------------------------------------------------------------


def valid_scipy(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """SciPy direct (signal.correlate2d), the textbook sum; filter2d runs it in float64."""
    out = signal.correlate2d(padded, dilate_kernel(taps, dilation), mode="valid")
    return out[::stride, ::stride]


def valid_fft(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """The FFT engine: multiply spectra (convolution theorem), in the padded input's dtype."""
    k = dilate_kernel(taps, dilation)[::-1, ::-1]  # correlation = convolution with flipped taps
    k = k.astype(padded.dtype)
    (h, w), (kh, kw) = padded.shape, k.shape
    # A circular convolution of length >= h only wraps into the first kh-1 outputs, which the
    # 'valid' crop drops, so no zero padding to h+kh-1 is needed.
    shape = (sp_fft.next_fast_len(h, real=True), sp_fft.next_fast_len(w, real=True))
    # Kernel spectrum: real FFT of its kh short rows, then a full-length FFT down the columns;
    # cheaper than rfft2 of a mostly-zero (h, w) array.
    kernel_spectrum = sp_fft.fft(sp_fft.rfft(k, shape[1], axis=1), shape[0], axis=0)
    spectrum = sp_fft.rfft2(padded, shape)
    spectrum *= kernel_spectrum
    out = sp_fft.irfft2(spectrum, shape, overwrite_x=True)
    return out[kh - 1 : h : stride, kw - 1 : w : stride]


def valid_torch(padded: np.ndarray, taps: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """The PyTorch engine: F.conv2d, imported only when it first runs."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(padded)[None, None]
    w = torch.from_numpy(np.ascontiguousarray(taps, dtype=padded.dtype))[None, None]
    with torch.inference_mode():
        out = F.conv2d(x, w, stride=stride, dilation=dilation)
    return out[0, 0].numpy()


# Engine name -> its 'valid' pass; compare_engines runs them in this order.
VALID_PASSES: dict[str, Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]] = {
    "scipy": valid_scipy,
    "fft": valid_fft,
    "torch": valid_torch,
}


def choose_engine(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    dilation: int = 1,
) -> str:
    """The engine 'auto' uses: SciPy for tiny jobs, PyTorch for <= 5x5 kernels, FFT above."""
    work = engine_work(image_shape, kernel_shape, mode=mode, dilation=dilation)
    if work["scipy"] <= SMALL_WORK:
        return "scipy"
    taps = kernel_shape[0] * kernel_shape[1]
    return "torch" if taps <= TORCH_MAX_TAPS else "fft"


def engine_work(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    stride: int = 1,
    dilation: int = 1,
) -> dict[str, float]:
    """Operations one filter2d pass costs per engine (the basis of engine_seconds).

    With the padded input Hp x Wp, the dilated kernel Ke = d(K-1)+1 and the stride s:
    scipy: (Hp-Ke+1)(Wp-Ke+1) * Ke_h*Ke_w multiply-adds (it multiplies the dilation's zeros
    too and computes every position before the stride keeps some); torch: out_h*out_w * K_h*K_w
    (strided, no zeros); fft: 3 transforms of n = Hp*Wp points at n log2 n each.
    """
    (k_h, k_w) = check_shape(kernel_shape, "kernel")
    out_h, out_w = output_shape(image_shape, kernel_shape, mode=mode, stride=stride,
                                dilation=dilation)
    (top, bottom), (left, right) = padding((k_h, k_w), mode=mode, dilation=dilation)
    h_p, w_p = image_shape[0] + top + bottom, image_shape[1] + left + right
    ke_h, ke_w = dilated_size(k_h, dilation), dilated_size(k_w, dilation)
    n = float(h_p * w_p)
    return {
        "scipy": float(h_p - ke_h + 1) * (w_p - ke_w + 1) * ke_h * ke_w,
        "fft": 3 * n * max(1.0, float(np.log2(n))),
        "torch": float(out_h) * out_w * k_h * k_w,
    }


def engine_seconds(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str = "valid",
    stride: int = 1,
    dilation: int = 1,
) -> dict[str, float]:
    """Estimated seconds of one filter2d pass per engine on this kind of machine."""
    work = engine_work(image_shape, kernel_shape, mode=mode, stride=stride, dilation=dilation)
    return {name: ENGINE_OVERHEAD_S[name] + work[name] / ENGINE_RATES[name] for name in work}
