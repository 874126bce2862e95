"""The Deep networks page's "Show the code": plain PyTorch scripts (no explorer) that print
the vanishing-gradient figure's numbers and train residual vs plain on the same Shapes."""

from __future__ import annotations

from explorer.gradients.data import TRAIN_IMAGES
from explorer.gradients.residual import VARIANTS, CompareSettings
from explorer.gradients.settings import ACTIVATIONS, DeepSettings
from explorer.training.script import shapes_code

_HEAD = '''"""{title} (CNN Explorer's Deep networks page, as a script)."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_TRAIN, N_TEST, IMAGE_SIZE = {n_train}, 10, 32  # the page uses 2,000 Shapes training images

{shapes}
MEAN = torch.tensor(MEAN).view(1, -1, 1, 1)
STD = torch.tensor(STD).view(1, -1, 1, 1)


def batches(size, seed):
    """Seeded random batches of the training images, normalised per channel."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        index = torch.randperm(len(train_labels), generator=generator)[:size]
        yield (train_images[index].float() / 255 - MEAN) / STD, train_labels[index]

'''

_DEEP = '''
DEPTH, WIDTH, BATCH, SEED = {depth}, {width}, {batch}, {seed}
ACTIVATION = nn.{activation}  # the activation after each conv layer
BATCH_NORM, SKIP = {batch_norm}, {residual}


class Layer(nn.Module):
    """conv 3x3 -> [batch norm] -> activation; with skip: x + that."""

    def __init__(self, c_in, c_out, skip, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not BATCH_NORM)
        self.bn = nn.BatchNorm2d(c_out) if BATCH_NORM else nn.Identity()
        self.act = ACTIVATION()
        self.skip = skip

    def forward(self, x):
        out = self.act(self.bn(self.conv(x)))
        return x + out if self.skip else out


class DeepNet(nn.Module):
    def __init__(self):
        super().__init__()
        # the first layer takes the image with stride 2 (32x32 -> 16x16) and never skips
        self.layers = nn.ModuleList([Layer(3, WIDTH, False, stride=2)]
                                    + [Layer(WIDTH, WIDTH, SKIP) for _ in range(DEPTH - 1)])
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(dim=(2, 3)))  # global average pooling


torch.manual_seed(SEED)
model = DeepNet()  # PyTorch's default initialisation
x, y = next(batches(BATCH, SEED))
loss = F.cross_entropy(model(x), y)
loss.backward()
norms = [layer.conv.weight.grad.norm().item() for layer in model.layers]
for number, norm in enumerate(norms, start=1):
    print(f"layer {{number:2d}}: |dL/dW| = {{norm:.6e}}")
print(f"first / last = {{norms[0] / norms[-1]:.3g}}, loss {{loss.item():.4f}}")

try:  # the page's figure, if matplotlib is installed
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    plt.bar(range(1, DEPTH + 1), norms)
    plt.yscale("log")
    plt.xlabel("layer (1 = next to the input)")
    plt.ylabel("|dL/dW|")
    plt.show()
'''

_COMPARE = '''
SHALLOW, DEEP, WIDTH, STEPS, LR, BATCH, EVAL_EVERY, EVAL_IMAGES, SEED = (
    {shallow}, {deep}, {width}, {steps}, {lr!r}, {batch}, {eval_every}, {eval_images}, {seed})


class Block(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))) with residual, else without the x."""

    def __init__(self, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTH)
        self.conv2 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(WIDTH)
        self.residual = residual

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(x + out if self.residual else out)


class BlockNet(nn.Module):
    def __init__(self, blocks, residual):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, WIDTH, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(WIDTH), nn.ReLU(), nn.MaxPool2d(2))
        self.blocks = nn.Sequential(*[Block(residual) for _ in range(blocks)])
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def training_error(model, x, y):
    model.eval()
    with torch.no_grad():
        wrong = sum(int((model(x[i:i + 250]).argmax(1) != y[i:i + 250]).sum())
                    for i in range(0, len(y), 250))
    model.train()
    return wrong / len(y)


NETWORKS = {networks}
subset = next(batches(EVAL_IMAGES, SEED + 1))  # the fixed training images the error is on
for name, (blocks, residual) in NETWORKS.items():
    torch.manual_seed(SEED)
    model = BlockNet(blocks, residual)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    stream = batches(BATCH, SEED)  # the same batches for every network
    errors = [training_error(model, *subset)]
    for step in range(1, STEPS + 1):
        x, y = next(stream)
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % EVAL_EVERY == 0 or step == STEPS:
            errors.append(training_error(model, *subset))
    print(f"{{name}} ({{2 * blocks + 2}} weight layers): training error "
          f"{{' '.join(f'{{e:.3f}}' for e in errors)}}")
'''


def _head(title: str) -> str:
    return _HEAD.format(title=title, n_train=TRAIN_IMAGES, shapes=shapes_code())


def gradients_script(settings: DeepSettings) -> str:
    """Prints each layer's ||dL/dW|| for the page's net on the page's batch (same numbers)."""
    s = settings
    module = ACTIVATIONS[s.activation].make().__class__.__name__
    return _head(f"Vanishing gradients: {s.label}") + _DEEP.format(
        depth=s.depth, width=s.width, batch=s.batch_size, seed=s.seed, activation=module,
        batch_norm=s.batch_norm, residual=s.residual)


def compare_script(settings: CompareSettings) -> str:
    """Trains the three networks one after another and prints their training errors."""
    s = settings
    networks = "{" + ", ".join(f'"{v.label}": ({s.blocks(key)}, {v.residual})'
                               for key, v in VARIANTS.items()) + "}"
    return _head("Residual vs plain") + _COMPARE.format(
        shallow=s.shallow_blocks, deep=s.deep_blocks, width=s.width, steps=s.steps,
        lr=s.learning_rate, batch=s.batch_size, eval_every=s.eval_every,
        eval_images=s.eval_images, seed=s.seed, networks=networks)
