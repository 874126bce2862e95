"""The lecture's ablation (plain -> + batch norm -> + dropout -> + augmentation), in a regime
where the built-in data overfits, beside the lecture's own CIFAR-10 numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from explorer.training.augmentation import Augmentation
from explorer.training.nets import ModelSettings
from explorer.training.settings import TrainSettings
from explorer.training.snapshot import JobSnapshot


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    lecture_accuracy: float  # the lecture's slide: CIFAR-10, 100 epochs
    batch_norm: bool
    dropout: float
    augmentation: Augmentation


AUGMENTATION = Augmentation(flip=True)  # + shift 2 cost ~5 points in 30 epochs (underfits)
DROPOUT = 0.3  # before each dense layer; 0.5 (twice) with batch norm trains too slowly here
VARIANTS: tuple[Variant, ...] = (
    Variant("plain", "plain CNN", 67.0, False, 0.0, Augmentation()),
    Variant("bn", "+ batch norm", 72.5, True, 0.0, Augmentation()),
    Variant("dropout", "+ dropout", 79.5, True, DROPOUT, Augmentation()),
    Variant("augmentation", "+ augmentation", 79.0, True, DROPOUT, AUGMENTATION),
)

# Regularisation only helps a network that overfits: 2,000 training images, and enough epochs
# to reach 100 % on them. Measured over seeds 0-2 (benchmarks/ablation.py): 86.0 -> 89.5 ->
# 90.7 -> 92.8 % (flip). Adam at 1e-3 gave 82.9 -> 82.5 -> 85.0 (batch norm no help); momentum
# at 0.05 made dropout fail; flip + shift 2 gave 85.9 (the network underfits in 30 epochs).
REGIME_DATASET = "shapes-small"  # a registry key of explorer.training.data.DATASETS
REGIME = {"optimiser": "momentum", "learning_rate": 0.02, "batch_size": 64, "epochs": 30,
          "schedule": "constant", "weight_decay": 0.0}
BUILT_IN = ("shapes", "shapes-small")  # data the regime replaces with REGIME_DATASET

WHY = (
    "Batch norm, dropout and augmentation fight **overfitting**: they help a network that "
    "learns its training images by heart, not one that is still learning. So the ablation "
    "trains on 2,000 images (Shapes, small) for 30 epochs with SGD + momentum at a learning "
    "rate of 0.02: the plain CNN reaches 100 % on its training images but clearly less on the "
    "test images (about 86 %); batch norm speeds training up and steadies it (about 89.5 %), "
    "dropout narrows the gap a little more (about 90.7 %). Augmentation (a left-right flip) "
    "still adds about 2 points here, because 2,000 images are few; on CIFAR-10's 50,000 the "
    "lecture found no gain (\"we have enough data\"). On the full 20,000-image Shapes the "
    "plain CNN barely overfits and the steps do not show; on CIFAR-10 use 100 epochs.")


def ablation_settings(settings: TrainSettings, *,
                      built_in: bool) -> list[tuple[Variant, TrainSettings]]:
    """The four runs. On the built-in data (`built_in`; train them on REGIME_DATASET): the
    regime above (optimiser, rate, epochs) with this model's blocks, channels and activation; on
    other data (CIFAR-10, a zip): the sidebar's settings with only the three switches changed."""
    base = settings
    if built_in:
        base = dataclasses.replace(settings, **REGIME, max_seconds=None)
    runs = []
    for variant in VARIANTS:
        model: ModelSettings = dataclasses.replace(base.model, batch_norm=variant.batch_norm,
                                                   dropout=variant.dropout)
        runs.append((variant, dataclasses.replace(base, model=model,
                                                  augmentation=variant.augmentation)))
    return runs


def ablation_rows(runs: list[tuple[Variant, JobSnapshot | None]]) -> list[dict]:
    """One row per variant: the lecture's number beside this run's state and accuracy."""
    rows = []
    for variant, snap in runs:
        latest = None if snap is None or snap.latest is None else snap.latest.test_accuracy
        final = None if snap is None else snap.final_test_accuracy
        train = None if snap is None or snap.latest is None else snap.latest.train_accuracy
        rows.append({
            "variant": variant.label,
            "lecture (CIFAR-10, 100 epochs)": f"{variant.lecture_accuracy:g} %",
            "state": "gone" if snap is None else (
                f"queued ({snap.queue_position})" if snap.queue_position else snap.state),
            "epoch": 0.0 if snap is None else round(snap.epoch, 1),
            "train accuracy": "" if train is None else f"{train:.1%}",
            "test accuracy": "" if final is None and latest is None else
            f"{(final if final is not None else latest):.1%}" + ("" if final is not None
                                                                  else " (so far)"),
        })
    return rows
