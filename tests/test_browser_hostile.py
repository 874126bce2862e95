"""Hostile files through the real server and a real browser: every one gets a message, the page
goes on, and the server log holds no traceback (also from every browser test before this one)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_browser import (  # noqa: F401 - the page fixture
    APP_IDLE,
    MAIN,
    TIMEOUT_MS,
    page,
    wait_idle,
)
from tests.test_hostile_images import EPS, REFUSED_FORMATS, float_tiff, zip_of
from tests.test_hostile_weights import HOSTILE as HOSTILE_WEIGHTS

pytestmark = pytest.mark.browser


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def hostile_pictures() -> dict[str, bytes]:
    """name -> file body: refused formats, fakes, damage, strips, bombs, NaN and inf."""
    rng = np.random.default_rng(0)
    good = _png(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    inf = np.ones((8, 8), dtype=np.float32)
    inf[2, 2] = np.inf
    giant = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(giant, format="PNG")  # 900 Mpx, 100 KB: a bomb
    cases = {f"{name}.png": make() for name, (make, _) in list(REFUSED_FORMATS.items())[:8]}
    cases.update({
        "postscript.png": EPS,
        "text.jpg": b"this is not a picture at all",
        "empty.png": b"",
        "truncated.png": good[: len(good) // 2],
        "strip.png": _png(np.zeros((1, 5000), dtype=np.uint8)),
        "bomb.png": giant.getvalue(),
        "inf.tiff": float_tiff(inf),
        "nan.tiff": float_tiff(np.full((8, 8), np.nan, dtype=np.float32)),
    })
    return cases


ERRORS = '[data-testid="stAlertContentError"]'
# The server has answered: the app is idle and the page shows (or no longer shows) an error.
ANSWERED = f"""([want]) => !!document.querySelector('{APP_IDLE}')
    && (document.querySelectorAll('{ERRORS}').length > 0) === want"""


def _upload(tab, path: Path) -> None:
    """Upload `path` in place of the file before it and wait for the server's answer, on
    progress: removing the last file clears its error, then this file's run shows one. (A
    fixed wait instead raced the rerun on a busy machine: the check saw the page before it.)"""
    delete = tab.locator('[data-testid="stFileChipDeleteBtn"] button')
    if delete.count():
        delete.first.click()
        tab.wait_for_function(ANSWERED, arg=[False], timeout=TIMEOUT_MS)
    tab.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
    tab.wait_for_function(ANSWERED, arg=[True], timeout=TIMEOUT_MS)


def _assert_page_goes_on(tab, name: str) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, name
    assert tab.locator(f"{MAIN} h1").count() >= 1, name


def test_hostile_files_through_the_real_server_leave_no_traceback(page, server_url: str,  # noqa: F811
                                                                   server_log: Path,
                                                                   tmp_path: Path) -> None:
    # pictures on the Convolution page (its uploader decodes with the allow-list)
    page.goto(f"{server_url}/convolution?image=upload")
    wait_idle(page, "Convolution")
    page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]', state="attached",
                           timeout=TIMEOUT_MS)
    for name, body in hostile_pictures().items():
        path = tmp_path / name
        path.write_bytes(body)
        _upload(page, path)
        _assert_page_goes_on(page, name)
        errors = page.locator(f'[data-testid="stSidebar"] [data-testid="stAlertContentError"], '
                              f'{MAIN} [data-testid="stAlertContentError"]')
        assert errors.count() >= 1, f"{name}: no message"
    # weights on the Pretrained page (the default network's uploader)
    page.goto(f"{server_url}/pretrained?model=default")
    wait_idle(page, "Pretrained networks")
    for kind in ("os_system_zip", "os_system_pickle", "bomb_fitting_shapes", "nan_and_inf",
                 "truncated_zip", "png_named_pth"):
        path = tmp_path / f"{kind}.pt"
        path.write_bytes(HOSTILE_WEIGHTS[kind][0]())
        _upload(page, path)
        _assert_page_goes_on(page, kind)
        assert page.locator('[data-testid="stAlertContentError"]').count() >= 1, kind
    # a training zip with a refused format, a damaged member and a path out of the zip
    page.goto(f"{server_url}/train?dataset=zip")
    wait_idle(page, "Train a CNN")
    good = _png(np.zeros((8, 8, 3), dtype=np.uint8))
    archive = zip_of({"a/1.png": good, "a/2.png": good, "b/1.png": good, "b/ps.png": EPS,
                      "../../escape.png": good, "b/broken.png": good[:20]})
    path = tmp_path / "hostile.zip"
    path.write_bytes(archive)
    _upload(page, path)  # refused: a path leaves its folder
    _assert_page_goes_on(page, "hostile.zip")

    log = server_log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 200:][:3000]
