"""AppTest of the entrypoint, the Home page and every page script, driving the shared image picker."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.catalogue import PAGES

ENTRYPOINT = "../explorer/Home.py"
PICKER_PAGES = {"pretrained": "RGB"}  # pages showing the bare picker


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def open_page(at: AppTest, key: str) -> AppTest:
    page = next(p for p in PAGES if p.key == key)
    at.switch_page(page.script).run()
    assert not at.exception, at.exception
    return at


def test_home_shows_a_card_per_page_and_the_environment(app: AppTest) -> None:
    assert app.title[0].value == "CNN Explorer"
    subheaders = [s.value for s in app.subheader]
    assert sorted(subheaders) == sorted(p.title for p in PAGES)
    assert len(app.get("image")) == len(PAGES)
    text = " ".join(m.value for m in app.markdown)
    for page in PAGES:
        assert page.summary in text
    environment = app.expander[-1]
    assert "Environment" in environment.label
    versions = environment.table[0].value
    assert "numpy" in list(versions["package"])


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_every_page_runs_and_says_what_it_is(app: AppTest, page) -> None:
    open_page(app, page.key)
    assert app.title[0].value == page.title
    if not page.ready:
        assert any("being built" in i.value for i in app.info)


@pytest.mark.parametrize("key,mode", PICKER_PAGES.items())
def test_picker_default_image_has_the_page_mode(app: AppTest, key: str, mode: str) -> None:
    open_page(app, key)
    caption = app.get("image")[0].captions[0]
    shape = eval(caption.removeprefix("shape "))  # "shape (512, 512)"
    assert len(shape) == (2 if mode == "L" else 3)


def test_picker_lecture_pattern_and_size(app: AppTest) -> None:
    open_page(app, "pretrained")
    app.radio(key="keep.pretrained.source").set_value("pattern").run()
    app.selectbox(key="keep.pretrained.pattern").set_value("lecture 5x5").run()
    assert not app.exception
    assert app.subheader[0].value == "Input: Lecture 5x5 example"
    assert app.get("image")[0].captions[0] == "shape (5, 5, 3)"
    app.selectbox(key="keep.pretrained.pattern").set_value("checkerboard").run()
    app.select_slider(key="keep.pretrained.size").set_value(128).run()
    assert app.get("image")[0].captions[0] == "shape (128, 128, 3)"


def test_picker_choice_survives_a_visit_to_another_page(app: AppTest) -> None:
    open_page(app, "convolution")
    app.radio(key="keep.convolution.source").set_value("pattern").run()
    app.selectbox(key="keep.convolution.pattern").set_value("disk").run()
    open_page(app, "train")
    open_page(app, "convolution")
    assert "Input: **Disk**" in " ".join(c.value for c in app.caption)


def test_upload_good_then_bad_keeps_the_good_image(app: AppTest) -> None:
    open_page(app, "pretrained")
    app.radio(key="keep.pretrained.source").set_value("upload").run()
    assert app.subheader[0].value == "Input: Chelsea the cat"  # default until a picture loads
    red = np.zeros((40, 60, 3), np.uint8)
    red[..., 0] = 255
    app.file_uploader(key="pretrained.upload").set_value(("red.png", png_bytes(red), "image/png")).run()
    assert not app.exception
    assert app.subheader[0].value == "Input: red.png"
    assert app.get("image")[0].captions[0] == "shape (40, 60, 3)"

    app.file_uploader(key="pretrained.upload").set_value(("bad.png", b"not an image", "image/png")).run()
    assert not app.exception
    assert any("not an image" in e.value for e in app.error)
    assert app.subheader[0].value == "Input: red.png"
    assert any("last good picture" in c.value for c in app.caption)


def test_bad_first_upload_falls_back_to_the_default(app: AppTest) -> None:
    open_page(app, "pretrained")
    app.radio(key="keep.pretrained.source").set_value("upload").run()
    truncated = png_bytes(np.zeros((64, 64), np.uint8))[:60]
    app.file_uploader(key="pretrained.upload").set_value(("cut.png", truncated, "image/png")).run()
    assert not app.exception
    assert any("damaged or incomplete" in e.value for e in app.error)
    assert app.subheader[0].value == "Input: Chelsea the cat"


def test_big_upload_is_downscaled_with_a_note(app: AppTest) -> None:
    open_page(app, "pretrained")
    app.radio(key="keep.pretrained.source").set_value("upload").run()
    big = np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    app.file_uploader(key="pretrained.upload").set_value(("big.png", png_bytes(big), "image/png")).run()
    assert not app.exception
    assert app.get("image")[0].captions[0] == "shape (768, 1024, 3)"
    assert any("Downscaled" in c.value for c in app.caption)
