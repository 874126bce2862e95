"""Command line: `python -m explorer.generative --model vae --dataset shapes --max-seconds 60
--samples out.npy --count 64 --json` trains a registry model from scratch with the page's own
job (or, with --pretrained, loads the shipped weights), writes samples and prints its figures."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.generative.registry import MODELS, module_of
from explorer.training.compute import thread_budget
from explorer.user_input import InputError, NumberField

COUNT = NumberField("--count", 1, 4096, integer=True)
STEPS = NumberField("--max-steps", 1, 1_000_000, integer=True)
SECONDS = NumberField("--max-seconds", 0.1, 86_400)
SEED = NumberField("--seed", 0, 2**31 - 1, integer=True)
THREADS = NumberField("--threads", 1, 64, integer=True)
SHARE = 0.1  # first_loss / last_loss: the mean over the first / last 10 % of the steps


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer.generative", description=__doc__)
    p.add_argument("--model", required=True, choices=list(MODELS))
    p.add_argument("--dataset", default=None,
                   help="the model's data (default: its own, e.g. shapes or moons), or the "
                   "path of a .zip of class folders (the image models)")
    p.add_argument("--max-seconds", type=SECONDS.argparse_type(), default=None)
    p.add_argument("--max-steps", type=STEPS.argparse_type(), default=None)
    p.add_argument("--seed", type=SEED.argparse_type(), default=0)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any other field of the model's Settings (repeatable)")
    p.add_argument("--threads", type=THREADS.argparse_type(), default=1)
    p.add_argument("--samples", type=Path, help="write samples here (.npy)")
    p.add_argument("--count", type=COUNT.argparse_type(), default=64)
    p.add_argument("--pretrained", action="store_true",
                   help="train nothing: sample from the shipped weights")
    p.add_argument("--save", type=Path, help="save the trained weights here (.pt)")
    p.add_argument("--judge", action="store_true",
                   help="judge image samples with the default Shapes network")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    return p


def _value(text: str, default: object) -> object:
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def make_settings(module, args: argparse.Namespace):
    """The model's Settings from the flags (its own checks give the messages)."""
    fields = {f.name: f.default for f in dataclasses.fields(module.Settings)}
    values: dict[str, object] = {"seed": args.seed}
    if args.dataset is not None:
        values["dataset"] = args.dataset
        if args.dataset.lower().endswith(".zip"):  # a zip of class folders, as the page's upload
            from explorer.generative.data import register_zip

            path = Path(args.dataset)
            if not path.is_file():
                raise InputError(f"--dataset {args.dataset}: no such zip file.")
            values["dataset"] = register_zip(path.read_bytes(), path.name)
    if args.max_seconds is not None:
        values["max_seconds"] = args.max_seconds
    if args.max_steps is not None:
        values["max_steps"] = args.max_steps
    for item in args.set:
        name, _, text = item.partition("=")
        if name not in fields:
            raise InputError(f"--set {name}: the model has no such setting; it has "
                             f"{', '.join(fields)}.")
        try:
            values[name] = _value(text, fields[name])
        except ValueError:
            raise InputError(f"--set {item}: {text!r} is not a value for {name}.") from None
    return module.Settings(**values)


def _mean(values: Sequence[float], first: bool) -> float | None:
    if not values:
        return None
    n = max(1, int(round(len(values) * SHARE)))
    part = values[:n] if first else values[-n:]
    return float(np.mean(part))


def _train(key: str, settings, threads: int) -> tuple[object, dict]:
    from explorer.generative.job import GenerativeJob
    from explorer.generative.registry import make_trainer

    job = GenerativeJob(key, settings, threads=threads)
    job.start()
    job.join()
    snap = job.snapshot()
    if snap.state != "finished":
        raise RuntimeError(snap.message)
    trainer = make_trainer(key, settings)
    trainer.load_state_dict(job.weights)
    losses = snap.losses
    report = {"steps": snap.step, "compute_seconds": round(snap.compute_seconds, 2),
              "losses": {name: _mean(v, False) for name, v in losses.items()},
              "first_loss": _mean(losses.get("loss", ()), True),
              "last_loss": _mean(losses.get("loss", ()), False)}
    return trainer, report


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        module = module_of(args.model)
    except ModuleNotFoundError as error:
        if error.name != MODELS[args.model].module:
            raise
        print(f"error: the {MODELS[args.model].label} model is not available yet "
              f"(its module {MODELS[args.model].module} is missing).", file=sys.stderr)
        return 2
    report: dict = {"model": args.model}
    try:
        settings = make_settings(module, args)
        started = time.perf_counter()
        if args.pretrained:
            from explorer.generative.autoencoder import pretrained_trainer

            trainer = pretrained_trainer(module, args.model)
            if trainer is None:
                raise InputError(f"No shipped weights for {args.model} "
                                 f"(assets/generative/{args.model}.pt is missing).")
            report["pretrained"] = True
        else:
            trainer, trained = _train(args.model, settings, args.threads)
            report.update(trained)
        report["train_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        with thread_budget(args.threads):  # as the training job: torch's default is every core
            samples = trainer.sample(args.count, seed=args.seed)
        report["sample_seconds"] = round(time.perf_counter() - started, 3)
        for extra in ("test_nll", "gaussian_nll"):
            if hasattr(trainer, extra):
                report[extra] = float(getattr(trainer, extra)())
    except (InputError, ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report["samples_shape"] = list(samples.shape)
    if args.samples is not None:
        np.save(args.samples, samples)
    if args.save is not None and not args.pretrained:
        from explorer.generative.autoencoder import save_weights

        note = f"python -m explorer.generative {' '.join(sys.argv[1:] if argv is None else argv)}"
        save_weights(args.save, settings, trainer.state_dict(), note)
    if args.judge and samples.ndim in (3, 4):
        from explorer.generative.judge import judge

        report["judge"] = judge(samples).as_dict()
    if args.json:
        print(json.dumps(report))
    else:
        for name, value in report.items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
