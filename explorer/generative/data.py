"""The images the generative image models learn from: Shapes by name, MNIST / Fashion-MNIST when
already cached, and a user's zip of class folders (registered once, then named by its digest)."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from explorer.training.data import Dataset, DatasetError, load_dataset, shapes_dataset

# name -> label; a select box reads the keys ("zip:<digest>" names an uploaded zip)
IMAGE_DATASETS: dict[str, str] = {
    "shapes": "Shapes (built in, 32 x 32 colour)",
    "mnist": "MNIST digits (28 x 28 grey, when downloaded on the Train page)",
    "fashion": "Fashion-MNIST (28 x 28 grey, when downloaded on the Train page)",
}
SHAPES_TRAIN = 20_000  # the Train page's Shapes: usually cached in the process already
ZIP_PREFIX = "zip:"
ZIP_SIZE = 32  # an uploaded zip's images are resized to ZIP_SIZE x ZIP_SIZE colour
MAX_ZIPS = 8  # uploaded zips kept in memory per process (the oldest is forgotten)

_zips: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # digest -> (file name, bytes)
_zips_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images as uint8 (N, C, H, W) with labels; batches come out as float32 in [0, 1]."""

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor = field(repr=False)  # (N, C, H, W) uint8
    train_labels: torch.Tensor = field(repr=False)  # (N,) int64
    test_images: torch.Tensor = field(repr=False)  # (M, C, H, W) uint8
    test_labels: torch.Tensor = field(repr=False)  # (M,) int64
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(s) for s in self.train_images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    def test_batch(self, count: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images start..start+count as float32 [0, 1] (n, C, H, W) and labels."""
        stop = min(len(self.test_labels), start + count)
        return to_float(self.test_images[start:stop]), self.test_labels[start:stop]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1]."""
    return images.to(torch.float32).div_(255.0)


class BatchStream:
    """Seeded random training batches (x float32 [0, 1] (B, C, H, W), y (B,)): the same seed
    gives the same batches."""

    def __init__(self, data: ImageData, batch_size: int, seed: int) -> None:
        self.data = data
        self.batch_size = max(1, min(batch_size, len(data.train_labels)))
        self._generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(self.data.train_labels), (self.batch_size,),
                              generator=self._generator)
        return to_float(self.data.train_images[index]), self.data.train_labels[index]


def register_zip(data: bytes, name: str = "upload.zip") -> str:
    """Keep an uploaded zip in memory and return its dataset name ("zip:<digest>"); the zip is
    read (and refused with a DatasetError for the user) when a run first asks for it."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    with _zips_lock:
        _zips[digest] = (name, data)
        _zips.move_to_end(digest)
        while len(_zips) > MAX_ZIPS:
            _zips.popitem(last=False)
    return ZIP_PREFIX + digest


def is_valid_name(name: object) -> bool:
    """A name image_data may be asked for (the zip need not be registered here)."""
    return isinstance(name, str) and (name in IMAGE_DATASETS or (
        name.startswith(ZIP_PREFIX) and len(name) == len(ZIP_PREFIX) + 16
        and all(c in "0123456789abcdef" for c in name[len(ZIP_PREFIX):])))


def label(name: str) -> str:
    return IMAGE_DATASETS.get(name, "your zip of images")


def _from_dataset(dataset: Dataset) -> ImageData:
    return ImageData(dataset.name, dataset.classes, dataset.train_images, dataset.train_labels,
                     dataset.test_images, dataset.test_labels, dataset.notes)


@functools.lru_cache(maxsize=2)
def _cached(name: str) -> ImageData:
    return _from_dataset(load_dataset(name, download=False))  # never downloads here


@functools.lru_cache(maxsize=4)
def _zip_data(digest: str) -> ImageData:
    from explorer.training.dataset_zip import dataset_from_zip

    with _zips_lock:
        entry = _zips.get(digest)
    if entry is None:
        raise DatasetError("That uploaded zip is no longer on the server: upload it again.")
    return _from_dataset(dataset_from_zip(entry[1], name=entry[0], size=ZIP_SIZE))


def image_data(name: str) -> ImageData:
    """The dataset `name` (a key of IMAGE_DATASETS or a register_zip name); DatasetError with a
    message for the user when it is unknown, not downloaded, or a zip that holds no images."""
    if name == "shapes":
        return _from_dataset(shapes_dataset(n_train=SHAPES_TRAIN))
    if name in ("mnist", "fashion"):
        return _cached(name)
    if is_valid_name(name):
        return _zip_data(name[len(ZIP_PREFIX):])
    raise DatasetError(f"Unknown dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)} "
                       "or upload a zip.")


def available(name: str) -> bool:
    """Whether image_data(name) would load without a download."""
    try:
        image_data(name)
    except DatasetError:
        return False
    return True
