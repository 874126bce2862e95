"""The generative models' goals on this machine: samples judged by the app's default Shapes
network (share recognised with probability >= 0.5, classes covered).

`python benchmarks/generative.py [--models vae ae] [--seconds 60] [--threads 1]`

For each model: trains from scratch on Shapes with the page's own job for at most `--seconds`
of computing (seed 0), draws 64 samples from the prior and judges them; then the same for the
shipped weights (assets/generative/<key>.pt). Goals (issue 24): the VAE from scratch in 60 s
recognised >= 50 % covering >= 4 classes; the shipped VAE >= 80 % across >= 8 classes. The load
average is printed: a busy machine takes fewer steps in the same seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.generative import autoencoder  # noqa: E402
from explorer.generative.job import GenerativeJob  # noqa: E402
from explorer.generative.judge import judge  # noqa: E402
from explorer.generative.registry import make_trainer, module_of  # noqa: E402

GOALS = {"vae": {"scratch": (0.5, 4), "shipped": (0.8, 8)}}  # (share, classes)
COUNT = 64


def _verdict(trainer) -> dict:
    return judge(trainer.sample(COUNT, seed=0)).as_dict()


def _goal(key: str, which: str, verdict: dict) -> str:
    if key not in GOALS:
        return ""
    share, classes = GOALS[key][which]
    ok = verdict["recognised_share"] >= share and verdict["classes_covered"] >= classes
    return f"goal >= {share:.0%} across >= {classes} classes: {'met' if ok else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["vae", "ae"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for key in args.models:
        module = module_of(key)
        settings = module.Settings(max_seconds=args.seconds, max_steps=100_000)
        started = time.perf_counter()
        job = GenerativeJob(key, settings, threads=args.threads)
        job.start()
        job.join()
        snap = job.snapshot()
        trainer = make_trainer(key, settings)
        trainer.load_state_dict(job.weights)
        verdict = _verdict(trainer)
        print(f"{key} from scratch: {snap.step} steps, {snap.compute_seconds:.1f} s computing, "
              f"{time.perf_counter() - started:.1f} s wall; samples {json.dumps(verdict)}  "
              + _goal(key, "scratch", verdict))
        shipped = autoencoder.pretrained_trainer(module, key)
        if shipped is None:
            print(f"{key} shipped: assets/generative/{key}.pt is missing")
            continue
        verdict = _verdict(shipped)
        print(f"{key} shipped: samples {json.dumps(verdict)}  " + _goal(key, "shipped", verdict))


if __name__ == "__main__":
    main()
