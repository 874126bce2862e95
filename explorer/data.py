"""Datasets for the training page: built-in shapes, torchvision downloads, zips of class folders."""

from __future__ import annotations

import functools
import io
import lzma
import math
import os
import stat
import struct
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F

from explorer.synthetic import SHAPE_CLASSES, render_shapes

# torchvision is imported inside the loaders that need it: it adds ~1.5 s to `import explorer.data`.

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


def _make_dataset(
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
# (drawn by explorer.synthetic, which needs numpy only)


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
    return _make_dataset("shapes", SHAPE_CLASSES, train, test)


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
    return _make_dataset(
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

    return _make_dataset("cifar10", tuple(train.classes), split(train), split(test))


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


# ---------------------------------------------------------------- a zip of class folders

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
TRAIN_FOLDERS = frozenset({"train", "training"})
TEST_FOLDERS = frozenset({"test", "testing", "val", "valid", "validation"})
TEST_FRACTION = 0.2  # share of each class kept for testing when the zip has no test/ folder


@dataclass(frozen=True)
class ZipLimits:
    """What an uploaded zip may contain before we refuse it (sizes are uncompressed bytes)."""

    max_files: int = 5000  # entries, folders included
    max_total_bytes: int = 200 * 2**20  # all files together
    max_file_bytes: int = 20 * 2**20  # any one file
    max_ratio: float = 100.0  # uncompressed / compressed size: more means a zip bomb
    ratio_min_bytes: int = 2**20  # one small file may compress well (a blank BMP): the ratio
    # is checked for each file from this size, and for all files together from this total
    max_image_pixels: int = 16_000_000  # pixels one image decodes to (JPEGs: at reduced size)
    max_total_pixels: int = 250_000_000  # all together: ~5 s of decoding on a laptop core


def _shown(name: str, limit: int = 80) -> str:
    """A name from the zip as it may appear in a message: one line, at most `limit` characters
    (the zip chooses its names; a page should not print a 60,000-character one)."""
    name = "".join(char if char.isprintable() else "?" for char in name)
    return name if len(name) <= limit else name[: limit // 2 - 1] + "..." + name[-(limit // 2 - 2):]


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path of a zip entry as folder names, refusing anything that could escape a folder."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        raise DatasetError(
            f"The zip contains an absolute path ('{_shown(info.filename)}'); refusing it.")
    parts = tuple(part for part in PurePosixPath(name).parts if part not in ("", "."))
    if ".." in parts:
        raise DatasetError(
            f"The zip contains a path that leaves its folder ('{_shown(info.filename)}'); "
            "refusing it."
        )
    if stat.S_ISLNK(info.external_attr >> 16):  # Unix mode bits live in the high 16 bits
        raise DatasetError(
            f"The zip contains a symbolic link ('{_shown(info.filename)}'); refusing it.")
    return parts


def _amount(size: float) -> str:
    """Bytes for people: '860 bytes', '12 KB', '3.4 MB'."""
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.{1 if size < 10 * scale else 0}f} {unit}"
    return f"{size:.0f} bytes"


def _check_entries(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    """Refuse zips that would unpack to too much data (or are encrypted), before reading any."""
    if len(infos) > limits.max_files:
        raise DatasetError(
            f"The zip holds {len(infos)} files and folders; the limit is {limits.max_files}. "
            "Use fewer images."
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise DatasetError(
            f"The zip unpacks to {_amount(total)}; the limit is "
            f"{_amount(limits.max_total_bytes)}. Use fewer or smaller images."
        )
    packed = sum(info.compress_size for info in infos)
    if total >= limits.ratio_min_bytes and total > limits.max_ratio * max(packed, 1):
        raise DatasetError(
            f"The zip is compressed {total / max(packed, 1):.0f} times overall, which only a "
            "'zip bomb' does (files built to fill the memory when unpacked); refusing the zip."
        )
    for info in infos:
        if info.file_size > limits.max_file_bytes:
            raise DatasetError(
                f"'{_shown(info.filename)}' unpacks to {_amount(info.file_size)}; the limit "
                f"for one file is {_amount(limits.max_file_bytes)}."
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise DatasetError(
                f"'{_shown(info.filename)}' is compressed {ratio:.0f} times, which only a "
                "'zip bomb' does (a file built to fill the disk when unpacked); refusing the zip."
            )
        if info.flag_bits & 0x1:
            raise DatasetError("The zip is password-protected. Zip the folders without a password.")


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Hidden files and macOS resource forks (__MACOSX/, ._name, .DS_Store): ignored silently."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _split_and_class(parts: tuple[str, ...], explicit: bool) -> tuple[str, str] | None:
    """(split, class) of an image path after the wrapper folder; None if not in a class folder."""
    if explicit:
        top = parts[0].lower()
        split = "train" if top in TRAIN_FOLDERS else "test" if top in TEST_FOLDERS else None
        return (split, parts[1]) if split and len(parts) >= 3 else None
    return ("train", parts[0]) if len(parts) >= 2 else None


def _decode_side(size: int) -> int:
    """Longest side an image is decoded to before it is squashed to size x size: 4 x size
    leaves the last, anti-aliased shrink to F.interpolate, and large files cheap to decode."""
    return max(4 * size, 64)


def _decode(data: bytes, size: int) -> torch.Tensor:
    """Image file bytes -> (3, size, size) uint8; raises ImageError when unreadable.

    Any shape is accepted (max_aspect=None): squashing to a square cannot explode.
    """
    from explorer.images import read_image

    decoded = read_image(data, mode="RGB", max_side=_decode_side(size), max_aspect=None)
    pixels = torch.from_numpy(decoded.pixels)  # (H, W, 3) float32 in [0, 1]
    pixels = pixels.permute(2, 0, 1)[None]  # (1, 3, H, W)
    # Squash to a square (as transforms.Resize((size, size)) does); antialias when shrinking.
    resized = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False)
    return (resized[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def _megapixels(pixels: int) -> str:
    """'1,560' megapixels, or '0.0016' below one."""
    return f"{pixels / 1e6:,.0f}" if pixels >= 1e6 else f"{pixels / 1e6:.2g}"


def _skipped(names: list[str], one: str, many: str) -> str:
    what = f"1 file {one}" if len(names) == 1 else f"{len(names)} files {many}"
    return f"Skipped {what} (e.g. '{_shown(names[0])}')."


# What reading or decoding one member of a hostile zip may raise: a damaged deflate stream
# (zlib.error), bzip2 (OSError) or LZMA data, a bad local header (BadZipFile), an unknown
# compression method (NotImplementedError), an encrypted member (RuntimeError), and
# ImageError from the decoder. Each one skips that file; the zip goes on.
_MEMBER_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, NotImplementedError,
    RuntimeError, OSError, EOFError, ValueError, struct.error, OverflowError, MemoryError,
)


def dataset_from_zip(
    data: bytes, *, name: str = "upload.zip", size: int = 32, limits: ZipLimits = ZipLimits()
) -> Dataset:
    """A dataset from a zip of class folders, read in memory (nothing is written to disk).

    Layouts: train/<class>/*.jpg + test/<class>/*.jpg, or <class>/*.jpg (then 20 % of each
    class, chosen with seed 0, becomes the test set), either one optionally inside a single
    wrapper folder. Images are resized to size x size colour (RGB).

    Work is bounded before any pixel is decoded: entry sizes and compression ratios from the
    zip's directory, then every image's header (its size in pixels) against
    limits.max_image_pixels (that image is skipped) and limits.max_total_pixels (the zip is
    refused). Damaged members are skipped and counted.
    """
    from explorer.images import ImageTooLarge, probe

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as error:  # hostile bytes: any failure of the parser means the same
        raise DatasetError(
            f"'{name}' is not a zip file we can open. Zip your class folders (for example "
            "cats/ and dogs/) into one .zip and upload that."
        ) from error
    with archive:
        infos = archive.infolist()
        _check_entries(infos, limits)
        entries = [(_member_parts(info), info) for info in infos]
        files = [(parts, info) for parts, info in entries
                 if not info.is_dir() and parts and not _is_junk(parts)]

        # One wrapper folder around everything (e.g. "animals/cats/1.jpg"): look inside it.
        # (A lone "cats/" holding only files is a single class folder, not a wrapper.)
        tops = {parts[0] for parts, _ in files}
        if (len(tops) == 1 and all(len(parts) >= 2 for parts, _ in files)
                and any(len(parts) >= 3 for parts, _ in files)
                and next(iter(tops)).lower() not in TRAIN_FOLDERS | TEST_FOLDERS):
            files = [(parts[1:], info) for parts, info in files]
        explicit = any(parts[0].lower() in TRAIN_FOLDERS | TEST_FOLDERS for parts, _ in files)

        # Pass 1: unpack each image (sizes already checked) and read its header only.
        side = _decode_side(size)
        headers: list[tuple[tuple[str, str], str, bytes]] = []  # (split, class), name, bytes
        not_images, unreadable, outside, too_large, repeated = [], [], [], [], []
        seen: set[tuple[str, ...]] = set()
        total_pixels = 0
        for parts, info in sorted(files, key=lambda item: item[0]):
            if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
                not_images.append(info.filename)
                continue
            place = _split_and_class(parts, explicit)
            if place is None:
                outside.append(info.filename)
                continue
            if parts in seen:  # the same path twice ("a/1.png" and "a\\1.png" too)
                repeated.append(info.filename)
                continue
            seen.add(parts)
            try:
                with archive.open(info) as member:
                    # zipfile stops at the declared (already checked) size and checks the CRC
                    body = member.read(limits.max_file_bytes + 1)
                header = probe(body, max_side=side, max_aspect=None)
            except ImageTooLarge:
                too_large.append(info.filename)
                continue
            except _MEMBER_ERRORS:
                unreadable.append(info.filename)
                continue
            if header.decode_pixels > limits.max_image_pixels:
                too_large.append(info.filename)
                continue
            total_pixels += header.decode_pixels
            headers.append((place, info.filename, body))

    if total_pixels > limits.max_total_pixels:
        raise DatasetError(
            f"The images in the zip add up to {_megapixels(total_pixels)} megapixels; the limit "
            f"is {_megapixels(limits.max_total_pixels)} megapixels (training uses them at "
            f"{size} x {size} pixels anyway). Use fewer images, or shrink them first."
        )

    # Pass 2: decode, within the budget just checked.
    found: dict[str, list[tuple[str, str, torch.Tensor]]] = {"train": [], "test": []}
    for place, filename, body in headers:
        try:
            image = _decode(body, size)
        except _MEMBER_ERRORS:
            unreadable.append(filename)
            continue
        found[place[0]].append((place[1], filename, image))
    del headers

    skipped = []
    for names, one, many in (
        (not_images, "that is not an image", "that are not images"),
        (unreadable, "that could not be read as an image", "that could not be read as images"),
        (too_large, f"larger than {_megapixels(limits.max_image_pixels)} megapixels",
         f"larger than {_megapixels(limits.max_image_pixels)} megapixels"),
        (repeated, "whose path appears twice in the zip", "whose paths appear twice in the zip"),
        (outside, "outside a class folder", "outside a class folder"),
    ):
        if names:
            skipped.append(_skipped(names, one, many))
    notes = [f"Resized every image to {size} x {size} colour pixels (aspect ratio not kept)."]
    notes += skipped

    def refuse(message: str) -> DatasetError:
        """The refusal, followed by what was skipped (often the reason nothing is left)."""
        return DatasetError(" ".join([message, *skipped]))

    classes = tuple(sorted({label for label, _, _ in found["train"]}))
    if not classes and found["test"]:
        raise refuse(
            "The zip has test images but no training images. Put them in train/<class>/ "
            "folders (for example train/cats/ and train/dogs/)."
        )
    if not classes:
        raise refuse(
            "The zip has no images we can read in class folders. Put the pictures of each class "
            "in its own folder (for example cats/ and dogs/), then zip the folders."
        )
    if len(classes) < 2:
        raise refuse(
            f"The zip has only one class folder with images ('{_shown(classes[0])}'); a "
            "classifier needs at least two. Add a folder of images for another class."
        )
    unknown = sorted({label for label, _, _ in found["test"]} - set(classes))
    if unknown:
        raise DatasetError(
            f"The test folder has a class with no training images ('{_shown(unknown[0])}'). "
            "Give every class images in train/ too, or remove it from test/."
        )
    if not found["test"]:
        if explicit and any(parts[0].lower() in TEST_FOLDERS for parts, _ in files):
            raise refuse("The test/ folder has no images we can read in class folders.")
        found = _hold_out(found["train"], classes)
        if not found["test"]:
            raise DatasetError(
                "Every class has only one image, so none is left for testing. Add at least "
                "two images to a class."
            )
        notes.append(f"No test/ folder: kept {TEST_FRACTION:.0%} of each class's images "
                     "(picked at random, seed 0) for testing.")

    index = {label: i for i, label in enumerate(classes)}

    def stack(items: list[tuple[str, str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([image for _, _, image in items])  # (N, 3, size, size) uint8
        return images, torch.tensor([index[label] for label, _, _ in items], dtype=torch.int64)

    return _make_dataset(name, classes, stack(found["train"]), stack(found["test"]), tuple(notes))


def _hold_out(
    items: list[tuple[str, str, torch.Tensor]], classes: tuple[str, ...]
) -> dict[str, list[tuple[str, str, torch.Tensor]]]:
    """Stratified split: TEST_FRACTION of each class (at least 1 when it has 2+) to test."""
    rng = np.random.default_rng(0)
    split: dict[str, list[tuple[str, str, torch.Tensor]]] = {"train": [], "test": []}
    for label in classes:
        members = sorted((item for item in items if item[0] == label), key=lambda item: item[1])
        n = len(members)
        n_test = min(max(round(n * TEST_FRACTION), 1), n - 1)  # 0 when the class has 1 image
        chosen = set(rng.permutation(n)[:n_test].tolist())
        for i, item in enumerate(members):
            split["test" if i in chosen else "train"].append(item)
    return split


# ---------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to each training image afresh every time it is used."""

    flip: bool = False  # mirror left-right with probability 1/2
    shift: int = 0  # pixels: zero-pad by `shift`, then crop back at a random offset
    rotation: float = 0.0  # degrees: turn by a random angle in [-rotation, rotation]
    colour_jitter: float = 0.0  # s: brightness, contrast, saturation factors in [1 - s, 1 + s]

    def __post_init__(self) -> None:
        if not (isinstance(self.shift, int) and 0 <= self.shift <= 16):
            raise ValueError(f"shift must be a whole number of pixels, 0 to 16, not {self.shift}")
        if not 0.0 <= self.rotation <= 180.0:
            raise ValueError(f"rotation must be 0 to 180 degrees, not {self.rotation}")
        if not 0.0 <= self.colour_jitter <= 1.0:
            raise ValueError(f"colour_jitter must be 0 to 1, not {self.colour_jitter}")

    @property
    def active(self) -> bool:
        return self.flip or self.shift > 0 or self.rotation > 0 or self.colour_jitter > 0


def _grey(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W) luma (ITU-R 601), or the image itself if C == 1."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def augment_batch(
    images: torch.Tensor, settings: Augmentation, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment (B, C, H, W) float images in [0, 1]; every image draws its own random changes.

    (A torchvision v2 transform called on a batch draws once for the whole batch.) Returns a
    new tensor of the same shape in [0, 1], or `images` itself when no option is active.
    Order: flip, rotation, shift, colour jitter. Same generator state -> same result.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"augment_batch needs (B, C, H, W) float images, not {images.dtype} "
                         f"{tuple(images.shape)}")
    if not settings.active:
        return images
    batch, channels, height, width = images.shape
    out = images

    if settings.flip:
        mirror = torch.rand(batch, generator=generator) < 0.5  # (B,) bool
        out = torch.where(mirror.view(-1, 1, 1, 1), out.flip(-1), out)

    if settings.rotation > 0:
        angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(settings.rotation)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(batch)
        # affine_grid works in [-1, 1] coordinates; the h/w factors keep non-square images round:
        # x_in = cos x - sin y (h/w),  y_in = sin x (w/h) + cos y
        theta = torch.stack([
            torch.stack([cos, -sin * height / width, zero], 1),
            torch.stack([sin * width / height, cos, zero], 1),
        ], 1).to(out.dtype)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    if settings.shift > 0:
        pad = settings.shift
        padded = F.pad(out, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p), zeros around
        top = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        left = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]  # (B, 1, H, 1)
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]  # (B, 1, 1, W)
        out = padded[torch.arange(batch).view(-1, 1, 1, 1),
                     torch.arange(channels).view(1, -1, 1, 1), rows, cols]

    if settings.colour_jitter > 0:
        strength = settings.colour_jitter
        factors = 1 + (torch.rand(3, batch, 1, 1, 1, generator=generator) * 2 - 1) * strength
        factors = factors.to(out.dtype)
        # as torchvision's adjust_*: blend with black, with the mean grey, with the grey image
        out = (out * factors[0]).clamp(0, 1)
        mean = _grey(out).mean((1, 2, 3), keepdim=True)
        out = (mean + (out - mean) * factors[1]).clamp(0, 1)
        if channels == 3:
            grey = _grey(out)
            out = (grey + (out - grey) * factors[2]).clamp(0, 1)
    return out
