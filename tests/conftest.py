"""Shared fixtures: a live Streamlit server on a free loopback port and headless Chromium."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.components.v2 import manifest_scanner

# Every new AppTest scans each installed distribution's metadata for Streamlit components (a fifth
# of a short AppTest's time with torch, Ray and their dependencies installed); the installed
# packages do not change during a test run, so the scan is done once.
manifest_scanner.scan_component_manifests = functools.cache(
    manifest_scanner.scan_component_manifests)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# No browser wait is a time budget: a busy machine is slow, not wrong. Every wait (a page load, a
# locator, a screenshot) fails only after this long, a hang guard minutes beyond the slowest seen.
BROWSER_TIMEOUT_MS = 600_000


def browser_required() -> bool:
    """In CI a missing browser is a failure, never a skip."""
    return bool(os.environ.get("CI") or os.environ.get("EXPLORER_REQUIRE_BROWSER"))


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 600.0) -> None:
    """Wait while the server process lives and is not yet healthy. A server that exits fails at
    once; `timeout` is only a hang guard (a busy machine starts slowly, it is not broken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The browser tests' server writes everything it prints here."""
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="session")
def server_url(server_log: Path) -> Iterator[str]:
    """`streamlit run explorer/ui/server_app.py` from the repository root: the app as `make run`
    serves it (the ASGI app with the deep-address redirect), without the warm-up."""
    port = free_port()
    log = server_log
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "explorer/ui/server_app.py",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode not in (0, -15):
            print(log.read_text(errors="replace"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        message = "Chromium not found (apt-get install chromium, or set CHROMIUM=/path)"
        if browser_required():
            pytest.fail(message + "; browser tests may not be skipped in CI")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if browser_required():
            pytest.fail("playwright is not installed; browser tests may not be skipped in CI")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield PatientBrowser(chromium)
        chromium.close()


class PatientBrowser:
    """The launched browser, whose every new context waits BROWSER_TIMEOUT_MS rather than
    playwright's 30 s default (a screenshot of a big page on a busy CI machine took longer)."""

    def __init__(self, browser: object) -> None:
        self._browser = browser

    def new_context(self, **options: object) -> object:
        context = self._browser.new_context(**options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        return context

    def __getattr__(self, name: str) -> object:
        return getattr(self._browser, name)


@pytest.fixture
def screenshot_dir() -> Path:
    """Screenshots go to tests/artifacts/ unless EXPLORER_SCREENSHOTS names another folder."""
    directory = Path(os.environ.get("EXPLORER_SCREENSHOTS", ROOT / "tests" / "artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory
