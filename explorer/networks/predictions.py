"""What a network is shown and what it answers: checked images, preprocessing, top-k predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from explorer.networks.activations import forward
from explorer.networks.weights_files import _short
from explorer.networks.zoo import LoadedModel, crop_size

# ---------------------------------------------------------------------------
# Predictions and preprocessing
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prediction:
    tensor: torch.Tensor  # (1, C, H, W) what the network saw, after the transforms
    top: tuple[tuple[str, float], ...]  # (category, probability), most probable first
    top_indices: tuple[int, ...]  # their class indices
    probabilities: np.ndarray  # (K,) softmax over all classes


MAX_ASPECT = 2.0  # longer side / shorter side of what a network is given: the rest is cropped
MAX_INPUT_PIXELS = 40_000_000  # the image decoder's limit (explorer.images.files.MAX_PIXELS) here too


def _image_array(image: np.ndarray) -> np.ndarray:
    """`image` as a checked (H, W, 3) or (H, W) array of real numbers (not yet copied)."""
    try:
        array = np.asarray(image)
    except (TypeError, ValueError) as exc:  # ragged nested lists, objects numpy cannot take
        raise ValueError(f"The image must be an array of numbers ({_short(exc)}).") from exc
    if array.dtype.kind not in "biuf":
        raise ValueError(f"The image must hold real numbers; got {array.dtype} values.")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3) or 0 in array.shape:
        raise ValueError(f"The image must be (H, W, 3) or (H, W); got {array.shape}.")
    if array.shape[0] * array.shape[1] > MAX_INPUT_PIXELS:
        raise ValueError(
            f"The image is {array.shape[1]} x {array.shape[0]} pixels; at most "
            f"{MAX_INPUT_PIXELS / 1e6:.0f} megapixels can be shown to a network."
        )
    return array


def crop_to_aspect(image: np.ndarray, max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """The central part of an image (H, W, ...) whose longer side is at most `max_aspect` times
    the shorter (a view; the image itself when it is already so).

    torchvision's transforms resize the shorter side to 256 before cropping the central
    224 x 224: a 1 x 5000 strip would become 256 x 1,280,000 (3.9 GB as float32). That central
    crop only ever sees the middle 0.875 of the shorter side's length, so cutting the longer
    side to 2x the shorter first changes nothing it uses."""
    height, width = image.shape[:2]
    if width > max_aspect * height:
        keep = max(1, int(max_aspect * height))
        start = (width - keep) // 2
        return image[:, start:start + keep]
    if height > max_aspect * width:
        keep = max(1, int(max_aspect * width))
        start = (height - keep) // 2
        return image[start:start + keep]
    return image


def aspect_note(shape: Sequence[int], max_aspect: float = MAX_ASPECT) -> str | None:
    """What crop_to_aspect does to an image of `shape` (H, W, ...), in words; None if nothing."""
    height, width = int(shape[0]), int(shape[1])
    if max(height, width) <= max_aspect * min(height, width):
        return None
    kept = crop_to_aspect(np.empty((height, width), dtype=np.uint8), max_aspect).shape
    return (
        f"The picture is {width} x {height} px, much longer than wide: the network is shown its "
        f"central {kept[1]} x {kept[0]} px (sides at most {max_aspect:g}:1), as a resize of the "
        "whole strip would make an enormous image."
    )


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """An image (H, W, 3) or (H, W) float in [0, 1] (clipped) -> tensor (3, H, W) float32.

    ValueError for anything else, NaN or infinity included (naming how many values)."""
    array = _image_array(image).astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(
            f"The image contains NaN or infinity ({bad:,} of {array.size:,} values): a network "
            "cannot be run on it. Pick or upload another picture."
        )
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)  # grey -> RGB
    array = np.clip(array, 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))  # (3, H, W)


def preprocess(loaded: LoadedModel, image: np.ndarray) -> torch.Tensor:
    """The image as the network sees it: (1, C, H, W). A long strip is first cut to its
    central part with sides at most MAX_ASPECT:1 (see crop_to_aspect, aspect_note)."""
    return loaded.transforms(image_tensor(crop_to_aspect(_image_array(image)))).unsqueeze(0)


def predict(loaded: LoadedModel, image: np.ndarray, k: int = 5) -> Prediction:
    """Top-k classes of an image (H, W, 3) float in [0, 1]. ValueError when the network's
    output is not finite (weights too large) rather than NaN probabilities."""
    x = preprocess(loaded, image)  # (1, C, H, W)
    logits = forward(loaded.model, x)  # (1, K)
    if logits.dim() != 2 or logits.shape[0] != 1:
        raise ValueError(
            f"The model's output should be (1, K) class scores; got {tuple(logits.shape)}."
        )
    if logits.shape[1] != len(loaded.categories):
        raise ValueError(
            f"The model scores {logits.shape[1]} classes but {len(loaded.categories)} names "
            "are known."
        )
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(
            "The network's class scores for this picture are NaN or infinite: its weights are "
            "too large (or not finite), so there is no prediction to show."
        )
    probabilities = torch.softmax(logits[0].double(), dim=0)  # (K,), sums to 1
    values, indices = torch.topk(probabilities, min(max(1, k), probabilities.numel()))
    top_indices = tuple(indices.tolist())
    return Prediction(
        tensor=x,
        top=tuple(
            (loaded.categories[i], p) for i, p in zip(top_indices, values.tolist(), strict=True)
        ),
        top_indices=top_indices,
        probabilities=probabilities.numpy(),
    )


@dataclass(frozen=True)
class Preprocess:
    """Resize to the training size and normalise: (3, H, W) in [0, 1] -> (C, h, w).

    One mean/std entry means a greyscale network: the image is converted to grey first.
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or len(self.mean) not in (1, 3):
            raise ValueError("mean and std need 1 (grey) or 3 (RGB) entries each.")
        if any(s <= 0 for s in self.std):
            raise ValueError("std entries must be positive.")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if len(self.mean) == 1:
            image = TF.rgb_to_grayscale(image)  # (1, H, W): 0.299 R + 0.587 G + 0.114 B
        image = TF.resize(image, list(self.size), antialias=True)
        return TF.normalize(image, list(self.mean), list(self.std))

    def describe(self) -> str:
        grey = len(self.mean) == 1
        steps = ["Convert to greyscale (0.299 R + 0.587 G + 0.114 B)."] if grey else []
        steps += [
            f"Resize to {self.size[0]} x {self.size[1]} px (antialiased), the training size.",
            "Scale pixel values to [0, 1].",
            f"Normalise each channel: (x - mean) / std, mean = {_numbers(self.mean)}, "
            f"std = {_numbers(self.std)}.",
        ]
        return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


def _numbers(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def preprocess_steps(loaded: LoadedModel) -> str:
    """The transforms in words, one numbered step per line."""
    transforms = loaded.transforms
    if hasattr(transforms, "crop_size") and hasattr(transforms, "resize_size"):
        crop = crop_size(transforms)
        resize = list(transforms.resize_size)
        interpolation = getattr(transforms.interpolation, "value", transforms.interpolation)
        steps = [
            f"Resize so the shorter side is {resize[0]} px ({interpolation}, antialiased)."
            if len(resize) == 1 else f"Resize to {resize[0]} x {resize[1]} px ({interpolation}).",
            f"Crop the central {crop[0]} x {crop[1]} px.",
            "Scale pixel values to [0, 1].",
            f"Normalise each channel (R, G, B): (x - mean) / std, mean = "
            f"{_numbers(transforms.mean)}, std = {_numbers(transforms.std)} (ImageNet's).",
        ]
        return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    if hasattr(transforms, "describe"):  # Preprocess, or a transform that explains itself
        return transforms.describe()
    return repr(transforms)
