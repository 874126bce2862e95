"""Tests for activations, private copies, the layer table, feature-map statistics and Grad-CAM."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from explorer.networks import activations as A
from explorer.networks import feature_maps, gradcam, layer_costs, private_copy
from explorer.networks.model_registry import MODELS
from explorer.networks.zoo import load_model

SIZE = 64  # small inputs keep the whole file fast; every registry model accepts 64 x 64
HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
    "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small inputs gain nothing from 2 threads, and 2 threads collapse when another process
    uses a core (measured here: ResNet18's p90 went from 28 to 172 ms); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def untrained(name: str) -> nn.Module:
    """Each registry model built once for the whole file (weights=None never looks for files)."""
    return load_model(name, weights=None).model


def image(seed: int = 0, size: int = SIZE) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def state_of(model: nn.Module) -> dict:
    """What a shared model must keep: no hooks, eval mode, requires_grad, no .grad."""
    return {
        "hooks": sum(len(getattr(m, d)) for m in model.modules() for d in HOOK_DICTS),
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad is not None for p in model.parameters()],
        "fingerprint": private_copy._fingerprint(model),
    }


# ---------------------------------------------------------------------------
# Every registry model
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_registry_model_end_to_end(name):
    model = untrained(name)
    before = state_of(model)
    spec = MODELS[name]
    names = A.layer_names(model)
    assert A.uses_fx(model), f"{name} should trace with FX"
    assert len(names) == len(set(names)) and "x" not in names
    assert spec.gradcam_layer in names
    assert isinstance(model.get_submodule(spec.first_conv), nn.Conv2d)
    assert sum(len(v) for v in A.group_layers(names).values()) == len(names)

    x = image()
    default = A.capture(model, x)
    assert list(default) == A.default_layers(model)
    assert default and all(v.dim() == 4 and v.shape[0] == 1 for v in default.values())
    assert spec.gradcam_layer in default

    explicit = list(dict.fromkeys([names[0], names[len(names) // 3], spec.gradcam_layer]))
    chosen = A.capture(model, x, explicit)
    assert list(chosen) == explicit
    for layer in explicit:
        if layer in default:
            torch.testing.assert_close(chosen[layer], default[layer])

    # Captures are copies: changing one doesn't change the next.
    first = chosen[spec.gradcam_layer]
    first.add_(1000.0)
    again = A.capture(model, x, [spec.gradcam_layer])[spec.gradcam_layer]
    torch.testing.assert_close(again, default[spec.gradcam_layer])

    cam = gradcam.grad_cam(model, x, spec.gradcam_layer)
    assert cam.heatmap.shape == (SIZE, SIZE) and cam.heatmap.dtype == np.float32
    assert np.isfinite(cam.heatmap).all()
    assert cam.heatmap.min() >= 0.0 and cam.heatmap.max() <= 1.0
    assert cam.heatmap.max() in (0.0, 1.0)
    assert 0 <= cam.class_index < 1000

    rows = layer_costs.layer_table(model, (1, 3, SIZE, SIZE))
    assert layer_costs.table_totals(rows).parameters == sum(p.numel() for p in model.parameters())
    assert [r.name for r in rows if r.output_shape] == names

    assert state_of(model) == before  # no hooks, modes, requires_grad or grads changed
    private = A.eval_model(model)
    assert sum(len(getattr(m, d)) for m in private.modules() for d in HOOK_DICTS) == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_macs_match_torchvision_gflops(name):
    """torchvision's meta["_ops"] ("GFLOPS") equals our multiply-add count at 224 x 224."""
    from torchvision.models import get_model_weights

    total = layer_costs.table_totals(layer_costs.layer_table(untrained(name), (1, 3, 224, 224)))
    gflops = get_model_weights(MODELS[name].torchvision).DEFAULT.meta["_ops"]
    assert total.macs / 1e9 == pytest.approx(gflops, abs=0.0015)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_macs_are_half_of_torch_s_flop_count(name):
    """torch.utils.flop_counter counts a multiply-add as 2 FLOPs (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = untrained(name)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(image())
    assert layer_costs.table_totals(layer_costs.layer_table(model, (1, 3, SIZE, SIZE))).macs * 2 == pytest.approx(
        counter.get_total_flops(), rel=0.01
    )


# ---------------------------------------------------------------------------
# In-place operations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alexnet", "vgg11"])
def test_conv_output_survives_the_inplace_relu(name):
    model = untrained(name)
    assert model.features[1].inplace  # the trap is there
    out = A.capture(model, image(), ["features.0", "features.1"])
    assert out["features.0"].min() < 0  # the conv output, as computed
    assert out["features.1"].min() == 0  # the ReLU's
    torch.testing.assert_close(out["features.1"], out["features.0"].clamp(min=0))


def test_densenet_norm5_survives_functional_inplace_relu():
    out = A.capture(untrained("densenet121"), image(), ["features.norm5", "relu"])
    assert out["features.norm5"].min() < 0
    torch.testing.assert_close(out["relu"], out["features.norm5"].clamp(min=0))


def test_resnet_residual_sum_is_captured():
    layers = ["maxpool", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu_1"]
    out = A.capture(untrained("resnet18"), image(), layers)
    torch.testing.assert_close(out["layer1.0.add"], out["layer1.0.bn2"] + out["maxpool"])
    torch.testing.assert_close(out["layer1.0.relu_1"], out["layer1.0.add"].clamp(min=0))


def test_capture_rejects_unknown_layers_and_bad_input():
    model = untrained("squeezenet1_1")
    with pytest.raises(ValueError, match="Unknown layer"):
        A.capture(model, image(), ["features.99"])
    with pytest.raises(ValueError, match="B, C, H, W"):
        A.capture(model, torch.zeros(3, SIZE, SIZE))


def test_capture_leaves_a_model_in_train_mode_alone():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
    model.train()
    running = model[1].running_mean.clone()
    a = A.capture(model, image())
    b = A.capture(model, image())
    assert model.training and all(m.training for m in model.modules())
    torch.testing.assert_close(model[1].running_mean, running)  # eval mode: stats unchanged
    torch.testing.assert_close(a["3"], b["3"])  # no dropout: deterministic


def test_cache_follows_replaced_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert A.capture(model, image())["0"].shape[1] == 4
    model[0] = nn.Conv2d(3, 6, 3)
    assert A.capture(model, image())["0"].shape[1] == 6


# ---------------------------------------------------------------------------
# Models FX cannot trace: module hooks
# ---------------------------------------------------------------------------


class Branchy(nn.Module):
    """Control flow that depends on the data: FX cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > -1e9:  # always true, but a Proxy can't decide it
            x = self.relu(self.conv(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def test_untraceable_model_falls_back_to_hooks():
    model = Branchy().eval()
    before = state_of(model)
    assert not A.uses_fx(model)
    assert A.layer_names(model) == ["conv", "relu", "pool", "fc"]
    out = A.capture(model, image())
    assert list(out) == ["conv", "relu", "pool"]  # the 4-D ones
    assert out["conv"].min() < 0 and out["relu"].min() == 0  # clone taken before in-place ReLU
    cam = gradcam.grad_cam(model, image(), "conv")
    assert cam.heatmap.shape == (SIZE, SIZE) and 0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1
    rows = layer_costs.layer_table(model, (1, 3, 8, 8))
    assert layer_costs.table_totals(rows).parameters == sum(p.numel() for p in model.parameters())
    assert rows[0].macs == 4 * 8 * 8 * 3 * 3 * 3 and rows[-1].macs == 4 * 3
    assert state_of(model) == before


# ---------------------------------------------------------------------------
# Layer table
# ---------------------------------------------------------------------------


def test_layer_table_rows_for_a_small_cnn():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.Flatten(), nn.Linear(8 * 16 * 16, 10),
    )
    rows = layer_costs.layer_table(model, (1, 3, 32, 32))
    assert [(r.name, r.type, r.output_shape) for r in rows] == [
        ("0", "Conv2d", (8, 32, 32)), ("1", "ReLU", (8, 32, 32)), ("2", "MaxPool2d", (8, 16, 16)),
        ("3", "Conv2d", (8, 16, 16)), ("4", "Flatten", (2048,)), ("5", "Linear", (10,)),
    ]
    assert [r.macs for r in rows] == [8 * 32 * 32 * 3 * 9, 0, 0, 8 * 16 * 16 * 4 * 9, 0, 2048 * 10]
    assert [r.parameters for r in rows] == [224, 0, 0, 296, 0, 20490]
    total = layer_costs.table_totals(rows)
    assert (total.name, total.parameters, total.output_shape) == ("total", 21010, (10,))


def test_layer_table_counts_shared_and_unused_parameters_once():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            return self.conv(self.conv(x))

    model = Shared()
    rows = layer_costs.layer_table(model, (1, 2, 4, 4))
    assert [r.name for r in rows] == ["conv", "conv_1", "unused"]
    assert [r.parameters for r in rows] == [6, 0, 12]
    assert rows[0].macs == rows[1].macs == 2 * 16 * 2
    assert rows[2].type == "Linear (unused)"


# ---------------------------------------------------------------------------
# Grouping, statistics, grids, kernels
# ---------------------------------------------------------------------------


def test_group_layers():
    names = ["conv1", "bn1", "layer1.0.conv1", "layer1.0.add", "layer2.0.conv1", "fc"]
    assert A.group_layers(names) == {
        "top level": ["conv1", "bn1", "fc"],
        "layer1": ["layer1.0.conv1", "layer1.0.add"],
        "layer2": ["layer2.0.conv1"],
    }
    big = ["features.conv0"] + [f"features.block{b}.layer{i}" for b in (1, 2) for i in range(30)]
    groups = A.group_layers([*big, "head.0", "head.1.fc", "fc"], max_group=40)
    assert list(groups) == [
        "features", "features.block1", "features.block2", "head", "head.1", "top level"
    ]
    assert groups["features"] == ["features.conv0"] and len(groups["features.block2"]) == 30
    assert groups["head"] == ["head.0"] and groups["top level"] == ["fc"]


def test_channel_stats_and_strongest_channels():
    act = torch.zeros(1, 3, 2, 2)
    act[0, 1] = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    act[0, 2] = 5.0
    stats = feature_maps.channel_stats(act)
    assert stats["max"] == 5.0 and stats["min"] == 0.0
    assert stats["mean"] == pytest.approx(26 / 12)
    assert stats["zero_fraction"] == pytest.approx(5 / 12)
    np.testing.assert_allclose(stats["channel_mean"], [0.0, 1.5, 5.0])
    np.testing.assert_allclose(stats["channel_max"], [0.0, 3.0, 5.0])
    np.testing.assert_allclose(stats["channel_zero_fraction"], [1.0, 0.25, 0.0])
    assert feature_maps.strongest_channels(act, 2) == [2, 1]
    assert feature_maps.strongest_channels(act.numpy()[0], 10) == [2, 1, 0]
    with pytest.raises(ValueError, match="1, C, H, W"):
        feature_maps.channel_stats(torch.zeros(2, 3, 4, 4))


def test_channel_grid():
    act = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(1, 2, 3, 3)
    grid = feature_maps.channel_grid(act, columns=2)
    assert grid.shape == (1 + 3 + 1, 1 + 2 * (3 + 1), 3) and grid.dtype == np.uint8
    assert grid[1, 1, 0] == 0 and grid[3, 3, 0] == 255  # each channel stretched to 0..255
    assert feature_maps.channel_grid(act, channels=[1], columns=4).shape == (5, 17, 3)


def test_first_layer_kernels():
    model = untrained("alexnet")
    kernels = feature_maps.first_layer_kernels(model)
    assert kernels.shape == (64, 3, 11, 11) and kernels.dtype == np.float32
    np.testing.assert_array_equal(kernels, model.features[0].weight.detach().numpy())
    assert feature_maps.first_layer_kernels(model, "features.3").shape == (192, 64, 5, 5)
    with pytest.raises(ValueError, match="not a Conv2d"):
        feature_maps.first_layer_kernels(model, "features.1")
    with pytest.raises(ValueError, match="no layer"):
        feature_maps.first_layer_kernels(model, "nope")


# ---------------------------------------------------------------------------
# Grad-CAM with a known answer
# ---------------------------------------------------------------------------


def bright_patch_net(*, traceable: bool = True) -> nn.Module:
    """conv (a 3x3 box filter summing R, G, B) -> ReLU -> global average -> linear (+1, -1).

    Class 0's score grows with brightness anywhere, so Grad-CAM must point at the bright patch;
    class 1's gradient is negative everywhere, so its map is all zero.
    """
    conv = nn.Conv2d(3, 1, 3, padding=1)
    fc = nn.Linear(1, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0 / 27)
        conv.bias.zero_()
        fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        fc.bias.zero_()
    layers = [conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc]
    if traceable:
        return nn.Sequential(*layers).eval()
    model = Branchy()
    model.conv, model.fc = conv, fc
    model.pool = nn.AdaptiveAvgPool2d(1)
    return model.eval()


@pytest.mark.parametrize("traceable", [True, False])
@pytest.mark.parametrize("layer", ["conv", "relu"])
def test_grad_cam_finds_the_bright_patch(traceable, layer):
    model = bright_patch_net(traceable=traceable)
    target = {"conv": "0", "relu": "1"}[layer] if traceable else layer
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, 10:18, 22:30] = 1.0  # a bright 8 x 8 patch in the right half
    cam = gradcam.grad_cam(model, x, target, class_index=0)
    assert cam.class_index == 0 and cam.heatmap.shape == (32, 32)
    assert cam.heatmap.min() >= 0 and cam.heatmap.max() == pytest.approx(1.0)
    right, left = cam.heatmap[:, 16:].mean(), cam.heatmap[:, :16].mean()
    assert right > 0.1 and left < 0.005 and right > 20 * left
    assert cam.heatmap[14, 26] == pytest.approx(1.0, abs=0.05)  # the patch's centre
    assert cam.score == pytest.approx(64 / 1024, rel=1e-4)  # mean brightness of the image
    assert gradcam.grad_cam(model, x, target).class_index == 0  # the top class by default
    assert gradcam.grad_cam(model, x, target, class_index=1).heatmap.max() == 0.0


def test_grad_cam_checks_its_arguments():
    model = bright_patch_net()
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="class_index"):
        gradcam.grad_cam(model, x, "0", class_index=2)
    with pytest.raises(ValueError, match="feature map"):
        gradcam.grad_cam(model, x, "3")  # flatten: (1, 1)
    with pytest.raises(ValueError, match="batch size 1"):
        gradcam.grad_cam(model, torch.zeros(2, 3, 8, 8), "0")
    with pytest.raises(ValueError, match="Unknown layer"):
        gradcam.grad_cam(model, x, "7")


def test_grad_cam_works_with_frozen_parameters_and_leaves_them_frozen():
    model = bright_patch_net()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.zeros(1, 3, 16, 16)
    x[:, :, :, 8:] = 1.0
    with torch.no_grad():  # even when called inside no_grad
        cam = gradcam.grad_cam(model, x, "1", class_index=0)
    assert cam.heatmap[:, 8:].mean() > cam.heatmap[:, :8].mean()
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_suggest_gradcam_layer():
    assert gradcam.suggest_gradcam_layer(bright_patch_net(), (1, 3, 8, 8)) == "1"  # not the 1x1 pool
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ValueError, match="no layer"):
        gradcam.suggest_gradcam_layer(model, (1, 3, 2, 2))


def test_forward_runs_in_eval_mode_without_grad():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Dropout(0.9), nn.Flatten())
    model.train()
    x = image()
    a, b = A.forward(model, x), A.forward(model, x)
    torch.testing.assert_close(a, b)
    assert not a.requires_grad and model.training
    shared = itertools.zip_longest(model.parameters(), A.eval_model(model).parameters())
    assert all(mine is private for mine, private in shared)  # the same tensors, not copies
