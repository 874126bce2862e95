"""The real batches the deep networks see: Shapes (2,000 training images, built in),
normalised as the Train page normalises them."""

from __future__ import annotations

import torch

from explorer.training.augmentation import Augmentation
from explorer.training.batches import Batches
from explorer.training.data import Dataset, shapes_dataset

TRAIN_IMAGES = 2000  # the Train page's "shapes-small": already cached when the ablation ran


def deep_dataset() -> Dataset:
    """Shapes with 2,000 training images (cached per process)."""
    return shapes_dataset(n_train=TRAIN_IMAGES)


class BatchStream:
    """Seeded random batches of a dataset's training images: (x normalised, y)."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int) -> None:
        self.dataset = dataset
        self.batch_size = min(batch_size, len(dataset.train_labels))
        self._batches = Batches(dataset, Augmentation())
        self._generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randperm(len(self.dataset.train_labels),
                               generator=self._generator)[: self.batch_size]
        x = self._batches.prepare(self.dataset.train_images[index])
        return x.contiguous(), self.dataset.train_labels[index]
