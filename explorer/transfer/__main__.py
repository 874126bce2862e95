"""Command line transfer learning (`python -m explorer.transfer`): strategies compared, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from explorer.training.data import DatasetError
from explorer.training.settings import DEFAULT_THREADS
from explorer.transfer.adapt import (
    BATCH_SIZE,
    EPOCHS,
    EXAMPLES_PER_CLASS,
    INPUT_SIZE,
    LEARNING_RATE,
    MAX_SECONDS,
    SEED,
    STRATEGIES,
    STRATEGY_ALIASES,
    THREADS,
    TransferSettings,
)
from explorer.transfer.backbones import BACKBONES, Backbone, load_backbone
from explorer.transfer.export import save_adapted, summary
from explorer.transfer.job import TransferJob, TransferSnapshot
from explorer.transfer.tasks import (
    TASKS,
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
    TransferTask,
    builtin_task,
    task_from_zip,
)

PROGRESS_EVERY = 2.0  # seconds between progress lines on stderr


def parse_strategies(text: str) -> tuple[str, ...]:
    """"frozen,finetune,scratch" or "all" -> STRATEGIES keys (aliases: finetune = finetune_last)."""
    names = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if item == "all":
            names.extend(STRATEGIES)
            continue
        name = STRATEGY_ALIASES.get(item, item)
        if name not in STRATEGIES:
            raise argparse.ArgumentTypeError(
                f"unknown strategy {item!r}; use {', '.join(STRATEGIES)} or all")
        names.append(name)
    if not names:
        raise argparse.ArgumentTypeError("name at least one strategy")
    return tuple(dict.fromkeys(names))  # in order, without repeats


def parse_per_class(text: str) -> int | None:
    """'all' (None) or the examples per class, checked by the page's own field."""
    if text.strip().lower() == "all":
        return None
    return EXAMPLES_PER_CLASS.argparse_type()(text)


def build_parser() -> argparse.ArgumentParser:
    defaults = TransferSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.transfer",
        description="Adapt a trained network to a new task with several strategies and "
                    "compare them (the Transfer learning page's own code).",
    )
    parser.add_argument("--backbone", choices=list(BACKBONES), default="default",
                        help="default: the app's network trained on Shapes (offline); ImageNet "
                             "networks use torch's cache (untrained when not cached)")
    parser.add_argument("--download", action="store_true",
                        help="download missing ImageNet weights (default: never)")
    parser.add_argument("--task", default="letters",
                        help=f"{' | '.join(TASKS)} (built in) or a zip / folder of class folders")
    parser.add_argument("--per-class", type=parse_per_class, default=defaults.examples_per_class,
                        help="training examples per class, or 'all' (default %(default)s)")
    parser.add_argument("--train-per-class", type=TRAIN_PER_CLASS.argparse_type(), default=200,
                        help="built-in task: images generated per class to pick from")
    parser.add_argument("--test-per-class", type=TEST_PER_CLASS.argparse_type(), default=100,
                        help="built-in task: test images per class")
    parser.add_argument("--strategy", type=parse_strategies, default=tuple(STRATEGIES),
                        help="comma list of " + ", ".join(STRATEGIES) + " (finetune = "
                             "finetune_last) or all (default)")
    parser.add_argument("--epochs", type=EPOCHS.argparse_type(), default=defaults.epochs)
    parser.add_argument("--max-seconds", type=MAX_SECONDS.argparse_type(), default=None,
                        help="training-time budget of each strategy")
    parser.add_argument("--lr", type=LEARNING_RATE.argparse_type(), default=None,
                        help="learning rate (default: each strategy's own)")
    parser.add_argument("--batch-size", type=BATCH_SIZE.argparse_type(),
                        default=defaults.batch_size)
    parser.add_argument("--input-size", type=INPUT_SIZE.argparse_type(), default=None,
                        help="pixels the backbone sees (default: its own)")
    parser.add_argument("--no-cache", action="store_true",
                        help="frozen: train through the network instead of on cached features")
    parser.add_argument("--seed", type=SEED.argparse_type(), default=defaults.seed)
    parser.add_argument("--threads", type=THREADS.argparse_type(), default=DEFAULT_THREADS,
                        help="torch threads")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="write <strategy>.pt for each (torch.load(..., weights_only=True))")
    parser.add_argument("--json", action="store_true",
                        help="print one line of JSON per strategy on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def load_task(args: argparse.Namespace, backbone: Backbone) -> TransferTask:
    """The task the arguments name (a zip or folder is read at the backbone's input size)."""
    if args.task in TASKS:
        return builtin_task(args.task, train_per_class=args.train_per_class,
                            test_per_class=args.test_per_class, seed=args.seed)
    from explorer.training.dataset_zip import zip_folder

    path = Path(args.task)
    # stored as the backbone will see it
    size = args.input_size if args.input_size is not None else backbone.input_size[0]
    if path.is_dir():
        return task_from_zip(zip_folder(path), name=path.name, size=size)
    if path.is_file():
        return task_from_zip(path.read_bytes(), name=path.name, size=size)
    raise DatasetError(f"{args.task!r} is neither {', '.join(TASKS)} nor a zip or folder.")


def progress_line(snap: TransferSnapshot) -> str:
    parts = [snap.strategy, snap.phase]
    if snap.phase == "features":
        parts.append(f"{snap.features_done}/{snap.features_total} images")
    else:
        parts.append(f"epoch {snap.epoch}/{snap.planned_epochs}")
    if snap.history:
        parts.append(f"loss {snap.history[-1].train_loss:.3f}")
    if snap.evaluations:
        parts.append(f"test acc {snap.evaluations[-1].test_accuracy:.3f} (subset)")
    if snap.message:
        parts.append(snap.message)
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    try:
        backbone = load_backbone(args.backbone, allow_download=args.download)
        say(f"backbone: {backbone.label}. {backbone.message}")
        task = load_task(args, backbone)
        jobs = [TransferJob(TransferSettings(
            strategy=name, examples_per_class=args.per_class, epochs=args.epochs,
            max_seconds=args.max_seconds, learning_rate=args.lr, batch_size=args.batch_size,
            input_size=args.input_size, seed=args.seed, cache_features=not args.no_cache,
            threads=args.threads), backbone, task) for name in args.strategy]
    except ValueError as exc:  # DatasetError is a ValueError too
        parser.exit(2, f"error: {exc}\n")

    failed = False
    for job in jobs:
        job.start()
        try:
            while not job.join(PROGRESS_EVERY):
                say(progress_line(job.snapshot()))
        except KeyboardInterrupt:
            say("stopping ...")
            for other in jobs:
                other.stop()
            job.join()
        result = summary(job.snapshot())
        failed = failed or result["state"] == "failed"
        accuracy = result["test_accuracy"]
        say(f"{job.settings.strategy}: {result['message']}; "
            f"{'' if accuracy is None else f'test accuracy {accuracy:.4f}, '}"
            f"{result['trainable_parameters']:,} trainable parameters, "
            f"{result['train_seconds']:.1f} s of training")
        for note in result["notes"]:
            say(f"  note: {note}")
        if args.save_dir is not None and job.model is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            save_adapted(job, args.save_dir / f"{job.settings.strategy}.pt")
        if args.json:
            print(json.dumps(result), flush=True)
        if job.stop_requested:
            break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
