"""What a training run's result depends on, as one key: identical runs are trained once."""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from pathlib import Path

from explorer.jobs.bounded_cache import array_digest
from explorer.jobs.identity import code_version, job_key
from explorer.training.data import Dataset
from explorer.training.settings import TrainSettings

_DIGESTS: weakref.WeakKeyDictionary[Dataset, str] = weakref.WeakKeyDictionary()
ROOM = Path(__file__).parent  # the training loop, models, data and augmentation


def dataset_digest(dataset: Dataset) -> str:
    """The dataset's name, classes and the full content of its four tensors (computed once per
    Dataset object: about 0.1 s for Shapes' 24,000 images)."""
    known = _DIGESTS.get(dataset)
    if known is None:
        digest = hashlib.sha1(repr((dataset.name, dataset.classes)).encode())
        for tensor in (dataset.train_images, dataset.train_labels, dataset.test_images,
                       dataset.test_labels):
            digest.update(array_digest(tensor.numpy()).encode())
        known = _DIGESTS[dataset] = digest.hexdigest()
    return known


def run_key(settings: TrainSettings, dataset: Dataset) -> str:
    """Everything the run's result depends on: the settings (all but the thread count, which
    changes the speed, not what is learned), the data's content, the seed and the code."""
    return job_key("train", code_version(ROOM), dataclasses.replace(settings, threads=1),
                   dataset_digest(dataset))
