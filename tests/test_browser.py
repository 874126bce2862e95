"""Real-browser tests: the served app in headless Chromium, every page reached through the sidebar."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from explorer.catalogue import PAGES
from tests.conftest import BROWSER_TIMEOUT_MS, ROOT, free_port

pytestmark = pytest.mark.browser

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MAIN = '[data-testid="stMain"]'
# No wait here is a time budget: a busy machine is slow, not wrong. Page loads fail only after
# TIMEOUT_MS (a hang guard, minutes beyond the slowest load seen at load 10); waits on a run
# fail only when its status line has not changed for STALL_SECONDS.
TIMEOUT_MS = BROWSER_TIMEOUT_MS
STALL_SECONDS = float(os.environ.get("EXPLORER_TEST_STALL_S", "300"))
POLL_MS = 1_000
# Small settings: 2,000 training images, eight steps to the first evaluation.
TRAIN = "/train?dataset=shapes-small"


# Opened at /<page>, Streamlit's frontend first looks for its server under that path (404),
# then at the root: these two probes are expected.
BASE_PATH_PROBES = ("/_stcore/health", "/_stcore/host-config")


def _bad_response(response) -> bool:
    path = urlparse(response.url).path
    probe = path.endswith(BASE_PATH_PROBES) and path not in BASE_PATH_PROBES
    # A rerun replaces a picture (and Streamlit deletes the old file) while the browser may
    # still be fetching the old one: that 404 is a race, not an error. assert_no_error instead
    # checks that every picture shown in the end has loaded.
    replaced = path.startswith("/media/")
    return response.status >= 400 and not (response.status == 404 and (probe or replaced))


def _expected_console_error(text: str) -> bool:
    # failed loads are judged by the response listeners, which see the URL; a picture that a
    # rerun replaced before the browser fetched it is the /media race described above
    return text.startswith("Failed to load") or (
        text.startswith("Client Error: Image source error") and "/media/" in text)


@pytest.fixture
def page(browser, server_url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda m: m.type == "error" and not _expected_console_error(m.text)
           and tab.console_errors.append(m.text))
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    tab.on("response", lambda r: _bad_response(r) and tab.console_errors.append(
        f"HTTP {r.status} {r.url}"))
    # A request the browser cancelled itself (net::ERR_ABORTED: a reload, or a live view's
    # newer picture replacing one still loading) is no failure of the app; any other is.
    tab.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
           and tab.console_errors.append(f"request failed: {r.url} ({r.failure})"))
    yield tab
    context.close()


# Settled: the script has finished, no element of an older run is still drawn (Streamlit marks
# them data-stale while a run replaces them), no chart is still a loading skeleton (plotly's
# code loads on first use), every picture in the main area has loaded and every visible chart
# has been drawn by plotly (its SVG exists).
SETTLED = f"""() => document.querySelector('{APP_IDLE}') !== null
    && document.querySelector('[data-stale="true"]') === null
    && document.querySelector('[data-testid="stSkeleton"]') === null
    && [...document.querySelectorAll('{MAIN} img')].every(img => img.complete)
    && [...document.querySelectorAll('{MAIN} [data-testid="stPlotlyChart"]')]
        .filter(chart => chart.offsetParent !== null)
        .every(chart => chart.querySelector('.main-svg') !== null)"""


def wait_settled(tab) -> None:
    """Wait (on progress, not on a clock) until the page shows one finished run."""
    tab.wait_for_function(SETTLED, timeout=TIMEOUT_MS, polling=100)


def wait_idle(tab, heading: str) -> None:
    """Wait until the script has finished and the page's title is drawn in the main area."""
    tab.locator(f"{MAIN} h1", has_text=heading).first.wait_for(timeout=TIMEOUT_MS)
    wait_settled(tab)


# true once every picture in the main area has loaded (a broken one has naturalWidth 0)
ALL_IMAGES_LOADED = f"""() => [...document.querySelectorAll('{MAIN} img')]
    .every(img => img.complete && img.naturalWidth > 0)"""


def assert_no_error(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert tab.locator(f'{MAIN} [data-testid="stAlertContentError"]').count() == 0
    assert not tab.console_errors, tab.console_errors
    tab.wait_for_function(ALL_IMAGES_LOADED, timeout=TIMEOUT_MS)


def test_home_then_every_page_through_the_sidebar(page, server_url: str, screenshot_dir: Path):
    page.goto(server_url)
    wait_idle(page, "CNN Explorer")
    assert_no_error(page)
    main_text = page.locator(MAIN).inner_text()
    for info in PAGES:
        assert info.summary in main_text
    assert page.locator(f'{MAIN} [data-testid="stImage"] img').count() == len(PAGES)
    page.screenshot(path=screenshot_dir / "home.png")

    for info in PAGES:
        page.locator('[data-testid="stSidebarNav"] a', has_text=info.title).first.click()
        wait_idle(page, info.title)
        assert_no_error(page)
        assert urlparse(page.url).path == "/" + info.key
        assert len(page.locator(MAIN).inner_text()) > 200
        page.screenshot(path=screenshot_dir / f"{info.key}.png")


def test_bad_upload_shows_a_message_and_the_page_keeps_working(
    page, server_url: str, tmp_path: Path
):
    page.goto(f"{server_url}/convolution")
    wait_idle(page, "Convolution")
    page.locator('[data-testid="stSidebar"] label', has_text="Upload").first.click()
    # the run that draws the uploader has ended: upload into the final one (no fixed wait)
    page.wait_for_function(
        f"""() => !!document.querySelector('{APP_IDLE}')
            && !!document.querySelector('[data-testid="stFileUploaderDropzoneInput"]')""",
        timeout=TIMEOUT_MS)
    bad = tmp_path / "homework.png"
    bad.write_bytes(b"this is not a picture")
    page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(bad))
    page.locator('[data-testid="stAlertContentError"]', has_text="not an image").first.wait_for(
        timeout=TIMEOUT_MS
    )
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Input: Cameraman" in page.locator(MAIN).inner_text()


def test_painting_the_kernel_grid_with_the_mouse(page, server_url: str, screenshot_dir: Path):
    page.goto(f"{server_url}/convolution?from=grid&image=pattern&pattern=impulse&size=16")
    wait_idle(page, "Convolution")
    assert "sum 0" in page.locator(MAIN).inner_text()  # the grid starts as Sobel x
    cells = page.locator(".kernel-paint td")
    cells.nth(8).wait_for(timeout=TIMEOUT_MS)  # the component draws after the script has run
    assert cells.count() == 9
    cells.nth(1).click()  # top middle: 0 -> brush value 1, so the sum becomes 1
    page.locator(MAIN, has_text="sum 1").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    assert_no_error(page)
    assert "grid=" in page.url
    page.screenshot(path=screenshot_dir / "convolution-grid.png")


def test_step_through_tab_shows_the_lecture_example(page, server_url: str):
    page.goto(f"{server_url}/convolution")
    wait_idle(page, "Convolution")
    page.get_by_role("tab", name="Step through").click()
    page.get_by_role("button", name="Load the lecture's 5x5 example").click()
    page.locator(MAIN, has_text="= 12").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    assert_no_error(page)
    assert "Output[0, 0] = 3·1 + 2·2" in page.locator(MAIN).inner_text()


def run_status(tab) -> str:
    """The run's status line (state, epoch, step, images/s), or "" before there is one."""
    from playwright.sync_api import Error as PlaywrightError

    bars = tab.locator(f'{MAIN} [data-testid="stProgress"]')
    try:
        return bars.first.inner_text(timeout=POLL_MS) if bars.count() else ""
    except PlaywrightError:  # redrawn between count() and inner_text(): read it next time
        return ""


def wait_while_training(tab, locator, what: str) -> None:
    """Wait for `locator` as long as the run's status line keeps changing (steps, state)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    seen, since = None, time.monotonic()
    while True:
        try:
            locator.first.wait_for(timeout=POLL_MS)
            return
        except PlaywrightTimeout:
            pass
        status = run_status(tab)
        if status != seen:
            seen, since = status, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise AssertionError(f"{what}: no progress for {STALL_SECONDS:.0f} s (status: "
                                 f"{seen!r})")


def button(tab, name: str, *, enabled: bool | None = None):
    """The main area's button called `name` (optionally only while it is enabled)."""
    if enabled is None:
        return tab.locator(MAIN).get_by_role("button", name=name)
    return tab.locator(MAIN).get_by_role("button", name=name, disabled=not enabled)


def test_training_runs_live_in_the_browser(page, server_url: str, screenshot_dir: Path):
    page.goto(f"{server_url}{TRAIN}")
    wait_idle(page, "Train a CNN")
    button(page, "Start").click()
    # the fragment polls the job: progress text, then the first evaluation's confusion matrix
    wait_while_training(page, page.locator(MAIN, has_text="images/s"), "the first steps")
    wait_while_training(page, page.locator(MAIN, has_text="Confusion matrix on"),
                        "the first evaluation")
    assert_no_error(page)
    assert "job=" in page.url and "owner=" in page.url
    owner = dict(part.split("=", 1) for part in urlparse(page.url).query.split("&"))["owner"]
    assert owner not in page.locator(MAIN).inner_text()  # the tab's key is never shown
    page.screenshot(path=screenshot_dir / "train.png")
    button(page, "Stop").click()
    wait_while_training(page, page.locator(MAIN, has_text="Stopped"), "the stop")
    assert_no_error(page)


_SEEDS = itertools.count(100)  # identical runs are shared: each test's run is its own


def start_run(tab, url: str, epochs: int = 30) -> None:
    tab.goto(f"{url}{TRAIN}&epochs={epochs}&seed={next(_SEEDS)}")
    wait_idle(tab, "Train a CNN")
    button(tab, "Start").click()
    wait_while_training(tab, button(tab, "Stop", enabled=True), "the run to start")


def test_a_copied_address_shows_the_run_read_only_in_another_browser(
    page, browser, server_url: str
):
    """Another browser (its own cookies) opening a tab's whole address may look, not stop; the
    tab itself, reloaded, still controls its run."""
    start_run(page, server_url)
    wait_while_training(page, page.locator(MAIN, has_text="images/s"), "the first steps")
    copied = page.url
    other = browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        classmate = other.new_page()
        classmate.goto(copied)
        wait_idle(classmate, "Train a CNN")
        wait_while_training(classmate, classmate.locator(MAIN, has_text="read-only"),
                            "the read-only note")
        assert button(classmate, "Stop").is_disabled()
        assert button(classmate, "Pause").is_disabled()
        assert classmate.locator('[data-testid="stException"]').count() == 0
    finally:
        other.close()
    page.reload()
    wait_idle(page, "Train a CNN")
    wait_while_training(page, button(page, "Stop", enabled=True), "the reloaded tab's controls")
    button(page, "Stop").click()
    wait_while_training(page, page.locator(MAIN, has_text="Stopped"), "the stop")
    assert_no_error(page)


@pytest.fixture(scope="module")
def one_slot_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with one live training run, as a full class server: a second run queues."""
    port = free_port()
    log = tmp_path_factory.mktemp("one-slot") / "streamlit.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "explorer/ui/server_app.py",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "EXPLORER_MAX_JOBS": "1", "EXPLORER_MAX_LIVE_RUNS": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:  # healthy, or the process died: no time budget, a hang guard only
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                assert time.monotonic() - started < TIMEOUT_MS / 1000, "server never healthy"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


def test_a_queued_run_can_be_paused_once_it_leaves_the_queue(page, browser, one_slot_url):
    """The buttons are drawn outside the polling fragment: when the queued run starts, the page
    must redraw them (it used to keep Pause disabled until some other click)."""
    start_run(page, one_slot_url)
    other = browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        second = other.new_page()
        second.goto(f"{one_slot_url}{TRAIN}&epochs=30&seed={next(_SEEDS)}")  # a run of its own
        wait_idle(second, "Train a CNN")
        button(second, "Start").click()
        wait_while_training(second, second.locator(MAIN, has_text="Waiting for a free training"),
                            "the queue")
        assert button(second, "Pause").is_disabled()
        assert not button(second, "Stop").is_disabled()
        button(page, "Stop").click()  # the slot frees; the queued run starts by itself
        wait_while_training(second, button(second, "Pause", enabled=True),
                            "Pause to be enabled once the queued run runs")
        button(second, "Pause").click()
        wait_while_training(second, second.locator(MAIN, has_text="Paused"), "the pause")
        button(second, "Resume").wait_for(timeout=TIMEOUT_MS)
        button(second, "Stop").click()
        wait_while_training(second, second.locator(MAIN, has_text="Stopped"), "the stop")
        assert second.locator('[data-testid="stException"]').count() == 0
    finally:
        other.close()
    assert_no_error(page)


def coloured_png(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 20, (40, 40, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_transfer_learning_from_uploaded_examples(page, server_url: str, tmp_path: Path,
                                                  screenshot_dir: Path):
    """Teachable-Machine style without a camera: name two classes, upload pictures to each,
    train a new head on the default network's frozen features, predict a held-out picture."""
    page.goto(f"{server_url}/transfer?source=examples&per_class=all&epochs=20")
    wait_idle(page, "Transfer learning")
    assert_no_error(page)
    uploaders = page.locator(f'{MAIN} [data-testid="stFileUploaderDropzoneInput"]')
    uploaders.nth(1).wait_for(state="attached", timeout=TIMEOUT_MS)
    for index, colour in enumerate([(220, 30, 30), (30, 30, 220)]):
        files = [coloured_png(tmp_path / f"c{index}_{i}.png", colour, i) for i in range(6)]
        page.locator(f'{MAIN} [data-testid="stFileUploaderDropzoneInput"]').nth(index) \
            .set_input_files([str(f) for f in files])
        page.wait_for_function(  # the class's count, drawn once its pictures are decoded
            "([sel, n]) => document.querySelector(sel).innerText.split('6 examples').length > n",
            arg=[MAIN, index + 1], timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    button(page, "Train", enabled=True).click()
    # the page is idle between two polls of the live view: wait for the run's own word
    wait_while_training(page, page.locator(MAIN, has_text="Frozen features + new head: finished"),
                        "the run to finish")
    page.locator(MAIN, has_text="true class:").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    text = page.locator(MAIN).inner_text()
    assert "Frozen features + new head: finished" in text
    assert "true class: cat" in text or "true class: dog" in text  # the default class names
    assert_no_error(page)
    page.screenshot(path=screenshot_dir / "transfer-examples.png")


def test_drawing_on_the_pad_updates_the_prediction(page, server_url: str, screenshot_dir: Path):
    """Draw a filled disk with the mouse on the Pretrained page: the stroke reaches the server
    and the default network's picture and prediction follow."""
    import math

    page.goto(f"{server_url}/pretrained?image=draw")
    wait_idle(page, "Pretrained networks")
    canvas = page.locator('[data-testid="stSidebar"] canvas').first
    canvas.wait_for(timeout=TIMEOUT_MS)
    assert "0 strokes" in page.locator('[data-testid="stSidebar"]').inner_text()
    before = page.locator(f'{MAIN} [data-testid="stImage"] img').first.get_attribute("src")
    cells = page.locator(f'{MAIN} [data-testid="stDataFrame"] [role="gridcell"]')
    top_before = (cells.nth(0).inner_text(), float(cells.nth(1).inner_text()))
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 5
    page.mouse.move(cx + r, cy)
    page.mouse.down()
    for step in range(1, 41):  # a spiral inwards: a filled disk
        angle, radius = step * 2 * math.pi / 10, r * (1 - step / 45)
        page.mouse.move(cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    page.mouse.up()
    page.locator('[data-testid="stSidebar"]', has_text="1 stroke").first.wait_for(
        timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    after = page.locator(f'{MAIN} [data-testid="stImage"] img').first.get_attribute("src")
    assert after != before  # the network sees the drawing
    # The table's grid redraws after the script has ended, and a table read before the stroke
    # may be stale (CI once read the blank pad's "disk 0.70" after the stroke): wait for the
    # drawing's own prediction, and say what the table showed if it never comes.
    try:
        page.wait_for_function(
            "(sel) => { const c = document.querySelectorAll(sel);"
            " return c.length > 1 && c[0].innerText === 'disk' && parseFloat(c[1].innerText) > 0.9; }",
            arg=f'{MAIN} [data-testid="stDataFrame"] [role="gridcell"]', timeout=TIMEOUT_MS)
    finally:
        top_after = (cells.nth(0).inner_text(), float(cells.nth(1).inner_text()))
    assert top_after[0] == "disk" and top_after[1] > 0.9 and top_after != top_before, top_after
    assert_no_error(page)
    page.screenshot(path=screenshot_dir / "pretrained-draw.png")


def test_a_big_networks_occlusion_map_fills_in_live(page, server_url: str,
                                                    screenshot_dir: Path):
    """ResNet-18's map (49 passes) runs in the background: the tab shows a progress bar while
    the page polls, then the whole map, with no error and the page usable throughout."""
    page.goto(f"{server_url}/pretrained?model=resnet18&tab=Occlusion")
    wait_idle(page, "Pretrained networks")
    progress = page.locator(f"{MAIN} [data-testid='stProgress']")
    page.wait_for_function(  # the fragment polls until the map is whole, then the page redraws
        f"""() => document.querySelectorAll('{MAIN} [data-testid="stProgress"]').length == 0
            && document.querySelector('{MAIN}').innerText.includes("49 positions of a 37")""",
        timeout=TIMEOUT_MS)
    page.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    assert progress.count() == 0
    text = page.locator(MAIN).inner_text()
    assert "red = evidence for" in text and "not measured yet" not in text
    assert_no_error(page)
    page.screenshot(path=screenshot_dir / "occlusion-live-resnet18.png")


def test_deep_networks_page_trains_residual_vs_plain_live(browser, server_url: str,
                                                          screenshot_dir: Path):
    """The Deep networks page at 1280x720 in presenter mode: the gradient figure above the
    fold; then residual vs plain (small: 2 blocks, 100 steps) trains live to the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    tab = context.new_page()
    errors: list[str] = []
    tab.console_errors = errors  # read by assert_no_error
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto(f"{server_url}/deep?present=1&tab=Vanishing+gradients")
        wait_idle(tab, "Deep networks")
        assert_no_error(tab)
        chart = tab.locator(f'{MAIN} [data-testid="stPlotlyChart"]').first
        chart.wait_for(timeout=TIMEOUT_MS)
        assert chart.bounding_box()["y"] <= 720 - 150  # above the fold
        assert "first / last" in tab.locator(MAIN).inner_text()
        tab.screenshot(path=screenshot_dir / "deep-vanishing-1280x720.png")
        tab.goto(f"{server_url}/deep?tab=Residual+vs+plain&blocks=2&csteps=100")
        wait_idle(tab, "Deep networks")
        tab.locator(f"{MAIN} button", has_text="Train the three").first.click()
        tab.wait_for_function(  # the live table polls until all three have finished
            f"""() => (document.querySelector('{MAIN}').innerText.match(/: finished/g) || [])
                .length >= 3""", timeout=TIMEOUT_MS)
        tab.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
        assert_no_error(tab)
        tab.screenshot(path=screenshot_dir / "deep-residual-vs-plain.png")
        assert not errors, errors
    finally:
        context.close()


IMAGE, CHART = "[data-testid='stImage']", "[data-testid='stPlotlyChart']"


@pytest.mark.parametrize("view, expect, element", [
    ("Autoencoder", "Top: test images", IMAGE),
    ("VAE", "Samples: D(z)", IMAGE),
    ("GAN on 2-D points", "clusters", CHART),
    ("GAN on images", "samples of the shipped weights", IMAGE),
    ("Normalizing flow", "Test NLL", CHART),
    ("Diffusion", "Reverse chain of the first sample", IMAGE),
])
def test_generative_views_show_their_sample_grid(page, server_url: str, screenshot_dir: Path,
                                                 view: str, expect: str, element: str):
    """Each generative view loads with its pictures (the shipped weights' samples, or the 2-D
    models' planes) and no error."""
    page.goto(f"{server_url}/generative?tab={view}")
    wait_idle(page, "Generative models")
    page.wait_for_function(  # the view's text, or an error that ends the wait at once
        f"""() => document.querySelector('{MAIN}').innerText.includes({expect!r})
            || document.querySelector('[data-testid="stException"]')""", timeout=TIMEOUT_MS)
    assert_no_error(page)
    page.locator(f"{MAIN} {element}").first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=screenshot_dir / f"generative-{view.lower().replace(' ', '-')}.png")
