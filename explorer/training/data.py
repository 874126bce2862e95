"""Datasets for the training page: the container, built-in shapes, torchvision downloads, the registry.

Zips of class folders: explorer.training.dataset_zip; augmentation: explorer.training.augmentation.
"""

from __future__ import annotations

import functools
import math
import os
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

import numpy as np
import torch

from explorer.images.synthetic import SHAPE_CLASSES, render_shapes

# torchvision is imported inside the loaders that need it: it adds ~1.5 s to `import explorer.training.data`.

Progress = Callable[[int, int], None]  # (bytes done, bytes in total)


class DatasetError(ValueError):
    """A dataset that cannot be loaded or used; the message is meant for a student."""


# ---------------------------------------------------------------- the dataset container


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels held in memory, ready for a DataLoader-free training loop.

    eq=False: datasets compare (and hash) by identity, so caches can key on them cheaply.
    """

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor = field(repr=False)  # (N, C, H, W) uint8, contiguous
    train_labels: torch.Tensor = field(repr=False)  # (N,) int64, values in [0, num_classes)
    test_images: torch.Tensor = field(repr=False)  # (M, C, H, W) uint8, contiguous
    test_labels: torch.Tensor = field(repr=False)  # (M,) int64
    mean: tuple[float, ...]  # per channel, of the train images scaled to [0, 1]
    std: tuple[float, ...]  # per channel, population std (ddof = 0), same scale
    notes: tuple[str, ...] = ()  # what a loader skipped or changed, for the page

    def __post_init__(self) -> None:
        # Programming errors only (every loader builds consistent tensors): fail loudly.
        for split in ("train", "test"):
            images, labels = self._split(split)
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise ValueError(f"{split}_images must be (N, C, H, W) uint8, not {images.dtype} "
                                 f"{tuple(images.shape)}")
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                raise ValueError(f"{split}_labels must be int64 of shape ({images.shape[0]},)")
            if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.classes):
                raise ValueError(f"{split}_labels must lie in [0, {len(self.classes)})")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError("train and test images must have the same (C, H, W)")
        if not len(self.mean) == len(self.std) == self.channels:
            raise ValueError("mean and std need one value per channel")

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.train_images.shape[2]), int(self.train_images.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> dict[str, int]:
        """Number of images of each class, in class order."""
        _, labels = self._split(split)
        counts = torch.bincount(labels, minlength=self.num_classes).tolist()
        return dict(zip(self.classes, counts, strict=True))

    def preview(
        self, count_per_class: int = 8, split: str = "train"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `count_per_class` images of every class, class by class, for a grid.

        Returns (images (K, C, H, W) uint8, labels (K,) int64); K is smaller than
        count_per_class * num_classes only when a class has fewer images.
        """
        images, labels = self._split(split)
        picks = [
            torch.nonzero(labels == label).flatten()[:count_per_class]
            for label in range(self.num_classes)
        ]
        index = torch.cat(picks) if picks else torch.zeros(0, dtype=torch.int64)
        return images[index], labels[index]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of (N, C, H, W) uint8 images scaled to [0, 1].

    Exact and light on memory: a 256-bin histogram per channel instead of a float copy
    (CIFAR-10's train set as float64 would be 1.2 GB).
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = float((counts * values).sum() / total)
        variance = float((counts * (values - mean) ** 2).sum() / total)
        means.append(mean)
        stds.append(math.sqrt(variance))
    return tuple(means), tuple(stds)


MIN_STD = 1 / 255
"""A channel whose std is below one grey level is (nearly) the same in every training image.
Normalising divides by the std: 0 gives NaN at the first step, a tiny one blows test images
up. Such a channel gets std 1.0: it is centred, not scaled."""


def _channel_names(channels: int) -> tuple[str, ...]:
    return ("red", "green", "blue") if channels == 3 else tuple(
        f"channel {i + 1}" for i in range(channels))


def make_dataset(
    name: str,
    classes: tuple[str, ...],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    notes: tuple[str, ...] = (),
) -> Dataset:
    train_images = train[0].contiguous()
    mean, std = channel_stats(train_images)
    flat = [i for i, value in enumerate(std) if not value >= MIN_STD]  # `not >=`: NaN too
    if flat:
        std = tuple(1.0 if i in flat else value for i, value in enumerate(std))
        names = _channel_names(len(std))
        listed = [names[i] for i in flat]
        which = ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]
        notes = notes + (
            f"The {which} {'channel is' if len(flat) == 1 else 'channels are'} (almost) the "
            "same in every training image, so normalising uses std 1 there instead of "
            "dividing by (nearly) zero.",
        )
    return Dataset(
        name, classes, train_images, train[1].to(torch.int64).contiguous(),
        test[0].contiguous(), test[1].to(torch.int64).contiguous(), mean, std, notes,
    )


# ---------------------------------------------------------------- synthetic shapes
# (drawn by explorer.images.synthetic, which needs numpy only)


def _shape_split(count: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    labels = rng.permutation(np.arange(count) % len(SHAPE_CLASSES))  # balanced to within 1
    chunk = max(1, 4096 * 32**2 // size**2)  # keeps each float temporary near 50 MB
    images = np.concatenate(
        [render_shapes(labels[i : i + chunk], size, rng) for i in range(0, count, chunk)]
    )  # (count, 3, size, size) uint8
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


@functools.lru_cache(maxsize=4)
def shapes_dataset(
    n_train: int = 20000, n_test: int = 4000, *, size: int = 32, seed: int = 0
) -> Dataset:
    """Ten classes of coloured shapes on noisy backgrounds; needs no download.

    Deterministic: the same arguments give the same bytes. Train and test come from separate
    random streams, so the test set does not change when n_train does. Cached per process.
    """
    if n_train < len(SHAPE_CLASSES) or n_test < len(SHAPE_CLASSES):
        raise DatasetError(f"Ask for at least {len(SHAPE_CLASSES)} train and test images.")
    if not 8 <= size <= 256:
        raise DatasetError(f"Shape images must be 8 to 256 pixels wide, not {size}.")
    train = _shape_split(n_train, size, np.random.default_rng([seed, 0]))
    test = _shape_split(n_test, size, np.random.default_rng([seed, 1]))
    return make_dataset("shapes", SHAPE_CLASSES, train, test)


# ---------------------------------------------------------------- torchvision datasets

DOWNLOAD_TIMEOUT = 10.0  # seconds a connection or a read may stall before we give up
_CHUNK = 1 << 16  # bytes per read while downloading


def data_root() -> Path:
    """Where downloaded datasets live: $EXPLORER_DATA, else ~/.cache/cnn-explorer/data."""
    configured = os.environ.get("EXPLORER_DATA", "").strip()
    return Path(configured or "~/.cache/cnn-explorer/data").expanduser()


@dataclass(frozen=True)
class _Remote:
    """One archive to fetch: mirrors to try in turn, where it goes, its checksum and size."""

    urls: tuple[str, ...]
    path: Path  # where the archive is saved (torchvision's own folder layout)
    md5: str
    size: int  # bytes, for the progress bar until the server says otherwise


def _open_url(url: str):
    """Open `url` with a short socket timeout; tests replace this to stay offline."""
    request = urllib.request.Request(url, headers={"User-Agent": "cnn-explorer (pytorch/vision)"})
    return urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT)


def _download(remotes: list[_Remote], progress: Progress | None) -> None:
    """Fetch each archive in chunks (reporting bytes), check its md5, then unpack it beside.

    Our own loop instead of torchvision's download=True: torchvision only prints a tqdm bar
    and sets no socket timeout, so an offline machine could wait minutes for nothing.
    """
    from torchvision.datasets.utils import check_integrity, extract_archive

    sizes = [remote.size for remote in remotes]
    done = 0
    for index, remote in enumerate(remotes):
        remote.path.parent.mkdir(parents=True, exist_ok=True)
        if not check_integrity(remote.path, remote.md5):
            errors: list[Exception] = []
            for url in remote.urls:
                partial = remote.path.with_name(remote.path.name + ".part")
                start = done
                try:
                    with _open_url(url) as response, open(partial, "wb") as out:
                        length = getattr(response, "length", None)
                        if length:
                            sizes[index] = length
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, max(sum(sizes), done))
                    if not check_integrity(partial, remote.md5):
                        raise RuntimeError(f"{url} arrived damaged (its checksum is wrong)")
                    partial.replace(remote.path)
                    break
                except (OSError, HTTPException, RuntimeError) as error:  # URLError: an OSError
                    errors.append(error)
                    done = start
                    partial.unlink(missing_ok=True)
            else:
                raise errors[-1]
        else:
            done += sizes[index]
        extract_archive(str(remote.path), str(remote.path.parent))
    if progress is not None:
        progress(done, done)


def _mnist_remotes(cls: type, root: Path) -> list[_Remote]:
    """The four gzipped idx files of MNIST or Fashion-MNIST, into root/<Class>/raw/."""
    raw = root / cls.__name__ / "raw"
    return [
        _Remote(tuple(mirror + filename for mirror in cls.mirrors), raw / filename, md5,
                _ARCHIVE_BYTES.get(f"{cls.__name__}/{filename}", 0))
        for filename, md5 in cls.resources
    ]


# Archive sizes (bytes), only to draw a progress bar before the server reports a length.
_ARCHIVE_BYTES = {
    "MNIST/train-images-idx3-ubyte.gz": 9_912_422,
    "MNIST/train-labels-idx1-ubyte.gz": 28_881,
    "MNIST/t10k-images-idx3-ubyte.gz": 1_648_877,
    "MNIST/t10k-labels-idx1-ubyte.gz": 4_542,
    "FashionMNIST/train-images-idx3-ubyte.gz": 26_421_880,
    "FashionMNIST/train-labels-idx1-ubyte.gz": 29_515,
    "FashionMNIST/t10k-images-idx3-ubyte.gz": 4_422_102,
    "FashionMNIST/t10k-labels-idx1-ubyte.gz": 5_148,
    "cifar-10-python.tar.gz": 170_498_071,
}


def _load_mnist_like(cls: type, name: str, root: Path) -> Dataset:
    """MNIST or Fashion-MNIST already on disk -> Dataset with (N, 1, 28, 28) images."""
    train, test = cls(root, train=True, download=False), cls(root, train=False, download=False)
    return make_dataset(
        name, tuple(cls.classes),
        (train.data.unsqueeze(1), train.targets),  # (N, 28, 28) -> (N, 1, 28, 28) uint8
        (test.data.unsqueeze(1), test.targets),
    )


def _load_cifar(root: Path) -> Dataset:
    """CIFAR-10 already on disk -> Dataset with (N, 3, 32, 32) images."""
    from torchvision.datasets import CIFAR10

    train, test = CIFAR10(root, train=True), CIFAR10(root, train=False)

    def split(part: CIFAR10) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(part.data).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
        return images, torch.tensor(part.targets, dtype=torch.int64)

    return make_dataset("cifar10", tuple(train.classes), split(train), split(test))


def _torchvision_loader(key: str) -> Callable[[Path, bool, Progress | None], Dataset]:
    """A loader that reads `key` from disk, downloading it first when allowed and missing."""

    def load(root: Path, download: bool, progress: Progress | None) -> Dataset:
        from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

        label = DATASETS[key].label
        if key == "cifar10":
            read = functools.partial(_load_cifar, root)
            remotes = [_Remote((CIFAR10.url,), root / CIFAR10.filename, CIFAR10.tgz_md5,
                               _ARCHIVE_BYTES[CIFAR10.filename])]
        else:
            cls = MNIST if key == "mnist" else FashionMNIST
            read = functools.partial(_load_mnist_like, cls, key, root)
            remotes = _mnist_remotes(cls, root)
        try:
            return read()
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
            if not download:
                raise DatasetError(
                    f"{label} is not on this computer yet (looked in {root}). Allow the "
                    "download, or use the built-in shapes dataset, which works offline."
                ) from error
        try:
            _download(remotes, progress)
        except (OSError, HTTPException, RuntimeError, tarfile.TarError) as error:
            raise DatasetError(
                f"Could not download {label} (no internet connection?). "
                "The built-in shapes dataset works offline."
            ) from error
        try:
            return read()
        except (RuntimeError, OSError, ValueError) as error:
            raise DatasetError(
                f"The {label} files in {root} are damaged. Delete that folder and download again."
            ) from error

    return load


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset choice for the page."""

    label: str
    description: str
    needs_download: bool
    loader: Callable[[Path, bool, Progress | None], Dataset]  # (root, download, progress)


DATASETS: dict[str, DatasetSpec] = {
    "shapes": DatasetSpec(
        "Shapes (built in)",
        "10 kinds of coloured shape on noisy backgrounds, 32 x 32 colour; made on the spot, "
        "works offline. 20,000 training and 4,000 test images.",
        False,
        lambda root, download, progress: shapes_dataset(),
    ),
    "shapes-small": DatasetSpec(
        "Shapes, 2,000 training images",
        "The built-in shapes with only 2,000 training images (and the same 4,000 test images): "
        "the plain CNN overfits (about 99 % on training images, 77 % on test after 15 epochs), "
        "so batch norm, dropout and augmentation make visible differences. Use it for the "
        "lecture's ablation.",
        False,
        lambda root, download, progress: shapes_dataset(n_train=2000),
    ),
    "mnist": DatasetSpec(
        "MNIST digits",
        "Handwritten digits 0-9, 28 x 28 greyscale; 60,000 training and 10,000 test images "
        "(12 MB download).",
        True,
        _torchvision_loader("mnist"),
    ),
    "fashion": DatasetSpec(
        "Fashion-MNIST",
        "Clothes in 10 classes (shirt, sneaker, bag, ...), 28 x 28 greyscale; 60,000 training "
        "and 10,000 test images (31 MB download).",
        True,
        _torchvision_loader("fashion"),
    ),
    "cifar10": DatasetSpec(
        "CIFAR-10",
        "Small photos in 10 classes (aeroplane, cat, ship, ...), 32 x 32 colour; 50,000 "
        "training and 10,000 test images (170 MB download).",
        True,
        _torchvision_loader("cifar10"),
    ),
}


def load_dataset(
    name: str,
    *,
    root: Path | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Load a dataset of the registry; downloads go to `root` (default: data_root()).

    progress(bytes done, bytes in total) is called while downloading. Loading from disk is
    not cached here (MNIST ~0.3 s, CIFAR-10 ~1 s): cache the result on the page.
    """
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name].loader(Path(root) if root is not None else data_root(), download,
                                 progress)
