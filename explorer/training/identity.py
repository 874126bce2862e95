"""What a training run's result depends on, as one key: identical runs are trained once."""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from pathlib import Path

import explorer
from explorer.jobs.bounded_cache import array_digest
from explorer.training.data import Dataset
from explorer.training.settings import TrainSettings

_DIGESTS: weakref.WeakKeyDictionary[Dataset, str] = weakref.WeakKeyDictionary()
_CODE_VERSION: str | None = None


def code_version() -> str:
    """The package version and a digest of the training room's source: a changed loop, model
    or dataset generator makes new keys, so a server never hands out a run of older code."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        digest = hashlib.sha1(explorer.__version__.encode())
        for path in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _CODE_VERSION = f"{explorer.__version__}+{digest.hexdigest()[:12]}"
    return _CODE_VERSION


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
    result_settings = dataclasses.replace(settings, threads=1)
    text = "\n".join(("train", code_version(), repr(result_settings), dataset_digest(dataset)))
    return hashlib.sha1(text.encode()).hexdigest()
