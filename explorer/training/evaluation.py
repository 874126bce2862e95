"""Evaluating a run: the fixed test subset, batched predictions, confusion matrix, mistakes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.training.data import Dataset
from explorer.training.snapshot import Misclassified

EVAL_BATCH = 256  # evaluation batches stay <= 256 images (bigger ones are no faster here)
MISCLASSIFIED_KEPT = 16


def eval_indices(dataset: Dataset, size: int) -> torch.Tensor:
    """The fixed test subset the live curves use: the same for every run on this dataset."""
    count = len(dataset.test_labels)
    if size >= count:
        return torch.arange(count)
    generator = torch.Generator().manual_seed(0)
    return torch.randperm(count, generator=generator)[:size].sort().values


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor,
            y: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(mean loss, predictions (N,), confidences (N,)) in batches of EVAL_BATCH; the model's
    train/eval mode comes back as it was."""
    was_training = model.training
    model.eval()
    total, predictions, confidences = 0.0, [], []
    try:
        for first in range(0, len(y), EVAL_BATCH):
            logits = model(x[first : first + EVAL_BATCH])
            total += F.cross_entropy(logits, y[first : first + EVAL_BATCH],
                                     reduction="sum").item()
            probability, predicted = logits.softmax(1).max(1)
            predictions.append(predicted)
            confidences.append(probability)
    finally:
        model.train(was_training)
    return total / len(y), torch.cat(predictions).cpu(), torch.cat(confidences).cpu()


def report_errors(classes: int, indices: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor,
                  confidence: torch.Tensor) -> tuple[np.ndarray, tuple[Misclassified, ...]]:
    """The (classes, classes) confusion counts (rows = true) and the first MISCLASSIFIED_KEPT
    mistakes, with `indices` mapping each prediction to its test image."""
    confusion = torch.bincount(y * classes + predicted, minlength=classes * classes)
    wrong = torch.nonzero(predicted != y).flatten()[:MISCLASSIFIED_KEPT]
    examples = tuple(
        Misclassified(int(indices[i]), int(y[i]), int(predicted[i]), float(confidence[i]))
        for i in wrong
    )
    return confusion.view(classes, classes).numpy().copy(), examples
