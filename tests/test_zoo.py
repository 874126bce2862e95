"""Tests for the zoo, registry, uploaded weights, predictions and families of explorer.networks."""

from __future__ import annotations

import builtins
import functools
import hashlib
import io
import itertools
import pickle
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import get_model_weights

from explorer.environment import weights_dir
from explorer.networks import activations as A
from explorer.networks import (
    custom,
    families,
    feature_maps,
    gradcam,
    layer_costs,
    model_registry,
    predictions,
    weights_files,
    zoo,
)

FAMILIES = {
    "AlexNet", "VGG", "Inception", "ResNet", "DenseNet", "SqueezeNet", "MobileNet", "EfficientNet"
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small inputs gain nothing from 2 threads, which collapse when another process uses a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty torch cache, and no way to reach the network (local file:// URLs still work)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        if not str(getattr(url, "full_url", url)).startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {url}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)
    monkeypatch.setattr(torch.hub, "download_url_to_file", local_only)


class WritesMarker:
    """Unpickling this calls open(marker, "w"): code run by merely loading a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@functools.cache
def small_state_dict() -> dict[str, torch.Tensor]:
    """SqueezeNet 1.1's state dict with random weights (what its ImageNet file holds, in form)."""
    return zoo.load_model("squeezenet1_1", weights=None).model.state_dict()


def cache_file(name: str) -> Path:
    path = zoo.weights_path(get_model_weights(model_registry.MODELS[name].torchvision).DEFAULT)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def random_image(height: int = 80, width: int = 96) -> np.ndarray:
    return np.random.default_rng(0).random((height, width, 3))


# ---------------------------------------------------------------------------
# Registry and offline loading
# ---------------------------------------------------------------------------


def test_registry_covers_the_lecture():
    required = {
        "alexnet", "vgg11", "vgg16", "googlenet", "resnet18", "resnet50", "densenet121",
        "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
    }
    assert required <= set(model_registry.MODELS)
    for spec in model_registry.MODELS.values():
        assert spec.family in FAMILIES and 2012 <= spec.year <= 2019 and spec.note


@pytest.mark.parametrize("name", list(model_registry.MODELS))
def test_uncached_model_is_the_untrained_architecture(name):
    start = time.perf_counter()
    loaded = zoo.load_model(name)  # empty cache, downloads off
    assert time.perf_counter() - start < 30  # builds, never waits for a network
    assert not loaded.pretrained
    assert "not cached" in loaded.message and "untrained" in loaded.message
    assert loaded.categories == tuple(f"class {i}" for i in range(1000))
    assert loaded.weights_name == str(get_model_weights(name).DEFAULT)
    assert loaded.input_shape == (3, 224, 224)
    assert not loaded.model.training
    assert sum(p.numel() for p in loaded.model.parameters()) == loaded.meta["num_params"]
    assert isinstance(loaded.model.get_submodule(loaded.first_conv), nn.Conv2d)
    assert "224" in predictions.preprocess_steps(loaded)  # the preprocessing is shown even untrained


def test_cached_weights_are_loaded(monkeypatch):
    state = small_state_dict()
    path = cache_file("squeezenet1_1")
    assert path.parent == weights_dir()
    assert path.name == "squeezenet1_1-b8a52dc0.pth"  # basename of the weights' URL
    torch.save(state, path)
    monkeypatch.setattr(zoo, "_download", lambda *a, **k: pytest.fail("must not download"))
    loaded = zoo.load_model("squeezenet1_1", allow_download=True)
    assert loaded.pretrained and "local cache" in loaded.message
    assert len(loaded.categories) == 1000 and loaded.categories[0] == "tench"
    assert loaded.weights_name == "SqueezeNet1_1_Weights.IMAGENET1K_V1"
    assert loaded.meta["_metrics"]["ImageNet-1K"]["acc@1"] == pytest.approx(58.178)
    for key, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    assert all(p.requires_grad for p in loaded.model.parameters())
    assert not loaded.model.training


def test_explicit_weights_names():
    loaded = zoo.load_model("squeezenet1_1", "IMAGENET1K_V1")
    assert loaded.weights_name == "SqueezeNet1_1_Weights.IMAGENET1K_V1"
    untrained = zoo.load_model("squeezenet1_1", weights=None)
    assert not untrained.pretrained and "as asked" in untrained.message
    with pytest.raises(ValueError, match="No weights"):
        zoo.load_model("squeezenet1_1", "IMAGENET9K")
    with pytest.raises(ValueError, match="Unknown model"):
        zoo.load_model("lenet")


def test_other_torchvision_models_load_too():
    loaded = zoo.load_model("shufflenet_v2_x0_5")
    assert loaded.family == "other" and not loaded.pretrained
    assert loaded.first_conv == "conv1.0" and loaded.gradcam_layer is None


def bad_files(tmp_path: Path) -> dict[str, bytes]:
    marker = tmp_path / "marker"
    good = saved(small_state_dict())
    resnet = zoo.load_model("resnet18", weights=None).model.state_dict()
    return {
        "truncated": good[: len(good) // 2],
        "png": PNG,
        "empty": b"",
        "wrong architecture": saved(resnet),
        "code": saved({"w": WritesMarker(marker)}),
        "not a state dict": saved([torch.zeros(2)]),
    }


@pytest.mark.parametrize(
    "kind", ["truncated", "png", "empty", "wrong architecture", "code", "not a state dict"]
)
def test_a_cached_file_that_does_not_fit_gives_the_untrained_model(tmp_path, kind):
    cache_file("squeezenet1_1").write_bytes(bad_files(tmp_path)[kind])
    loaded = zoo.load_model("squeezenet1_1")
    assert not loaded.pretrained
    assert "squeezenet1_1-b8a52dc0.pth could not be used" in loaded.message
    assert loaded.categories[0] == "class 0"
    assert not (tmp_path / "marker").exists()


def test_googlenet_file_with_auxiliary_heads_loads():
    spec = model_registry.MODELS["googlenet"]
    state = zoo._build(spec, pretrained=True).state_dict()
    state["aux1.fc2.weight"] = torch.zeros(1000, 1024)  # the file has both training heads
    state["aux2.conv.conv.weight"] = torch.zeros(128, 528, 1, 1)
    torch.save(state, cache_file("googlenet"))
    loaded = zoo.load_model("googlenet")
    assert loaded.pretrained, loaded.message
    assert loaded.model.transform_input and loaded.model.aux1 is None
    assert sum(p.numel() for p in loaded.model.parameters()) == 6_624_904


def test_old_file_without_num_batches_tracked_loads():
    state = zoo.load_model("resnet18", weights=None).model.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, cache_file("resnet18"))
    loaded = zoo.load_model("resnet18")
    assert loaded.pretrained, loaded.message
    tensors = itertools.chain(loaded.model.parameters(), loaded.model.buffers())
    assert not any(t.is_meta for t in tensors)  # built on "meta", every tensor from the file
    torch.testing.assert_close(loaded.model.conv1.weight, state["conv1.weight"])


def test_densenet_file_with_old_key_names_loads():
    state = zoo.load_model("densenet121", weights=None).model.state_dict()
    old = {}
    for key, value in state.items():
        for part in ("norm", "relu", "conv"):
            for i in "12":
                key = key.replace(f".{part}{i}.weight", f".{part}.{i}.weight")
                key = key.replace(f".{part}{i}.running_", f".{part}.{i}.running_")
                key = key.replace(f".{part}{i}.bias", f".{part}.{i}.bias")
        old[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    torch.save(old, cache_file("densenet121"))
    loaded = zoo.load_model("densenet121")
    assert loaded.pretrained, loaded.message


# ---------------------------------------------------------------------------
# Downloads (never over the network in tests)
# ---------------------------------------------------------------------------


def test_download_into_the_cache_with_progress(monkeypatch):
    state = small_state_dict()
    calls = []

    def fake_download(url, path, progress, timeout):
        assert url.startswith("https://download.pytorch.org/") and timeout <= 30
        data = saved(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        progress(len(data), len(data))

    monkeypatch.setattr(zoo, "_download", fake_download)
    loaded = zoo.load_model(
        "squeezenet1_1", allow_download=True, progress=lambda done, total: calls.append(done)
    )
    assert loaded.pretrained and loaded.message.startswith("Downloaded")
    assert calls and cache_file("squeezenet1_1").is_file()


def test_failed_download_gives_the_untrained_model(monkeypatch):
    def no_network(*_args, **_kwargs):
        raise zoo.DownloadError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(zoo, "_download", no_network)
    loaded = zoo.load_model("squeezenet1_1", allow_download=True)
    assert not loaded.pretrained and "could not be downloaded (offline?" in loaded.message


def test_download_helper_checks_the_hash_and_reports_progress(tmp_path):
    data = bytes(range(256)) * 10_000  # 2.5 MB: three chunks
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    prefix = hashlib.sha256(data).hexdigest()[:8]
    target = tmp_path / "cache" / f"weights-{prefix}.pth"
    calls = []
    zoo._download(source.as_uri(), target, lambda done, total: calls.append((done, total)), 5.0)
    assert target.read_bytes() == data
    assert calls[-1] == (len(data), len(data)) and len(calls) == 3

    wrong = tmp_path / "cache" / "weights-deadbeef.pth"
    with pytest.raises(zoo.DownloadError, match="checksum"):
        zoo._download(source.as_uri(), wrong, None, 5.0)
    assert sorted(p.name for p in wrong.parent.iterdir()) == [target.name]  # no partial file

    with pytest.raises(zoo.DownloadError):
        zoo._download((tmp_path / "missing.bin").as_uri(), wrong, None, 5.0)


# ---------------------------------------------------------------------------
# Uploaded weights
# ---------------------------------------------------------------------------


def test_read_weights_accepts_state_dicts_and_checkpoints():
    model = zoo.load_model("squeezenet1_1", weights=None).model
    state = model.state_dict()
    for payload in (
        state,
        {"state_dict": state, "epoch": 3, "optimizer": {"lr": 0.1}},
        {"model": state},
        {f"module.{k}": v for k, v in state.items()},  # saved from DataParallel
    ):
        read = weights_files.read_weights(saved(payload), model)
        assert read.keys() == state.keys()
        torch.testing.assert_close(read["features.0.weight"], state["features.0.weight"])
    assert weights_files.read_weights(saved(state)).keys() == state.keys()  # without a model: no check


def test_read_weights_names_what_does_not_fit():
    model = zoo.load_model("resnet18", weights=None).model
    state = dict(model.state_dict())
    del state["fc.weight"], state["fc.bias"]
    state["conv1.weight"] = torch.zeros(32, 3, 7, 7)
    state["head.weight"] = torch.zeros(2)
    with pytest.raises(weights_files.WeightsError) as error:
        weights_files.read_weights(saved(state), model)
    message = str(error.value)
    assert "missing: fc.weight, fc.bias" in message
    assert "unexpected: head.weight" in message
    assert "shape mismatch: conv1.weight is (64, 3, 7, 7) in the model but (32, 3, 7, 7)" in message
    assert isinstance(error.value, ValueError)


def test_read_weights_lists_only_the_first_few_mismatches():
    model = zoo.load_model("squeezenet1_1", weights=None).model
    other = zoo.load_model("mobilenet_v3_small", weights=None).model.state_dict()
    with pytest.raises(weights_files.WeightsError, match=r"missing: .*\(and \d+ more\)"):
        weights_files.read_weights(saved(other), model)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (PNG, "not a PyTorch weights file"),
        pytest.param(
            pickle.dumps([1], protocol=4), "not a PyTorch weights file",
            marks=pytest.mark.filterwarnings("ignore:Detected pickle protocol"),
        ),
        (b"", "empty"),
        (b"just some text", "not a"),
        (None, "not a complete PyTorch weights file"),  # truncated
        (saved(torch.zeros(3)), "not a state dict"),
        (saved({"a": 1, "b": torch.zeros(1)}), "'a' is an int"),
        (saved({}), "not a state dict"),
    ],
    ids=["png", "pickle", "empty", "text", "truncated", "tensor", "non-tensor", "empty dict"],
)
def test_read_weights_rejects_files_that_are_not_weights(payload, match):
    if payload is None:
        full = saved(small_state_dict())
        payload = full[: len(full) - 1000]
    with pytest.raises(weights_files.WeightsError, match=match):
        weights_files.read_weights(payload)


def test_read_weights_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    for payload in (pickle.dumps(WritesMarker(marker), protocol=2), saved([WritesMarker(marker)])):
        assert not marker.exists()
        with pytest.raises(weights_files.WeightsError, match="refused without being loaded: it would call"):
            weights_files.read_weights(payload)
        assert not marker.exists()  # refused before anything ran


def test_with_weights_copies_the_model():
    loaded = zoo.load_model("squeezenet1_1", weights=None)
    state = {k: torch.full_like(v, 0.5) for k, v in loaded.model.state_dict().items()}
    changed = custom.with_weights(loaded, state, "mine.pth")
    assert changed.pretrained and changed.weights_name == "mine.pth"
    assert changed.model.features[0].weight[0, 0, 0, 0].item() == 0.5
    assert loaded.model.features[0].weight[0, 0, 0, 0].item() != 0.5  # the shared one unchanged
    with pytest.raises(weights_files.WeightsError):
        custom.with_weights(loaded, {"x": torch.zeros(1)}, "bad.pth")


# ---------------------------------------------------------------------------
# Predictions and preprocessing
# ---------------------------------------------------------------------------


def test_predict_top_k():
    torch.save(small_state_dict(), cache_file("squeezenet1_1"))
    loaded = zoo.load_model("squeezenet1_1")
    prediction = predictions.predict(loaded, random_image(), k=5)
    assert prediction.tensor.shape == (1, 3, 224, 224)
    assert len(prediction.top) == 5 and len(prediction.top_indices) == 5
    probabilities = [p for _, p in prediction.top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert prediction.probabilities.shape == (1000,)
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    for (category, p), index in zip(prediction.top, prediction.top_indices, strict=True):
        assert category == loaded.categories[index]
        assert p == pytest.approx(prediction.probabilities[index])
    assert prediction.top[0][1] == pytest.approx(prediction.probabilities.max())
    assert len(predictions.predict(loaded, random_image(), k=1).top) == 1
    assert len(predictions.predict(loaded, random_image()[:, :, 0], k=2000).top) == 1000  # grey, k > K


def test_predict_uses_the_weights_transforms():
    loaded = zoo.load_model("mobilenet_v3_small")
    image = random_image(300, 260)
    expected = loaded.transforms(torch.from_numpy(image.transpose(2, 0, 1)).float())
    torch.testing.assert_close(predictions.predict(loaded, image).tensor[0], expected)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((8, 8, 4)), r"\(H, W, 3\)"),
        (np.zeros((2, 8, 8, 3)), r"\(H, W, 3\)"),
        (np.full((8, 8, 3), np.nan), "NaN"),
    ],
)
def test_predict_rejects_bad_images(image, match):
    loaded = zoo.load_model("squeezenet1_1", weights=None)
    with pytest.raises(ValueError, match=match):
        predictions.predict(loaded, image)


def test_preprocess_steps_for_torchvision_models():
    steps = predictions.preprocess_steps(zoo.load_model("resnet18", weights=None))
    assert "224 x 224" in steps and "256 px" in steps
    assert "mean = (0.485, 0.456, 0.406)" in steps and "std = (0.229, 0.224, 0.225)" in steps
    efficient = predictions.preprocess_steps(zoo.load_model("efficientnet_b0", weights=None))
    assert "bicubic" in efficient


# ---------------------------------------------------------------------------
# The app's own networks
# ---------------------------------------------------------------------------


def small_cnn(channels: int, size: int) -> nn.Module:
    """The lecture's simple CNN: 2 x (conv, ReLU, max-pool), then 2 dense layers."""
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * (size // 4) ** 2, 32), nn.ReLU(), nn.Linear(32, 10),
    )


@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28)])
def test_custom_model_works_with_every_function(channels, size):
    model = small_cnn(channels, size)
    model.train()  # e.g. still owned by a training job: must stay as it is
    classes = [f"shape {i}" for i in range(10)]
    mean, std = (0.5,) * channels, (0.25,) * channels
    loaded = custom.custom_model(
        "simple CNN", model, classes, image_size=(size, size), mean=mean, std=std
    )
    assert loaded.family == "Custom" and loaded.first_conv == "0"
    assert loaded.input_shape == (channels, size, size)
    assert loaded.gradcam_layer == "5"  # the last feature map bigger than 1 x 1
    prediction = predictions.predict(loaded, random_image(64, 48), k=3)
    assert prediction.tensor.shape == (1, channels, size, size)
    assert prediction.top[0][0] in classes
    steps = predictions.preprocess_steps(loaded)
    assert f"{size} x {size}" in steps and "0.500" in steps
    assert ("greyscale" in steps) == (channels == 1)

    maps = A.capture(loaded.model, prediction.tensor)
    assert list(maps) == ["0", "1", "2", "3", "4", "5"]
    cam = gradcam.grad_cam(loaded.model, prediction.tensor, loaded.gradcam_layer)
    assert cam.heatmap.shape == (size, size)
    assert feature_maps.first_layer_kernels(loaded.model, loaded.first_conv).shape == (8, channels, 3, 3)
    rows = layer_costs.layer_table(loaded.model, (1, *loaded.input_shape))
    assert layer_costs.table_totals(rows).parameters == loaded.meta["num_params"]
    assert model.training  # untouched


def test_custom_model_accepts_a_callable_transform():
    model = small_cnn(3, 32)
    loaded = custom.custom_model(
        "mine", model, [str(i) for i in range(10)],
        transforms=lambda image: nn.functional.interpolate(image[None], size=(32, 32))[0],
    )
    assert predictions.predict(loaded, random_image()).tensor.shape == (1, 3, 32, 32)


def test_preprocess_checks_its_settings():
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3"):
        predictions.Preprocess((32, 32), (0.5, 0.5), (0.2, 0.2))
    with pytest.raises(ValueError, match="positive"):
        predictions.Preprocess((32, 32), (0.5,), (0.0,))


# ---------------------------------------------------------------------------
# Families compared
# ---------------------------------------------------------------------------


def test_families_table_reads_the_weights_meta():
    rows = {row.name: row for row in families.families_table()}
    assert list(rows) == list(model_registry.MODELS)
    assert rows["vgg16"].parameters_m == pytest.approx(138.4, abs=0.1)
    assert rows["googlenet"].parameters_m == pytest.approx(6.6, abs=0.05)
    assert rows["vgg16"].gflops == pytest.approx(15.47)
    assert rows["resnet50"].top1 == pytest.approx(80.858)  # the DEFAULT (V2) weights
    for name, row in rows.items():
        meta = get_model_weights(model_registry.MODELS[name].torchvision).DEFAULT.meta
        assert row.top5 == meta["_metrics"]["ImageNet-1K"]["acc@5"]
        assert row.file_mb == meta["_file_size"] and row.year == model_registry.MODELS[name].year
    assert not any(weights_dir().glob("*.pth"))  # nothing downloaded


def test_families_figure():
    rows = families.families_table()
    figure = families.families_figure(rows)
    assert len(figure.data) == len({r.family for r in rows})
    assert sum(len(trace.x) for trace in figure.data) == len(rows)
    assert figure.layout.xaxis.type == "log"
    vgg = next(trace for trace in figure.data if trace.name == "VGG")
    assert list(vgg.text) == ["VGG-11", "VGG-16"]


def test_family_chart_labels_of_neighbouring_networks_do_not_overlap():
    import math

    rows = families.families_table()
    figure = families.families_figure(rows)
    position = {}
    for trace in figure.data:
        for text, where in zip(trace.text, trace.textposition, strict=True):
            position[text] = where
    assert position["ResNet-18"] != position["GoogLeNet (Inception v1)"]
    for a in rows:
        for b in rows:
            near = (a is not b and abs(math.log10(a.gflops) - math.log10(b.gflops)) < 0.35
                    and abs(a.top1 - b.top1) < 4)
            if near:
                assert position[a.label] != position[b.label], (a.label, b.label)
    low, high = figure.layout.xaxis.range
    assert low < math.log10(min(r.gflops for r in rows)) and high > math.log10(
        max(r.gflops for r in rows))
