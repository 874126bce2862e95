"""AppTest of the entrypoint, the Home page and every page script, driving the shared image picker."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.catalogue import PAGES

ENTRYPOINT = "../explorer/Home.py"


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


def picker_script() -> None:
    """A bare page with the shared picker, for testing it alone."""
    import streamlit as st

    from explorer.ui.image_picker import image_picker
    from explorer.ui.state import keep_widget_state, write_url

    keep_widget_state()
    mode = st.session_state.get("mode", "RGB")
    picked = image_picker("harness", mode=mode, default="chelsea")
    st.subheader(f"Input: {picked.label}")
    st.image(picked.pixels, caption=f"shape {picked.pixels.shape}", clamp=True)
    write_url()


@pytest.fixture
def picker() -> AppTest:
    at = AppTest.from_function(picker_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def caption(at: AppTest) -> str:
    return at.get("image")[0].captions[0]


@pytest.mark.parametrize("mode,dims", [("RGB", 3), ("L", 2)])
def test_picker_default_image_has_the_mode(mode: str, dims: int) -> None:
    at = AppTest.from_function(picker_script, default_timeout=60)
    at.session_state["mode"] = mode
    at.run()
    assert not at.exception
    assert len(eval(caption(at).removeprefix("shape "))) == dims
    assert at.subheader[0].value == "Input: Chelsea the cat"


def test_picker_lecture_pattern_and_size(picker: AppTest) -> None:
    picker.radio(key="keep.harness.source").set_value("pattern").run()
    picker.selectbox(key="keep.harness.pattern").set_value("lecture 5x5").run()
    assert not picker.exception
    assert picker.subheader[0].value == "Input: Lecture 5x5 example"
    assert caption(picker) == "shape (5, 5, 3)"
    picker.selectbox(key="keep.harness.pattern").set_value("checkerboard").run()
    picker.select_slider(key="keep.harness.size").set_value(128).run()
    assert caption(picker) == "shape (128, 128, 3)"


def test_picker_choice_survives_a_visit_to_another_page(app: AppTest) -> None:
    open_page(app, "convolution")
    app.radio(key="keep.convolution.source").set_value("pattern").run()
    app.selectbox(key="keep.convolution.pattern").set_value("disk").run()
    open_page(app, "train")
    open_page(app, "convolution")
    assert "Input: **Disk**" in " ".join(c.value for c in app.caption)


def test_upload_good_then_bad_keeps_the_good_image(picker: AppTest) -> None:
    picker.radio(key="keep.harness.source").set_value("upload").run()
    assert picker.subheader[0].value == "Input: Chelsea the cat"  # default until a picture loads
    red = np.zeros((40, 60, 3), np.uint8)
    red[..., 0] = 255
    upload = picker.file_uploader(key="harness.upload")
    upload.set_value(("red.png", png_bytes(red), "image/png")).run()
    assert not picker.exception
    assert picker.subheader[0].value == "Input: red.png"
    assert caption(picker) == "shape (40, 60, 3)"

    upload = picker.file_uploader(key="harness.upload")
    upload.set_value(("bad.png", b"not an image", "image/png")).run()
    assert not picker.exception
    assert any("not an image" in e.value for e in picker.error)
    assert picker.subheader[0].value == "Input: red.png"
    assert any("last good picture" in c.value for c in picker.caption)


def test_bad_first_upload_falls_back_to_the_default(picker: AppTest) -> None:
    picker.radio(key="keep.harness.source").set_value("upload").run()
    truncated = png_bytes(np.zeros((64, 64), np.uint8))[:60]
    upload = picker.file_uploader(key="harness.upload")
    upload.set_value(("cut.png", truncated, "image/png")).run()
    assert not picker.exception
    assert any("damaged or incomplete" in e.value for e in picker.error)
    assert picker.subheader[0].value == "Input: Chelsea the cat"


def test_big_upload_is_downscaled_with_a_note(picker: AppTest) -> None:
    picker.radio(key="keep.harness.source").set_value("upload").run()
    big = np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    upload = picker.file_uploader(key="harness.upload")
    upload.set_value(("big.png", png_bytes(big), "image/png")).run()
    assert not picker.exception
    assert caption(picker) == "shape (768, 1024, 3)"
    assert any("Downscaled" in c.value for c in picker.caption)


def test_every_picture_is_sent_as_png_never_recompressed_as_jpeg() -> None:
    """st.image turns a PNG without alpha into a JPEG at quality 90 unless told otherwise
    (output_format="auto"): kernels and pixel grids got JPEG ringing, and the server decoded
    and re-encoded every picture of every rerun (~10 % of its CPU under a class's load)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    missing = []
    for path in [*(root / "explorer" / "ui").rglob("*.py"), *(root / "pages").glob("*.py"),
                 root / "explorer" / "Home.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "image"):
                formats = [k.value for k in node.keywords if k.arg == "output_format"]
                chosen = formats and isinstance(formats[0], ast.Name)  # e.g. Home's photos
                if not (chosen or (formats and isinstance(formats[0], ast.Constant)
                                   and formats[0].value == "PNG")):
                    missing.append(f"{path.name}:{node.lineno}")
    assert not missing, missing


@pytest.mark.parametrize("page", [p for p in PAGES if p.key in ("convolution", "colour")],
                         ids=lambda p: p.key)
def test_the_pages_pictures_are_served_as_png(app: AppTest, page) -> None:
    app.switch_page(page.script).run()
    assert not app.exception, app.exception
    urls = [image.url for element in app.get("image") for image in element.proto.imgs]
    assert urls and all(url.endswith(".png") for url in urls), urls


def test_home_sends_drawings_as_png_and_photos_as_jpeg(app: AppTest) -> None:
    urls = {element.proto.imgs[0].url.rsplit(".", 1)[-1] for element in app.get("image")}
    assert urls == {"png", "jpg"}, urls
