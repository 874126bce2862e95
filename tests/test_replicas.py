"""Several replicas behind HAProxy, started by deploy/serve.sh as a teacher would start them.

Checks that the deployment files are valid, that every request of a browser tab (websocket,
/media images, a training run) reaches the replica that holds its session, that new tabs are
spread over both replicas, and that stopping serve.sh stops every process it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from explorer.catalogue import PAGES
from tests.conftest import ROOT, browser_required, free_port
from tests.test_browser import APP_IDLE, MAIN, TIMEOUT_MS, _bad_response, assert_no_error, wait_idle

DEPLOY = ROOT / "deploy"
REPLICAS = 2
STARTUP_CAP = 180.0  # seconds; only guards against a hang, the wait ends when the balancer is up
COOKIE = "SERVERID"  # HAProxy's sticky cookie (deploy/haproxy.cfg)


def haproxy_path() -> str | None:
    candidate = os.environ.get("HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
    return candidate if Path(candidate).exists() else None


@pytest.fixture(scope="module")
def haproxy() -> str:
    """The haproxy program; as with Chromium, a missing one fails in CI instead of skipping."""
    path = haproxy_path()
    if path is None:
        message = "HAProxy not found (apt-get install haproxy, or set HAPROXY=/path)"
        if browser_required():
            pytest.fail(message + "; replica tests may not be skipped in CI")
        pytest.skip(message)
    return path


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int) -> int:
    """A first port such that it and the next count - 1 are free (serve.sh uses consecutive ones)."""
    for _ in range(100):
        base = free_port()
        if base + count < 65536 and all(port_is_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def get(url: str, cookie: str | None = None) -> tuple[int, dict[str, list[str]], bytes]:
    """Status, headers (lower-case names, every value) and body of a GET without a cookie jar."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        headers: dict[str, list[str]] = {}
        for name, value in response.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        return response.status, headers, response.read()


def sticky_value(headers: dict[str, list[str]]) -> str | None:
    """The replica HAProxy pinned this response to (its Set-Cookie: SERVERID=...), if it set one."""
    for value in headers.get("set-cookie", []):
        if value.startswith(COOKIE + "="):
            return value.split(";")[0].split("=", 1)[1]
    return None


def metrics(replica_url: str) -> dict[str, float]:
    """A replica's own /_stcore/metrics (asked directly, not through the balancer)."""
    _, _, body = get(replica_url + "/_stcore/metrics")
    found = {}
    for line in body.decode().splitlines():
        match = re.fullmatch(r'(\w+(?:\{type="\w+"\})?) ([0-9.e+-]+)', line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


@dataclass
class Cluster:
    url: str  # the balancer
    replica_urls: list[str]  # replica i+1 is cookie value f"r{i+1}"
    run_dir: Path
    process: subprocess.Popen  # deploy/serve.sh, leader of its own process group
    log: Path

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")


def wait_serving(cluster: Cluster) -> None:
    """Poll the balancer's health check until it answers "ok" or serve.sh has died."""
    start = time.monotonic()
    while time.monotonic() - start < STARTUP_CAP:
        if cluster.process.poll() is not None:
            raise RuntimeError(f"serve.sh exited with {cluster.process.returncode}:\n"
                               + cluster.server_log())
        try:
            if get(cluster.url + "/_stcore/health")[2] == b"ok":
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"not serving after {STARTUP_CAP} s:\n{cluster.server_log()}")


def group_size(group: int) -> int:
    """How many processes are left in a process group (serve.sh's replicas, HAProxy...)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += os.getpgid(int(entry.name)) == group
    return count


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    """Stop serve.sh the way a user does: its trap stops the replicas and HAProxy. Waits as
    long as the group keeps shrinking (a busy machine is slow to stop three servers); 30 s
    without a process ending is a hang."""
    if process.poll() is None:
        process.send_signal(sig)
        left = group_size(process.pid)
        while True:
            try:
                process.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                now = group_size(process.pid)
                if now >= left:
                    break
                left = now
    return process.poll()


def kill_leftovers(process: subprocess.Popen) -> None:
    """Kill whatever of serve.sh's process group is left, so nothing outlives the tests even if
    its trap failed."""
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone: the normal case
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def cluster(haproxy: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run_dir = tmp_path_factory.mktemp("replicas")
    base_port = free_port_range(REPLICAS)
    port = free_port()
    while base_port <= port < base_port + REPLICAS:
        port = free_port()
    streamlit = Path(sys.executable).parent / "streamlit"  # this interpreter's streamlit
    env = {
        **os.environ,
        "REPLICAS": str(REPLICAS), "PORT": str(port), "BASE_PORT": str(base_port),
        "BIND_ADDRESS": "127.0.0.1", "RUN_DIR": str(run_dir), "HAPROXY": haproxy,
        # the secret is generated into a file of the test, not into the repository
        "COOKIE_SECRET_FILE": str(run_dir / "cookie-secret"),
    }
    env.pop("STREAMLIT_SERVER_COOKIE_SECRET", None)
    if streamlit.exists():
        env["STREAMLIT"] = str(streamlit)
    log = run_dir / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["bash", str(DEPLOY / "serve.sh")], cwd=ROOT, env=env,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            # A shell cannot trap a signal it was started ignoring, and a run launched in the
            # background (`make test &`) ignores SIGINT: give serve.sh Ctrl-C back.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    cluster = Cluster(
        url=f"http://127.0.0.1:{port}",
        replica_urls=[f"http://127.0.0.1:{base_port + i}" for i in range(REPLICAS)],
        run_dir=run_dir, process=process, log=log,
    )
    try:
        wait_serving(cluster)
        yield cluster
    finally:
        stop(process)
        kill_leftovers(process)
        print(cluster.server_log())  # shown by pytest only when a test failed


# ---------------------------------------------------------------- the deployment files


def test_haproxy_config_is_valid_for_serve_sh_and_compose(haproxy: str):
    for extra in ({}, {"EXPLORER_DNS_SERVICE": "app:8501"}):  # serve.sh's mode, compose's mode
        result = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                                env={**os.environ, **extra}, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Configuration file is valid" in result.stdout + result.stderr


def test_deploy_files_agree_on_health_check_and_stickiness():
    """Text checks that need no YAML parser: the same health path and sticky cookie everywhere."""
    haproxy_cfg = (DEPLOY / "haproxy.cfg").read_text()
    kubernetes = (DEPLOY / "kubernetes.yaml").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for text in (haproxy_cfg, kubernetes, dockerfile):
        assert "/_stcore/health" in text
    assert f"cookie {COOKIE} insert indirect nocache" in haproxy_cfg
    assert "timeout tunnel 1h" in haproxy_cfg
    assert 'nginx.ingress.kubernetes.io/affinity: "cookie"' in kubernetes
    assert "sessionAffinity: ClientIP" in kubernetes
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in compose and "./haproxy.cfg:" in compose
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in kubernetes
    # the generated secret must never reach git or an image
    assert "deploy/.cookie-secret" in (ROOT / ".gitignore").read_text().split()
    assert "deploy/.cookie-secret" in (ROOT / ".dockerignore").read_text().split()
    assert subprocess.run(["bash", "-n", str(DEPLOY / "serve.sh")]).returncode == 0


def test_compose_and_kubernetes_yaml_parse_if_pyyaml_is_installed():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: YAML not parsed "
                               "(the text checks above still run)")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "haproxy", "ray-head", "ray-worker", "ray-gpu-worker"}
    # the replicas train on the Ray head's cluster, all with the same token
    assert services["app"]["environment"]["EXPLORER_RAY_ADDRESS"] == "ray-head:6379"
    assert "--port=6379" in services["ray-head"]["command"]
    for worker in ("ray-worker", "ray-gpu-worker"):
        assert "--address=ray-head:6379" in services[worker]["command"]
    for name in ("app", "ray-head", "ray-worker", "ray-gpu-worker"):
        assert services[name]["environment"]["RAY_AUTH_MODE"] == "token"
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    kinds = {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}
    assert set(kinds) == {("Deployment", "cnn-explorer"), ("Service", "cnn-explorer"),
                          ("Ingress", "cnn-explorer"), ("Deployment", "cnn-explorer-ray-head"),
                          ("Service", "cnn-explorer-ray-head"),
                          ("Deployment", "cnn-explorer-ray-worker"),
                          ("Deployment", "cnn-explorer-ray-gpu-worker")}
    container = kinds["Deployment", "cnn-explorer"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/_stcore/health"
    env = {item["name"]: item for item in container["env"]}
    assert env["EXPLORER_RAY_ADDRESS"]["value"] == "cnn-explorer-ray-head:6379"
    for name in ("cnn-explorer-ray-worker", "cnn-explorer-ray-gpu-worker"):
        worker = kinds["Deployment", name]["spec"]["template"]["spec"]["containers"][0]
        assert "--address=cnn-explorer-ray-head:6379" in worker["command"]
    assert kinds["Service", "cnn-explorer"]["spec"]["sessionAffinity"] == "ClientIP"


# ---------------------------------------------------------------- plain HTTP through the balancer


def test_health_page_shell_and_sticky_cookie_through_the_balancer(cluster: Cluster):
    status, headers, body = get(cluster.url + "/_stcore/health")
    assert (status, body) == (200, b"ok")
    server = sticky_value(headers)
    assert server in {f"r{i + 1}" for i in range(REPLICAS)}, headers

    status, headers, body = get(cluster.url + "/")
    assert status == 200 and b'<div id="root">' in body  # Streamlit's page shell
    assert sticky_value(headers) is not None

    # A tab that already has the cookie keeps it: HAProxy sets no new one (it is valid and its
    # replica is up) and, being `indirect`, does not pass it on to Streamlit.
    for _ in range(4):
        _, headers, _ = get(cluster.url + "/_stcore/health", cookie=f"{COOKIE}={server}")
        assert sticky_value(headers) is None

    # New visitors are spread: keep asking without a cookie until both replicas have answered.
    seen = set()
    for _ in range(20):
        seen.add(sticky_value(get(cluster.url + "/_stcore/health")[1]))
        if len(seen) == REPLICAS:
            break
    assert seen == {f"r{i + 1}" for i in range(REPLICAS)}

    generated = (cluster.run_dir / "haproxy.cfg").read_text()
    assert generated.count("\n    server r") == REPLICAS
    secret = cluster.run_dir / "cookie-secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text()) == 64


# ---------------------------------------------------------------- real browsers through the balancer


def new_tab(browser):
    """A fresh browser context (its own cookies: a new student) with error and /media listeners."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    tab = context.new_page()
    tab.console_errors = []
    tab.media = []  # (status, url) of every /media/... response: images made by this session
    tab.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load")
           and tab.console_errors.append(m.text))
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    tab.on("response", lambda r: _bad_response(r) and tab.console_errors.append(
        f"HTTP {r.status} {r.url}"))
    tab.on("response", lambda r: urlparse(r.url).path.startswith("/media/")
           and tab.media.append((r.status, r.url)))
    tab.on("requestfailed", lambda r: tab.console_errors.append(
        f"request failed: {r.url} ({r.failure})"))
    return tab


def server_of(tab) -> str:
    """The replica this tab is pinned to (its SERVERID cookie)."""
    values = [c["value"] for c in tab.context.cookies() if c["name"] == COOKIE]
    assert values, f"no {COOKIE} cookie: the balancer does not pin tabs to replicas"
    return values[0]


def assert_images_loaded(tab) -> None:
    """Every image in the main area has loaded (a /media URL served by another replica is a 404
    and a broken image)."""
    images = f"{MAIN} img"
    assert tab.locator(images).count() > 0
    tab.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=images,
        timeout=TIMEOUT_MS)
    widths = tab.eval_on_selector_all(images, "els => els.map(e => e.naturalWidth)")
    assert all(width > 0 for width in widths), widths
    assert tab.media and all(status == 200 for status, _ in tab.media), tab.media


@pytest.mark.browser
def test_two_students_each_on_their_own_replica_with_their_images(browser, cluster: Cluster):
    convolution = next(p for p in PAGES if p.key == "convolution")
    tabs = []
    try:
        for _ in range(2):  # the second tab opens while the first holds its websocket
            tab = new_tab(browser)
            tabs.append(tab)
            tab.goto(cluster.url)
            wait_idle(tab, "CNN Explorer")
            assert_images_loaded(tab)
            assert_no_error(tab)
            # the same session moves to a page with images (sidebar link, no reload)
            tab.media.clear()
            tab.locator('[data-testid="stSidebarNav"] a', has_text=convolution.title).first.click()
            wait_idle(tab, convolution.title)
            assert_images_loaded(tab)
            assert_no_error(tab)

        # leastconn: the second student went to the replica without an open tab, so the
        # balancing is real, and each replica itself reports a live session
        assert sorted(server_of(tab) for tab in tabs) == ["r1", "r2"]
        for replica_url in cluster.replica_urls:
            counts = metrics(replica_url)
            assert counts["active_sessions"] >= 1, (replica_url, counts)
            assert counts['session_events_total{type="connect"}'] >= 1, (replica_url, counts)
    finally:
        for tab in tabs:
            tab.context.close()


@pytest.mark.browser
def test_a_training_run_survives_a_reload_through_the_balancer(browser, cluster: Cluster):
    tab = new_tab(browser)
    try:
        tab.goto(f"{cluster.url}/train?epochs=30")  # long enough to be running after the reload
        wait_idle(tab, "Train a CNN")
        tab.get_by_role("button", name="Start").click()
        tab.locator(MAIN, has_text="images/s").first.wait_for(timeout=TIMEOUT_MS)
        tab.wait_for_url(lambda url: "job=" in url, timeout=TIMEOUT_MS)
        job = parse_qs(urlparse(tab.url).query)["job"][0]
        server = server_of(tab)

        assert_no_error(tab)

        # A reload is a new Streamlit session: only the replica that runs the job knows it.
        tab.reload()
        # requests of the old document still in flight were aborted by the reload: not errors
        tab.console_errors.clear()
        wait_idle(tab, "Train a CNN")
        tab.locator(MAIN, has_text="images/s").first.wait_for(timeout=TIMEOUT_MS)
        tab.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
        assert parse_qs(urlparse(tab.url).query)["job"] == [job]
        assert server_of(tab) == server
        assert "Press Start" not in tab.locator(MAIN).inner_text()
        assert_no_error(tab)

        tab.get_by_role("button", name="Stop").click()
        tab.locator(MAIN, has_text="Stopped").first.wait_for(timeout=TIMEOUT_MS)
        assert_no_error(tab)
    finally:
        tab.context.close()


# ---------------------------------------------------------------- stopping (runs last)


def test_ctrl_c_stops_every_replica_and_haproxy(cluster: Cluster):
    assert stop(cluster.process, signal.SIGINT) == 0, cluster.server_log()
    with pytest.raises(ProcessLookupError):
        os.killpg(cluster.process.pid, 0)  # nothing of serve.sh's process group is left
    for url in [cluster.url, *cluster.replica_urls]:
        with pytest.raises(OSError):
            get(url + "/_stcore/health")
