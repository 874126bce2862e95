"""A class presses Start: time to first curve and to finished, CPU and memory, per engine mode.

`python benchmarks/class_train.py [--students 50] [--defaults 30] [--spread 10] [--epochs 1]
[--train-size 5000] [--modes queue,threads,turns]`

Students press Start at random moments within `--spread` seconds: `--defaults` of them on the
Train page's default settings, the rest each with one setting changed (their own seed: every
one a distinct run, the worst case). Every student's run goes through the job registry, as the
page's Start does, and is polled ten times a second, as the page's fragment does. Modes, each in
a fresh process, side by side:

- queue: the engine before this change, the baseline: one run at a time in a FIFO queue, every
  identical run trained again;
- threads: identical runs shared, every distinct run live at once in its own thread with one
  torch thread, the operating system sharing the cores;
- turns: identical runs shared, every run live, taking turns on the cores (jobs.fair_share:
  one run computing at a time per two cores with two torch threads, 0.25 s slices, newcomers
  first);
- turns-cores: the same with one run per core computing, one torch thread each (the server's
  default, EXPLORER_TRAIN_SLOTS = cores);
- ray-1, ray-2, ...: the Ray engine (EXPLORER_RAY_ADDRESS) on a local cluster started here: a
  head with no CPUs and N worker nodes of one CPU each (`ray.cluster_utils.Cluster`; on one
  machine they share its cores), `--ray-cpus-per-job` CPUs a run (default 1: one run computes
  per worker CPU, the others wait on the cluster).

Printed per mode: runs trained, time to first curve (a first training-loss point) p50 / p95,
time to finished p50 / p95 and for all, the machine's busy CPU seconds and utilisation (Ray's
workers are other processes), peak resident memory of this process and its descendants (Ray's
workers included) and its growth per live run; then the ratios against the first mode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere


def rss_mb() -> float:
    """Resident memory of this process and all its descendants (a local Ray cluster's)."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def ray_engine(workers: int, cpus_per_job: float):
    """A local cluster (a head with no CPUs, `workers` nodes of one CPU) and an engine on it."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback only
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    from explorer.jobs import engines

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(workers):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    engine = engines.connect(cluster.address)
    if not engine.remote:
        raise SystemExit(engine.note)
    engine.cpus_per_job = cpus_per_job
    return cluster, engine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_mode(mode: str, args: argparse.Namespace) -> dict:
    """Run the class scenario in this process with one engine mode; its figures."""
    from explorer.jobs.fair_share import Turns
    from explorer.jobs.memory import limit_malloc_arenas
    from explorer.jobs.registry import JobRegistry
    from explorer.training.data import shapes_dataset
    from explorer.training.identity import run_key
    from explorer.training.job import TrainingJob
    from explorer.training.settings import TrainSettings

    limit_malloc_arenas()  # as the server does (explorer.warmup)
    data = shapes_dataset(n_train=args.train_size, n_test=1000)
    defaults = TrainSettings(epochs=args.epochs)
    threads = 1 if mode in ("threads", "turns-cores") else defaults.threads
    half = max(1, (os.cpu_count() or 1) // 2)  # the old engine: one job with two threads
    slots = {"queue": half, "threads": 10_000, "turns": half,
             "turns-cores": os.cpu_count() or 1}.get(mode, 1)  # ray-N: each actor its own turns
    turns = Turns(slots=slots)
    alone_times = []
    for _ in range(4):  # the first run in a process pays torch's warm-up; the best of the rest
        alone = TrainingJob(defaults, data, threads=threads, turns=Turns(slots=half))
        started = time.perf_counter()
        alone.start()
        alone.join()
        alone_times.append(time.perf_counter() - started)
    one_run = min(alone_times[1:])  # the unit: other processes only ever slow a run down

    cluster = None
    if mode == "queue":
        registry = JobRegistry(max_running=1, max_live=1)
    elif mode.startswith("ray-"):
        cluster, engine = ray_engine(int(mode.split("-")[1]), args.ray_cpus_per_job)
        registry = JobRegistry(max_live=max(args.students, 1), engine=engine)
    else:
        registry = JobRegistry(max_live=max(args.students, 1))
    rng = random.Random(0)
    arrivals = sorted(rng.uniform(0, args.spread) for _ in range(args.students))
    plans = [defaults if i < args.defaults else TrainSettings(epochs=args.epochs, seed=1000 + i)
             for i in range(args.students)]
    rng.shuffle(plans)
    rss_before, cpu_before = rss_mb(), busy_seconds()
    start = time.perf_counter()
    pressed: dict[int, float] = {}
    job_of: dict[int, str] = {}
    first_curve: dict[int, float] = {}
    finished: dict[int, float] = {}
    peak_rss, peak_live = rss_before, 0
    while len(finished) < args.students:
        now = time.perf_counter() - start
        for student, at in enumerate(arrivals):
            if student not in pressed and now >= at:
                settings = plans[student]
                job_of[student] = registry.submit_job(
                    lambda t, on_done, s=settings, o=f"tab{student}": TrainingJob(
                        s, data, owner=o, threads=t, on_done=on_done, turns=turns),
                    threads=threads, owner=f"tab{student}",
                    key=None if mode == "queue" else run_key(settings, data))
                pressed[student] = now
        for student, job_id in job_of.items():
            registry.heartbeat(f"tab{student}")
            snap = registry.get(job_id).snapshot()
            if student not in first_curve and snap.curve_steps:
                first_curve[student] = now - pressed[student]
            if student not in finished and snap.done:
                finished[student] = now - pressed[student]
        peak_rss = max(peak_rss, rss_mb())
        peak_live = max(peak_live, len(registry.running()))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    cpu = busy_seconds() - cpu_before
    trained = len({job.job_id for job in registry.jobs()})
    failed = [job.job_id for job in registry.jobs() if job.state != "finished"]
    registry.stop_all()
    if cluster is not None:
        import ray

        ray.shutdown()  # the driver first: Cluster refuses to remove the node it is on
        cluster.shutdown()
    firsts, dones = list(first_curve.values()), list(finished.values())
    return {
        "mode": mode, "one_run_s": one_run, "students": args.students, "runs_trained": trained,
        "not_finished": len(failed),
        "first_curve_p50": percentile(firsts, 0.5), "first_curve_p95": percentile(firsts, 0.95),
        "finished_p50": percentile(dones, 0.5), "finished_p95": percentile(dones, 0.95),
        "all_done_s": wall, "cpu_s": cpu, "cpu_util": cpu / wall,
        "rss_before_mb": rss_before, "rss_peak_mb": peak_rss, "peak_live": peak_live,
        "mb_per_live_run": (peak_rss - rss_before) / max(peak_live, 1),
        "mean_first_curve": statistics.fmean(firsts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--defaults", type=int, default=30, help="students on the defaults")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds to press Start in")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=5000, help="Shapes training images")
    parser.add_argument("--modes", default="queue,threads,turns,turns-cores")
    parser.add_argument("--ray-cpus-per-job", type=float, default=1.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one mode, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_mode(args.one, args)))
        return 0
    results = []
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--one", mode, "--students", str(args.students),
                   "--defaults", str(args.defaults), "--spread", str(args.spread),
                   "--epochs", str(args.epochs), "--train-size", str(args.train_size),
                   "--ray-cpus-per-job", str(args.ray_cpus_per_job)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(f"{mode}: done", file=sys.stderr)
    base = results[0]
    print(f"{args.students} students press Start within {args.spread:g} s ({args.defaults} on "
          f"the defaults, {args.students - args.defaults} with their own seed); {args.epochs} "
          f"epoch(s) of Shapes ({args.train_size} images); one run alone "
          f"{base['one_run_s']:.1f} s (2 torch threads, the unit of 'x one run'); "
          f"{os.cpu_count()} cores")
    header = ("mode", "runs", "first curve p50/p95 s", "finished p50/p95 s", "all done s",
              "CPU s (util)", "RSS peak MB", "MB/live run")
    print(" | ".join(header))
    for r in results:
        print(" | ".join((
            r["mode"], str(r["runs_trained"]),
            f"{r['first_curve_p50']:.1f} / {r['first_curve_p95']:.1f}",
            f"{r['finished_p50']:.1f} / {r['finished_p95']:.1f}",
            f"{r['all_done_s']:.1f} ({r['all_done_s'] / base['one_run_s']:.1f}x one run)",
            f"{r['cpu_s']:.0f} ({r['cpu_util']:.2f})", f"{r['rss_peak_mb']:.0f}",
            f"{r['mb_per_live_run']:.1f} ({r['peak_live']} live)")))
    for r in results[1:]:
        print(f"{r['mode']} vs {base['mode']}: first curve p95 "
              f"{base['first_curve_p95'] / max(r['first_curve_p95'], 1e-9):.1f}x sooner, all "
              f"done {base['all_done_s'] / r['all_done_s']:.2f}x sooner, CPU "
              f"{r['cpu_s'] / base['cpu_s']:.2f}x")
        if r["not_finished"]:
            print(f"  {r['not_finished']} runs did not finish")
    return 0


if __name__ == "__main__":
    sys.exit(main())
