"""Hostile weights files, pictures and links against the Pretrained page and explorer.networks.

Every hostile input is made here (nothing is downloaded): zip bombs, forged old-format files,
pickles that call os.system, tensors of the wrong kind, NaN weights, thin strips, NaN pictures.
Each must be refused with a clear message, never run code, never unpack what it claims before
the claim is checked, and leave the page working.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import logging
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from torch import nn
from torchvision.models import get_model_weights

from explorer.networks import (
    activations,
    custom,
    feature_maps,
    first_layer,
    gradcam,
    model_registry,
    predictions,
    weights_files,
    zoo,
)
from explorer.training import app_networks
from explorer.ui import image_picker
from explorer.ui.networks import page as pretrained_page
from tests.helpers import run

PAGE = "../pages/5_Pretrained_networks.py"
K = "keep.pretrained."
MB = 2**20
MARKER = Path("/tmp/cnn_explorer_hostile_weights_ran")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, caplog):
    """An empty torch cache (the offline case), one torch thread, no marker left over; after
    the test no code ran and nothing was logged as an error (no traceback in a server log)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    MARKER.unlink(missing_ok=True)
    pretrained_page.zoo_model.clear()
    yield
    pretrained_page.zoo_model.clear()
    torch.set_num_threads(threads)
    assert not MARKER.exists(), "a weights file ran code"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


# ---------------------------------------------------------------------------
# Hostile files, made here
# ---------------------------------------------------------------------------


class RunsShell:
    """Unpickling this calls os.system (pickled as posix.system): code run by loading a file."""

    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


def saved(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def default_state() -> dict[str, torch.Tensor]:
    """The app's default network's weights (conv1, conv2, fc1, fc2; 2.2 MB of float32)."""
    return {k: v.clone() for k, v in app_networks.default_network().model.state_dict().items()}


def rezip(data: bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A torch zip file with every entry deflated (torch stores them), plus `extra` entries."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename), zipfile.ZIP_DEFLATED)
        for name, content in (extra or {}).items():
            target.writestr(name, content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def bomb_with_fitting_shapes(megabytes: int = 64) -> bytes:
    """Every name and shape right, but conv1.weight is a view into a `megabytes` storage of
    zeros: torch.save writes the whole storage, deflate squeezes it to a few KB per MB."""
    state = default_state()
    big = torch.zeros(megabytes * MB // 4)
    state["conv1.weight"] = big[: 32 * 3 * 3 * 3].view(32, 3, 3, 3)
    return rezip(saved(state))


def bomb_with_wrong_names(megabytes: int = 64) -> bytes:
    return rezip(saved({"head.weight": torch.zeros(megabytes * MB // 4)}))


def bomb_in_an_extra_entry(megabytes: int = 64) -> bytes:
    data = saved(default_state())
    prefix = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    return rezip(data, extra={f"{prefix}/data/999": bytes(megabytes * MB)})


def bomb_pickle(megabytes: int = 80) -> bytes:
    """data.pkl itself unpacks to `megabytes` (a valid pickle followed by padding)."""
    data = saved(default_state())
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                content += bytes(megabytes * MB)
            target.writestr(info.filename, content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def many_entries(count: int = weights_files.MAX_ARCHIVE_ENTRIES + 1) -> bytes:
    data = saved({"w": torch.zeros(1)})
    prefix = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        for i in range(count):
            archive.writestr(f"{prefix}/extra/{i}", b"")
    return out.getvalue()


def legacy_forged(claimed: int, stored: int = 4) -> bytes:
    """An old-format torch file (pickle + raw storages) whose one float storage claims
    `claimed` elements while the file holds `stored`: torch would allocate the claim first."""
    from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

    storage = object()

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (
                storage, 0, (stored,), (1,), False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is storage:
                return ("storage", torch.FloatStorage, "0", "cpu", claimed, None)
            return None

    out = io.BytesIO()
    sys_info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    for header in (MAGIC_NUMBER, PROTOCOL_VERSION, sys_info):
        pickle.dump(header, out, protocol=2)
    Pickler(out, protocol=2).dump({"w": Tensor()})
    pickle.dump(["0"], out, protocol=2)
    out.write(struct.pack("<q", stored) + np.arange(stored, dtype=np.float32).tobytes())
    return out.getvalue()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(out, format="PNG")
    return out.getvalue()


def torchscript_bytes() -> bytes:
    out = io.BytesIO()
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), out)
    return out.getvalue()


def with_entry(key: str, value) -> bytes:
    state = default_state()
    state[key] = value
    return saved(state)


def in_dtype(dtype: torch.dtype) -> bytes:
    return saved({k: v.to(dtype) for k, v in default_state().items()})


def non_finite() -> bytes:
    state = default_state()
    state["fc1.weight"][3, 7] = float("nan")
    state["fc2.bias"][0] = float("inf")
    return saved(state)


def truncated() -> bytes:
    data = saved(default_state())
    return data[: len(data) // 2]


# name -> (file bytes, phrase the refusal must contain)
HOSTILE = {
    "bomb_fitting_shapes": (bomb_with_fitting_shapes, "would unpack to"),
    "bomb_wrong_names": (bomb_with_wrong_names, "unexpected: head.weight"),
    "bomb_extra_entry": (bomb_in_an_extra_entry, "would unpack to"),
    "bomb_pickle": (bomb_pickle, "of pickled data"),
    "many_entries": (many_entries, "entries"),
    "legacy_forged": (lambda: legacy_forged(2**28), "claim"),
    "truncated_zip": (truncated, "damaged or truncated"),
    "empty": (lambda: b"", "empty"),
    "png_named_pth": (png_bytes, "is a PNG image"),
    "torchscript": (torchscript_bytes, "TorchScript"),
    "os_system_zip": (lambda: saved({"conv1.weight": RunsShell()}), "refused without"),
    "os_system_legacy": (
        lambda: saved({"conv1.weight": RunsShell()}, _use_new_zipfile_serialization=False),
        "refused without"),
    "os_system_pickle": (lambda: pickle.dumps(RunsShell(), protocol=2), "refused without"),
    "plain_tensor": (lambda: saved(torch.zeros(3)), "holds a Tensor"),
    "list": (lambda: saved([torch.zeros(3)]), "holds a list"),
    "non_tensor_values": (lambda: saved({"conv1.weight": "weights"}), "is a str"),
    "int_keys": (
        lambda: saved(collections.OrderedDict((i, torch.zeros(2)) for i in range(3))),
        "the key 0 is an int"),
    "empty_dict": (lambda: saved({}), "empty mapping"),
    "zero_dim": (lambda: saved({k: torch.tensor(0.5) for k in default_state()}), "shape mismatch"),
    "int8": (lambda: in_dtype(torch.int8), "int8"),
    "bool": (lambda: in_dtype(torch.bool), "bool"),
    "complex": (lambda: in_dtype(torch.complex64), "complex"),
    "sparse": (lambda: with_entry("conv1.bias", torch.zeros(32).to_sparse()), "sparse"),
    "quantized": (
        lambda: with_entry("conv1.bias", torch.quantize_per_tensor(torch.zeros(32), 0.1, 0,
                                                                   torch.qint8)),
        "quantized"),
    "stride_0_terabyte": (
        lambda: with_entry("conv1.weight", torch.zeros(1).expand(2**38)), "shape mismatch"),
    "nan_and_inf": (non_finite, "fc1.weight has 1 such values (and 1 more tensors)"),
}


def model() -> nn.Module:
    return app_networks.default_network().model


@pytest.fixture
def no_real_load(monkeypatch):
    """Fails the test if torch.load materialises tensors (only the meta pass is allowed)."""
    real = torch.load

    def spy(*args, **kwargs):
        assert kwargs.get("map_location") == "meta", "tensors were unpacked before the check"
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)


# ---------------------------------------------------------------------------
# Unit tests: explorer.networks.weights_files.read_weights and the cache loader
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # torch's own
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_read_weights_refuses(kind):
    make, phrase = HOSTILE[kind]
    with pytest.raises(weights_files.WeightsError) as error:
        weights_files.read_weights(make(), model())
    assert phrase in str(error.value)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("kind", ["bomb_fitting_shapes", "bomb_extra_entry", "bomb_pickle",
                                  "bomb_wrong_names", "many_entries", "legacy_forged"])
def test_oversized_claims_are_refused_before_unpacking(kind, no_real_load):
    make, phrase = HOSTILE[kind]
    with pytest.raises(weights_files.WeightsError, match=phrase):
        weights_files.read_weights(make(), model())


def test_a_bomb_is_measured_from_the_archive_directory():
    data = bomb_with_fitting_shapes(64)
    assert len(data) < 3 * MB  # small on the wire ...
    with pytest.raises(weights_files.WeightsError) as error:
        weights_files.read_weights(data, model())
    message = str(error.value)
    assert "would unpack to 66" in message and "refused before unpacking" in message
    budget = weights_files.weights_budget(model())  # 4 x 2.2 MB of float32 weights + 4 MB
    assert f"{budget / MB:.1f} MB" in message


def test_the_budget_follows_the_architecture():
    need = sum(t.numel() * 4 for t in model().state_dict().values())
    assert weights_files.weights_budget(model()) == weights_files.WEIGHTS_MARGIN * need + weights_files.WEIGHTS_SLACK
    assert weights_files.weights_budget(None) == weights_files.MAX_WEIGHTS_BYTES
    with torch.device("meta"):
        huge = nn.Linear(40_000, 20_000)  # 3.2 GB of weights: at least its own size is allowed
    assert weights_files.weights_budget(huge) > 3.2e9


def test_a_forged_old_format_file_is_real():
    """The forger makes the real old format: with an honest claim torch loads it."""
    honest = torch.load(io.BytesIO(legacy_forged(5, 5)), weights_only=True)
    assert honest["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert weights_files.read_weights(legacy_forged(5, 5))["w"].shape == (5,)


def test_old_format_files_still_load():
    state = default_state()
    read = weights_files.read_weights(saved(state, _use_new_zipfile_serialization=False), model())
    torch.testing.assert_close(read["fc1.weight"], state["fc1.weight"])


def test_a_deflated_file_within_the_budget_loads():
    state = default_state()
    read = weights_files.read_weights(rezip(saved(state)), model())
    torch.testing.assert_close(read["conv2.weight"], state["conv2.weight"])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_converted(dtype):
    read = weights_files.read_weights(in_dtype(dtype), model())
    assert all(v.dtype == torch.float32 for v in read.values())
    assert all(v.is_contiguous() for v in read.values())


def test_a_stride_0_view_of_the_right_shape_becomes_a_real_tensor():
    read = weights_files.read_weights(with_entry("fc1.weight", torch.ones(1).expand(128, 4096)), model())
    assert read["fc1.weight"].stride() == (4096, 1) and float(read["fc1.weight"].sum()) == 128 * 4096


def test_without_a_model_sizes_are_still_bounded():
    with pytest.raises(weights_files.WeightsError, match="would take"):
        weights_files.read_weights(saved({"w": torch.zeros(1).expand(2**40)}))
    with pytest.raises(weights_files.WeightsError, match="NaN or infinity: w has 2 such values"):
        weights_files.read_weights(saved({"w": torch.tensor([1.0, float("nan"), -float("inf")])}))


def test_checkpoints_nested_or_compiled_are_unwrapped():
    state = default_state()
    for payload in ({"model": {"state_dict": state}, "epoch": 3},
                    {"model_state_dict": state, "optimizer_state_dict": {"lr": 0.1}},
                    {f"_orig_mod.{k}": v for k, v in state.items()}):
        assert weights_files.read_weights(saved(payload), model()).keys() == state.keys()


def test_read_weights_takes_only_bytes():
    with pytest.raises(weights_files.WeightsError, match="bytes of a file"):
        weights_files.read_weights("conv1.weight")  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_code_in_any_format_never_runs():
    for data in (saved({"w": RunsShell()}), pickle.dumps(RunsShell(), protocol=2),
                 saved([RunsShell()], _use_new_zipfile_serialization=False),
                 rezip(saved({"w": RunsShell()}))):
        with pytest.raises(weights_files.WeightsError, match=r"would call (posix|os)\.system"):
            weights_files.read_weights(data)
        assert not MARKER.exists()
    # protocol 5 (framed): the weights-only unpickler stops at the frame, before the call
    with pytest.raises(weights_files.WeightsError, match="not a PyTorch weights file"):
        weights_files.read_weights(pickle.dumps(RunsShell(), protocol=5))


def cache_file(name: str) -> Path:
    path = zoo.weights_path(get_model_weights(model_registry.MODELS[name].torchvision).DEFAULT)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def squeezenet_state() -> dict[str, torch.Tensor]:
    return zoo.load_model("squeezenet1_1", weights=None).model.state_dict()


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [("nan", "NaN or infinity: features.3.expand1x1.weight has 1 such values"),
     ("bomb", "would unpack to"), ("int8", "int8"), ("legacy_forged", "claim")],
)
def test_the_cache_loader_refuses_hostile_files(kind, phrase):
    state = squeezenet_state()
    if kind == "nan":
        state["features.3.expand1x1.weight"][0, 0, 0, 0] = float("nan")
        data = saved(state)
    elif kind == "bomb":
        big = torch.zeros(64 * MB // 4)  # 64 MB of zeros (SqueezeNet's budget: 24 MB)
        state["features.0.bias"] = big[:64]
        data = rezip(saved(state))
    elif kind == "int8":
        data = saved({k: v.to(torch.int8) for k, v in state.items()})
    else:
        data = legacy_forged(2**28)
    cache_file("squeezenet1_1").write_bytes(data)
    loaded = zoo.load_model("squeezenet1_1")
    assert not loaded.pretrained
    assert "could not be used" in loaded.message and phrase in loaded.message


def test_the_cache_loader_converts_float64():
    state = squeezenet_state()
    cache_file("squeezenet1_1").write_bytes(saved({k: v.double() for k, v in state.items()}))
    loaded = zoo.load_model("squeezenet1_1")
    assert loaded.pretrained
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_alexnet_first_layer_loader_is_bounded_too(tmp_path, monkeypatch):
    alexnet = zoo.load_model("alexnet", weights=None).model
    assert sum(p.numel() for p in alexnet.parameters()) == first_layer.ALEXNET_PARAMETERS
    # A bomb beyond AlexNet's real budget (4 x 244 MB + 4 MB) would take seconds to make: the
    # same check against a smaller network's budget (1,000 parameters: 4 MB + 16 KB).
    monkeypatch.setattr(first_layer, "ALEXNET_PARAMETERS", 1000)
    big = torch.zeros(16 * MB // 4)
    state = {first_layer.ALEXNET_KEY: big[: 64 * 3 * 11 * 11].view(first_layer.ALEXNET_SHAPE)}
    (tmp_path / first_layer.ALEXNET_FILENAME).write_bytes(rezip(saved(state)))
    with pytest.raises(ValueError, match="would unpack to"):
        first_layer.cached_alexnet_first_layer(tmp_path)
    (tmp_path / first_layer.ALEXNET_FILENAME).write_bytes(
        saved({first_layer.ALEXNET_KEY: torch.zeros(first_layer.ALEXNET_SHAPE, dtype=torch.int8)}))
    with pytest.raises(ValueError, match="floating-point"):
        first_layer.cached_alexnet_first_layer(tmp_path)


# ---------------------------------------------------------------------------
# Unit tests: pictures and non-finite values on the network side
# ---------------------------------------------------------------------------


def small_loaded(scale: float = 1.0, channels: int = 4) -> zoo.LoadedModel:
    """A tiny custom network (32 x 32 RGB, 3 classes); its weights multiplied by `scale`."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return custom.custom_model("tiny", net.eval(), ["a", "b", "c"], image_size=(32, 32))


class Spy:
    """A transform that records the size of every image it is given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(image.shape))
        return self.inner(image)


@pytest.mark.parametrize("shape", [(1, 5000), (5000, 1), (3, 4000), (2, 10_001)])
def test_thin_strips_are_cropped_before_the_transforms(shape):
    loaded = zoo.load_model("mobilenet_v3_small", weights=None)
    spy = Spy(loaded.transforms)
    loaded = dataclasses.replace(loaded, transforms=spy)
    image = np.random.default_rng(0).random((*shape, 3))
    prediction = predictions.predict(loaded, image)
    assert prediction.tensor.shape == (1, 3, 224, 224)
    height, width = spy.shapes[-1][1:]
    assert max(height, width) <= predictions.MAX_ASPECT * min(height, width)
    note = predictions.aspect_note(image.shape)
    assert note and f"{shape[1]} x {shape[0]} px" in note


def test_a_crop_changes_nothing_the_central_crop_uses():
    loaded = zoo.load_model("mobilenet_v3_small", weights=None)
    rows, columns = np.mgrid[0:100, 0:190] / 100.0  # smooth: a resize rounding moves nothing
    image = np.stack([np.sin(rows), np.cos(columns), rows * columns / 2], axis=-1)  # 1.9:1
    wide = np.pad(image, ((0, 0), (300, 300), (0, 0)))  # 6.9:1, cropped back to 200 wide
    np.testing.assert_allclose(predictions.preprocess(loaded, wide), predictions.preprocess(loaded, image),
                               atol=0.05)
    assert predictions.aspect_note(image.shape) is None


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.full((8, 8, 3), np.inf), "NaN or infinity"),
        (np.where(np.eye(8)[..., None] > 0, np.nan, 0.5) * np.ones((1, 1, 3)), "24 of 192"),
        (np.full((8, 8), -np.inf), "NaN or infinity"),
        (np.zeros((0, 5, 3)), r"\(H, W, 3\)"),
        (np.zeros((4, 4, 3), dtype=complex), "real numbers"),
        (np.array([["a", "b"]]), "real numbers"),
        ([[1, 2], [3]], "array of numbers"),
        (np.zeros((7000, 7000), dtype=np.uint8), "megapixels"),
    ],
    ids=["inf", "some-nan", "grey-minus-inf", "empty", "complex", "text", "ragged", "huge"],
)
def test_every_entry_point_refuses_bad_pictures(image, match):
    loaded = small_loaded()
    for call in (predictions.image_tensor, lambda i: predictions.preprocess(loaded, i),
                 lambda i: predictions.predict(loaded, i)):
        with pytest.raises(ValueError, match=match):
            call(image)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_capture_and_grad_cam_refuse_non_finite_inputs(value):
    loaded = small_loaded()
    x = torch.rand(1, 3, 32, 32)
    x[0, 1, 2, 3] = value
    with pytest.raises(ValueError, match="NaN or infinity"):
        activations.capture(loaded.model, x)
    with pytest.raises(ValueError, match="NaN or infinity"):
        gradcam.grad_cam(loaded.model, x, loaded.gradcam_layer)
    with pytest.raises(ValueError, match="NaN or infinity"):
        activations.forward(loaded.model, x)
    with pytest.raises(ValueError, match="empty"):
        activations.capture(loaded.model, torch.zeros(1, 3, 0, 32))


def test_weights_too_large_give_messages_not_nan():
    loaded = small_loaded(scale=1e30)  # finite weights, infinite outputs
    image = np.random.default_rng(0).random((32, 32, 3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        predictions.predict(loaded, image)
    x = predictions.preprocess(loaded, image)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gradcam.grad_cam(loaded.model, x, loaded.gradcam_layer, 0)
    maps = activations.capture(loaded.model, x)
    layer = next(name for name, value in maps.items() if not torch.isfinite(value).all())
    stats = feature_maps.channel_stats(maps[layer])
    assert stats["non_finite"] > 0
    grid = feature_maps.channel_grid(maps[layer])
    assert grid.dtype == np.uint8
    assert feature_maps.strongest_channels(maps[layer], 2)[0] in range(maps[layer].shape[1])
    shown = feature_maps.finite_values(maps[layer][0].numpy())
    assert np.isfinite(shown).all()


def test_finite_values_maps_each_kind_of_non_finite():
    values = np.array([[[1.0, 2.0, np.nan, np.inf, -np.inf]], [[np.nan] * 5]], np.float32)
    shown = feature_maps.finite_values(values)
    np.testing.assert_array_equal(shown[0, 0], [1.0, 2.0, 1.0, 2.0, 1.0])
    np.testing.assert_array_equal(shown[1, 0], [0.0] * 5)  # nothing finite: all zero


@pytest.mark.parametrize("index", [-5, -1, 3, 99_999, 2.5, True, "1", [1]])
def test_grad_cam_class_index_out_of_range_or_not_an_integer(index):
    loaded = small_loaded()
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="class_index"):
        gradcam.grad_cam(loaded.model, x, loaded.gradcam_layer, index)
    assert gradcam.grad_cam(loaded.model, x, loaded.gradcam_layer, np.int64(2)).class_index == 2


@pytest.mark.parametrize("layers", ["0", ["nope"], [["0"]], [{"a": 1}]])
def test_capture_names_bad_layers(layers):
    loaded = small_loaded()
    x = torch.rand(1, 3, 32, 32)
    if layers == "0":  # one name as text: that layer, not the characters of its name
        assert list(activations.capture(loaded.model, x, layers)) == ["0"]
        return
    with pytest.raises(ValueError, match="(?i)layer"):
        activations.capture(loaded.model, x, layers)


# ---------------------------------------------------------------------------
# The page (AppTest)
# ---------------------------------------------------------------------------


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def upload_weights(at: AppTest, name: str, data: bytes) -> AppTest:
    uploader = next(u for u in at.file_uploader if u.key.startswith("pretrained.weights."))
    uploader.set_value((name, data, "application/octet-stream"))
    return run(at)


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [w.value for w in at.warning] + [
        i.value for i in at.info] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    return " ".join(parts + [c for image in at.get("image") for c in image.captions])


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # torch's own
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_the_page_refuses_each_hostile_weights_file(app: AppTest, kind):
    make, phrase = HOSTILE[kind]
    before = app.dataframe[0].value
    upload_weights(app, f"{kind}.pth", make())
    errors = " ".join(e.value for e in app.error)
    assert f"{kind}.pth" in errors and phrase in errors
    assert not any(f"{kind}.pth" in s.value for s in app.success)
    assert app.dataframe[0].value.equals(before)  # the network and its predictions unchanged
    app.session_state["tab"] = "Activations"
    run(app)  # the session goes on; the refusal stays on screen while the file is there
    assert any(f"{kind}.pth" in e.value for e in app.error)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_the_page_accepts_other_float_dtypes(app: AppTest, dtype):
    upload_weights(app, "other.pt", in_dtype(dtype))
    assert any("other.pt" in s.value for s in app.success)
    assert not app.error


def test_weights_too_large_for_a_picture_give_messages_in_every_tab(app: AppTest):
    upload_weights(app, "huge.pt", saved({k: v * 1e30 for k, v in default_state().items()}))
    assert any("huge.pt" in s.value for s in app.success)  # finite: accepted
    assert any("NaN or infinite" in e.value for e in app.error)
    for tab in pretrained_page_tabs():
        app.session_state["tab"] = tab
        run(app)
    app.session_state["tab"] = "Activations"
    run(app)
    assert "NaN or infinite" in texts(app)


def pretrained_page_tabs() -> list[str]:
    return ["Predictions", "Activations", "First-layer kernels", "Grad-CAM", "Architecture",
            "Families compared"]


def test_a_network_with_nan_weights_shows_messages_not_tracebacks(app: AppTest, monkeypatch):
    """A run that diverged (NaN weights) reaches the page without the upload checks."""
    loaded = small_loaded()
    with torch.no_grad():
        loaded.model[0].weight[0, 0, 0, 0] = float("nan")
    monkeypatch.setattr(pretrained_page, "default_model", lambda: loaded)
    run(app)
    for tab in pretrained_page_tabs():
        app.session_state["tab"] = tab
        run(app)
        if tab == "First-layer kernels":
            assert "1 of the 108 first-layer weights are NaN" in texts(app)
    assert any("NaN or infinite" in e.value for e in app.error)


def test_a_layer_with_one_channel(app: AppTest, monkeypatch):
    loaded = small_loaded(channels=1)
    monkeypatch.setattr(pretrained_page, "default_model", lambda: loaded)
    app.session_state["tab"] = "Activations"
    run(app)
    assert "output (1, 1, 32, 32)" in texts(app)


def picked(pixels: np.ndarray):
    return lambda *args, **kwargs: image_picker.PickedImage(np.asarray(pixels, np.float32),
                                                            "hostile", "upload", name="hostile")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_picture_with_nan_or_inf_gives_a_message_in_every_tab(app: AppTest, monkeypatch, value):
    real_picker = image_picker.image_picker
    pixels = np.full((40, 50, 3), 0.5)
    pixels[3, 4, 1] = value
    monkeypatch.setattr(image_picker, "image_picker", picked(pixels))
    run(app)
    assert any(e.value.startswith("**hostile**") and "NaN or infinity (1 of 6,000 values)"
               in e.value for e in app.error)  # names the picture and says what is wrong
    for tab in pretrained_page_tabs():
        app.session_state["tab"] = tab
        run(app)
    monkeypatch.setattr(image_picker, "image_picker", real_picker)
    app.session_state["tab"] = "Predictions"
    run(app)  # a good picture again: the session went on
    assert not app.error and len(app.dataframe[0].value) == 5


def test_a_thin_strip_is_cropped_with_a_note(app: AppTest, monkeypatch):
    monkeypatch.setattr(image_picker, "image_picker",
                        picked(np.random.default_rng(0).random((1, 5000, 3))))
    app.selectbox(key=K + "model").set_value("mobilenet_v3_small")
    run(app)
    assert "central 2 x 1 px" in texts(app)
    assert "(1, 3, 224, 224)" in texts(app)


def test_an_uploaded_float_tiff_with_inf_never_crashes_the_page(app: AppTest):
    pixels = np.full((16, 16), 0.5, np.float32)
    pixels[2, 3] = np.inf
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="TIFF")  # mode "F": 32-bit float
    app.radio(key=K + "source").set_value("upload")
    run(app)
    app.file_uploader(key="pretrained.upload").set_value(("inf.tif", out.getvalue(), "image/tiff"))
    run(app)
    for tab in pretrained_page_tabs():  # refused by the decoder or the network's own check
        app.session_state["tab"] = tab
        run(app)
    if not app.error:  # the decoder made the picture finite: then the probabilities are too
        assert np.isfinite(app.dataframe[0].value["probability"]).all()


@pytest.mark.parametrize(
    "params",
    [
        {"layer": "no.such.layer", "channel": "99999", "class": "-5"},
        {"channel": "3.0", "class": "2.5", "strongest": "1.0", "shared": "1"},
        {"channel": "-1", "class": "99999", "count": "7", "strongest": '"yes"'},
        {"layer": '["conv1"]', "channel": "[1]", "class": '{"a": 1}', "model": '{"x": 1}'},
        {"layer": "[[[]]]", "channel": "true", "class": "null", "model": "run:nonexistent"},
        {"cls": "-5", "model": "vgg16_bn_not_there"},
    ],
    ids=["out-of-range", "floats", "negative", "objects", "deep", "unknown"],
)
@pytest.mark.parametrize("tab", ["Activations", "Grad-CAM"])
def test_links_with_bad_values_fall_back_to_defaults(params, tab):
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.query_params.update(params)
    at.switch_page(PAGE)
    at.session_state["tab"] = tab
    run(at)
    assert at.selectbox(key=K + "model").value == pretrained_page.DEFAULT
    if tab == "Activations":
        channel = next(s for s in at.slider if s.label.startswith("One channel"))
        assert isinstance(channel.value, int) and 0 <= channel.value < 32
        assert at.toggle(key=K + "strongest").value is False
    else:
        box = next(b for b in at.selectbox if b.label == "Class")
        assert isinstance(box.value, int) and 0 <= box.value < 10
        assert any("Grad-CAM for" in c for image in at.get("image") for c in image.captions)
