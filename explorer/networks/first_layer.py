"""First-layer kernels of trained networks (AlexNet from the local torch cache) as small images."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from explorer.environment import weights_dir

# Basename of torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url (a test checks it), kept
# here so that finding the file needs no torch import.
ALEXNET_FILENAME = "alexnet-owt-7be5be79.pth"
ALEXNET_KEY = "features.0.weight"  # the first Conv2d(3, 64, kernel_size=11, stride=4)
ALEXNET_SHAPE = (64, 3, 11, 11)
ALEXNET_PARAMETERS = 61_100_840  # the whole network's (a test checks it): the file's size bound


def kernels_to_images(weight: np.ndarray, *, per_kernel: bool = True) -> np.ndarray:
    """Conv weights (C_out, 3, K_h, K_w) -> images (C_out, K_h, K_w, 3) in [0, 1], float32.

    Scaled symmetrically around 0.5: image = 0.5 + 0.5 * w / max|w|, so a zero weight is mid
    grey and a weight and its negative are equally far from grey (a min-max stretch would move
    zero and hide the sign). max|w| is taken per kernel (each uses the full range), or over all
    kernels with per_kernel=False (strengths comparable). All-zero kernels are plain grey.
    """
    try:
        w = np.asarray(weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("The weights must be an array of numbers.") from exc
    if w.ndim != 4 or w.shape[1] != 3 or w.size == 0:
        raise ValueError(f"The weights must have shape (C_out, 3, K_h, K_w); got {w.shape}.")
    if not np.isfinite(w).all():
        raise ValueError("The weights contain NaN or infinity.")
    axes = (1, 2, 3) if per_kernel else (0, 1, 2, 3)
    scale = np.abs(w).max(axis=axes, keepdims=True)  # (C_out, 1, 1, 1) or (1, 1, 1, 1)
    scale = np.where(scale > 0, scale, 1.0)  # all-zero kernels: 0 / 1 -> grey
    images = 0.5 + 0.5 * w / scale  # (C_out, 3, K_h, K_w), in [0, 1]
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1), dtype=np.float32)


def alexnet_weights_path(directory: Path | None = None) -> Path:
    """Where torchvision keeps AlexNet's ImageNet weights (the file need not exist)."""
    return (weights_dir() if directory is None else Path(directory)) / ALEXNET_FILENAME


def cached_alexnet_first_layer(directory: Path | None = None) -> np.ndarray | None:
    """AlexNet's 64 first-layer kernels (64, 3, 11, 11) float32 from the cache, or None.

    Never downloads: None when the file isn't in `directory` (default: torch's hub cache).
    Loaded with weights_only=True, so a file that would run code when unpickled is refused;
    a file that isn't a state dict with the right "features.0.weight" raises ValueError.
    """
    path = alexnet_weights_path(directory)
    if not path.is_file():
        return None
    import torch

    from explorer.networks import weights_files

    # float32, with the same margin as any weights file (weights_files.weights_budget): a compressed
    # entry that would unpack to more is refused before it is unpacked.
    budget = weights_files.WEIGHTS_MARGIN * 4 * ALEXNET_PARAMETERS + weights_files.WEIGHTS_SLACK
    try:
        state_dict = weights_files.load_weights_file(path, what=path.name, budget=budget)
    except (weights_files.WeightsError, OSError) as exc:
        raise ValueError(
            f"{path.name} is not a PyTorch weights file that can be loaded safely "
            f"(weights only, no code): {str(exc).rstrip('.')}. Delete it and let torchvision "
            "download it again."
        ) from exc
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"{path.name} holds a {type(state_dict).__name__}, not a state dict "
            "(a mapping from layer names to tensors)."
        )
    if ALEXNET_KEY not in state_dict:
        raise ValueError(f"{path.name} has no {ALEXNET_KEY!r}: it is not AlexNet's state dict.")
    tensor = state_dict[ALEXNET_KEY]
    if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != ALEXNET_SHAPE:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(
            f"{ALEXNET_KEY!r} in {path.name} should be a tensor of shape {ALEXNET_SHAPE}; "
            f"got {shape}."
        )
    if not tensor.is_floating_point() or tensor.layout != torch.strided or tensor.is_quantized:
        raise ValueError(
            f"{ALEXNET_KEY!r} in {path.name} should hold floating-point numbers; got "
            f"{str(tensor.dtype).removeprefix('torch.')} ({tensor.layout})."
        )
    weight = tensor.detach().to(torch.float32).numpy().copy()
    if not np.isfinite(weight).all():
        raise ValueError(f"{ALEXNET_KEY!r} in {path.name} contains NaN or infinity.")
    return weight
