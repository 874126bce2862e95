"""The Lecture page: the lecture's sections in order, each demo a card that opens its page set up."""

from __future__ import annotations

import streamlit as st

from explorer.catalogue import PAGES_BY_KEY
from explorer.lecture.demos import DEMOS, SECTIONS, Demo
from explorer.ui.presenter import presenting

INTRO = """
The lecture *Convolutional and Deep Neural Networks*, demo by demo. Each card says what to look
at and the number the slide shows; **Open** takes you to the page already set up (its settings
and tab are in the link, so you can also copy it). Turn on **Presenter mode** in the sidebar
(or add `?present=1` to any address) for the projector: larger type, controls tucked away,
the main figure at the top.
"""


def demo_card(demo: Demo) -> None:
    page = PAGES_BY_KEY[demo.page]
    with st.container(border=True):
        st.markdown(f"**{demo.key} · {demo.title}**  \n{demo.sentence}")
        st.markdown(f":material/target: **Expect:** {demo.expect}")
        params = dict(demo.params)
        if presenting():
            params["present"] = "true"
        st.page_link(page.script, label=f"Open · {page.title}", icon=":material/open_in_new:",
                     query_params=params, help=f"{page.title}, set up for this demo")


def render_lecture() -> None:
    st.title("Lecture", anchor=False)
    st.markdown(INTRO)
    columns_per_row = 3
    for section in SECTIONS:
        demos = [demo for demo in DEMOS if demo.section == section]
        if not demos:
            continue
        st.subheader(section, anchor=False)
        for start in range(0, len(demos), columns_per_row):
            row = st.columns(columns_per_row)
            for column, demo in zip(row, demos[start:start + columns_per_row], strict=False):
                with column:
                    demo_card(demo)
