"""Real-browser tests: the served app in headless Chromium, every page reached through the sidebar."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from explorer.catalogue import PAGES

pytestmark = pytest.mark.browser

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MAIN = '[data-testid="stMain"]'
TIMEOUT_MS = 90_000


# Opened at /<page>, Streamlit's frontend first looks for its server under that path (404),
# then at the root: these two probes are expected.
BASE_PATH_PROBES = ("/_stcore/health", "/_stcore/host-config")


def _bad_response(response) -> bool:
    path = urlparse(response.url).path
    probe = path.endswith(BASE_PATH_PROBES) and path not in BASE_PATH_PROBES
    return response.status >= 400 and not (response.status == 404 and probe)


@pytest.fixture
def page(browser, server_url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    tab = context.new_page()
    tab.console_errors = []
    # failed loads are judged by the response listeners below, which see the URL
    tab.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load")
           and tab.console_errors.append(m.text))
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    tab.on("response", lambda r: _bad_response(r) and tab.console_errors.append(
        f"HTTP {r.status} {r.url}"))
    tab.on("requestfailed", lambda r: tab.console_errors.append(f"request failed: {r.url}"))
    yield tab
    context.close()


def wait_idle(tab, heading: str) -> None:
    """Wait until the script has finished and the page's title is drawn in the main area."""
    tab.locator(f"{MAIN} h1", has_text=heading).first.wait_for(timeout=TIMEOUT_MS)
    tab.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)
    time.sleep(0.5)  # let images and fonts settle before the screenshot
    tab.wait_for_selector(APP_IDLE, timeout=TIMEOUT_MS)


def assert_no_error(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert tab.locator(f'{MAIN} [data-testid="stAlertContentError"]').count() == 0
    assert not tab.console_errors, tab.console_errors


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
    page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]', state="attached")
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


def test_training_runs_live_in_the_browser(page, server_url: str, screenshot_dir: Path):
    page.goto(f"{server_url}/train")
    wait_idle(page, "Train a CNN")
    page.get_by_role("button", name="Start").click()
    # the fragment polls the job: progress text, then the first evaluation's confusion matrix
    page.locator(MAIN, has_text="images/s").first.wait_for(timeout=TIMEOUT_MS)
    page.locator(MAIN, has_text="Confusion matrix on").first.wait_for(timeout=TIMEOUT_MS)
    assert_no_error(page)
    assert "job=" in page.url and "owner=" in page.url
    page.screenshot(path=screenshot_dir / "train.png")
    page.get_by_role("button", name="Stop").click()
    page.locator(MAIN, has_text="Stopped").first.wait_for(timeout=TIMEOUT_MS)
    assert_no_error(page)
