"""Widget state that survives switching pages, and page settings mirrored in the URL."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

KEEP_PREFIX = "keep."
_URL_FIELDS = "_url_fields"  # url name -> widget key, registered by seed() during this run
_URL_WRITTEN = "_url_written"  # url names written after the previous run
_URL_READ = "_url_read"  # url names whose link value has had its one chance to seed a widget


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
    st.session_state[_URL_FIELDS] = {}


def one_of(options: Sequence) -> Callable[[Any], bool]:
    return lambda value: value in options


def number_in(low: float, high: float, *, integer: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if integer and not float(value).is_integer():
            return False
        return low <= value <= high

    return check


def seed(key: str, default: Any, *, valid: Callable[[Any], bool], url: str | None = None) -> str:
    """Give a widget its first value and return its key; create the widget with no default.

    On the session's first visit the value comes from `?url=...` when the link carries a valid
    one (a bad value is ignored), else from `default`. With `url`, the widget's value is written
    back to the address bar after the page has run, so a copied link reopens the same view.
    """
    if key not in st.session_state or not valid(st.session_state[key]):
        value = default
        # a link's value counts once per session: later it is our own echo of another widget
        # (e.g. k_size written for the previous kernel preset)
        read = st.session_state.setdefault(_URL_READ, set())
        if url is not None and url not in read and url in st.query_params:
            candidate = _decode(st.query_params[url])
            if valid(candidate):
                value = candidate
        st.session_state[key] = value
    if url is not None:
        st.session_state.setdefault(_URL_READ, set()).add(url)
        st.session_state.setdefault(_URL_FIELDS, {})[url] = key
    return key


def write_url() -> None:
    """Mirror this run's URL fields in the address bar (call after the page has run).

    Only our own fields are touched: parameters bound by Streamlit itself (tabs) stay.
    """
    fields = st.session_state.get(_URL_FIELDS, {})
    for name in st.session_state.get(_URL_WRITTEN, set()) - set(fields):
        if name in st.query_params:
            del st.query_params[name]
    for name, key in fields.items():
        value = st.session_state.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if st.query_params.get(name) != text:
            st.query_params[name] = text
    st.session_state[_URL_WRITTEN] = set(fields)


def _decode(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value
