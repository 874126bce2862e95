"""Datasets: built-in shapes, torchvision loaders on hand-made files, zip uploads, augmentation."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import stat
import struct
import time
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.training import data
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.training.data import (
    DATASETS,
    SHAPE_CLASSES,
    Dataset,
    DatasetError,
    channel_stats,
    data_root,
    load_dataset,
    shapes_dataset,
)
from explorer.training.dataset_zip import ZipLimits, dataset_from_zip

# ---------------------------------------------------------------- shapes


@pytest.fixture(scope="module")
def small_shapes() -> Dataset:
    return shapes_dataset(205, 103, seed=3)


def test_shapes_layout(small_shapes: Dataset) -> None:
    ds = small_shapes
    assert ds.name == "shapes" and ds.classes == SHAPE_CLASSES and ds.num_classes == 10
    assert ds.train_images.shape == (205, 3, 32, 32) and ds.test_images.shape == (103, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.is_contiguous()
    assert ds.train_labels.dtype == torch.int64 and ds.train_labels.shape == (205,)
    assert int(ds.train_labels.min()) >= 0 and int(ds.train_labels.max()) <= 9
    assert ds.channels == 3 and ds.image_size == (32, 32)


def test_shapes_balanced(small_shapes: Dataset) -> None:
    for split in ("train", "test"):
        counts = small_shapes.class_counts(split)
        assert list(counts) == list(SHAPE_CLASSES)
        assert max(counts.values()) - min(counts.values()) <= 1


def test_shapes_deterministic(small_shapes: Dataset) -> None:
    again = shapes_dataset.__wrapped__(205, 103, seed=3)  # bypass the cache: really regenerate
    assert torch.equal(again.train_images, small_shapes.train_images)
    assert torch.equal(again.test_labels, small_shapes.test_labels)
    assert shapes_dataset(205, 103, seed=3) is small_shapes  # cached per process
    other = shapes_dataset.__wrapped__(205, 103, seed=4)
    assert not torch.equal(other.train_images, small_shapes.train_images)


def test_shapes_test_set_does_not_depend_on_train_size(small_shapes: Dataset) -> None:
    fewer = shapes_dataset.__wrapped__(50, 103, seed=3)
    assert torch.equal(fewer.test_images, small_shapes.test_images)


def test_shapes_use_the_picture(small_shapes: Dataset) -> None:
    # Every image has a shape on it: more than one colour, and not pure noise either.
    flat = small_shapes.train_images.float().flatten(1)
    assert (flat.std(1) > 10).all()
    assert small_shapes.preview(2)[0].shape == (20, 3, 32, 32)


def test_shapes_other_size_and_bad_arguments() -> None:
    assert shapes_dataset(20, 10, size=48).train_images.shape == (20, 3, 48, 48)
    with pytest.raises(DatasetError):
        shapes_dataset(5, 10)
    with pytest.raises(DatasetError):
        shapes_dataset(20, 10, size=4)


# ---------------------------------------------------------------- Dataset


def _toy(n_per_class: tuple[int, ...] = (3, 1)) -> Dataset:
    labels = torch.tensor([i for i, n in enumerate(n_per_class) for _ in range(n)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return data.make_dataset("toy", ("a", "b"), (images, labels), (images[:1], labels[:1]))


def test_class_counts_and_preview() -> None:
    ds = _toy((3, 1))
    assert ds.class_counts() == {"a": 3, "b": 1} and ds.class_counts("test") == {"a": 1, "b": 0}
    images, labels = ds.preview(2)
    assert labels.tolist() == [0, 0, 1]  # class by class; class b has just one image
    assert images[:, 0, 0, 0].tolist() == [0, 1, 3]
    with pytest.raises(ValueError):
        ds.class_counts("valid")


def test_dataset_checks_its_tensors() -> None:
    ds = _toy()
    with pytest.raises(ValueError):
        Dataset("bad", ("a",), ds.train_images, ds.train_labels, ds.test_images, ds.test_labels,
                ds.mean, ds.std)  # label 1 out of range for one class
    with pytest.raises(ValueError):
        Dataset("bad", ds.classes, ds.train_images.float(), ds.train_labels, ds.test_images,
                ds.test_labels, ds.mean, ds.std)


def test_mean_and_std_match_numpy() -> None:
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (50, 3, 8, 8), np.uint8))
    mean, std = channel_stats(images)
    scaled = images.numpy().astype(np.float64) / 255
    assert np.allclose(mean, scaled.mean(axis=(0, 2, 3)), atol=1e-12)
    assert np.allclose(std, scaled.std(axis=(0, 2, 3)), atol=1e-12)
    ds = _toy()
    assert ds.mean == channel_stats(ds.train_images)[0]


def test_data_root_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.setenv("EXPLORER_DATA", "~/somewhere")
    assert data_root() == Path.home() / "somewhere"
    monkeypatch.delenv("EXPLORER_DATA")
    assert data_root() == Path.home() / ".cache" / "cnn-explorer" / "data"


def test_registry() -> None:
    assert list(DATASETS) == ["shapes", "shapes-small", "mnist", "fashion", "cifar10"]
    assert [spec.needs_download for spec in DATASETS.values()] == [False, False, True, True, True]
    with pytest.raises(DatasetError, match="Unknown dataset"):
        load_dataset("imagenet")
    shapes = load_dataset("shapes", download=False)  # the default 20,000 + 4,000, ~1 s
    assert shapes is shapes_dataset() and len(shapes.train_labels) == 20000
    small = load_dataset("shapes-small", download=False)  # overfits: for the ablation
    assert len(small.train_labels) == 2000 and len(small.test_labels) == 4000


# ---------------------------------------------------------------- torchvision, on made files


def _idx(array: np.ndarray) -> bytes:
    """The idx format of MNIST: magic (0, 0, type 0x08 = uint8, ndim), big-endian dims, bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _mnist_files(n_train: int = 20, n_test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test)[::-1] % 10,
    }


@pytest.mark.parametrize(("key", "folder"), [("mnist", "MNIST"), ("fashion", "FashionMNIST")])
def test_mnist_like_from_idx_files(tmp_path: Path, key: str, folder: str) -> None:
    from torchvision.datasets import MNIST, FashionMNIST

    raw = tmp_path / folder / "raw"  # where torchvision looks: root/<Class>/raw/, un-gzipped
    raw.mkdir(parents=True)
    files = _mnist_files()
    for name, array in files.items():
        (raw / name).write_bytes(_idx(array))
    ds = load_dataset(key, root=tmp_path, download=False)
    assert ds.name == key
    assert ds.classes == tuple((MNIST if key == "mnist" else FashionMNIST).classes)
    assert ds.train_images.shape == (20, 1, 28, 28) and ds.test_images.shape == (10, 1, 28, 28)
    assert np.array_equal(ds.train_images[:, 0].numpy(), files["train-images-idx3-ubyte"])
    assert ds.test_labels.tolist() == files["t10k-labels-idx1-ubyte"].tolist()
    assert len(ds.mean) == 1 and 0.4 < ds.mean[0] < 0.6


def test_cifar10_from_python_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar

    # torchvision compares each batch file's md5 with the real (170 MB) download's; no
    # hand-made file can match, so checks pass for any file that exists. Reading the pickles,
    # reshaping and meta loading still run torchvision's own code.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity",
                        lambda path, md5=None: Path(path).is_file())
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(2)
    batches = {}
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch"]:
        # The real batches are Python 2 pickles with str keys; torchvision loads them with
        # encoding="latin1". Rows: 1024 red, 1024 green, 1024 blue values, row-major.
        batches[name] = {"data": rng.integers(0, 256, (4, 3072), np.uint8),
                         "labels": rng.integers(0, 10, 4).tolist()}
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=2))

    ds = load_dataset("cifar10", root=tmp_path, download=False)
    assert ds.classes == tuple(names)
    assert ds.train_images.shape == (20, 3, 32, 32) and ds.test_images.shape == (4, 3, 32, 32)
    assert ds.train_images.is_contiguous()
    first = batches["data_batch_1"]["data"][0]
    assert np.array_equal(ds.train_images[0, 0].numpy(), first[:1024].reshape(32, 32))  # red
    assert np.array_equal(ds.train_images[0, 2].numpy(), first[2048:].reshape(32, 32))  # blue
    assert ds.test_labels.tolist() == batches["test_batch"]["labels"]


def test_missing_without_download_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not on this computer"):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_offline_download_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def offline(url: str) -> None:
        calls.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_open_url", offline)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=r"Could not download MNIST digits \(no internet"):
        load_dataset("mnist", root=tmp_path)
    assert time.perf_counter() - start < 2
    assert len(calls) == 2  # both mirrors tried, once each
    assert not list((tmp_path / "MNIST" / "raw").iterdir())  # no half-written files left


class _Response(io.BytesIO):
    """Just enough of an HTTP response for the download loop."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.length = len(body)


def test_download_reports_progress_and_falls_back_to_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import MNIST

    archives = {name + ".gz": gzip.compress(_idx(array)) for name, array in _mnist_files().items()}
    # The fake archives have their own checksums; the download code checks against these.
    monkeypatch.setattr(MNIST, "resources",
                        [(name, hashlib.md5(body).hexdigest()) for name, body in archives.items()])

    def server(url: str) -> _Response:
        if url.startswith(MNIST.mirrors[0]):
            raise urllib.error.URLError("first mirror down")
        return _Response(archives[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data, "_open_url", server)
    reports: list[tuple[int, int]] = []
    ds = load_dataset("mnist", root=tmp_path, progress=lambda *report: reports.append(report))
    assert ds.train_images.shape == (20, 1, 28, 28)
    done = [d for d, _ in reports]
    total = sum(map(len, archives.values()))
    assert done == sorted(done) and reports[-1] == (total, total)
    assert all(d <= t for d, t in reports)


# ---------------------------------------------------------------- zip uploads


def _png(colour: tuple[int, ...] = (255, 0, 0), mode: str = "RGB", size: int = 20) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size + 4), colour if mode == "RGB" else colour[0]).save(buffer, "PNG")
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _classes(prefix: str = "", per_class: int = 5) -> dict[str, bytes]:
    return {f"{prefix}{label}/{i}.png": _png(colour)
            for label, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255)))
            for i in range(per_class)}


def test_zip_of_class_folders_is_split_80_20() -> None:
    ds = dataset_from_zip(_zip(_classes()), name="pets.zip")
    assert ds.name == "pets.zip" and ds.classes == ("cats", "dogs")
    assert ds.class_counts() == {"cats": 4, "dogs": 4}
    assert ds.class_counts("test") == {"cats": 1, "dogs": 1}
    assert ds.train_images.shape == (8, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    cat = ds.train_images[ds.train_labels == 0][0]
    assert cat[0].min() == 255 and cat[1:].max() == 0  # red stays red after resizing
    assert any("No test/ folder" in note for note in ds.notes)
    again = dataset_from_zip(_zip(_classes()))
    assert torch.equal(again.test_images, ds.test_images)  # the split is deterministic


def test_zip_with_train_and_test_folders_inside_a_wrapper() -> None:
    entries = _classes("project/train/", 3) | _classes("project/test/", 2)
    entries["project/README.txt"] = b"read me"
    entries["project/test/cats/grey.png"] = _png((128,), mode="L")
    ds = dataset_from_zip(_zip(entries), size=16)
    assert ds.class_counts() == {"cats": 3, "dogs": 3}
    assert ds.class_counts("test") == {"cats": 3, "dogs": 2}
    assert ds.image_size == (16, 16)
    assert not any("No test/ folder" in note for note in ds.notes)
    assert "Skipped 1 file that is not an image (e.g. 'project/README.txt')" in " ".join(ds.notes)
    grey = ds.test_images[(ds.test_images[:, 0] == 128).flatten(1).all(1)]
    assert len(grey) == 1 and (grey[0, 1] == 128).all() and (grey[0, 2] == 128).all()


def test_zip_with_only_a_train_folder_holds_out_a_test_set() -> None:
    ds = dataset_from_zip(_zip(_classes("train/", 5)))
    assert ds.class_counts("test") == {"cats": 1, "dogs": 1}


def test_zip_skips_non_images_and_broken_images_with_counts() -> None:
    entries = _classes(per_class=3) | {
        "README.txt": b"my pets", "cats/notes.txt": b"meow", "cats/broken.png": b"not a png",
        "__MACOSX/cats/._0.png": b"resource fork", "dogs/.DS_Store": b"\0", "loose.png": _png(),
    }
    ds = dataset_from_zip(_zip(entries))
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 6
    notes = " ".join(ds.notes)
    assert "Skipped 2 files that are not images" in notes
    assert "Skipped 1 file that could not be read as an image (e.g. 'cats/broken.png')" in notes
    assert "Skipped 1 file outside a class folder (e.g. 'loose.png')" in notes
    assert "MACOSX" not in notes and "DS_Store" not in notes


def _refuses(body: bytes, match: str, **kwargs: object) -> None:
    with pytest.raises(DatasetError, match=match):
        dataset_from_zip(body, **kwargs)


def test_zip_refuses_paths_that_escape() -> None:
    _refuses(_zip(_classes() | {"../evil.png": _png()}), r"leaves its folder \('../evil.png'\)")
    _refuses(_zip(_classes() | {"cats/../../evil.png": _png()}), "leaves its folder")
    _refuses(_zip(_classes() | {"/etc/evil.png": _png()}), "absolute path")
    _refuses(_zip(_classes() | {"C:/evil.png": _png()}), "absolute path")


def test_zip_refuses_symlinks() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in _classes().items():
            archive.writestr(name, body)
        link = zipfile.ZipInfo("cats/link.png")
        link.create_system = 3  # Unix
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    _refuses(buffer.getvalue(), "symbolic link")


def test_zip_refuses_too_many_or_too_large_files() -> None:
    body = _zip(_classes())
    _refuses(body, "holds 10 files and folders; the limit is 9", limits=ZipLimits(max_files=9))
    _refuses(body, r"unpacks to \d+ bytes; the limit is 500 bytes",
             limits=ZipLimits(max_total_bytes=500))
    _refuses(body, "the limit for one file is 50 bytes", limits=ZipLimits(max_file_bytes=50))


def test_zip_refuses_a_bomb() -> None:
    _refuses(_zip(_classes() | {"cats/huge.bmp": bytes(4 * 2**20)}), "zip bomb")


def test_zip_refuses_a_password() -> None:
    # zipfile cannot encrypt: set the "encrypted" flag bit in every local and central header
    body = bytearray(_zip(_classes()))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = body.find(signature)
        while start >= 0:
            body[start + flag_at] |= 0x1
            start = body.find(signature, start + 4)
    _refuses(bytes(body), "password-protected")


def test_zip_refuses_unusable_contents() -> None:
    _refuses(_zip({"a.txt": b"x", "b/c.txt": b"y"}), "no images")
    _refuses(_zip({f"cats/{i}.png": _png() for i in range(3)}), r"only one class folder .*'cats'")
    _refuses(_zip({"cats/0.png": _png(), "dogs/0.png": _png()}), "only one image")
    _refuses(_zip(_classes("train/", 2) | {"test/birds/0.png": _png()}), "'birds'")
    _refuses(_zip(_classes("train/", 2) | {"test/cats/x.txt": b""}), "test/ folder has no images")
    _refuses(_zip(_classes("test/", 2)), "no training images")
    _refuses(b"hello, not a zip", "not a zip file", name="notes.zip")
    _refuses(b"", "not a zip file")


# ---------------------------------------------------------------- augmentation


def _batch(n: int = 64, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augment_shape_dtype_range() -> None:
    everything = Augmentation(flip=True, shift=2, rotation=30, colour_jitter=0.5)
    assert everything.active and not Augmentation().active
    images = _batch()
    out = augment_batch(images, everything, _rng())
    assert out.shape == images.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert augment_batch(torch.rand(5, 1, 8, 12), everything).shape == (5, 1, 8, 12)


def test_augment_identity_when_nothing_is_on() -> None:
    images = _batch()
    assert augment_batch(images, Augmentation()) is images


def test_flip_only_mirrors_each_image_independently() -> None:
    images = _batch()
    out = augment_batch(images, Augmentation(flip=True), _rng())
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all()
    assert same.any() and mirrored.any()  # not one decision for the whole batch


def test_shift_moves_each_image_by_at_most_shift_pixels() -> None:
    images = _batch(16) + 0.01  # no zeros, so padding is recognisable
    out = augment_batch(images, Augmentation(shift=2), _rng())
    offsets = set()
    for image, moved in zip(images, out, strict=True):
        padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(padded[:, dy:dy + 12, dx:dx + 12], moved)]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1


@pytest.mark.parametrize("settings", [Augmentation(rotation=40), Augmentation(shift=3),
                                      Augmentation(colour_jitter=0.5)])
def test_each_image_draws_its_own_parameters(settings: Augmentation) -> None:
    images = _batch(1).expand(16, -1, -1, -1).contiguous()  # 16 copies of one image
    out = augment_batch(images, settings, _rng())
    distinct = {out[i].numpy().tobytes() for i in range(16)}
    assert len(distinct) > 8


def test_augment_is_deterministic_with_a_generator() -> None:
    settings = Augmentation(flip=True, shift=2, rotation=15, colour_jitter=0.3)
    images = _batch()
    first = augment_batch(images, settings, _rng(5))
    assert torch.equal(first, augment_batch(images, settings, _rng(5)))
    assert not torch.equal(first, augment_batch(images, settings, _rng(6)))


def test_rotation_keeps_the_centre_and_jitter_keeps_grey_grey() -> None:
    images = torch.zeros(8, 3, 9, 9)
    images[:, :, 4, 4] = 1.0
    out = augment_batch(images, Augmentation(rotation=90), _rng())
    assert torch.allclose(out[:, :, 4, 4], torch.ones(8, 3))  # rotation turns about the centre
    grey = torch.full((8, 3, 4, 4), 0.5)
    jittered = augment_batch(grey, Augmentation(colour_jitter=0.5), _rng())
    assert torch.allclose(jittered, jittered[:, :1].expand(-1, 3, -1, -1))


def test_augmentation_refuses_bad_settings_and_inputs() -> None:
    for bad in ({"shift": -1}, {"shift": 1.5}, {"rotation": 200.0}, {"colour_jitter": 2.0}):
        with pytest.raises(ValueError):
            Augmentation(**bad)
    with pytest.raises(ValueError, match="float"):
        augment_batch(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), Augmentation(flip=True))
