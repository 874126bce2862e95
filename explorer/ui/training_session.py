"""The Train page's job registry and this tab's identity: browser, owner token, shared keys."""

from __future__ import annotations

import streamlit as st

from explorer.jobs import registry as job_registry
from explorer.jobs import tokens
from explorer.ui.state import kept, mirror

PAGE = "train"
OWNER_KEY = kept(f"{PAGE}.owner")  # this tab's secret owner token (explorer.ui.heartbeat reads it)
# the address held another browser's key: the page says so until it shows a run of its own
FOREIGN_KEY = f"{PAGE}.foreign"
ABLATION_KEY = f"{PAGE}.ablation"  # [(variant key, job id)] of this tab's latest ablation
XSRF_COOKIE = "_streamlit_xsrf"
POLL_SECONDS = 2.0  # every watcher's poll redraws the run: 1 s polls of a class saturated a core


@st.cache_resource
def registry() -> job_registry.JobRegistry:
    """One job registry per server process: jobs outlive page switches and reloads."""
    return job_registry.get_registry()


def browser() -> str | None:
    """This session's browser (from Streamlit's XSRF cookie; None without one), read once."""
    key = f"{PAGE}.browser"
    if key not in st.session_state:
        st.session_state[key] = tokens.browser_key(st.context.cookies.get(XSRF_COOKIE))
    return st.session_state[key]


def owner() -> str:
    """This tab's secret owner token: only it controls the tab's runs.

    It lives in the session and in this page's address bar (`owner=`), so a reloaded tab finds
    its runs again: a link's token is taken on only when its runs were started from this same
    browser (JobRegistry.claim). A copied address opened in another browser gets a fresh token
    and sees the linked run read-only. The page never shows the token; "Share this run" gives
    a link without it.
    """
    if not tokens.is_token(st.session_state.get(OWNER_KEY)):
        linked = st.query_params.get("owner")
        if linked is not None and registry().claim(linked, browser()):
            st.session_state[OWNER_KEY] = linked
        else:
            st.session_state[FOREIGN_KEY] = tokens.is_token(linked)
            st.session_state[OWNER_KEY] = tokens.new_token()
    mirror(OWNER_KEY, "owner")  # in the URL for a reload; never taken from a link here
    return st.session_state[OWNER_KEY]


def session_owner() -> str | None:
    """The owner token without touching the URL (for callbacks)."""
    value = st.session_state.get(OWNER_KEY)
    return value if tokens.is_token(value) else None
