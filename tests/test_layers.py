"""explorer.convolution.backprop, dense_conv, comparisons, receptive-field stacks and activation curves,
checked against torch / scipy and the lecture's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from scipy import signal

from explorer.convolution import backprop, comparisons, dense_conv, kernels
from explorer.convolution import receptive_field as rf
from explorer.images import pictures as images
from explorer.lecture import reference as lecture
from explorer.training import nets

# ---------------------------------------------------------------- S17 backprop


@pytest.mark.parametrize("setup", [
    backprop.LayerSetup(),
    backprop.LayerSetup(size=4, kernel=2),
    backprop.LayerSetup(size=8, kernel=4, c_in=3, c_out=2, seed=5),
    backprop.LayerSetup(size=5, kernel=3, c_in=2, c_out=3, seed=9),
])
def test_the_lectures_formulas_equal_autograd(setup: backprop.LayerSetup) -> None:
    grads = backprop.layer_gradients(setup)
    out = setup.size - setup.kernel + 1
    assert grads.dw_formula.shape == (setup.c_out, setup.c_in, setup.kernel, setup.kernel)
    assert grads.da_formula.shape == (setup.c_in, setup.size, setup.size)
    assert grads.dz.shape == (setup.c_out, out, out)
    assert grads.max_differences == {"w": 0.0, "a": 0.0, "b": 0.0}  # whole numbers: exact
    assert np.any(grads.dw_autograd != 0) and np.any(grads.da_autograd != 0)


def test_the_forward_pass_is_torchs_correlation() -> None:
    grads = backprop.layer_gradients(backprop.LayerSetup(c_in=2, c_out=2, seed=3))
    z = F.conv2d(torch.tensor(grads.a[None]), torch.tensor(grads.w))[0].numpy()
    bias = grads.z - z  # what is left is the bias, constant per channel
    assert np.allclose(bias, bias[:, :1, :1])
    # one channel by hand: correlate2d, the lecture's Z[j] = sum_k W[k] A[j + k]
    single = backprop.layer_gradients(backprop.LayerSetup())
    expected = signal.correlate2d(single.a[0], single.w[0, 0], mode="valid")
    assert np.allclose(single.z[0] - expected, (single.z[0] - expected)[0, 0])


@pytest.mark.parametrize("bad", [dict(size=3), dict(kernel=5), dict(size=4, kernel=4),
                                 dict(c_in=0), dict(c_out=4)])
def test_bad_layer_setups_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        backprop.LayerSetup(**bad)


# ---------------------------------------------------------------- S19 and S15


@pytest.mark.parametrize("c_in, n_out, batch", [(1, 1, 1), (6, 4, 2), (16, 16, 4)])
def test_a_dense_layer_is_a_1x1_convolution(c_in: int, n_out: int, batch: int) -> None:
    result = dense_conv.dense_as_conv(c_in, n_out, batch)
    assert result.dense.shape == (batch, n_out)
    assert result.conv.shape == (batch, n_out, 1, 1)
    assert result.conv_weight_shape == (n_out, c_in, 1, 1)
    assert result.max_difference == 0.0
    expected = result.a[:, :, 0, 0] @ result.weight.T + result.bias  # Z = W A + b by hand
    np.testing.assert_array_equal(result.dense, expected)


def test_dense_as_conv_refuses_sizes_it_cannot_show() -> None:
    with pytest.raises(ValueError):
        dense_conv.dense_as_conv(c_in=100)


def test_the_lectures_alexnet_layer_2_counts() -> None:
    counts = dense_conv.conv_vs_dense(**dense_conv.ALEXNET_LAYER2)
    assert counts.conv_weights == 614_400  # 6.1e5
    assert counts.conv_biases == 256
    assert counts.dense_weights == 224_885_760_000  # 2.2e11
    assert counts.dense_biases == 774_400  # 7.7e5
    assert f"{counts.conv_weights:.1e}" == "6.1e+05" and f"{counts.dense_weights:.1e}" == "2.2e+11"


def test_parameters_by_kind_add_up_to_torchvisions_totals() -> None:
    vgg = dense_conv.architecture_only("vgg16")
    totals = dense_conv.parameters_by_kind(vgg)
    assert totals == {"convolutional": 14_714_688, "dense": 123_642_856}
    assert sum(totals.values()) == sum(p.numel() for p in vgg.parameters()) == 138_357_544
    assert next(vgg.parameters()).device.type == "meta"  # no memory, no download


# ---------------------------------------------------------------- S18 receptive fields of stacks


@pytest.mark.parametrize("name", list(rf.STACKS))
def test_the_paths_to_a_unit_fill_exactly_its_receptive_field(name: str) -> None:
    layers = rf.STACKS[name]
    field = rf.stack_field(layers)
    out = rf.stack_output_size(layers)
    for row, col in [(0, 0), (out - 1, out - 1), (out // 2, out // 3)]:
        paths = rf.paths_to_unit(layers, row, col)
        top, left, bottom, right = field.box(row, col)
        rows, cols = np.nonzero(paths)
        if "dilation" in name:  # dilated kernels skip pixels inside the field
            assert rows.min() == top and cols.min() == left
            assert rows.max() == bottom - 1 and cols.max() == right - 1
        else:
            assert paths[top:bottom, left:right].min() > 0
            assert paths.sum() == paths[top:bottom, left:right].sum()
    assert rf.field_formula(layers).endswith(f"= {field.size[0]}")


def test_five_3x3_convolutions_see_as_far_as_one_11x11() -> None:
    five = rf.stack_field(rf.STACKS["Five 3x3 convolutions"])
    one = rf.stack_field(rf.STACKS["One 11x11 convolution"])
    assert five.size == one.size == (11, 11)
    assert rf.stack_output_size(rf.STACKS["Five 3x3 convolutions"]) == 22  # 32 - 10


def test_a_unit_outside_the_output_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        rf.paths_to_unit(rf.STACKS["Five 3x3 convolutions"], 22, 0)


# ---------------------------------------------------------------- S1, S2, S4


def test_the_lectures_boundary_shapes_on_the_cameraman() -> None:
    camera = images.builtin_image("cameraman", mode="L").astype(np.float64)
    box = kernels.make_kernel("box", size=9)
    panels = comparisons.modes_side_by_side(camera, box)
    shapes = {panel.title.split(":")[0]: panel.values.shape for panel in panels}
    assert shapes == {mode: lecture.CAMERAMAN_SHAPES_9X9[mode] for mode in comparisons.MODES}
    for panel in panels:  # the same numbers as the lecture's scipy call
        mode = panel.title.split(":")[0]
        np.testing.assert_allclose(panel.values, signal.convolve2d(camera, box, mode=mode),
                                   atol=1e-5)  # a big input goes through the float32 FFT


def test_blurs_bigger_kernels_blur_more_and_the_gaussian_less_than_the_box() -> None:
    camera = images.builtin_image("cameraman", mode="L").astype(np.float64)
    panels = {panel.title.split(" (")[0]: panel.values
              for panel in comparisons.blurs_side_by_side(camera)}
    detail = {name: float(np.abs(np.diff(values, axis=1)).mean())
              for name, values in panels.items()}  # what blurring removes
    assert detail["Uniform kernel, 15x15"] < detail["Uniform kernel, 9x9"]
    assert detail["Gaussian kernel, 15x15"] < detail["Gaussian kernel, 9x9"]
    assert detail["Uniform kernel, 9x9"] < detail["Gaussian kernel, 9x9"]
    assert detail["Uniform kernel, 15x15"] < detail["Gaussian kernel, 15x15"]
    np.testing.assert_allclose(panels["Uniform kernel, 9x9"], signal.convolve2d(
        camera, np.ones((9, 9)) / 81, mode="same"), atol=1e-5)


def test_the_sobel_layer_is_correlate2d_with_gx_and_gy() -> None:
    camera = images.builtin_image("cameraman", mode="L").astype(np.float64)
    layer = comparisons.sobel_as_conv2d(camera)
    assert layer.weight_shape == (2, 1, 3, 3)
    assert layer.outputs.shape == (2, 510, 510)
    assert layer.max_difference < 1e-4  # float32 against float64
    np.testing.assert_allclose(layer.outputs[0], signal.correlate2d(
        camera, np.array(lecture.SOBEL_GX), mode="valid"), atol=1e-4)


# ---------------------------------------------------------------- S11 activation curves


@pytest.mark.parametrize("name", list(nets.ACTIVATIONS))
def test_activation_curves_match_torch_functional(name: str) -> None:
    z = np.linspace(-3, 3, 61)
    expected = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
                "prelu": lambda t: F.prelu(t, torch.tensor([0.25])),
                "elu": lambda t: F.elu(t, 1.0)}[name](torch.tensor(z, dtype=torch.float32))
    np.testing.assert_allclose(nets.activation_curve(name, z), expected.numpy(), atol=1e-6)
    assert np.allclose(nets.activation_curve(name, z[z >= 0]), z[z >= 0])  # z for z >= 0
