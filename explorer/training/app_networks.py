"""The app's own networks as browsable models: the shipped default network and Train-page runs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from explorer.networks import custom, gradcam, zoo
from explorer.training import job as training
from explorer.training import runs as train_runs

DEFAULT_NET = Path(__file__).resolve().parents[2] / "assets" / "default_net.pt"
DEFAULT_NOTE = ("The lecture's simple CNN trained on the built-in shapes dataset "
                "(python -m explorer.train --dataset shapes --epochs 4 --seed 0 "
                "--save assets/default_net.pt).")


def own_model(name: str, run: train_runs.SavedRun | training.TrainingJob, classes: Sequence[str],
              mean: Sequence[float], std: Sequence[float], note: str) -> zoo.LoadedModel:
    """A saved run or a finished job as a LoadedModel (with its Grad-CAM layer found)."""
    model = run.model
    image_size = tuple(run.image_size) if hasattr(run, "image_size") else run.dataset.image_size
    channels = run.in_channels if hasattr(run, "in_channels") else run.dataset.channels
    layer = gradcam.suggest_gradcam_layer(model, (1, channels, *image_size))
    return custom.custom_model(name, model, classes, image_size=image_size, mean=mean, std=std,
                            gradcam_layer=layer, note=note)


@functools.lru_cache(maxsize=1)
def default_network() -> zoo.LoadedModel:
    """The simple CNN of the Train page trained on shapes, shipped in assets/ (one per process)."""
    run = train_runs.load_run(DEFAULT_NET)
    return own_model("CNN Explorer's default network", run, run.classes, run.mean, run.std,
                     DEFAULT_NOTE)
