"""Transfer-learning exports: the adapted model (.pt), metrics CSV, a standalone script."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from explorer.jobs.concurrency import RNG_LOCK
from explorer.networks.weights_files import load_saved
from explorer.training.nets import ModelSettings
from explorer.training.script import model_code
from explorer.transfer.adapt import STRATEGIES, settings_to_dict
from explorer.transfer.backbones import BACKBONES, build_architecture
from explorer.transfer.job import TransferJob, TransferSnapshot
from explorer.transfer.tasks import HOLD_OUT_FRACTION, HOLD_OUT_MIN

FORMAT = "cnn-explorer-transfer/1"
# A file may only ask for the backbones this page offers (never an arbitrary get_model call).
KNOWN_TORCHVISION = frozenset(spec.zoo_name for spec in BACKBONES.values() if spec.zoo_name)

# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------


def summary(snapshot: TransferSnapshot) -> dict[str, Any]:
    """One strategy's result as plain JSON-able values (the CLI prints this)."""
    return {
        "strategy": snapshot.strategy,
        "label": snapshot.strategy_label,
        "backbone": snapshot.backbone,
        "backbone_pretrained": snapshot.backbone_pretrained,
        "task": snapshot.task,
        "examples_per_class": snapshot.settings.examples_per_class,
        "train_images": snapshot.train_images,
        "test_images": snapshot.test_images,
        "evaluated_on_training": snapshot.evaluated_on_training,
        "state": snapshot.state,
        "message": snapshot.message,
        "test_accuracy": _rounded(snapshot.test_accuracy),
        "test_loss": _rounded(snapshot.final_test_loss),
        "trainable_parameters": snapshot.trainable_parameters,
        "frozen_parameters": snapshot.frozen_parameters,
        "train_seconds": round(snapshot.train_seconds, 3),
        "feature_seconds": round(snapshot.feature_seconds, 3),
        "elapsed_seconds": round(snapshot.elapsed_seconds, 3),
        "epochs": snapshot.epoch,
        "images_per_second": round(snapshot.images_per_second, 1),
        "features_cached": snapshot.features_cached,
        "notes": list(snapshot.notes),
    }


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


METRICS_COLUMNS = ("epoch", "seconds", "train_loss", "train_accuracy", "test_loss",
                   "test_accuracy")
COMPARISON_COLUMNS = ("strategy", "label", "test_accuracy", "trainable_parameters",
                      "frozen_parameters", "train_seconds", "feature_seconds", "epochs",
                      "examples_per_class", "train_images", "test_images", "state")


def metrics_csv(snapshot: TransferSnapshot) -> str:
    """One row per epoch; the test columns are blank where the epoch was not evaluated."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRICS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for point in snapshot.history:
        writer.writerow(asdict(point))
    return out.getvalue()


def comparison_rows(snapshots: Sequence[TransferSnapshot]) -> list[dict[str, Any]]:
    """The comparison table: one row per strategy (COMPARISON_COLUMNS)."""
    return [{key: summary(snap)[key] for key in COMPARISON_COLUMNS} for snap in snapshots]


def comparison_csv(snapshots: Sequence[TransferSnapshot]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COMPARISON_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(comparison_rows(snapshots))
    return out.getvalue()


# ---------------------------------------------------------------------------
# The adapted model
# ---------------------------------------------------------------------------


def adapted_payload(job: TransferJob) -> dict[str, Any]:
    """What save_adapted writes: tensors and plain types only, so weights_only=True loads it."""
    if job.adapted is None or job.model is None:
        raise ValueError("This job has no adapted network yet: let it finish (or stop it).")
    snap = job.snapshot()
    backbone = job.backbone
    return {
        "format": FORMAT,
        "state_dict": {key: value.detach().to("cpu", copy=True).contiguous()
                       for key, value in job.model.state_dict().items()},
        "architecture": backbone.architecture,
        "head": job.adapted.head,
        "features": job.adapted.features,
        "trainable": list(job.adapted.trainable),
        "classes": list(snap.classes),
        "input_size": list(job.size),
        "mean": list(backbone.mean),
        "std": list(backbone.std),
        "strategy": snap.strategy,
        "settings": settings_to_dict(job.settings),
        "backbone": {"key": backbone.key, "label": backbone.label,
                     "pretrained": backbone.pretrained},
        "task": snap.task,
        "evaluated_on_training": snap.evaluated_on_training,
        "state": snap.state,
        "test_accuracy": snap.test_accuracy,
    }


def save_adapted(job: TransferJob, path: str | Path | IO[bytes]) -> None:
    """torch.save the adapted network and how to rebuild it (see adapted_payload)."""
    torch.save(adapted_payload(job), path)


@dataclass(frozen=True)
class AdaptedFile:
    model: nn.Module  # eval mode, weights loaded
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    strategy: str
    backbone: str  # its label
    test_accuracy: float | None


def load_adapted(source: str | Path | bytes | IO[bytes]) -> AdaptedFile:
    """Read a file written by save_adapted (weights_only=True: it never runs code); ValueError
    with a readable message when it is not one or does not fit its own architecture."""
    payload = load_saved(source)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("This file is not a network adapted by CNN Explorer's Transfer page.")
    try:
        classes = tuple(str(name) for name in payload["classes"])
        architecture = payload["architecture"]
        if architecture.get("kind") == "torchvision" and (
                architecture.get("name") not in KNOWN_TORCHVISION
                or not all(isinstance(v, bool) for v in architecture.get("kwargs", {}).values())):
            raise ValueError(f"unknown network {architecture.get('name')!r}")
        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            model = build_architecture(architecture)
        model.set_submodule(payload["head"], nn.Linear(int(payload["features"]), len(classes)))
        model.load_state_dict(payload["state_dict"])
        height, width = (int(v) for v in payload["input_size"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ValueError(f"The adapted network does not fit its architecture: {exc}") from exc
    return AdaptedFile(
        model=model.eval(), classes=classes, input_size=(height, width),
        mean=tuple(float(v) for v in payload["mean"]), std=tuple(float(v) for v in payload["std"]),
        strategy=str(payload.get("strategy", "")),
        backbone=str(payload.get("backbone", {}).get("label", "")),
        test_accuracy=payload.get("test_accuracy"),
    )


def as_loaded_model(job: TransferJob) -> Any:
    """The adapted network as a zoo.LoadedModel, so the Pretrained page can show its
    activations and Grad-CAM with the new class names."""
    from explorer.networks import custom, predictions

    if job.model is None:
        raise ValueError("This job has no adapted network yet.")
    snap = job.snapshot()
    name = f"{snap.backbone} adapted to {snap.task}: {snap.strategy_label.lower()}"
    transforms = predictions.Preprocess(tuple(job.size), job.backbone.mean, job.backbone.std)
    return custom.custom_model(name, job.model, snap.classes, transforms, image_size=tuple(job.size),
                            note=f"{name}: test accuracy {snap.test_accuracy or 0:.1%}.")


# ---------------------------------------------------------------------------
# A standalone script (torch + torchvision only)
# ---------------------------------------------------------------------------


def _numbers(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ",)"


def _backbone_code(architecture: dict[str, Any]) -> tuple[str, str]:
    """(imports, a `def backbone(weights_file)` that builds the network and loads weights)."""
    if architecture["kind"] == "simple":
        height, width = architecture["image_size"]
        code = model_code(ModelSettings(**architecture["model"]), architecture["in_channels"],
                           architecture["num_classes"], (height, width))
        body = "\n".join("    " + line for line in code.splitlines())
        return "from collections import OrderedDict\n", f'''
def backbone(weights_file):
    """The app's simple CNN; its trained weights from a CNN Explorer .pt (the default network is
    assets/default_net.pt; a Train-page run downloads as one)."""
{body}
    if STRATEGY != "scratch":
        payload = torch.load(weights_file, map_location="cpu", weights_only=True)
        model.load_state_dict(payload.get("state_dict", payload))
    return model
'''
    name, kwargs = architecture["name"], architecture.get("kwargs", {})
    extra = "".join(f", {key}={value!r}" for key, value in kwargs.items())
    return "", f'''
def backbone(weights_file):
    """torchvision's {name}: ImageNet weights (downloaded once into torch's cache), or a state
    dict file of your own with --weights."""
    if STRATEGY == "scratch":
        return torchvision.models.get_model("{name}", weights=None{extra})
    if weights_file:
        model = torchvision.models.get_model("{name}", weights=None{extra})
        model.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
        return model
    return torchvision.models.get_model("{name}", weights="DEFAULT"{extra})
'''


def standalone_script(job: TransferJob) -> str:
    """A runnable script (torch + torchvision, no explorer) that adapts the same backbone with
    the same strategy and settings to a folder of images: DATA_DIR/<class>/*.png, or
    DATA_DIR/train/<class>/ and DATA_DIR/test/<class>/."""
    s, backbone, adapted = job.settings, job.backbone, job.adapted
    if adapted is None:  # not started yet: the same names the job will use
        from explorer.transfer.adapt import find_head, trainable_modules

        head, trainable = find_head(backbone.model)[0], trainable_modules(backbone, s.strategy)
    else:
        head, trainable = adapted.head, adapted.trainable
    imports, backbone_def = _backbone_code(backbone.architecture)
    default_weights = ('"assets/default_net.pt"' if backbone.key == "default"
                       else '"run.pt"' if backbone.architecture["kind"] == "simple" else "None")
    grey = "transforms.Grayscale(), " if backbone.in_channels == 1 else ""
    prefixes = tuple(p for p in trainable if p)
    spec = STRATEGIES[s.strategy]
    return f'''"""Transfer learning as CNN Explorer did it: {spec.label.lower()} on {backbone.label}.

{spec.explanation}
Usage: python {s.strategy}.py DATA_DIR [--weights FILE] [--epochs N] [--out adapted.pt]
DATA_DIR holds one folder of images per class, or train/ and test/ folders of class folders.
"""

import argparse
import time
{imports}from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision import transforms

STRATEGY = "{s.strategy}"
EPOCHS = {s.epochs}
MAX_SECONDS = {s.max_seconds!r}  # training-time budget (features included); None = none
BATCH_SIZE = {s.batch_size}
LEARNING_RATE = {s.lr!r}  # Adam
SEED = {s.seed}
INPUT_SIZE = {tuple(job.size)!r}  # (H, W) the backbone sees
MEAN = {_numbers(backbone.mean)}  # the backbone's normalisation, of [0, 1] pixels
STD = {_numbers(backbone.std)}
HEAD = "{head}"  # the layer replaced by a new head for your classes
TRAINABLE = {prefixes!r}  # layers that train (empty: all of them)
HOLD_OUT_MIN = {HOLD_OUT_MIN}  # hold test images out only when every class has this many
HOLD_OUT = {HOLD_OUT_FRACTION}  # share of each class held out (at least one image)
{backbone_def}

PREPROCESS = transforms.Compose([
    {grey}transforms.Resize(INPUT_SIZE), transforms.ToTensor(), transforms.Normalize(MEAN, STD),
])


def load_folder(folder):
    """(images (N, C, H, W) float32 normalised, labels (N,), class names)."""
    data = torchvision.datasets.ImageFolder(folder, transform=PREPROCESS)
    images = torch.stack([image for image, _ in data])
    return images, torch.tensor(data.targets), data.classes


def splits(root):
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_x, train_y, classes = load_folder(root / "train")
        test_x, test_y, test_classes = load_folder(root / "test")
        assert test_classes == classes, "train/ and test/ need the same class folders"
        return train_x, train_y, test_x, test_y, classes
    images, labels, classes = load_folder(root)
    counts = torch.bincount(labels, minlength=len(classes))
    if counts.min() < HOLD_OUT_MIN:
        print("Too few images to hold any out: testing on the training images (optimistic).")
        return images, labels, images, labels, classes
    generator = torch.Generator().manual_seed(SEED)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for label in range(len(classes)):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        test[members[: max(1, round(len(members) * HOLD_OUT))]] = True
    return images[~test], labels[~test], images[test], labels[test], classes


def trains(name):
    return not TRAINABLE or any(name == p or name.startswith(p + ".") for p in TRAINABLE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--weights", default={default_weights}, help="the backbone's weights")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", default="adapted.pt")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    train_x, train_y, test_x, test_y, classes = splits(args.data_dir)
    print(f"{{len(classes)}} classes, {{len(train_y)}} training and {{len(test_y)}} test images")

    model = backbone(args.weights)
    torch.manual_seed(SEED)  # the new head: nn.Linear's own initialisation
    model.set_submodule(HEAD, nn.Linear(model.get_submodule(HEAD).in_features, len(classes)))
    for name, parameter in model.named_parameters():
        parameter.requires_grad = trains(name)
    head = model.get_submodule(HEAD)

    def set_modes():  # frozen layers in eval mode (batch norm statistics kept, no dropout)
        model.eval()
        for prefix in TRAINABLE or ("",):
            (model.get_submodule(prefix) if prefix else model).train()

    start = time.perf_counter()
    if STRATEGY == "frozen":
        # The frozen layers never change: compute what the head receives once per image.
        def features(images):
            captured = []
            hook = head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
            model.eval()
            with torch.no_grad():
                for first in range(0, len(images), 64):
                    model(images[first : first + 64])
            hook.remove()
            return torch.cat(captured).flatten(1)  # (N, D)

        train_x, test_x = features(train_x), features(test_x)
        forward = head
    else:
        forward = model
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                 lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)  # batch order
    for epoch in range(1, args.epochs + 1):
        set_modes()
        order = torch.randperm(len(train_y), generator=generator)
        for first in range(0, len(train_y), BATCH_SIZE):
            index = order[first : first + BATCH_SIZE]
            loss = F.cross_entropy(forward(train_x[index]), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([forward(test_x[first : first + 256]).argmax(1)
                                   for first in range(0, len(test_y), 256)])
        accuracy = (predicted == test_y).float().mean().item()
        print(f"epoch {{epoch}}: loss {{loss.item():.3f}}, test accuracy {{accuracy:.3f}}")
        if MAX_SECONDS is not None and time.perf_counter() - start >= MAX_SECONDS:
            break
    torch.save({{"state_dict": model.state_dict(), "classes": classes}}, args.out)
    print(f"saved {{args.out}} (torch.load(..., weights_only=True) reads it)")


if __name__ == "__main__":
    main()
'''
