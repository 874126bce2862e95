"""Output shapes, padding and dilation: how big filter2d's result is and what it pads."""

from __future__ import annotations

import numpy as np

from explorer.convolution.specs import (
    BOUNDARIES,
    MODES,
    OPS,
    as_finite_2d,
    check_choice,
    check_fillvalue,
    check_int,
    check_pixels,
    check_shape,
)

EVEN_KERNEL_NOTE = (
    "An even-sized kernel has no centre pixel. In 'same' mode SciPy (and this page) puts kernel "
    "entry (K-1)//2 (that is K/2 - 1, the upper-left of the middle entries) over the output pixel, "
    "for both correlation and convolution. So for an even K the window reaches K/2 - 1 pixels "
    "up/left and K/2 pixels down/right when correlating, and K/2 up/left and K/2 - 1 down/right "
    "when convolving (the kernel is flipped). The result is shifted by half a pixel compared with "
    "an odd kernel; an identity kernel with its 1 at (K-1)//2 still returns the image unchanged."
)


def dilated_size(k: int, dilation: int) -> int:
    """Size d(K-1)+1 of a K-tap kernel with its taps spread d apart."""
    return dilation * (k - 1) + 1


def dilate_kernel(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """Spread the kernel's taps `dilation` apart, zeros in between."""
    k = np.asarray(kernel, dtype=np.float64)
    d = check_int(dilation, "dilation")
    if d == 1:
        return k
    out = np.zeros((dilated_size(k.shape[0], d), dilated_size(k.shape[1], d)))
    out[::d, ::d] = k
    return out


def padding(
    kernel_shape: tuple[int, int], *, op: str = "correlate", mode: str = "valid", dilation: int = 1
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) padding that turns `mode` into a 'valid' computation.

    With Ke = d(K-1)+1: full pads Ke-1 on each side; same pads Ke-1 in total, split as
    ((Ke-1)//2, Ke//2) for correlation and (Ke//2, (Ke-1)//2) for convolution, which is
    where SciPy puts an even kernel (see EVEN_KERNEL_NOTE).
    """
    check_choice(op, OPS, "operation")
    check_choice(mode, MODES, "mode")
    kh, kw = check_shape(kernel_shape, "kernel")
    d = check_int(dilation, "dilation")

    def one_axis(k: int) -> tuple[int, int]:
        ke = dilated_size(k, d)
        if mode == "valid":
            return 0, 0
        if mode == "full":
            return ke - 1, ke - 1
        small, big = (ke - 1) // 2, ke // 2
        return (small, big) if op == "correlate" else (big, small)

    return one_axis(kh), one_axis(kw)


def _check_fits(image_shape: tuple[int, int], kernel_shape: tuple[int, int], d: int) -> None:
    (n_h, n_w), (k_h, k_w) = image_shape, kernel_shape
    ke_h, ke_w = dilated_size(k_h, d), dilated_size(k_w, d)
    if ke_h > n_h or ke_w > n_w:
        dilated = f" (dilated to {ke_h}x{ke_w})" if d > 1 else ""
        raise ValueError(
            f"In 'valid' mode the kernel must fit inside the image, but the {k_h}x{k_w} kernel"
            f"{dilated} is larger than the {n_h}x{n_w} image. Use 'same' or 'full' mode, "
            "a smaller kernel or dilation, or a larger image."
        )


def output_shape(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str,
    stride: int = 1,
    dilation: int = 1,
) -> tuple[int, int]:
    """Shape of filter2d's output: per axis ⌊(N + pad - d(K-1) - 1)/s⌋ + 1."""
    check_choice(mode, MODES, "mode")
    n_h, n_w = check_shape(image_shape, "image")
    k_h, k_w = check_shape(kernel_shape, "kernel")
    s = check_int(stride, "stride")
    d = check_int(dilation, "dilation")
    if mode == "valid":
        _check_fits((n_h, n_w), (k_h, k_w), d)
    pad = padding((k_h, k_w), mode=mode, dilation=d)

    def one_axis(n: int, k: int, p: tuple[int, int]) -> int:
        return (n + sum(p) - dilated_size(k, d)) // s + 1

    return one_axis(n_h, k_h, pad[0]), one_axis(n_w, k_w, pad[1])


def output_shape_text(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    mode: str,
    stride: int = 1,
    dilation: int = 1,
) -> tuple[str, str]:
    """The output-size formula with the numbers filled in, one line per axis (rows, columns)."""
    out = output_shape(image_shape, kernel_shape, mode=mode, stride=stride, dilation=dilation)
    lines = []
    for name, n, k, o in zip(("rows", "columns"), image_shape, kernel_shape, out, strict=True):
        reach = dilation * (k - 1)  # d(K-1)
        numbers = {
            "valid": f"⌊({n} - {reach} - 1)/{stride}⌋ + 1",
            "same": f"⌊({n} - 1)/{stride}⌋ + 1",
            "full": f"⌊({n} + {reach} - 1)/{stride}⌋ + 1",
        }[mode]
        lines.append(f"{name}: {MODES[mode].formula} = {numbers} = {o}")
    return lines[0], lines[1]


def check_padding(
    image_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    mode: str,
    boundary: str,
    dilation: int,
) -> None:
    """ValueError when a 'valid' kernel does not fit or 'reflect' would need too much padding."""
    if mode == "valid":
        _check_fits(image_shape, kernel_shape, dilation)
    if boundary != "reflect":
        return  # np.pad repeats wrap/symmetric/edge as often as needed, as SciPy does
    for axis, (n, p) in enumerate(zip(image_shape, pads, strict=True)):
        if max(p) >= n:
            raise ValueError(
                f"'reflect' padding mirrors the image without repeating the edge pixel, so it "
                f"can add at most {n - 1} pixel(s) along the {('rows', 'columns')[axis]} "
                f"of this image, but {max(p)} are needed. Use 'symm', 'wrap' or 'replicate', "
                "a smaller kernel, or a larger image."
            )


def pad_boundary(
    x: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    boundary: str,
    fillvalue: float,
) -> np.ndarray:
    """np.pad with the boundary's mode; keeps x's dtype; always a new array."""
    numpy_mode = BOUNDARIES[boundary].numpy_mode
    if numpy_mode == "constant":
        return np.pad(x, pads, mode="constant", constant_values=fillvalue)
    return np.pad(x, pads, mode=numpy_mode)


def pad_image(
    image: np.ndarray,
    kernel_shape: tuple[int, int],
    *,
    op: str = "correlate",
    mode: str = "valid",
    boundary: str = "fill",
    fillvalue: float = 0.0,
    dilation: int = 1,
) -> tuple[np.ndarray, tuple[tuple[int, int], tuple[int, int]]]:
    """The padded image that a 'valid' pass turns into `mode`, and the padding used."""
    x = as_finite_2d(image, "image")
    check_choice(boundary, BOUNDARIES, "boundary")
    fill = check_fillvalue(fillvalue)
    pads = padding(kernel_shape, op=op, mode=mode, dilation=dilation)
    check_padding(x.shape, tuple(kernel_shape), pads, mode, boundary, dilation)
    check_pixels(x.shape[0] + sum(pads[0]), x.shape[1] + sum(pads[1]), "padded image")
    return pad_boundary(x, pads, boundary, fill), pads
