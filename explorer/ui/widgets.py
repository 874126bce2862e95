"""Small shared widgets: the page header, the "show the code" panel, the "being built" note."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from explorer.catalogue import PAGES_BY_KEY
from explorer.ui.presenter import presenting
from explorer.ui.state import follow_bound_link


def page_header(key: str, intro: str) -> None:
    """Title with the page's icon and a one-paragraph introduction."""
    page = PAGES_BY_KEY[key]
    if presenting():  # the sidebar is closed on a projector: the way back to the lecture
        st.page_link(PAGES_BY_KEY["lecture"].script, label="Back to the lecture",
                     icon=":material/arrow_back:", query_params={"present": "true"})
    st.title(page.title, anchor=False)
    if not presenting():  # on the projector the figure matters more than the paragraph
        st.markdown(intro)


def code_panel(code: str, *, title: str = "Show the code", expanded: bool = False) -> None:
    """Runnable code for the current settings, in an expander with a copy button."""
    with st.expander(title, expanded=expanded, icon=":material/code:"):
        st.code(code, language="python")


def being_built(issue: int, planned: list[str]) -> None:
    """An honest note for a page whose issue is still open: what it will do, nothing faked."""
    st.info(
        f"**This page is being built** (issue #{issue}). Nothing below is a mock-up: "
        "the page shows only what already works.",
        icon=":material/construction:",
    )
    st.markdown("**What it will let you do:**\n" + "\n".join(f"- {item}" for item in planned))


def lazy_tabs(panels: dict[str, Callable[[], None]], *, key: str = "tab") -> None:
    """Tabs whose content is drawn only while open: a rerun computes one panel, not all.

    The open tab is in the URL (`?tab=<label>`), so a copied link reopens it."""
    follow_bound_link(key, lambda label: label in panels)
    for tab, render in zip(st.tabs(list(panels), key=key, bind="query-params"), panels.values(),
                           strict=True):
        with tab:
            if tab.open:
                render()
