"""Many students at once on one server: concurrent sessions must not break each other.

Starts the real server (`python -m explorer.ui.serve` on a free loopback port, as docs/hosting.md's
hosting section does) and runs benchmarks/stload.py against it: a dozen simulated students with
short think times on the Convolution, Colour filters and Pretrained pages (two networks, so
different models run and are traced at the same time) and Home. Asserts that no rerun failed
with an exception (e.g. torch.fx tracing in one session breaking another session's model call:
"NameError: module is not installed as a submodule") or timed out, that every page was used,
and that the server logged no traceback. No latency is asserted: CI machines can be busy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

STLOAD = ROOT / "benchmarks" / "stload.py"
SESSIONS = 12
DURATION_S = 25
THINK_S = 0.5
RERUN_TIMEOUT_S = 120  # per rerun; generous: only a rerun that never finishes is a failure
MIX = {"convolution": 0.3, "colour": 0.2, "pretrained": 0.4, "home": 0.1}
MODELS = "default,resnet18"
STALL_S = 120.0  # a starting server that uses no CPU for this long is stuck, not slow
FAILURES = ("exception", "timeout", "compile_error", "page_not_found", "ws_closed",
            "cache_miss", "client_crash", "worker_crash", "shutdown_cancel")
CROSS_SESSION = ("NameError", "not installed as a submodule")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return -1  # no /proc (not Linux): never counts as progress or as a stall


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def wait_healthy(server: Server) -> None:
    """Until the health check answers; fail if the process exits, or if it makes no progress
    (uses no CPU) for STALL_S seconds while not healthy. A slow machine only waits longer."""
    ticks, last_progress = None, time.monotonic()
    while not healthy(server.url):
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.log_text()}")
        now = cpu_ticks(server.process.pid)
        if now != ticks or now < 0:
            ticks, last_progress = now, time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            pytest.fail(f"the server made no progress for {STALL_S:g} s:\n{server.log_text()}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("many-sessions") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "explorer.ui.serve", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_class_of_concurrent_sessions_runs_without_errors(server: Server, tmp_path: Path):
    out = tmp_path / "stload.json"
    command = [
        sys.executable, str(STLOAD), "--url", server.url, "--sessions", str(SESSIONS),
        "--duration", str(DURATION_S), "--think", str(THINK_S), "--ramp", "2",
        "--mix", ",".join(f"{page}={weight}" for page, weight in MIX.items()),
        "--models", MODELS, "--fetch-media", "--timeout", str(RERUN_TIMEOUT_S),
        "--server-pid", str(server.process.pid), "--json", str(out),
    ]
    # stload ends by itself: no new click after the duration, each running rerun finishes or
    # times out (RERUN_TIMEOUT_S), a hard stop 20 s later. This bound is only a hang guard.
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            timeout=DURATION_S + RERUN_TIMEOUT_S + 120)
    # the server's tracebacks too: the browser only sees a redacted message
    report = result.stdout + result.stderr + "\n== server log ==\n" + server.log_text()[-20000:]
    assert out.exists(), f"stload wrote no results (exit {result.returncode}):\n{report}"
    data = json.loads(out.read_text())
    summary, records = data["summary"], data["records"]

    details = [d for r in records for d in r.get("error_details", [])]
    assert not [d for d in details if any(s in d for s in CROSS_SESSION)], report
    failed = {kind: n for kind, n in summary["errors"].items() if kind in FAILURES}
    assert not failed, f"{failed}\n{report}"
    assert summary["reruns_failed"] == 0 and not summary["other_failures"], report

    ok = Counter(r["page"] for r in records
                 if r["action"] in ("load", "nav", "tweak", "rerun") and not r["errors"])
    for page in MIX:
        assert ok[page] >= 2, f"only {ok[page]} successful reruns on {page}: {dict(ok)}\n{report}"
    # sessions really overlapped: more reruns than one student could make alone
    assert sum(ok.values()) > SESSIONS * 2, report

    assert server.process.poll() is None, "the server died under load:\n" + server.log_text()
    assert "Traceback" not in server.log_text(), server.log_text()
