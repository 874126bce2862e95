"""filter2d, the page's central 2-D correlation/convolution, and compare_engines, which times it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from explorer.convolution.engines import (
    VALID_PASSES,
    choose_engine,
    engine_seconds,
    valid_scipy,
)
from explorer.convolution.shapes import check_padding, pad_boundary, padding
from explorer.convolution.specs import (
    ENGINES,
    as_finite_2d,
    check_choice,
    check_fillvalue,
    check_float32_range,
    check_int,
    check_pixels,
    check_settings,
)

# One timed pass of an engine may cost at most this (estimated); beyond, it is skipped.
ENGINE_BUDGET_S = 0.5
# All timed passes of one engine together aim at most at this: big cases get fewer repeats.
TIMING_BUDGET_S = 1.0


def filter2d(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
    engine: str = "auto",
) -> np.ndarray:
    """Correlate or convolve a 2-D image with a 2-D kernel; float64 result.

    mode/boundary ('fill', 'wrap', 'symm') match scipy.signal.correlate2d/convolve2d exactly;
    'reflect'/'replicate' match PyTorch's padding modes. The dilated kernel (size d(K-1)+1) is
    used like an ordinary kernel of that size; the stride then keeps every s-th row and column,
    starting with the first. So 'valid' correlation equals F.conv2d(x, w, stride=s, dilation=d).
    engine 'scipy' is exact (float64); 'fft' and 'torch' compute in float32 (relative error
    ~1e-6 of the output's largest value); 'auto' picks by size (see choose_engine).
    """
    x = as_finite_2d(image, "image")
    k = as_finite_2d(kernel, "kernel")
    check_settings(op, mode, boundary, stride, dilation)
    check_choice(engine, ENGINES, "engine")
    fill = check_fillvalue(fillvalue)
    pads = padding(k.shape, op=op, mode=mode, dilation=dilation)
    check_padding(x.shape, k.shape, pads, mode, boundary, dilation)
    check_pixels(x.shape[0] + sum(pads[0]), x.shape[1] + sum(pads[1]), "padded image")
    # |output| <= sum|taps| * the largest |input| (image or fill): keep it finite
    check_float32_range(float(np.abs(k).sum()) * max(float(np.abs(x).max()), abs(fill)))
    if engine == "auto":
        engine = choose_engine(x.shape, k.shape, mode=mode, dilation=dilation)
    taps = k[::-1, ::-1] if op == "convolve" else k
    if engine == "scipy":
        return valid_scipy(pad_boundary(x, pads, boundary, fill), taps, stride, dilation)
    # FFT and PyTorch run in float32: half the memory traffic, and PyTorch's float64 CPU
    # convolution takes a slow path. Subtracting the mean m first makes rounding errors scale
    # with the image's contrast rather than its brightness; a constant m adds m * sum(taps).
    m = float(x.mean())
    padded = pad_boundary(np.subtract(x, m, dtype=np.float32), pads, boundary, fill - m)
    out = VALID_PASSES[engine](padded, taps, stride, dilation).astype(np.float64)
    out += m * taps.sum()
    return out


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class EngineResult:
    engine: str
    output: np.ndarray | None  # None when skipped
    milliseconds: float  # median of `repeats` timed runs; NaN when skipped
    max_abs_diff: float  # against the reference engine (SciPy unless skipped); NaN if skipped
    estimated_seconds: float = 0.0  # one pass, from engine_seconds
    repeats: int = 0  # timed passes actually run
    skipped: str = ""  # why it did not run ("" when it ran)
    reference: str = "scipy"  # the engine the difference is measured against


def compare_engines(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    repeats: int = 5,
    budget_seconds: float | None = None,
    **settings: object,
) -> list[EngineResult]:
    """Run filter2d on every concrete engine; time it and compare it with the SciPy result.

    Bounded before anything runs: an engine whose one pass is estimated (engine_seconds) above
    `budget_seconds` (default ENGINE_BUDGET_S) is skipped with the reason, and big cases get fewer repeats (all passes of
    an engine aim at TIMING_BUDGET_S). When SciPy is skipped the first engine that ran is the
    reference for the differences.
    """
    if "engine" in settings:
        raise ValueError("compare_engines runs every engine; don't pass engine=.")
    repeats = check_int(repeats, "number of repeats")
    budget_seconds = ENGINE_BUDGET_S if budget_seconds is None else budget_seconds
    x = as_finite_2d(image, "image")
    k = as_finite_2d(kernel, "kernel")
    mode, stride, dilation = (settings.get("mode", "valid"), settings.get("stride", 1),
                              settings.get("dilation", 1))
    check_settings(str(settings.get("op", "correlate")), mode, str(settings.get("boundary", "fill")),
                    stride, dilation)
    estimates = engine_seconds(x.shape, k.shape, mode=mode, stride=stride, dilation=dilation)
    runs: dict[str, tuple[np.ndarray, float, int]] = {}
    for name in VALID_PASSES:
        if estimates[name] > budget_seconds:
            continue
        if name == "torch":
            import torch  # noqa: F401 - its first import (seconds) is not the engine's time
        count = max(1, min(repeats, int(TIMING_BUDGET_S / estimates[name])))
        if estimates[name] * (count + 1) <= TIMING_BUDGET_S:
            filter2d(x, k, engine=name, **settings)  # warm-up: caches, thread pools
        times = []
        for _ in range(count):
            start = time.perf_counter()
            output = filter2d(x, k, engine=name, **settings)
            times.append(time.perf_counter() - start)
        runs[name] = (output, 1000 * float(np.median(times)), count)
    reference = next(iter(runs), "")
    results = []
    for name in VALID_PASSES:
        if name not in runs:
            why = (f"estimated {estimates[name]:.3g} s for one pass, more than the "
                   f"{budget_seconds:g} s budget")
            results.append(EngineResult(name, None, float("nan"), float("nan"),
                                        estimates[name], 0, why, reference))
            continue
        output, milliseconds, count = runs[name]
        diff = float(np.max(np.abs(output - runs[reference][0])))
        results.append(EngineResult(name, output, milliseconds, diff, estimates[name], count,
                                    "", reference))
    return results
