"""Feature visualisation speed on this machine, against the targets of issue #13.

`python benchmarks/featurevis.py [--threads 2] [--skip-imagenet]`

1. The default network: 8 channels of conv2 at once, 32 x 32, 128 steps. Target: <= 5 s.
2. ResNet-18 and VGG-16 (untrained weights are fine for timing), an early and a middle layer,
   4 channels, 128 x 128, 256 steps. Target: <= 60 s.
Baseline beside each: one forward + backward pass of the same batch without the
regularisations, times the steps (what the optimisation costs at least).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from explorer.featurevis.optimise import VisSettings, visualise  # noqa: E402
from explorer.networks import activations, zoo  # noqa: E402
from explorer.training import app_networks  # noqa: E402


def bare_seconds(model, layer: str, count: int, size: int, steps: int, mean, std) -> float:
    """steps x (forward to the layer + backward to the input), no parametrisation."""
    x = torch.rand(count, 3, size, size, requires_grad=True)
    with activations.differentiable(model, layer) as network:
        started = time.perf_counter()
        for _ in range(min(steps, 16)):
            (network(x)[:, 0].mean() * 1).backward(inputs=[x])
        return (time.perf_counter() - started) / min(steps, 16) * steps


def measure(label: str, loaded, layer: str, count: int, size: int, steps: int,
            target: float) -> None:
    mean, std = loaded.transforms.mean, loaded.transforms.std
    settings = VisSettings(steps=steps, size=size, jitter=max(1, size // 16))
    started = time.perf_counter()
    result = visualise(loaded.model, layer, range(count), mean=mean, std=std, settings=settings)
    seconds = time.perf_counter() - started
    bare = bare_seconds(loaded.model, layer, count, size, steps, mean, std)
    rise = (result.history[-5:].mean(0) - result.history[:5].mean(0)).mean()
    print(f"{label:34s} {layer:12s} {count:2d} ch {size:4d} px {steps:4d} steps  "
          f"{seconds:6.1f} s  (bare fwd+bwd {bare:5.1f} s, x{seconds / bare:4.2f})  "
          f"target <= {target:.0f} s: {'met' if seconds <= target else 'MISSED'}  "
          f"mean rise {rise:+.2f}  [load {os.getloadavg()[0]:.2f}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-imagenet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    measure("default network (Shapes)", app_networks.default_network(), "conv2", 8, 32, 128, 5)
    if not args.skip_imagenet:
        for name, layers in (("resnet18", ("layer1.1.relu_1", "layer2.1.relu_1")),
                             ("vgg16", ("features.8", "features.15"))):
            loaded = zoo.load_model(name)
            for layer in layers:
                measure(f"{loaded.label} ({'trained' if loaded.pretrained else 'untrained'})",
                        loaded, layer, 4, 128, 256, 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
