"""What feature visualisation works on: channel lists, the network by name, real example pictures."""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from explorer.featurevis.optimise import MAX_BATCH


def parse_channels(text: str) -> list[int] | None:
    """"0-7" or "0,3,5" or "2-4,9" -> [0, 1, ...] (in order, without repeats); "all" -> None
    (every channel of the layer)."""
    if text.strip().lower() == "all":
        return None
    units: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            units.extend(range(int(low), int(high or low) + 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: use numbers like 0-7 or 0,3,5") from exc
    if not units or min(units) < 0:
        raise argparse.ArgumentTypeError("name channels 0 or above, e.g. 0-7")
    if len(set(units)) > MAX_BATCH:
        raise argparse.ArgumentTypeError(f"at most {MAX_BATCH} channels at once")
    return list(dict.fromkeys(units))


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
