"""Dense layers and convolutions compared: a dense layer is a 1 x 1 convolution when the map is
1 x 1 (the lecture's "What dense layers do"), and how many weights each needs ("Why use
convolution in the first few layers?")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class DenseVsConv:
    a: np.ndarray  # (B, C_in, 1, 1) the input
    weight: np.ndarray  # (N_out, C_in) the dense layer's W
    bias: np.ndarray  # (N_out,)
    dense: np.ndarray  # (B, N_out) nn.Linear on the flattened input
    conv: np.ndarray  # (B, N_out, 1, 1) nn.Conv2d(C_in, N_out, 1) with weight W[:, :, None, None]
    conv_weight_shape: tuple[int, ...]

    @property
    def max_difference(self) -> float:
        return float(np.max(np.abs(self.dense - self.conv[:, :, 0, 0])))


def dense_as_conv(c_in: int = 6, n_out: int = 4, batch: int = 2, seed: int = 0) -> DenseVsConv:
    """The same numbers from nn.Linear and from an nn.Conv2d with a 1 x 1 kernel, whose weight
    is the dense weight reshaped and loaded with load_state_dict."""
    if not (1 <= c_in <= 16 and 1 <= n_out <= 16 and 1 <= batch <= 4):
        raise ValueError("Pick 1-16 input channels, 1-16 outputs and a batch of 1-4.")
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(-3, 4, (batch, c_in, 1, 1), generator=generator).double()  # (B, C_in, 1, 1)
    dense = nn.Linear(c_in, n_out).double()
    with torch.no_grad():
        dense.weight.copy_(torch.randint(-2, 3, (n_out, c_in), generator=generator))
        dense.bias.copy_(torch.randint(-1, 2, (n_out,), generator=generator))
    conv = nn.Conv2d(c_in, n_out, kernel_size=1).double()
    conv.load_state_dict({"weight": dense.weight.detach()[:, :, None, None],  # (N_out, C_in, 1, 1)
                          "bias": dense.bias.detach()})
    with torch.no_grad():
        dense_out = dense(a.flatten(1))  # (B, N_out)
        conv_out = conv(a)  # (B, N_out, 1, 1)
    return DenseVsConv(a=a.numpy(), weight=dense.weight.detach().numpy(),
                       bias=dense.bias.detach().numpy(), dense=dense_out.numpy(),
                       conv=conv_out.numpy(), conv_weight_shape=tuple(conv.weight.shape))


@dataclass(frozen=True)
class LayerCounts:
    conv_weights: int  # C_out C_in K1 K2
    conv_biases: int  # C_out
    dense_weights: int  # C_out C_in N1^2 N2^2: every output value sees every input value
    dense_biases: int  # C_out N1 N2


def conv_vs_dense(c_in: int, c_out: int, size: tuple[int, int],
                  kernel: tuple[int, int]) -> LayerCounts:
    """Weights and biases of a conv layer (C_in, N1, N2) -> (C_out, N1, N2) with a K1 x K2
    kernel, and of a dense layer between the same two shapes."""
    n1, n2 = size
    k1, k2 = kernel
    return LayerCounts(conv_weights=c_out * c_in * k1 * k2, conv_biases=c_out,
                       dense_weights=c_out * c_in * n1 * n1 * n2 * n2,
                       dense_biases=c_out * n1 * n2)


# The lecture's example: AlexNet's 2nd layer, (*, 96, 55, 55) -> (*, 256, 55, 55), 5 x 5 kernels
ALEXNET_LAYER2 = {"c_in": 96, "c_out": 256, "size": (55, 55), "kernel": (5, 5)}


def parameters_by_kind(model: nn.Module) -> dict[str, int]:
    """Parameters in the network's convolutions and in its dense layers."""
    totals = {"convolutional": 0, "dense": 0}
    for module in model.modules():
        kind = ("convolutional" if isinstance(module, nn.Conv2d)
                else "dense" if isinstance(module, nn.Linear) else None)
        if kind:
            totals[kind] += sum(p.numel() for p in module.parameters(recurse=False))
    return totals


def architecture_only(name: str) -> nn.Module:
    """torchvision's network `name` with no weights and no memory (on the meta device)."""
    from torchvision.models import get_model

    with torch.device("meta"):
        return get_model(name, weights=None)
