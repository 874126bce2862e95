"""The Train page's standalone script: it runs without explorer and rebuilds the app's data."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.codegen.inputs import definitions
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.training.data import shapes_dataset
from explorer.training.dataset_zip import dataset_from_zip
from explorer.training.nets import ModelSettings, build_model
from explorer.training.script import (
    AUGMENTATION_DEFINITIONS,
    SHAPES_DEFINITIONS,
    ZIP_DEFINITIONS,
    standalone_script,
)
from explorer.training.settings import TrainSettings
from tests.test_codegen import run_fresh
from tests.test_data import _zip

TINY_MODEL = ModelSettings(blocks=1, channels=4, hidden=16)
# After the script has trained, keep what it built, to compare with the app's.
KEEP = ('\ntorch.save({"train_images": train_images, "train_labels": train_labels, '
        '"test_images": test_images, "test_labels": test_labels, "mean": MEAN, "std": STD}, '
        '"data.pt")\n')


def settings(**changes) -> TrainSettings:
    return TrainSettings(**{"model": TINY_MODEL, "epochs": 1, "batch_size": 50, "threads": 1,
                            **changes})


def test_the_copied_definitions_are_the_apps() -> None:
    from explorer.images import synthetic
    from explorer.training import augmentation, data, dataset_zip

    for module, names in ((synthetic, SHAPES_DEFINITIONS), (dataset_zip, ZIP_DEFINITIONS),
                          (augmentation, AUGMENTATION_DEFINITIONS)):
        code = "\n".join(definitions(module, names))
        assert all(f"def {n}(" in code or f"class {n}" in code or f"{n} = " in code
                   for n in names)
    with pytest.raises(ValueError, match="defines no"):
        definitions(data, ["no_such_thing"])


@pytest.mark.parametrize("augmentation", [
    Augmentation(),
    Augmentation(flip=True, shift=2, rotation=10.0, colour_jitter=0.2),
])
def test_the_shapes_script_runs_alone_and_draws_the_apps_shapes(tmp_path, augmentation):
    script = standalone_script(settings(dataset="shapes", augmentation=augmentation))
    assert "explorer" not in script.replace("CNN Explorer", "")
    script = script.replace("N_TRAIN = 20000", "N_TRAIN = 200").replace("N_TEST = 4000",
                                                                         "N_TEST = 60")
    if augmentation.active:  # the copied augment_batch draws what the app's draws
        script += ('\nx = train_images[:8].float() / 255\ntorch.save(augment_batch(x, '
                   'AUGMENTATION, generator=torch.Generator().manual_seed(3)), "aug.pt")\n')
    printed = run_fresh(script + KEEP, tmp_path)
    assert "epoch 1: loss" in printed and "trained 4 steps" in printed
    assert torch.load(tmp_path / "cnn.pt", weights_only=True)["conv1.weight"].shape == (4, 3, 3, 3)

    kept = torch.load(tmp_path / "data.pt", weights_only=True)
    app = shapes_dataset(200, 60)
    assert torch.equal(kept["train_images"], app.train_images)
    assert torch.equal(kept["test_images"], app.test_images)
    assert torch.equal(kept["train_labels"], app.train_labels)
    assert kept["mean"] == pytest.approx(app.mean) and kept["std"] == pytest.approx(app.std)
    if augmentation.active:
        x = app.train_images[:8].float() / 255
        expected = augment_batch(x, augmentation, generator=torch.Generator().manual_seed(3))
        assert torch.equal(torch.load(tmp_path / "aug.pt", weights_only=True), expected)


def test_the_shapes_small_script_uses_2000_training_images() -> None:
    script = standalone_script(TrainSettings(dataset="shapes-small"))
    assert "N_TRAIN = 2000\n" in script and "N_TEST = 4000\n" in script


def _png(rng: np.random.Generator, size: tuple[int, int], mode: str = "RGB") -> bytes:
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def _layouts() -> dict[str, dict[str, bytes]]:
    rng = np.random.default_rng(4)
    wrapped = {f"animals/{label}/{i}.png": _png(rng, (40 + i, 30))
               for label in ("cats", "dogs", "owls") for i in range(6)}
    wrapped.update({"animals/cats/notes.txt": b"not an image", "__MACOSX/animals/._1.png": b"x",
                    "animals/dogs/grey.png": _png(rng, (20, 20), "L"),
                    "animals/cats/see-through.png": _png(rng, (30, 30), "RGBA"),
                    "animals/owls/broken.png": b"\x89PNG\r\n\x1a\n broken"})
    split = {f"{part}/{label}/{i}.png": _png(rng, (24, 24))
             for part, count in (("train", 5), ("test", 2)) for label in ("a", "b")
             for i in range(count)}
    return {"class folders in a wrapper": wrapped, "train and test folders": split}


@pytest.mark.parametrize("layout", list(_layouts()))
def test_the_zip_script_reads_a_zip_as_the_app_does(tmp_path, layout):
    body = _zip(_layouts()[layout])
    app = dataset_from_zip(body, size=16)
    script = standalone_script(settings(dataset="upload.zip", batch_size=4), app)
    assert "explorer" not in script.replace("CNN Explorer", "")
    assert "IMAGE_SIZE = 16\n" in script
    (tmp_path / "my_dataset.zip").write_bytes(body)
    printed = run_fresh(script + KEEP, tmp_path)
    assert "epoch 1: loss" in printed
    kept = torch.load(tmp_path / "data.pt", weights_only=True)
    assert torch.equal(kept["train_labels"], app.train_labels)
    assert torch.equal(kept["test_labels"], app.test_labels)
    assert torch.equal(kept["train_images"], app.train_images)
    assert torch.equal(kept["test_images"], app.test_images)
    assert kept["mean"] == pytest.approx(app.mean) and kept["std"] == pytest.approx(app.std)
    if layout == "class folders in a wrapper":
        assert "skipped animals/owls/broken.png" in printed


def _idx(array: np.ndarray) -> bytes:
    """MNIST's idx format: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_the_mnist_script_trains_on_torchvisions_files(tmp_path: Path) -> None:
    """torchvision finds the files in ./data/MNIST/raw and downloads nothing."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    files = {"train-images-idx3-ubyte": rng.integers(0, 256, (100, 28, 28), np.uint8),
             "train-labels-idx1-ubyte": np.arange(100) % 10,
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), np.uint8),
             "t10k-labels-idx1-ubyte": np.arange(20) % 10}
    for name, array in files.items():
        (raw / name).write_bytes(_idx(array))
    script = standalone_script(settings(dataset="mnist", augmentation=Augmentation(flip=True)))
    printed = run_fresh(script + KEEP, tmp_path)
    assert "trained 2 steps" in printed
    kept = torch.load(tmp_path / "data.pt", weights_only=True)
    assert np.array_equal(kept["train_images"][:, 0].numpy(), files["train-images-idx3-ubyte"])
    assert torch.load(tmp_path / "cnn.pt", weights_only=True)["conv1.weight"].shape == (4, 1, 3, 3)


def test_script_compiles_for_every_dataset_and_option():
    variants = [
        TrainSettings(),
        TrainSettings(dataset="mnist", schedule="cosine", epochs=None, max_seconds=60.0),
        TrainSettings(dataset="cifar10", optimiser="momentum", schedule="step", max_seconds=9.0,
                      augmentation=Augmentation(flip=True, shift=4)),
        TrainSettings(dataset="fashion", optimiser="adamw", schedule="one-cycle",
                      model=ModelSettings(blocks=3, activation="elu", batch_norm=True,
                                          dropout=0.5, kernel_size=5)),
    ]
    for variant in variants:
        compile(standalone_script(variant), "train.py", "exec")
    with pytest.raises(ValueError, match="Pass the dataset"):
        standalone_script(settings(dataset="upload.zip"))


def test_script_model_matches_build_model():
    chosen = TrainSettings(dataset="cifar10", model=ModelSettings(
        blocks=3, activation="prelu", batch_norm=True, dropout=0.3, kernel_size=5))
    script = standalone_script(chosen)
    start = script.index("model = nn.Sequential")
    code = script[start : script.index("]))", start) + 3]
    namespace: dict = {}
    exec("from collections import OrderedDict\nfrom torch import nn\n" + code, namespace)
    expected = build_model(chosen.model, in_channels=3, num_classes=10, image_size=32)
    assert {k: v.shape for k, v in namespace["model"].state_dict().items()} == {
        k: v.shape for k, v in expected.state_dict().items()
    }
