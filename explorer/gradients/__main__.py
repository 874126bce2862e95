"""`python -m explorer.gradients`: per-layer gradient norms of a deep net, or residual vs plain
trained side by side, from a terminal (JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import torch

from explorer.gradients.deepnet import measure
from explorer.gradients.job import CompareJob
from explorer.gradients.residual import VARIANTS, CompareSettings, weight_layers
from explorer.gradients.settings import ACTIVATIONS, DeepSettings


def build_parser() -> argparse.ArgumentParser:
    deep, compare = DeepSettings(), CompareSettings()
    parser = argparse.ArgumentParser(
        prog="python -m explorer.gradients",
        description="Vanishing gradients: each layer's weight-gradient norm (first to last) of "
                    "a deep plain CNN on one batch of Shapes. With --compare: a shallow plain, "
                    "a deep plain and a deep residual CNN trained on Shapes, training errors.")
    parser.add_argument("--depth", type=int, default=deep.depth, help="conv layers (2-30)")
    parser.add_argument("--width", type=int, default=deep.width, help="channels per layer")
    parser.add_argument("--activation", choices=list(ACTIVATIONS), default=deep.activation)
    parser.add_argument("--batchnorm", action="store_true", help="batch norm after each conv")
    parser.add_argument("--residual", action="store_true", help="skip connections x + f(x)")
    parser.add_argument("--batch-size", type=int, default=deep.batch_size)
    parser.add_argument("--seed", type=int, default=deep.seed)
    parser.add_argument("--compare", action="store_true",
                        help="residual vs plain: train the three networks instead")
    parser.add_argument("--blocks", type=int, default=compare.deep_blocks,
                        help="--compare: blocks of the deep networks (2 conv layers each)")
    parser.add_argument("--steps", type=int, default=compare.steps, help="--compare: steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser


def _gradients(args: argparse.Namespace) -> dict:
    settings = DeepSettings(depth=args.depth, width=args.width, activation=args.activation,
                            batch_norm=args.batchnorm, residual=args.residual,
                            batch_size=args.batch_size, seed=args.seed)
    report = measure(settings)
    return {"settings": settings.label, "gradient_norms": report.gradient_norms.tolist(),
            "first_over_last": report.ratio, "slope_mean": report.slope_mean.tolist(),
            "activation_std": report.activation_std.tolist(), "loss": report.loss}


def _compare(args: argparse.Namespace) -> dict:
    settings = CompareSettings(deep_blocks=args.blocks, steps=args.steps, seed=args.seed,
                               shallow_blocks=min(CompareSettings.shallow_blocks,
                                                  args.blocks - 1),
                               eval_every=max(1, min(CompareSettings.eval_every, args.steps)))
    result = {}
    for variant, spec in VARIANTS.items():
        started = time.perf_counter()
        job = CompareJob(variant, settings, threads=args.threads)
        job.start()
        job.join()
        snap = job.snapshot()
        if snap.state != "finished":
            raise ValueError(f"{spec.label}: {snap.message}")
        result[variant] = {"label": spec.label,
                           "layers": weight_layers(settings.blocks(variant)),
                           "eval_steps": snap.eval_steps.tolist(),
                           "train_errors": snap.train_errors.tolist(),
                           "final_train_error": float(snap.train_errors[-1]),
                           "seconds": round(time.perf_counter() - started, 1)}
        print(f"{spec.label}: training error {snap.train_errors[-1]:.1%} after {args.steps} "
              f"steps ({result[variant]['seconds']} s)", file=sys.stderr)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads < 1 or args.threads > 64:
        parser.error("--threads must be 1 to 64")
    torch.set_num_threads(args.threads)
    try:
        result = _compare(args) if args.compare else _gradients(args)
    except ValueError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(result))
    elif args.compare:
        for row in result.values():
            print(f"{row['label']:>14} ({row['layers']} layers): training error "
                  f"{row['final_train_error']:.1%}")
    else:
        print(result["settings"])
        for layer, norm in enumerate(result["gradient_norms"], start=1):
            print(f"layer {layer:2d}: |dL/dW| = {norm:.3e}")
        print(f"first / last = {result['first_over_last']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
