"""TrainingJob vs a bare PyTorch loop (img/s), and time to 90 % test accuracy on shapes.

`python benchmarks/training.py [--rounds 3] [--threads 2]`. Same model (the default simple
CNN), batch, channels_last, threads and in-memory data for both loops. Rounds alternate
bare / job and the best round of each is compared: other processes on a shared machine only
ever slow a run down, so the best is the closest to what the loop itself costs.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from explorer.training.data import Dataset, shapes_dataset  # noqa: E402
from explorer.training.job import TrainingJob  # noqa: E402
from explorer.training.nets import build_model  # noqa: E402
from explorer.training.settings import OPTIMISERS, TrainSettings  # noqa: E402

MIN_RATIO = 0.9  # target: the job trains at >= 0.9x the bare loop's img/s
TARGET_ACCURACY = 0.90


def bare_loop(settings: TrainSettings, data: Dataset, epochs: int) -> float:
    """The plainest fast loop: data normalised once in memory, no metrics; img/s."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    model = build_model(settings.model, in_channels=data.channels, num_classes=data.num_classes,
                        image_size=data.image_size).to(memory_format=torch.channels_last)
    optimiser = OPTIMISERS[settings.optimiser].make(model.parameters(), settings.learning_rate,
                                                    settings.weight_decay)
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    images = ((data.train_images.float() / 255 - mean) / std).contiguous(
        memory_format=torch.channels_last)  # (N, C, H, W) float32, prepared once
    labels = data.train_labels
    batch = settings.batch_size
    steps = len(labels) // batch
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for step in range(steps):
            index = order[step * batch : (step + 1) * batch]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return epochs * steps * batch / (time.perf_counter() - start)


def bare_loop_in_thread(settings: TrainSettings, data: Dataset, epochs: int) -> float:
    """The same bare loop in a fresh thread, as a TrainingJob's worker runs."""
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(bare_loop(settings, data, epochs)))
    worker.start()
    worker.join()
    return result[0]


def job_run(settings: TrainSettings, data: Dataset) -> tuple[float, float, TrainingJob]:
    """(training img/s without evaluations, wall img/s with them, the job)."""
    job = TrainingJob(settings, data)
    job.start()
    job.join()
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    return snap.images_seen / snap.train_seconds, snap.images_seen / snap.elapsed_seconds, job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="bare/job pairs (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    args = parser.parse_args()

    started = time.perf_counter()
    data = shapes_dataset()
    print(f"shapes: {len(data.train_labels)} train / {len(data.test_labels)} test images "
          f"(made in {time.perf_counter() - started:.1f} s); torch {torch.__version__}, "
          f"{args.threads} threads")
    settings = TrainSettings(epochs=args.epochs, threads=args.threads)
    bare_loop(TrainSettings(epochs=1, threads=args.threads),
              shapes_dataset(640, 10), 1)  # warm-up: oneDNN builds its kernels on first use

    bare_main, bare, train, wall = [], [], [], []
    for _ in range(args.rounds):
        bare_main.append(bare_loop(settings, data, args.epochs))
        bare.append(bare_loop_in_thread(settings, data, args.epochs))
        job_train, job_wall, _ = job_run(settings, data)
        train.append(job_train)
        wall.append(job_wall)
    bare_rate, train_rate = max(bare), max(train)
    ratio = train_rate / bare_rate
    m = settings.model
    print(f"\nThroughput: simple CNN ({m.blocks} blocks, {m.channels}-{m.channels * 2} channels), "
          f"batch {settings.batch_size}, {settings.optimiser}, channels_last, "
          f"{args.epochs} epoch(s) per run, best of {args.rounds}")
    print(f"{'loop':<46} {'img/s':>7} {'vs bare':>8}   all rounds")
    for label, rounds in (
        ("bare PyTorch loop, main thread", bare_main),
        ("bare PyTorch loop, worker thread (reference)", bare),
        ("TrainingJob, training only", train),
        ("TrainingJob, wall clock incl. evaluations", wall),
    ):
        listed = ", ".join(f"{value:,.0f}" for value in rounds)
        print(f"{label:<46} {max(rounds):>7,.0f} {max(rounds) / bare_rate:>8.2f}   {listed}")
    print(f"(bare loops: data normalised once, no metrics; the job converts uint8 batches, "
          f"records every step and evaluates {settings.eval_subset} test images every "
          f"{settings.eval_every} epoch. Target: job training only >= {MIN_RATIO}x the bare "
          f"loop in a worker thread)")

    # Time to 90 %: the default settings, curves on the fixed 1,000-image subset.
    defaults = TrainSettings(threads=args.threads)
    _, _, job = job_run(defaults, data)
    snap = job.snapshot()
    first = next((p for p in snap.evaluations if p.test_accuracy >= TARGET_ACCURACY), None)
    print(f"\nTime to {TARGET_ACCURACY:.0%} test accuracy, shapes, default settings "
          f"({defaults.epochs} epochs, {defaults.optimiser} lr {defaults.learning_rate:g}, "
          f"batch {defaults.batch_size})")
    print(f"{'measure':<46} {'value':>10}")
    if first is not None:
        print(f"{'training seconds to 90 % (subset of 1,000)':<46} {first.seconds:>10.1f}")
        print(f"{'epochs to 90 %':<46} {first.epoch:>10.2f}")
    else:
        print(f"{'90 % reached':<46} {'never':>10}")
    print(f"{'final test accuracy (all 4,000)':<46} {snap.final_test_accuracy:>10.4f}")
    print(f"{'whole run, seconds (incl. evaluations)':<46} {snap.elapsed_seconds:>10.1f}")

    ok = ratio >= MIN_RATIO and first is not None
    print("\nALL TARGETS PASS" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
