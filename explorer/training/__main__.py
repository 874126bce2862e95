"""Command line training (`python -m explorer.train`) with the Train page's own TrainingJob."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from explorer.training.augmentation import Augmentation
from explorer.training.batches import batch_warning
from explorer.training.data import Dataset, DatasetError, load_dataset
from explorer.training.dataset_zip import dataset_from_zip, zip_folder
from explorer.training.job import TrainingJob
from explorer.training.nets import (
    ACTIVATIONS,
    KERNEL_SIZES,
    PADDINGS,
    ModelSettings,
    count_parameters,
)
from explorer.training.runs import save_run
from explorer.training.settings import DEFAULT_THREADS, OPTIMISERS, SCHEDULES, TrainSettings
from explorer.training.snapshot import JobSnapshot

NAMED_DATASETS = ("shapes", "shapes-small", "mnist", "fashion", "cifar10")
# --augment flip,shift,rotation,jitter: the amount a bare name means.
AUGMENT_DEFAULTS = {"flip": True, "shift": 4, "rotation": 15.0, "jitter": 0.2}
PROGRESS_EVERY = 2.0  # seconds between progress lines on stderr


def parse_augmentation(text: str) -> Augmentation:
    """"flip,shift=4,rotation=10,jitter=0.2" (bare names take AUGMENT_DEFAULTS) -> Augmentation."""
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, amount = item.partition("=")
        name = {"colour_jitter": "jitter", "color_jitter": "jitter"}.get(name, name)
        if name not in AUGMENT_DEFAULTS:
            raise argparse.ArgumentTypeError(
                f"unknown augmentation {name!r}; use {', '.join(AUGMENT_DEFAULTS)}"
            )
        default = AUGMENT_DEFAULTS[name]
        try:
            values[name] = type(default)(float(amount)) if amount else default
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{item!r}: {amount!r} is not a number") from exc
    return Augmentation(
        flip=bool(values.get("flip", False)),
        shift=int(values.get("shift", 0)),
        rotation=float(values.get("rotation", 0.0)),
        colour_jitter=float(values.get("jitter", 0.0)),
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults, model = TrainSettings(), ModelSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.train",
        description="Train the CNN Explorer model without the app (same code as the Train page).",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="shapes",
                      help=f"{' | '.join(NAMED_DATASETS)} or a zip / folder of class folders "
                           "(default: shapes, built in, no download)")
    data.add_argument("--root", default=None, help="where torchvision datasets are cached")
    data.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    data.add_argument("--train-size", type=positive_int, default=None,
                      help="use N training images (shapes: generate N; others: a random N)")
    data.add_argument("--test-size", type=positive_int, default=None,
                      help="likewise for the test split")

    net = parser.add_argument_group("model")
    net.add_argument("--blocks", type=int, default=model.blocks, help="conv blocks (1-4)")
    net.add_argument("--channels", type=int, default=model.channels,
                     help="filters in the first block; doubled in each next one")
    net.add_argument("--kernel-size", type=int, choices=KERNEL_SIZES, default=model.kernel_size)
    net.add_argument("--padding", choices=list(PADDINGS), default=model.padding)
    net.add_argument("--activation", choices=list(ACTIVATIONS), default=model.activation)
    net.add_argument("--batch-norm", action=argparse.BooleanOptionalAction,
                     default=model.batch_norm)
    net.add_argument("--dropout", type=float, default=model.dropout,
                     help="dropout before each dense layer (0-0.8)")
    net.add_argument("--hidden", type=int, default=model.hidden, help="units of the dense layer")

    opt = parser.add_argument_group("training")
    opt.add_argument("--optimiser", "--optimizer", choices=list(OPTIMISERS),
                     default=defaults.optimiser)
    opt.add_argument("--lr", type=float, default=None,
                     help="learning rate (default: the optimiser's, e.g. Adam 0.001)")
    opt.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    opt.add_argument("--batch-size", type=int, default=defaults.batch_size)
    opt.add_argument("--schedule", choices=list(SCHEDULES), default=defaults.schedule)
    opt.add_argument("--augment", type=parse_augmentation, default=Augmentation(),
                     help="comma list of flip, shift[=px], rotation[=deg], jitter[=amount]")
    opt.add_argument("--epochs", type=int, default=None,
                     help=f"epochs (default {defaults.epochs}, or unlimited with --max-seconds)")
    opt.add_argument("--max-seconds", type=float, default=None, help="training-time budget")
    opt.add_argument("--seed", type=int, default=defaults.seed)
    opt.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                     help="torch threads (at most the machine's cores are used)")
    opt.add_argument("--eval-subset", type=int, default=defaults.eval_subset,
                     help="test images behind the progress numbers (the end uses all)")

    out = parser.add_argument_group("output")
    out.add_argument("--save", type=Path, default=None,
                     help="write weights + settings (torch.load(..., weights_only=True) reads it)")
    out.add_argument("--json", action="store_true",
                     help="print one line of JSON with the results on stdout")
    out.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    model = ModelSettings(
        blocks=args.blocks, channels=args.channels, kernel_size=args.kernel_size,
        activation=args.activation, batch_norm=args.batch_norm, dropout=args.dropout,
        hidden=args.hidden, padding=args.padding,
    )
    epochs = args.epochs
    if epochs is None and args.max_seconds is None:
        epochs = TrainSettings().epochs
    return TrainSettings(
        dataset=args.dataset,
        model=model,
        optimiser=args.optimiser,
        learning_rate=args.lr if args.lr is not None else OPTIMISERS[args.optimiser].default_lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        epochs=epochs,
        max_seconds=args.max_seconds,
        schedule=args.schedule,
        augmentation=args.augment,
        seed=args.seed,
        eval_subset=args.eval_subset,
        threads=args.threads,
    )


def _subset(images: torch.Tensor, labels: torch.Tensor, size: int | None,
            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if size is None or size >= len(labels):
        return images, labels
    index = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:size]
    return images[index].contiguous(), labels[index].contiguous()


def load_data(args: argparse.Namespace) -> Dataset:
    """The dataset the arguments name, sized by --train-size / --test-size."""
    if args.dataset in ("shapes", "shapes-small"):
        from explorer.training.data import shapes_dataset

        default_train = 20000 if args.dataset == "shapes" else 2000
        return shapes_dataset(args.train_size or default_train, args.test_size or 4000)
    if args.dataset in NAMED_DATASETS:
        dataset = load_dataset(args.dataset, root=args.root, download=not args.no_download)
    else:
        path = Path(args.dataset)
        if path.is_dir():
            dataset = dataset_from_zip(zip_folder(path))
        elif path.is_file():
            dataset = dataset_from_zip(path.read_bytes())
        else:
            raise DatasetError(
                f"{args.dataset!r} is neither {', '.join(NAMED_DATASETS)} nor a zip or folder."
            )
    if args.train_size is None and args.test_size is None:
        return dataset
    train = _subset(dataset.train_images, dataset.train_labels, args.train_size, args.seed)
    test = _subset(dataset.test_images, dataset.test_labels, args.test_size, args.seed + 1)
    return Dataset(dataset.name, dataset.classes, *train, *test, dataset.mean, dataset.std,
                   dataset.notes)


def progress_line(snap: JobSnapshot) -> str:
    parts = [f"step {snap.step}", f"epoch {snap.epoch:.2f}"]
    if snap.curve_losses:
        parts.append(f"loss {snap.curve_losses[-1]:.3f}")
    if snap.latest is not None:
        parts.append(f"test acc {snap.latest.test_accuracy:.3f} (subset)")
    parts.append(f"{snap.images_per_second:,.0f} img/s")
    if snap.eta_seconds is not None:
        parts.append(f"ETA {snap.eta_seconds:.0f} s")
    if snap.message:
        parts.append(snap.message)
    return ", ".join(parts)


def results(job: TrainingJob) -> dict[str, object]:
    snap = job.snapshot()
    latest = snap.latest
    accuracy = snap.final_test_accuracy
    loss = snap.final_test_loss
    if accuracy is None and latest is not None:  # stopped or failed: the last subset numbers
        accuracy, loss = latest.test_accuracy, latest.test_loss
    return {
        "dataset": snap.dataset,
        "state": snap.state,
        "message": snap.message,
        "test_accuracy": accuracy,
        "test_loss": loss,
        "test_images": snap.confusion_images,
        "images_per_second": snap.images_seen / snap.train_seconds if snap.train_seconds else 0.0,
        "train_seconds": snap.train_seconds,
        "elapsed_seconds": snap.elapsed_seconds,
        "epochs": snap.epoch,
        "steps": snap.step,
        "final_loss": snap.curve_losses[-1] if snap.curve_losses else None,
        "train_accuracy": latest.train_accuracy if latest is not None else None,
        "parameters": count_parameters(job.model) if job.model is not None else None,
        "threads": snap.threads,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    try:
        settings = settings_from_args(args)
        started = time.perf_counter()
        dataset = load_data(args)
        say(f"{dataset.name}: {len(dataset.train_labels)} train / {len(dataset.test_labels)} "
            f"test images, {dataset.channels}x{dataset.image_size[0]}x{dataset.image_size[1]}, "
            f"{dataset.num_classes} classes ({time.perf_counter() - started:.1f} s)")
        job = TrainingJob(settings, dataset)
    except ValueError as exc:  # DatasetError is a ValueError too
        parser.exit(2, f"error: {exc}\n")
    note = batch_warning(len(dataset.train_labels), settings.batch_size)
    if note:
        say(f"warning: {note}")

    job.start()
    try:
        while not job.join(PROGRESS_EVERY):
            say(progress_line(job.snapshot()))
    except KeyboardInterrupt:
        say("stopping ...")
        job.stop()
        job.join()
    summary = results(job)
    say(f"{summary['state']}: {summary['message']}")
    if summary["test_accuracy"] is not None:
        say(f"test accuracy {summary['test_accuracy']:.4f} on {summary['test_images']} images, "
            f"{summary['images_per_second']:,.0f} img/s, {summary['train_seconds']:.1f} s "
            "of training")
    if args.save is not None and job.model is not None:
        save_run(job, args.save)
        say(f"saved weights and settings to {args.save}")
    if args.json:
        print(json.dumps(summary), flush=True)
    return 1 if summary["state"] == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
