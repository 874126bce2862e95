"""Command line playground (`python -m explorer.playground`): the page's own job, without the app."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from explorer.playground.datasets import CLICKED, DATASETS
from explorer.playground.job import PlaygroundJob
from explorer.playground.settings import (
    ACTIVATIONS,
    FEATURES,
    MAX_SECONDS,
    OPTIMISERS,
    PROBLEMS,
    REGULARISERS,
    PlaygroundSettings,
    parse_hidden,
)

PROGRESS_EVERY = 2.0  # seconds between progress lines on stderr


def _hidden(text: str) -> tuple[int, ...]:
    """"8,8" -> (8, 8); "" or "none" -> () (no hidden layer)."""
    try:
        return parse_hidden(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _features(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    d = PlaygroundSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.playground",
        description="Train a playground network on a 2-D dataset (the Playground page's job).")
    parser.add_argument("--problem", choices=PROBLEMS, default=d.problem)
    parser.add_argument("--dataset", choices=[k for k in DATASETS if k != CLICKED],
                        default=d.dataset)
    parser.add_argument("--points", type=int, default=d.points)
    parser.add_argument("--noise", type=float, default=d.noise, help="0 .. 0.5")
    parser.add_argument("--test-fraction", type=float, default=d.test_fraction)
    parser.add_argument("--features", type=_features, default=d.features,
                        help=f"comma-separated, from {', '.join(FEATURES)} (default x1,x2)")
    parser.add_argument("--hidden", type=_hidden, default=d.hidden,
                        help="neurons per hidden layer, e.g. 8,8; 'none' for no hidden layer")
    parser.add_argument("--activation", choices=list(ACTIVATIONS), default=d.activation)
    parser.add_argument("--optimiser", choices=list(OPTIMISERS), default=d.optimiser)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--regularisation", choices=REGULARISERS, default=d.regularisation)
    parser.add_argument("--regularisation-rate", type=float, default=d.regularisation_rate)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds,
                        help=f"compute budget in seconds (at most {MAX_SECONDS:g}; 0: steps only)")
    parser.add_argument("--max-steps", type=int, default=d.max_steps)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = PlaygroundSettings(
            problem=args.problem, dataset=args.dataset, points=args.points, noise=args.noise,
            test_fraction=args.test_fraction, features=args.features, hidden=args.hidden,
            activation=args.activation, optimiser=args.optimiser,
            learning_rate=args.learning_rate, batch_size=args.batch_size,
            regularisation=args.regularisation, regularisation_rate=args.regularisation_rate,
            seed=args.seed, max_seconds=args.max_seconds, max_steps=args.max_steps)
    except ValueError as exc:
        parser.error(str(exc))
    job = PlaygroundJob(settings)
    started = time.perf_counter()
    job.start()
    while not job.join(PROGRESS_EVERY):
        snap = job.snapshot()
        loss = f"{snap.curve_train[-1]:.4f}" if snap.curve_train else "-"
        print(f"step {snap.step}  train loss {loss}  {snap.compute_seconds:.1f} s",
              file=sys.stderr)
    snap = job.snapshot()
    evaluation = snap.evaluation
    result = {
        "state": snap.state, "message": snap.message, "steps": snap.step,
        "epochs": round(snap.epoch, 2), "seconds": round(time.perf_counter() - started, 2),
        "compute_seconds": round(snap.compute_seconds, 2),
        "steps_per_second": round(snap.steps_per_second, 1),
        "train_loss": None if evaluation is None else evaluation.train_loss,
        "test_loss": None if evaluation is None else evaluation.test_loss,
        "train_accuracy": None if evaluation is None else evaluation.train_accuracy,
        "test_accuracy": None if evaluation is None else evaluation.test_accuracy,
        "settings": {"dataset": settings.dataset, "hidden": list(settings.hidden),
                     "activation": settings.activation, "features": list(settings.features),
                     "seed": settings.seed, "learning_rate": settings.learning_rate,
                     "batch_size": settings.batch_size, "points": settings.points},
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if snap.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
