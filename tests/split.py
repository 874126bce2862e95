"""`make test`: the test files in two pytest processes at once, the real servers and browsers in
one and everything else in the other, so a 2-core machine works while one side waits on a page.

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
# Files that drive a real server, a browser, a balancer or a Ray head (mostly waiting), and the
# link tests, so that both sides take about as long (a 2-core machine: 10-11 minutes each).
SERVERS = {
    "test_browser.py", "test_browser_lecture.py", "test_browser_hostile.py", "test_replicas.py",
    "test_many_sessions.py", "test_ray_engine.py", "test_no_outgoing.py",
    "test_hostile_training.py", "test_codegen.py", "test_train_script.py",
    "test_hostile_links.py",
}


def groups() -> list[list[str]]:
    files = sorted(path.name for path in TESTS.glob("test_*.py"))
    return [[f"tests/{name}" for name in files if name in SERVERS],
            [f"tests/{name}" for name in files if name not in SERVERS]]


def main(argv: list[str]) -> int:
    started = time.monotonic()
    logs = [TESTS / "artifacts" / f"pytest-{side}.log" for side in ("servers", "rest")]
    logs[0].parent.mkdir(exist_ok=True)
    # Jobs normally compute below the pages' priority (explorer/jobs/priority.py); beside a second
    # busy pytest process that would starve the servers' training runs the tests wait for.
    env = {**os.environ, "EXPLORER_JOB_NICE": os.environ.get("EXPLORER_JOB_NICE", "0")}
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
