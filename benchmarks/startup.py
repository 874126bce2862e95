"""Cold start to Home's first paint in Chromium, beside a bare Streamlit app, and import times."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM_ARGS, chromium_path, free_port, wait_healthy  # noqa: E402

MODULES = [
    "explorer.catalogue", "explorer.lecture.reference", "explorer.environment", "explorer.images.pictures",
    "explorer.images.gallery", "explorer.convolution.conv", "explorer.convolution.kernels",
]
BASELINES = ["streamlit", "torch"]
HELLO = 'import streamlit as st\nst.title("Hello")\n'


def import_seconds(module: str, repeats: int) -> float:
    """Median wall time of `import module` in a fresh interpreter (cold modules, warm disk)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = []
    for _ in range(repeats):
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            return float("nan")
        runs.append(float(result.stdout.strip()))
    return statistics.median(runs)


def cold_start(script: Path, heading: str, images: int) -> tuple[float, float, float]:
    """Seconds from process start to: health OK, title painted, `images` images painted."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        healthy = time.perf_counter() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            tab = browser.new_page()
            opened = time.perf_counter()
            tab.goto(url)
            tab.locator('[data-testid="stMain"] h1', has_text=heading).first.wait_for(timeout=60_000)
            painted = time.perf_counter() - opened
            if images:
                tab.wait_for_function(
                    "n => [...document.querySelectorAll('[data-testid=\"stMain\"] img')]"
                    ".filter(i => i.complete && i.naturalWidth > 0).length >= n",
                    arg=images, timeout=60_000,
                )
            complete = time.perf_counter() - opened
            browser.close()
        return healthy, painted, complete
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"Import time, fresh interpreter, median of {args.repeats} (ms)")
    for module in MODULES + BASELINES:
        tag = "  (baseline)" if module in BASELINES else ""
        print(f"  {module:24s} {import_seconds(module, args.repeats) * 1000:8.0f}{tag}")

    if chromium_path() is None:
        print("Chromium not found: cold-start figures skipped (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory() as folder:
        hello = Path(folder) / "hello.py"
        hello.write_text(HELLO)
        cases = {
            "bare Streamlit (baseline)": (hello, "Hello", 0),
            "CNN Explorer Home": (ROOT / "explorer" / "Home.py", "CNN Explorer", 4),
        }
        results = {}
        for name, (script, heading, images) in cases.items():
            runs = [cold_start(script, heading, images) for _ in range(args.repeats)]
            results[name] = [statistics.median(column) for column in zip(*runs, strict=True)]

    print(f"\nCold server start, median of {args.repeats} (s): process start -> health OK; "
          "page open -> title painted -> all card images painted")
    print(f"  {'':28s} {'health':>8s} {'title':>8s} {'images':>8s}")
    for name, (healthy, painted, complete) in results.items():
        print(f"  {name:28s} {healthy:8.2f} {painted:8.2f} {complete:8.2f}")
    base, home = results["bare Streamlit (baseline)"], results["CNN Explorer Home"]
    print(f"  ratio Home / bare: title {home[1] / base[1]:.2f}x, "
          f"first paint {home[1]:.2f} s (target <= 2 s: {'PASS' if home[1] <= 2 else 'MISS'})")


if __name__ == "__main__":
    main()
