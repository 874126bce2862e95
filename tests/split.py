"""`make test`: the test files in two pytest processes at once, dealt by their measured time so
that both end together; a 2-core machine works on one side while the other waits on a page.

Each side is an ordinary pytest session (its own server fixture, its own Ray head); the run
fails if either side fails. Arguments are passed to both (`python tests/split.py -x`); a plain
`python -m pytest` still runs everything in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).parent
# Each file's seconds in a full run on 2 cores, both sides at once (`--durations=0`, summed per
# file, 2026-12-07, 9 min 42 s in all; files not listed count DEFAULT_SECONDS). The files are dealt
# to the two sides, longest first, each to the side with less so far, so that both end at about
# the same time. Refresh the figures when a file's time changes much (docs/testing.md).
SECONDS = {
    "test_hostile_links.py": 233, "test_browser.py": 155, "test_browser_lecture.py": 106,
    "test_ray_engine.py": 79, "test_page_transfer.py": 54, "test_many_sessions.py": 38,
    "test_hostile_training.py": 35, "test_replicas.py": 33, "test_browser_hostile.py": 28,
    "test_featurevis.py": 19, "test_train_script.py": 17, "test_hostile_weights.py": 16,
    "test_page_convolution.py": 16, "test_page_pretrained.py": 16, "test_page_lecture.py": 15,
    "test_page_playground.py": 14, "test_activations.py": 14, "test_page_train.py": 13,
    "test_page_colour.py": 12, "test_gradients.py": 10, "test_page_generative.py": 10,
    "test_codegen.py": 9, "test_generative_script.py": 8, "test_zoo.py": 7, "test_transfer.py": 7,
    "test_gradients_residual.py": 7, "test_train_cli.py": 7, "test_generative_diffusion.py": 7,
    "test_pattern_matching.py": 6, "test_nets.py": 6, "test_pages.py": 6, "test_concurrency.py": 6,
    "test_page_deep.py": 5, "test_hostile_images.py": 5, "test_no_outgoing.py": 5,
    "test_job_registry.py": 4, "test_playground_script.py": 4,
}
DEFAULT_SECONDS = 2.0


def groups() -> list[list[str]]:
    """The test files in two lists of about equal measured time (longest first, each to the
    shorter side)."""
    files = sorted((path.name for path in TESTS.glob("test_*.py")),
                   key=lambda name: (-SECONDS.get(name, DEFAULT_SECONDS), name))
    sides: list[list[str]] = [[], []]
    totals = [0.0, 0.0]
    for name in files:
        side = totals.index(min(totals))
        sides[side].append(f"tests/{name}")
        totals[side] += SECONDS.get(name, DEFAULT_SECONDS)
    return [sorted(side) for side in sides]


def main(argv: list[str]) -> int:
    started = time.monotonic()
    logs = [TESTS / "artifacts" / f"pytest-{side}.log" for side in ("a", "b")]
    logs[0].parent.mkdir(exist_ok=True)
    # Jobs normally compute below the pages' priority (explorer/jobs/priority.py); beside a second
    # busy pytest process that would starve the servers' training runs the tests wait for.
    # And torch runs one thread per side, jobs included, unless told otherwise: two sides of two
    # OpenMP threads each on two cores spin against each other (the feature visualisation of 8
    # channels, 256 steps: 35 s with two threads beside the other side, 3.5 s with one).
    env = {**os.environ, "EXPLORER_JOB_NICE": os.environ.get("EXPLORER_JOB_NICE", "0"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "EXPLORER_JOB_THREADS": os.environ.get("EXPLORER_JOB_THREADS", "1")}
    runs = []
    for files, log in zip(groups(), logs, strict=True):
        with log.open("w") as out:
            runs.append(subprocess.Popen([sys.executable, "-m", "pytest", *argv, *files],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=TESTS.parent, env=env))
    codes = [run.wait() for run in runs]
    for log, code in zip(logs, codes, strict=True):
        print(f"===== {log.name} (exit {code}) =====")
        print(log.read_text(), flush=True)
    print(f"tests/split.py: both sides done in {time.monotonic() - started:.0f} s, exit codes "
          f"{codes}")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
