"""Who a job belongs to: a tab's secret owner token and a stable key of the browser behind it."""

from __future__ import annotations

import binascii
import hashlib
import os
import re

TOKEN = re.compile(r"[0-9a-f]{32}")  # an owner token: 128 random bits, lower-case hex


def is_token(value: object) -> bool:
    """An owner token as this registry makes them (anything else from a link is ignored)."""
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


def new_token() -> str:
    """A fresh owner token (128 bits from the OS's random source)."""
    return os.urandom(16).hex()


def browser_key(xsrf_cookie: str | None) -> str | None:
    """A stable id of the browser behind a session, from Streamlit's XSRF cookie.

    The cookie ("2|mask|masked token|time", or a bare v1 token) is re-masked on every response,
    but the token under the mask stays the same for the browser: a reloaded tab sends the same
    one, another browser (another student) a different one. Returns a SHA-256 prefix of that
    token, or None without a cookie (XSRF protection off, or a test without a browser).
    """
    if not isinstance(xsrf_cookie, str) or not xsrf_cookie.strip("\"' "):
        return None
    value = xsrf_cookie.strip("\"' ")
    token = value.encode("utf-8", "replace")
    parts = value.split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
        except (binascii.Error, ValueError):
            pass
        else:
            if mask:
                token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    return hashlib.sha256(b"cnn-explorer-browser:" + token).hexdigest()[:32]
