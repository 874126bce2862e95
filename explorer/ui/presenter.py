"""Presenter mode for the projector: larger type, the sidebar tucked away, less chrome, so the
main figure sits above the fold at 1280x720."""

from __future__ import annotations

import streamlit as st

from explorer.ui.state import Check, kept, one_of, seed

KEY = kept("present")
# ?present=1 (as the lecture writes it) and ?present=true both turn it on
LINK_VALUES = Check(one_of((True, False, 1, 0)), bool)

PRESENTER_CSS = """
<style>
html { font-size: 18px; }
[data-testid="stMainBlockContainer"] { padding-top: 2.8rem; padding-bottom: 2rem;
    max-width: 100%; padding-left: 2rem; padding-right: 2rem; }
[data-testid="stMain"] h1 { font-size: 2rem; padding: 0 0 0.3rem 0; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p { font-size: 1.1rem; }
[data-testid="stHeader"] { background: transparent !important; height: 2.6rem !important; }
[data-testid="stHeader"], [data-testid="stHeader"] * { pointer-events: none !important; }
[data-testid="stHeader"] button, [data-testid="stHeader"] a { pointer-events: auto !important; }
</style>
"""


def presenting() -> bool:
    return bool(st.session_state.get(KEY, False))


def presenter_toggle() -> bool:
    """The sidebar's toggle (mirrored as ?present=...); applies the presenter styles."""
    key = seed(KEY, False, valid=lambda v: isinstance(v, bool), url="present",
               link_valid=LINK_VALUES)
    on = st.toggle("Presenter mode", key=key, help="For the projector: larger type, the main "
                   "figure above the fold, controls in the sidebar (collapsed). Also ?present=1.")
    if on:
        st.html(PRESENTER_CSS)
    return on
