"""The lecture's ablation on this machine, in the app's regime, beside the lecture's numbers.

`python benchmarks/ablation.py [--seeds 0 1 2] [--threads 2]`

Trains the Train page's "Lecture ablation" (explorer.training.ablation: plain, + batch norm, + dropout,
+ augmentation on 2,000 Shapes images, 30 epochs, SGD + momentum 0.02) once per seed with the
app's own TrainingJob, and prints each run's test accuracy (all 4,000 test images), the mean
per variant against the lecture's CIFAR-10 numbers (67 -> 72.5 -> 79.5 -> 79 %), whether the
lecture's order holds (up with batch norm, up with dropout, then within 3 points: the lecture's
augmentation made no difference), and the time per run. About 40 s a run on two idle cores;
the load average is printed, since a busy machine is slower but no less right.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.training import ablation, data  # noqa: E402
from explorer.training.job import TrainingJob  # noqa: E402
from explorer.training.settings import TrainSettings  # noqa: E402


def run_variant(settings: TrainSettings, dataset: data.Dataset) -> tuple[float, float]:
    job = TrainingJob(settings, dataset)
    started = time.perf_counter()
    job.start()
    job.join()
    snap = job.snapshot()
    if snap.final_test_accuracy is None:
        raise RuntimeError(f"run ended {snap.state}: {snap.message}")
    return 100 * snap.final_test_accuracy, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    dataset = data.load_dataset(ablation.REGIME_DATASET, download=False)
    print(f"load average {os.getloadavg()[0]:.1f}; {len(dataset.train_labels)} training and "
          f"{len(dataset.test_labels)} test images; {args.threads} threads")
    results: dict[str, list[float]] = {v.key: [] for v in ablation.VARIANTS}
    seconds = []
    for seed in args.seeds:
        base = TrainSettings(dataset=ablation.REGIME_DATASET, seed=seed, threads=args.threads)
        for variant, settings in ablation.ablation_settings(base, built_in=True):
            accuracy, elapsed = run_variant(settings, dataset)
            results[variant.key].append(accuracy)
            seconds.append(elapsed)
            print(f"seed {seed}  {variant.label:<16} {accuracy:5.1f} %  ({elapsed:.0f} s)",
                  flush=True)
    print("\nvariant            lecture   here (mean of seeds)   per seed")
    means = []
    for variant in ablation.VARIANTS:
        values = results[variant.key]
        means.append(statistics.mean(values))
        print(f"{variant.label:<18} {variant.lecture_accuracy:5.1f} %   {means[-1]:5.1f} %"
              f"                 {', '.join(f'{v:.1f}' for v in values)}")
    order = means[1] > means[0] and means[2] > means[1] and abs(means[3] - means[2]) < 3.0
    print(f"\nthe lecture's order (up, up, within 3 points): {'holds' if order else 'DOES NOT hold'}"
          f"; {statistics.mean(seconds):.0f} s a run on average")
    return 0 if order else 1


if __name__ == "__main__":
    sys.exit(main())
