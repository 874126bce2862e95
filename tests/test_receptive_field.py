"""Receptive fields against autograd (which input pixels a unit's value depends on), the lecture's
numbers and published ones; top and bottom dataset examples cropped to the field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import get_model

from explorer.convolution.receptive_field import crop, receptive_field
from explorer.featurevis.dataset_examples import channel_examples, example_crops, field_or_none


def positive(model: nn.Module) -> nn.Module:
    """Every weight positive and no bias: a pixel a unit sees always changes it (no cancellation)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 0.1)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model.eval()


def seen_box(model: nn.Module, layer_output: int, size: int, row: int, col: int):
    """(top, left, bottom, right) of the input pixels whose gradient for unit (row, col) of
    the model's output channel 0 is not zero, by autograd."""
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = model(x)
    out[0, 0, row, col].backward()
    rows, cols = np.nonzero(x.grad[0, 0].numpy())
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


STACKS = {
    "five 3x3": [nn.Conv2d(1, 1, 3, padding=1) for _ in range(5)],
    "conv stride 2, pool": [nn.Conv2d(1, 1, 5, stride=2, padding=2), nn.MaxPool2d(2),
                            nn.Conv2d(1, 1, 3, padding=1)],
    "dilated": [nn.Conv2d(1, 1, 3, dilation=2, padding=2), nn.Conv2d(1, 1, 3, dilation=3),
                nn.AvgPool2d(3, stride=2)],
    "no padding, even kernel": [nn.Conv2d(1, 1, 4), nn.Conv2d(1, 1, 2, stride=2),
                                nn.Conv2d(1, 1, 3)],
}


@pytest.mark.parametrize("stack", list(STACKS))
def test_the_field_matches_autograd(stack):
    model = positive(nn.Sequential(*STACKS[stack]))
    field = receptive_field(model, str(len(STACKS[stack]) - 1))
    size = 64
    out = model(torch.ones(1, 1, size, size))
    for row, col in [(out.shape[2] // 2, out.shape[3] // 2), (0, 0), (1, out.shape[3] - 1)]:
        top, left, bottom, right = field.box(row, col)
        expected = (max(top, 0), max(left, 0), min(bottom, size), min(right, size))
        # MaxPool picks one input; with constant input every tie breaks to the first, so for
        # stacks with max-pooling compare the box of the whole field by AvgPool instead.
        if any(isinstance(m, nn.MaxPool2d) for m in model):
            avg = positive(nn.Sequential(*[nn.AvgPool2d(m.kernel_size, m.stride)
                                           if isinstance(m, nn.MaxPool2d) else m for m in model]))
            assert seen_box(avg, 0, size, row, col) == expected
        else:
            assert seen_box(model, 0, size, row, col) == expected


def test_the_lecture_five_3x3_convolutions_see_as_far_as_one_11x11():
    five = nn.Sequential(*[nn.Conv2d(3, 3, 3) for _ in range(5)])
    assert receptive_field(five, "4").size == (11, 11)
    assert receptive_field(nn.Sequential(nn.Conv2d(3, 3, 11)), "0").size == (11, 11)


@pytest.mark.parametrize(("name", "layer", "size", "jump"), [
    ("resnet18", "layer4.1.relu_1", 435, 32),  # published: 435
    ("resnet18", "layer1.0.add", 27, 4),
    ("vgg16", "features.30", 212, 32),  # published: 212
    ("alexnet", "features.12", 195, 32),  # published: 195
])
def test_published_receptive_fields(name, layer, size, jump):
    field = receptive_field(get_model(name, weights=None), layer)
    assert field.size == (size, size) and field.jump == (jump, jump)


def test_units_after_global_pooling_or_dense_layers_see_everything():
    model = get_model("resnet18", weights=None)
    with pytest.raises(ValueError, match="whole picture"):
        receptive_field(model, "fc")
    assert field_or_none(model, "fc") is None
    with pytest.raises(ValueError, match="Unknown layer"):
        receptive_field(model, "nope")


def test_crop_fills_outside_the_picture():
    picture = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    patch = crop(picture, (-1, 2, 2, 5), fill=-1)
    assert patch.shape == (3, 3, 1)
    np.testing.assert_array_equal(patch[..., 0], [[-1, -1, -1], [2, 3, -1], [6, 7, -1]])


def test_top_and_bottom_examples_find_the_bright_and_dark_spots():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, bias=False)).eval()
    nn.init.constant_(model[0].weight, 1 / 9)
    x = torch.full((5, 1, 16, 16), 0.5)
    x[3, 0, 10:13, 4:7] = 1.0  # the brightest spot: picture 3, centred at (11, 5)
    x[1, 0, 2:5, 12:15] = 0.0  # the darkest: picture 1, centred at (3, 13)
    (found,) = channel_examples(model, "0", [0], x, k=2)
    assert (found.top[0].image, found.top[0].row, found.top[0].col) == (3, 11, 5)
    assert (found.bottom[0].image, found.bottom[0].row, found.bottom[0].col) == (1, 3, 13)
    assert found.top[0].value == pytest.approx(1.0) and found.bottom[0].value == pytest.approx(0)
    pictures = x.permute(0, 2, 3, 1).numpy()
    (patch,) = example_crops(pictures, receptive_field(model, "0"), found.top[:1])
    assert patch.shape == (3, 3, 1) and (patch == 1.0).all()
