"""Widget state that survives switching pages (Streamlit drops state of widgets not drawn)."""

from __future__ import annotations

import streamlit as st

KEEP_PREFIX = "keep."


def kept(key: str) -> str:
    """A widget key whose value is kept while the user visits other pages."""
    return KEEP_PREFIX + key


def keep_widget_state() -> None:
    """Call once per rerun from the entrypoint, before the page runs.

    Assigning a widget's value back to its key turns it into plain session state, so
    Streamlit's end-of-run clean-up does not drop the widgets of pages not shown.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP_PREFIX):
            st.session_state[key] = st.session_state[key]
