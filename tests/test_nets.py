"""Tests for explorer.training.nets: the configurable CNN, its layer names and its layer table."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer.training import nets
from explorer.training.nets import (
    ACTIVATIONS,
    ModelSettings,
    build_model,
    count_parameters,
    feature_sizes,
    first_conv,
    layer_table,
)


def expected_parameters(s: ModelSettings, in_channels: int, classes: int, side: int) -> int:
    """Parameter count worked out by hand from the architecture."""
    total, previous = 0, in_channels
    k = s.kernel_size
    for width in s.block_channels():
        total += width * previous * k * k + (0 if s.batch_norm else width)  # conv (+ bias)
        total += 2 * width if s.batch_norm else 0  # BN gamma and beta
        total += width if s.activation == "prelu" else 0  # one slope per channel
        previous = width
    height, width = feature_sizes(s, side)[-1]
    total += previous * height * width * s.hidden + s.hidden  # fc1
    total += s.hidden if s.activation == "prelu" else 0
    total += s.hidden * classes + classes  # fc2
    return total


# Every activation x batch norm x dropout; the number of blocks cycles through 1-4.
COMBINATIONS = [
    (activation, batch_norm, dropout, 1 + i % 4)
    for i, (activation, batch_norm, dropout) in enumerate(
        (a, b, d) for a in ACTIVATIONS for b in (False, True) for d in (0.0, 0.5)
    )
]


@pytest.mark.parametrize(("activation", "batch_norm", "dropout", "blocks"), COMBINATIONS)
def test_output_shape_and_parameter_count(activation, batch_norm, dropout, blocks):
    settings = ModelSettings(
        blocks=blocks, channels=4, activation=activation, batch_norm=batch_norm,
        dropout=dropout, hidden=16,
    )
    model = build_model(settings, in_channels=3, num_classes=7, image_size=32)
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert count_parameters(model) == expected_parameters(settings, 3, 7, 32)
    assert ("bn1" in model._modules) == batch_norm
    assert ("drop1" in model._modules) == (dropout > 0)
    assert f"pool{blocks}" in model._modules and f"conv{blocks + 1}" not in model._modules


def test_default_is_the_lecture_simple_cnn():
    model = build_model(ModelSettings(), in_channels=3, num_classes=10, image_size=32)
    names = list(model._modules)
    assert names == [
        "conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc1", "act_fc1", "fc2",
    ]
    assert first_conv(model) is model.conv1
    assert model.conv1.weight.shape == (32, 3, 3, 3)
    assert model.conv2.out_channels == 64
    assert isinstance(model.act1, nn.ReLU) and not model.act1.inplace


def test_greyscale_and_non_square_images():
    settings = ModelSettings(blocks=3, kernel_size=5, channels=8)
    model = build_model(settings, in_channels=1, num_classes=10, image_size=(28, 20))
    assert model(torch.zeros(1, 1, 28, 20)).shape == (1, 10)
    assert feature_sizes(settings, (28, 20)) == [(28, 20), (14, 10), (7, 5), (3, 2)]


def test_valid_padding_shrinks_before_pooling():
    settings = ModelSettings(blocks=2, kernel_size=5, padding="valid")
    assert feature_sizes(settings, 32) == [(32, 32), (14, 14), (5, 5)]
    model = build_model(settings, in_channels=3, num_classes=10, image_size=32)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("settings", "size"),
    [
        (ModelSettings(blocks=4, padding="valid"), 28),  # 28 -> 13 -> 5 -> 1 -> nothing
        (ModelSettings(blocks=4), 8),  # 8 -> 4 -> 2 -> 1 -> nothing
        (ModelSettings(blocks=1, kernel_size=5, padding="valid"), 5),
    ],
)
def test_refuses_settings_that_pool_the_image_to_nothing(settings, size):
    with pytest.raises(ValueError, match="too many for"):
        build_model(settings, in_channels=1, num_classes=10, image_size=size)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"blocks": 0}, {"blocks": 5}, {"kernel_size": 4}, {"activation": "tanh"},
        {"dropout": 0.9}, {"dropout": -0.1}, {"hidden": 0}, {"channels": 0}, {"padding": "full"},
    ],
)
def test_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ModelSettings(**kwargs)


def test_rejects_too_few_classes():
    with pytest.raises(ValueError, match="2 classes"):
        build_model(ModelSettings(), in_channels=3, num_classes=1, image_size=32)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_layer_table(batch_norm):
    settings = ModelSettings(batch_norm=batch_norm, dropout=0.3, activation="prelu")
    model = build_model(settings, in_channels=3, num_classes=10, image_size=32)
    model.train()
    rows = layer_table(model, (3, 32, 32))
    assert sum(row.parameters for row in rows) == sum(p.numel() for p in model.parameters())
    assert [row.name for row in rows] == list(model._modules)
    by_name = {row.name: row for row in rows}
    assert by_name["conv1"].type == "Conv2d"
    assert by_name["conv1"].output_shape == (32, 32, 32)
    assert by_name["pool2"].output_shape == (64, 8, 8)
    assert by_name["flatten"].output_shape == (64 * 8 * 8,)
    assert by_name["fc2"].output_shape == (10,)
    assert by_name["fc1"].parameters == 64 * 8 * 8 * 128 + 128
    assert model.training  # mode restored
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_layer_table_accepts_batch_shape_and_rejects_others():
    model = build_model(ModelSettings(blocks=1, channels=2, hidden=4), in_channels=1,
                        num_classes=2, image_size=8)
    assert layer_table(model, (1, 1, 8, 8))[-1].output_shape == (2,)
    with pytest.raises(ValueError):
        layer_table(model, (8, 8))


def test_the_default_networks_code_runs_without_the_app(tmp_path) -> None:
    """The Pretrained page's code for the app's own network: the layers written out, the
    weights loaded with weights_only, the same top 3 as the app (no import of explorer)."""
    from explorer.training import app_networks
    from tests.test_codegen import run_fresh

    loaded = app_networks.default_network()
    code = nets.standalone_code(loaded.model, loaded.input_shape, "conv2")
    assert "explorer" not in code and "nn.Conv2d(3, 32" in code
    printed = run_fresh(code.replace("assets/default_net.pt",
                                     str(app_networks.DEFAULT_NET)), tmp_path)
    torch.manual_seed(0)
    x = torch.rand(1, *loaded.input_shape)
    with torch.no_grad():
        top = loaded.model(x).softmax(dim=1).topk(3)
    assert str(top.indices) in printed
    assert "torch.Size([1, 64, 16, 16])" in printed
