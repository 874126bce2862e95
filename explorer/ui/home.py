"""The Home page: what the app teaches, a card per page, and the environment panel."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import environment
from explorer.catalogue import PAGES

INTRO = """
Convolutional neural networks find **local patterns** by sliding small kernels over an image,
then combine those patterns layer after layer. This app follows the lecture unit *Convolutional
and Deep Neural Networks*: every figure in it can be reproduced here, and then changed.
"""


@st.cache_data(show_spinner=False)
def card_picture(key: str) -> tuple[bytes, str]:
    """The card's picture and its format, encoded once per process (not on every rerun): PNG
    for drawings, JPEG where that is much smaller (the photos: 30-40 KB instead of 80-230 KB,
    for each of a class's 50 first visits)."""
    from explorer.images import gallery, plots

    pixels = np.clip(gallery.CARD_PICTURES[key](), 0.0, 1.0)
    png, jpeg = plots.png_bytes(pixels), plots.jpeg_bytes(pixels)
    return (jpeg, "JPEG") if len(jpeg) < len(png) / 2 else (png, "PNG")


@st.cache_data(show_spinner=False, ttl=60)
def _environment() -> environment.Environment:
    """Package versions and cached weights, read at most once a minute (a download shows up)."""
    return environment.environment()


def render_home() -> None:
    st.title("CNN Explorer", anchor=False)
    st.markdown(INTRO)
    columns = st.columns(2, gap="medium")
    for index, page in enumerate(PAGES):
        with columns[index % 2], st.container(border=True):
            st.subheader(page.title, anchor=False)
            picture, picture_format = card_picture(page.key)
            st.image(picture, width="stretch", output_format=picture_format)
            st.markdown(f"**What you will see:** {page.summary}")
            if not page.ready:
                st.caption(":material/construction: Being built: the page says what already works.")
            st.page_link(page.script, label=f"Open {page.title}", icon=page.icon)
    render_environment()


def render_environment() -> None:
    env = _environment()
    with st.expander("Environment: what this server runs on", icon=":material/memory:"):
        left, right = st.columns(2)
        with left:
            st.markdown(f"**Python** {env.python}  \n**CPU threads** {env.cpu_threads}  \n"
                        f"**GPU** {env.gpu}")
            st.table(
                {"package": list(env.packages),
                 "version": [v or "not installed" for v in env.packages.values()]}
            )
        with right:
            st.markdown(f"**Pretrained weights cache** `{env.weights_dir}`")
            if env.cached_weights:
                st.table(
                    {"file": [w.filename for w in env.cached_weights],
                     "MB": [f"{w.megabytes:.1f}" for w in env.cached_weights]}
                )
            else:
                st.caption(
                    "No pretrained weights cached yet. Pages that need them download them once "
                    "when online; offline they still show each network's architecture."
                )
