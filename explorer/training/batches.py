"""A run's data and starting point: batch advice, normalisation, model-ready batches, the model.

Model-ready: uint8 -> normalised float32 in channels_last, on the job's device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from explorer.jobs.concurrency import RNG_LOCK
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.training.data import Dataset
from explorer.training.nets import build_model, feature_sizes
from explorer.training.settings import TrainSettings

STD_FLOOR = 1 / 255  # a channel that varies by less than one grey level counts as constant
SMALL_TRAIN_BATCHES = 2  # fewer training images than this many batches earns a warning
DROPPED_SHARE = 0.1  # so does dropping more than this share of the images in every epoch


def batch_warning(train_count: int, batch_size: int) -> str | None:
    """A sentence for the page when the batch size does not suit the training set, else None.

    Epochs use full batches only (drop-last): N images in batches of B give N // B steps and
    leave N % B images out of every epoch (a different random few each time). A set smaller
    than B trains on one batch of N.
    """
    if train_count <= 0 or batch_size <= 0:
        return None
    batch = min(batch_size, train_count)
    steps = train_count // batch
    dropped = train_count - steps * batch
    if train_count < batch_size:
        return (f"The training set has only {train_count} images, fewer than one batch of "
                f"{batch_size}: every epoch is a single step on all {train_count}. Choose a "
                f"batch size of at most {max(1, train_count // SMALL_TRAIN_BATCHES)}.")
    if train_count < SMALL_TRAIN_BATCHES * batch_size:
        left_out = (f" and leaves {dropped} images out ({dropped / train_count:.0%})"
                    if dropped else "")
        return (f"The training set has only {train_count} images, fewer than "
                f"{SMALL_TRAIN_BATCHES} batches of {batch_size}: every epoch is a single step"
                f"{left_out}. Choose a smaller batch size for more steps per epoch.")
    if dropped / train_count > DROPPED_SHARE:
        return (f"Epochs use full batches only: {dropped} of the {train_count} training images "
                f"({dropped / train_count:.0%}) are left out of every epoch with batches of "
                f"{batch_size}. A batch size that divides {train_count} more evenly uses "
                "them all.")
    return None


def normalisation(dataset: Dataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) per channel that training divides by: the dataset's, with every std
    below STD_FLOOR (a constant channel has std 0, and x / 0 is NaN) raised to it."""
    std = tuple(float(v) if math.isfinite(v) and v >= STD_FLOOR else STD_FLOOR
                for v in dataset.std)
    return tuple(float(v) for v in dataset.mean), std


def data_problem(x: torch.Tensor, dataset: Dataset) -> str | None:
    """Why a normalised batch (B, C, H, W) is unusable, naming the data; None when it is
    finite."""
    if bool(torch.isfinite(x).all()):
        return None
    bad = (~torch.isfinite(x)).sum().item()
    return (f"The training images of {dataset.name!r} contain NaN or infinite values after "
            f"normalisation ({bad:,} of {x.numel():,} values in this batch; per-channel mean "
            f"{_numbers(dataset.mean)}, std {_numbers(dataset.std)}): the data is the cause, "
            "not the learning rate. Check the images and their statistics.")


def _numbers(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ",)"


class Batches:
    """Turns index sets of a Dataset into model-ready batches."""

    def __init__(self, dataset: Dataset, augmentation: Augmentation,
                 device: torch.device | str = "cpu") -> None:
        self.dataset = dataset
        self.augmentation = augmentation
        self.device = torch.device(device)
        mean, std = normalisation(dataset)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def prepare(self, images: torch.Tensor, *, augment: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, H, W) uint8 -> normalised float32 in channels_last (about 20-40 % faster),
        on the job's device (augmentation draws from the CPU generator, so runs repeat)."""
        x = images.float().div_(255)  # [0, 1]
        if augment and self.augmentation.active:
            x = augment_batch(x, self.augmentation, generator=generator)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last).to(self.device)


def _make_model(settings: TrainSettings, dataset: Dataset) -> nn.Module:
    return build_model(
        settings.model,
        in_channels=dataset.channels,
        num_classes=dataset.num_classes,
        image_size=dataset.image_size,
    )


def seeded_model(settings: TrainSettings, dataset: Dataset) -> nn.Module:
    """The initial model; the same seed gives the same weights even with jobs in parallel."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = _make_model(settings, dataset)
    return model.to(memory_format=torch.channels_last)


def check_fits(settings: TrainSettings, dataset: Dataset) -> None:
    """ValueError now (not in the worker) when the model cannot take this dataset."""
    feature_sizes(settings.model, dataset.image_size)
    if len(dataset.train_labels) == 0 or len(dataset.test_labels) == 0:
        raise ValueError("The dataset needs both train and test images.")
    if dataset.num_classes < 2:
        raise ValueError("The dataset needs at least 2 classes.")
