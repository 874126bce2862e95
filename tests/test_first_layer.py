"""Tests for explorer.networks.first_layer: kernels as images, and loading AlexNet's first layer safely."""

import builtins
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.networks.first_layer import (
    ALEXNET_FILENAME,
    ALEXNET_KEY,
    ALEXNET_SHAPE,
    alexnet_weights_path,
    cached_alexnet_first_layer,
    kernels_to_images,
)


class WritesMarker:
    """Unpickling this calls open(marker, "w"): code run by merely loading a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def test_filename_is_torchvision_s():
    from torchvision.models import AlexNet_Weights

    assert AlexNet_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1] == ALEXNET_FILENAME


def test_default_directory_is_the_torch_hub_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert alexnet_weights_path() == tmp_path / "hub" / "checkpoints" / ALEXNET_FILENAME
    assert cached_alexnet_first_layer() is None  # empty cache: no download, just None


def test_loads_a_state_dict(tmp_path):
    weight = torch.randn(ALEXNET_SHAPE)
    state_dict = {ALEXNET_KEY: weight, "features.0.bias": torch.zeros(64)}
    torch.save(state_dict, tmp_path / ALEXNET_FILENAME)
    loaded = cached_alexnet_first_layer(tmp_path)
    assert loaded.shape == ALEXNET_SHAPE and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, weight.numpy())


def test_absent_file_is_none(tmp_path):
    assert cached_alexnet_first_layer(tmp_path) is None
    assert cached_alexnet_first_layer(tmp_path / "no such folder") is None


def test_file_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / ALEXNET_FILENAME
    torch.save({ALEXNET_KEY: WritesMarker(marker)}, path)
    # The payload is real: an unrestricted load runs it.
    control = tmp_path / "control"
    torch.save({ALEXNET_KEY: WritesMarker(control)}, tmp_path / "control.pth")
    torch.load(tmp_path / "control.pth", weights_only=False)[ALEXNET_KEY].close()
    assert control.exists()
    with pytest.raises(ValueError, match="loaded safely"):
        cached_alexnet_first_layer(tmp_path)
    assert not marker.exists()


def test_plain_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    with open(tmp_path / ALEXNET_FILENAME, "wb") as file:
        pickle.dump({ALEXNET_KEY: WritesMarker(marker)}, file, protocol=2)
    with pytest.raises(ValueError, match="loaded safely"):
        cached_alexnet_first_layer(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content", [b"", b"hello, not weights", bytes(range(256)) * 8], ids=["empty", "text", "binary"]
)
def test_garbage_file_raises(tmp_path, content):
    (tmp_path / ALEXNET_FILENAME).write_bytes(content)
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        cached_alexnet_first_layer(tmp_path)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        (torch.zeros(ALEXNET_SHAPE), "not a state dict"),
        ({"classifier.1.weight": torch.zeros(3)}, "has no"),
        ({ALEXNET_KEY: torch.zeros(64, 3, 5, 5)}, r"got \(64, 3, 5, 5\)"),
        ({ALEXNET_KEY: [1, 2, 3]}, "got list"),
        ({ALEXNET_KEY: torch.full(ALEXNET_SHAPE, float("nan"))}, "NaN"),
    ],
)
def test_wrong_content_raises(tmp_path, obj, match):
    torch.save(obj, tmp_path / ALEXNET_FILENAME)
    with pytest.raises(ValueError, match=match):
        cached_alexnet_first_layer(tmp_path)


def test_real_cached_file_if_present():
    path = alexnet_weights_path()
    if not path.is_file():
        pytest.skip(f"{path} is not cached here (this test never downloads)")
    weight = cached_alexnet_first_layer()
    assert weight.shape == ALEXNET_SHAPE and np.isfinite(weight).all()


# ---------------------------------------------------------------------------
# kernels_to_images
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("per_kernel", [True, False])
def test_kernels_to_images_range_and_shape(per_kernel):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((6, 3, 5, 4)) * np.arange(1, 7)[:, None, None, None]
    images = kernels_to_images(weight, per_kernel=per_kernel)
    assert images.shape == (6, 5, 4, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    # Zero maps to 0.5, and the layout is (C_out, K_h, K_w, RGB).
    scale = np.abs(weight).max(axis=(1, 2, 3)) if per_kernel else np.abs(weight).max()
    expected = 0.5 + 0.5 * weight / np.reshape(scale, (-1, 1, 1, 1))
    np.testing.assert_allclose(images, expected.transpose(0, 2, 3, 1), atol=1e-6)
    if per_kernel:  # every kernel reaches 0 or 1
        extremes = np.abs(images - 0.5).max(axis=(1, 2, 3))
        np.testing.assert_allclose(extremes, 0.5, atol=1e-6)
    else:  # only the strongest does
        assert np.abs(images - 0.5).max() == pytest.approx(0.5)
        assert np.abs(images[0] - 0.5).max() < 0.4


def test_zero_kernel_is_grey():
    weight = np.zeros((2, 3, 3, 3))
    weight[1, 0, 1, 1] = -2.0
    images = kernels_to_images(weight)
    np.testing.assert_array_equal(images[0], 0.5)
    assert images[1, 1, 1, 0] == 0.0  # the most negative weight is black in its channel


def test_colour_bank_as_images():
    from explorer.colour.bank import LECTURE_BANK, build_bank

    weight, _ = build_bank(LECTURE_BANK)
    images = kernels_to_images(weight)
    centre = images[:, 4, 4]  # (4, 3): each filter's centre pixel colour
    # The red filter's centre is reddest: red above grey, green and blue below.
    assert centre[0, 0] == pytest.approx(1.0) and centre[0, 1] < 0.5 and centre[0, 2] < 0.5


@pytest.mark.parametrize(
    "bad", [np.ones((3, 3, 3)), np.ones((2, 1, 3, 3)), np.full((1, 3, 2, 2), np.nan), "abc"]
)
def test_kernels_to_images_bad_input(bad):
    with pytest.raises(ValueError):
        kernels_to_images(bad)
