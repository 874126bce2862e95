"""A class of students on one server, beside a bare Streamlit app: throughput, latency, memory.

    python benchmarks/class_load.py                  # the class scenario, then the bare app
    python benchmarks/class_load.py --replicas 2     # the app behind deploy/serve.sh (HAProxy)
    python benchmarks/class_load.py --single         # one student per page: rerun medians
    python benchmarks/class_load.py --soak 1800      # is memory flat over half an hour?

The server is started as docs/hosting.md says: `python -m explorer.ui.serve` from
the repository root on a free loopback port (or, with --replicas N, `deploy/serve.sh` with N
replicas behind HAProxy on 127.0.0.1). The script waits until it answers its health check (as
long as the process is alive and making progress), then until the background warm-up has
finished (the server's CPU goes quiet), then runs benchmarks/stload.py: simulated students who
open links, click widgets, switch pages and fetch the images, with the server's RSS and CPU
sampled every second. Then the same load against benchmarks/bare_app.py (a title, a slider and
one 256x256 image under `streamlit run`), the platform's own cost, and one table:

    scenario, sessions, reruns/s, p50, p95, p99, errors, peak RSS MB, mean CPU %
    and the ratios app / bare for p50, p95 and reruns/s.

Latency is from the click (the rerun request) to the script's end plus its images fetched.
--single: one session per page (Home, Convolution, Colour filters, Pretrained networks) and the
bare app, the median rerun after the first load, and its ratio to the bare app's (the goal:
within 2x). --soak SECONDS: the class scenario for that long (no baseline); RSS every 30 s and
whether memory is flat after the warm-up.

Every server this script starts is stopped when it ends (also on Ctrl-C). Figures depend on the
machine and on what else runs on it: the load average before each scenario is printed with it.
Results go to stdout; --json FILE gets them too (benchmarks/results/ is git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STLOAD = ROOT / "benchmarks" / "stload.py"
BARE_APP = ROOT / "benchmarks" / "bare_app.py"
SERVE_SH = ROOT / "deploy" / "serve.sh"

CLASS_MIX = "convolution=0.4,colour=0.2,pretrained=0.3,home=0.1"
# stload moves widgets only on the app's pages, never on "home": driven as the "convolution"
# page, the bare app (one page: it ignores the page name and the link) gets its slider moved.
BARE_MIX = "convolution=1"
SINGLE_PAGES = ["home", "convolution", "colour", "pretrained"]
SINGLE_GOAL = 2.0  # the issue's goal: a rerun within 2x of the bare app's
STALL_S = 120.0  # a starting server that uses no CPU for this long and is not healthy is stuck
WARM_QUIET_S = 3.0  # the warm-up is over when the server's CPU stays quiet this long
WARM_BUSY_PCT = 10.0  # "quiet": below this share of one core
WARM_CAP_S = 300.0  # stop waiting for a warm-up that never ends (someone else keeps it busy)
SOAK_STEP_S = 30.0
CLK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------- processes (/proc)


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return 0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def process_tree(root: int) -> list[int]:
    """root and all its descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def torch_loaded(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("libtorch_cpu" in line for line in f)
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int, avoid: int) -> int:
    """A first port such that it and the next count - 1 are free (serve.sh uses consecutive ones)."""
    for _ in range(200):
        base = free_port()
        ports = range(base, base + count)
        if base + count < 65536 and avoid not in ports and all(port_is_free(p) for p in ports):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


# ------------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen  # leader of its own process group
    log: Path
    run_dir: Path
    workers: list[int] = field(default_factory=list)  # the Streamlit processes

    @property
    def sample_pid(self) -> int:
        """What stload samples: the process and its tree (serve.sh: every replica + HAProxy)."""
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (serve.sh's trap stops its replicas and HAProxy), then kill what is left of
        the process group this script created."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def wait_healthy(server: Server) -> float:
    """Poll the health check until it answers "ok"; fail at once if the process died, or if it
    (with its children) used no CPU for STALL_S seconds while not healthy (stuck, not slow)."""
    start = last_progress = time.monotonic()
    ticks = -1
    while not healthy(server.url):
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode} during "
                               f"start-up:\n{server.log_tail()}")
        now_ticks = sum(cpu_ticks(p) for p in process_tree(server.process.pid))
        if now_ticks != ticks:
            ticks, last_progress = now_ticks, time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            raise RuntimeError(f"{server.name}: not healthy and no progress for {STALL_S:g} s:\n"
                               f"{server.log_tail()}")
        time.sleep(0.5)
    return time.monotonic() - start


def wait_warm(server: Server) -> tuple[float, bool]:
    """Wait until the warm-up thread has finished: the Streamlit processes (torch loaded) use
    less than WARM_BUSY_PCT of a core for WARM_QUIET_S. Returns (seconds, finished)."""
    start = time.monotonic()
    quiet_since = start
    last_t, last = start, sum(cpu_ticks(p) for p in server.workers)
    while time.monotonic() - start < WARM_CAP_S:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited during its warm-up:\n{server.log_tail()}")
        time.sleep(0.5)
        now = time.monotonic()
        ticks = sum(cpu_ticks(p) for p in server.workers)
        busy = 100.0 * (ticks - last) / CLK / (now - last_t)
        last_t, last = now, ticks
        if busy > WARM_BUSY_PCT:
            quiet_since = now
        elif now - quiet_since >= WARM_QUIET_S and all(torch_loaded(p) for p in server.workers):
            return now - start - WARM_QUIET_S, True
    return time.monotonic() - start, False


def _popen(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def start_app(replicas: int | None) -> Server:
    """The app as the README's hosting section starts it (one process, or serve.sh)."""
    run_dir = Path(tempfile.mkdtemp(prefix="class-load-"))
    log = run_dir / "server.log"
    if replicas is None:
        port = free_port()
        process = _popen([sys.executable, "-m", "explorer.ui.serve", "--server.port", str(port),
                          "--server.address", "127.0.0.1", "--server.headless", "true"], log)
        server = Server("CNN Explorer (1 process)", f"http://127.0.0.1:{port}", process, log,
                        run_dir, [process.pid])
    else:
        port = free_port()
        base_port = free_port_range(replicas, avoid=port)
        env = {**os.environ, "REPLICAS": str(replicas), "PORT": str(port),
               "BASE_PORT": str(base_port), "BIND_ADDRESS": "127.0.0.1",
               "RUN_DIR": str(run_dir / "serve"),
               # one secret for the replicas, not written into the repository
               "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
        streamlit = Path(sys.executable).parent / "streamlit"  # this interpreter's streamlit
        if streamlit.exists():
            env["STREAMLIT"] = str(streamlit)
        process = _popen(["bash", str(SERVE_SH)], log, env)
        server = Server(f"CNN Explorer ({replicas} replicas, HAProxy)",
                        f"http://127.0.0.1:{port}", process, log, run_dir)
    try:
        waited = wait_healthy(server)
        if replicas is not None:
            server.workers = [p for p in process_tree(process.pid)
                              if "explorer.ui.serve" in cmdline(p)]
        print(f"{server.name}: healthy after {waited:.1f} s at {server.url} "
              f"(Streamlit pids {', '.join(map(str, server.workers))})", flush=True)
    except BaseException:
        server.stop()
        raise
    return server


def start_bare() -> Server:
    run_dir = Path(tempfile.mkdtemp(prefix="class-load-bare-"))
    log = run_dir / "server.log"
    port = free_port()
    process = _popen([sys.executable, "-m", "streamlit", "run", str(BARE_APP),
                      "--server.port", str(port), "--server.address", "127.0.0.1",
                      "--server.headless", "true"], log)
    server = Server("bare Streamlit app (1 process)", f"http://127.0.0.1:{port}", process, log,
                    run_dir, [process.pid])
    try:
        waited = wait_healthy(server)
        print(f"{server.name}: healthy after {waited:.1f} s at {server.url}", flush=True)
    except BaseException:
        server.stop()
        raise
    return server


class WorkerSampler(threading.Thread):
    """RSS and CPU of each Streamlit process every second (per replica; stload samples the
    whole tree as one)."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.halt = threading.Event()
        self.rss: dict[int, list[float]] = {p: [] for p in pids}
        self.cpu: dict[int, list[float]] = {p: [] for p in pids}

    def run(self) -> None:
        last_t, last = time.monotonic(), {p: cpu_ticks(p) for p in self.pids}
        while not self.halt.wait(1.0):
            now = time.monotonic()
            for p in self.pids:
                ticks = cpu_ticks(p)
                self.cpu[p].append(100.0 * (ticks - last[p]) / CLK / (now - last_t))
                self.rss[p].append(rss_mb(p))
                last[p] = ticks
            last_t = now

    def stop(self) -> dict:
        self.halt.set()
        self.join(timeout=5)
        return {str(p): {"peak_rss_mb": round(max(self.rss[p], default=0.0), 1),
                         "cpu_pct_mean": round(statistics.fmean(self.cpu[p]), 1)
                         if self.cpu[p] else None} for p in self.pids}


# ---------------------------------------------------------------------------------- load


def run_stload(server: Server, args, *, sessions: int, think: float, duration: float, mix: str,
               json_path: Path, extra: list[str] | None = None) -> dict:
    """benchmarks/stload.py against the server; returns its JSON (summary, samples, records)."""
    command = [sys.executable, str(STLOAD), "--url", server.url, "--sessions", str(sessions),
               "--think", str(think), "--duration", str(duration), "--mix", mix,
               "--fetch-media", "--server-pid", str(server.sample_pid),
               "--timeout", str(args.timeout), "--seed", str(args.seed), "--json", str(json_path),
               *(["--models", args.models] if args.models else []), *(extra or [])]
    # stload stops by itself: no new action after the duration, running ones end or time out
    # (--timeout), then a hard stop 20 s later; the margin here only guards against a hang.
    guard = duration + args.timeout + 180
    result = subprocess.run(command, cwd=ROOT, stdout=None if args.verbose else subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=guard, check=False)
    if not json_path.exists():
        raise RuntimeError(f"stload wrote no results (exit {result.returncode}):\n"
                           f"{result.stdout or ''}")
    return json.loads(json_path.read_text())


def scenario_row(name: str, data: dict, sessions: int, load_before: str, workers=None) -> dict:
    s = data["summary"]
    lat = s["latency_s"]["overall"]
    res = s.get("resources", {})
    return {
        "scenario": name, "sessions": sessions, "reruns_per_s": s["reruns_per_s"],
        "p50": lat.get("p50"), "p95": lat.get("p95"), "p99": lat.get("p99"),
        "errors": sum(s["errors"].values()), "error_kinds": s["errors"],
        "error_samples": {k: v[:2] for k, v in s["error_samples"].items()},
        "reruns_ok": s["reruns_ok"], "reruns_failed": s["reruns_failed"],
        # the process tree: the server (and its children); with replicas all of them + HAProxy
        "peak_rss_mb": res.get("rss_tree_mb_peak"), "cpu_pct_mean": res.get("cpu_pct_mean"),
        "server_alive_at_end": res.get("alive_at_end"),
        "p50_by_page": {page: st.get("p50") for page, st in s["latency_s"].items()
                        if page != "overall"},
        "load_average_before": load_before, "workers": workers,
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def print_table(rows: list[dict], ratios: dict | None) -> None:
    print()
    head = (f"{'scenario':<38}{'sessions':>9}{'reruns/s':>10}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}"
            f"{'errors':>8}{'peak RSS MB':>13}{'mean CPU %':>12}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['scenario']:<38}{r['sessions']:>9}{_fmt(r['reruns_per_s'], '.2f'):>10}"
              f"{_fmt(r['p50'], '.3f'):>8}{_fmt(r['p95'], '.3f'):>8}{_fmt(r['p99'], '.3f'):>8}"
              f"{r['errors']:>8}{_fmt(r['peak_rss_mb'], '.0f'):>13}"
              f"{_fmt(r['cpu_pct_mean'], '.0f'):>12}")
    if ratios:
        print(f"{'ratio app / bare':<38}{'':>9}{_fmt(ratios['reruns_per_s'], '.2f'):>9}x"
              f"{_fmt(ratios['p50'], '.2f'):>7}x{_fmt(ratios['p95'], '.2f'):>7}x")
    print("(latency: click -> script finished + its images fetched, successful reruns; CPU: "
          "100 % = one core; RSS and CPU of the server's process tree)")
    for r in rows:
        print(f"  {r['scenario']}: load average before {r['load_average_before']}; errors "
              + (", ".join(f"{k}={v}" for k, v in sorted(r["error_kinds"].items())) or "none"))
        for kind, examples in r["error_samples"].items():
            for example in examples:
                print(f"      {kind}: {example}")
        if r["p50_by_page"] and len(r["p50_by_page"]) > 1:
            print("      p50 by page: " + ", ".join(f"{p} {v:.3f} s" for p, v
                                                   in r["p50_by_page"].items() if v is not None))
        if r.get("workers") and len(r["workers"]) > 1:
            print("      per replica: " + "; ".join(
                f"pid {pid} peak RSS {w['peak_rss_mb']:.0f} MB, mean CPU {_fmt(w['cpu_pct_mean'], '.0f')} %"
                for pid, w in r["workers"].items()))
        if r.get("server_alive_at_end") is False:
            print("      THE SERVER WAS GONE AT THE END")


def prepare(server: Server, args) -> None:
    if args.no_warmup_wait:
        return
    waited, finished = wait_warm(server)
    if finished:
        print(f"{server.name}: warm-up finished after {waited:.1f} s", flush=True)
    else:
        print(f"{server.name}: still busy after {waited:.0f} s; going on without the warm-up "
              "finished", flush=True)


def class_scenario(args, work: Path) -> dict:
    results: dict = {"rows": []}
    sessions, think, duration = args.sessions, args.think, args.duration
    servers: list[Server] = []
    try:
        server = start_app(args.replicas)
        servers.append(server)
        prepare(server, args)
        load = load_average()
        print(f"class scenario: {sessions} sessions, think {think:g} s, {duration:g} s, mix "
              f"{CLASS_MIX}; load average {load}", flush=True)
        sampler = WorkerSampler(server.workers)
        sampler.start()
        data = run_stload(server, args, sessions=sessions, think=think, duration=duration,
                          mix=CLASS_MIX, json_path=work / "app.json")
        workers = sampler.stop()
        results["rows"].append(scenario_row(server.name, data, sessions, load, workers))
        results["server_log_tracebacks"] = server.log.read_text(errors="replace").count("Traceback")
        server.stop()
        servers.remove(server)
        if not args.skip_baseline:
            bare = start_bare()
            servers.append(bare)
            load = load_average()
            print(f"bare app: {sessions} sessions, think {think:g} s, {duration:g} s; load "
                  f"average {load}", flush=True)
            data = run_stload(bare, args, sessions=sessions, think=think, duration=duration,
                              mix=BARE_MIX, json_path=work / "bare.json")
            results["rows"].append(scenario_row(bare.name, data, sessions, load))
    finally:
        for server in servers:
            server.stop()
    if len(results["rows"]) == 2:
        app, bare_row = results["rows"]
        results["ratios"] = {k: _ratio(app[k], bare_row[k]) for k in ("p50", "p95", "reruns_per_s")}
    print_table(results["rows"], results.get("ratios"))
    if results.get("server_log_tracebacks"):
        print(f"the app's server log has {results['server_log_tracebacks']} tracebacks")
    return results


def single_scenario(args, work: Path) -> dict:
    """One session per page, think 0.5 s: the median rerun (the first load left out)."""
    duration = args.duration if args.duration_given else 20.0
    think = args.think if args.think_given else 0.5
    extra = ["--warmup", "3", "--ramp", "0"]
    rows = []
    servers: list[Server] = []
    try:
        server = start_app(args.replicas)
        servers.append(server)
        prepare(server, args)
        for page in SINGLE_PAGES:
            data = run_stload(server, args, sessions=1, think=think, duration=duration,
                              mix=f"{page}=1", json_path=work / f"single-{page}.json", extra=extra)
            rows.append((page, data["summary"]))
        server.stop()
        servers.remove(server)
        if not args.skip_baseline:
            bare = start_bare()
            servers.append(bare)
            data = run_stload(bare, args, sessions=1, think=think, duration=duration,
                              mix=BARE_MIX, json_path=work / "single-bare.json", extra=extra)
            rows.append(("bare app", data["summary"]))
    finally:
        for server in servers:
            server.stop()
    bare_p50 = rows[-1][1]["latency_s"]["overall"].get("p50") if not args.skip_baseline else None
    out = []
    print(f"\none session per page, think {think:g} s, {duration:g} s each; reruns after the "
          f"first load; load average now {load_average()}")
    head = f"{'page':<14}{'reruns':>8}{'median s':>10}{'p95 s':>8}{'errors':>8}{'x bare':>8}  goal"
    print(head)
    print("-" * (len(head) + 8))
    for page, s in rows:
        lat = s["latency_s"]["overall"]
        ratio = _ratio(lat.get("p50"), bare_p50) if page != "bare app" else None
        goal = "" if ratio is None else ("within 2x" if ratio <= SINGLE_GOAL else "MISSED (> 2x)")
        errors = sum(s["errors"].values())
        print(f"{page:<14}{lat.get('n', 0):>8}{_fmt(lat.get('p50'), '.3f'):>10}"
              f"{_fmt(lat.get('p95'), '.3f'):>8}{errors:>8}"
              f"{(_fmt(ratio, '.2f') + 'x') if ratio is not None else '':>8}  {goal}")
        out.append({"page": page, "reruns": lat.get("n", 0), "median_s": lat.get("p50"),
                    "p95_s": lat.get("p95"), "errors": s["errors"], "ratio_to_bare": ratio})
    return {"single": out, "think": think, "duration": duration}


def soak_scenario(args, work: Path) -> dict:
    seconds = args.soak
    servers: list[Server] = []
    try:
        server = start_app(args.replicas)
        servers.append(server)
        prepare(server, args)
        load = load_average()
        print(f"soak: {args.sessions} sessions, think {args.think:g} s, {seconds:g} s, mix "
              f"{CLASS_MIX}; load average {load}", flush=True)
        data = run_stload(server, args, sessions=args.sessions, think=args.think,
                          duration=seconds, mix=CLASS_MIX, json_path=work / "soak.json")
        tracebacks = server.log.read_text(errors="replace").count("Traceback")
    finally:
        for server in servers:
            server.stop()
    samples = [s for s in data["server_samples"] if s.get("rss_tree_mb") and s["t"] >= 0]
    records = [r for r in data["records"] if r.get("t") is not None and r.get("latency") is not None]
    print(f"\n{'t s':>6}{'RSS MB':>9}{'CPU %':>8}{'reruns':>8}{'p50 s':>8}   (every {SOAK_STEP_S:g} s)")
    timeline = []
    t = 0.0
    while t < seconds:
        window = [s for s in samples if t <= s["t"] < t + SOAK_STEP_S]
        runs = sorted(r["latency"] for r in records if t <= r["t"] < t + SOAK_STEP_S
                      and not r["errors"])
        if window:
            cpu = [s["cpu_pct"] for s in window if "cpu_pct" in s]
            point = {"t": round(min(t + SOAK_STEP_S, seconds)), "rss_mb": window[-1]["rss_tree_mb"],
                     "cpu_pct": round(statistics.fmean(cpu), 1) if cpu else None,
                     "reruns": len(runs), "p50": round(statistics.median(runs), 3) if runs else None}
            timeline.append(point)
            print(f"{point['t']:>6}{point['rss_mb']:>9.0f}{_fmt(point['cpu_pct'], '.0f'):>8}"
                  f"{point['reruns']:>8}{_fmt(point['p50'], '.3f'):>8}")
        t += SOAK_STEP_S
    half = seconds / 2
    first = [s["rss_tree_mb"] for s in samples if s["t"] < half]
    last = [(s["t"], s["rss_tree_mb"]) for s in samples if s["t"] >= half]
    verdict: dict = {"tracebacks_in_log": tracebacks, "summary": data["summary"],
                     "timeline": timeline}
    if first and len(last) >= 2:
        first_max, last_max = max(first), max(v for _, v in last)
        ts, vs = [t for t, _ in last], [v for _, v in last]
        mt, mv = statistics.fmean(ts), statistics.fmean(vs)
        var = sum((x - mt) ** 2 for x in ts)
        slope = 60 * sum((x - mt) * (y - mv) for x, y in zip(ts, vs, strict=True)) / var if var else 0.0
        growth = last_max - first_max
        flat = growth <= max(25.0, 0.02 * first_max)
        verdict.update(first_half_max_mb=first_max, last_half_max_mb=last_max,
                       growth_mb=round(growth, 1), last_half_slope_mb_per_min=round(slope, 2),
                       flat=flat)
        print(f"\nRSS max: first half {first_max:.0f} MB, last half {last_max:.0f} MB "
              f"({growth:+.0f} MB); slope over the last half {slope:+.1f} MB/min")
        print("memory after the warm-up: " + ("flat" if flat else "GROWING") +
              " (flat: the last half's peak within max(25 MB, 2 %) of the first half's)")
    s = data["summary"]
    print(f"reruns {s['reruns_ok']} ok, {s['reruns_failed']} failed, {s['reruns_per_s']:.2f}/s; "
          "errors " + (", ".join(f"{k}={v}" for k, v in sorted(s["errors"].items())) or "none")
          + f"; tracebacks in the server log: {tracebacks}")
    return {"soak": {k: v for k, v in verdict.items() if k != "summary"},
            "soak_summary": s}


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--sessions", type=int, default=50, help="simulated students (default 50)")
    ap.add_argument("--think", type=float, default=None,
                    help="mean think time between clicks, s (default 5; --single: 0.5)")
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds of load per scenario (default 120; --single: 20 per page)")
    ap.add_argument("--replicas", type=int, default=None,
                    help="serve the app with deploy/serve.sh: N replicas behind HAProxy "
                         "(default: one `python -m explorer.ui.serve`)")
    ap.add_argument("--skip-baseline", action="store_true", help="do not run the bare app")
    ap.add_argument("--single", action="store_true",
                    help="one session per page: median rerun and its ratio to the bare app")
    ap.add_argument("--soak", type=float, metavar="SECONDS",
                    help="the class scenario for this long: RSS every 30 s, is memory flat?")
    ap.add_argument("--no-warmup-wait", action="store_true",
                    help="start the load as soon as the server is healthy")
    ap.add_argument("--models", help="networks of the Pretrained page (stload --models; default: "
                                     "stload's default,resnet18,vgg16)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="stload's timeout per rerun, s (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="stload's random seed (default 1)")
    ap.add_argument("--verbose", action="store_true", help="show stload's own reports")
    ap.add_argument("--json", metavar="OUT", help="write the results here as JSON")
    args = ap.parse_args(argv)
    args.duration_given, args.think_given = args.duration is not None, args.think is not None
    args.duration = 120.0 if args.duration is None else args.duration
    args.think = 5.0 if args.think is None else args.think
    if args.replicas is not None and args.replicas < 1:
        ap.error("--replicas must be at least 1")
    if args.sessions < 1 or args.duration <= 0 or (args.soak is not None and args.soak <= 0):
        ap.error("need --sessions >= 1 and positive durations")
    if args.single and args.soak:
        ap.error("--single and --soak are separate runs")

    signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: the finally blocks stop the servers
    print(f"machine: {os.cpu_count()} CPUs; load average {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="class-load-results-") as tmp:
        work = Path(tmp)
        if args.single:
            results = single_scenario(args, work)
        elif args.soak:
            results = soak_scenario(args, work)
        else:
            results = class_scenario(args, work)
    if args.json:
        config = {k: v for k, v in vars(args).items() if not k.endswith("_given")}
        results = {"tool": "benchmarks/class_load.py", "config": config,
                   "machine": {"cpus": os.cpu_count()}, **results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
