"""What feature visualisation works on: channel lists, the network by name, real example pictures."""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from explorer.featurevis.optimise import MAX_BATCH, MAX_CHANNEL
from explorer.user_input import InputError, parse_index_ranges


def parse_channels(text: str) -> list[int] | None:
    """"0-7" or "0,3,5" or "2-4,9" -> [0, 1, ...] (in order, without repeats); "all" -> None
    (every channel of the layer). InputError (a ValueError) for anything else, checked before
    any range is expanded: the page's box, its link and the command line share this."""
    return parse_index_ranges(text, label="Channels", high=MAX_CHANNEL, max_count=MAX_BATCH)


def channels_argument(text: str) -> list[int] | None:
    """parse_channels for argparse (which then names --channels in its message)."""
    try:
        return parse_channels(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def loaded_network(name: str):
    """The app's default network or a torchvision one with its cached weights."""
    from explorer.networks import model_registry, zoo
    from explorer.training import app_networks

    if name == "default":
        return app_networks.default_network()
    if name not in model_registry.MODELS:
        raise ValueError(f"Unknown network {name!r}; use default or one of {list(model_registry.MODELS)}.")
    return zoo.load_model(name)


def example_images(name: str, size: int) -> tuple[torch.Tensor, str]:
    """Real pictures to compare with: Shapes' test set for the app's network, the built-in
    photos for the others. (N, 3, size, size) float in [0, 1]."""
    if name == "default":
        from explorer.training.data import shapes_dataset

        data = shapes_dataset(n_train=10, n_test=1000)
        x = data.test_images.float() / 255
        source = "Shapes test set (1,000)"
    else:
        from explorer.images import pictures as images

        photos = [torch.from_numpy(images.builtin_image(key, mode="RGB")).permute(2, 0, 1)
                  for key in images.BUILTIN_IMAGES]
        x = torch.stack([F.interpolate(p[None].float(), size=(size, size), mode="bilinear",
                                       antialias=True, align_corners=False)[0] for p in photos])
        source = f"built-in photos ({len(photos)})"
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    return x.clamp(0, 1), source
