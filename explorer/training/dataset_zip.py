"""A dataset from a zip of class folders, read in memory and bounded before any pixel is decoded."""

from __future__ import annotations

import io
import lzma
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F

from explorer.training.data import Dataset, DatasetError, make_dataset

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
    from explorer.images.files import read_image

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
    from explorer.images.files import ImageTooLarge, probe

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

    return make_dataset(name, classes, stack(found["train"]), stack(found["test"]), tuple(notes))


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


def zip_folder(folder: Path) -> bytes:
    """A folder of class folders as an in-memory zip, so it goes through the zip checks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
