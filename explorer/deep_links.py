"""Addresses deeper than one page: a browser opening `/convolution/deeper` is sent to
`/convolution`, its query kept (an unknown first part then gets Streamlit's own "page not
found" note, as a one-part address does).

Only page loads are redirected (a GET asking for HTML, as a browser's address bar does):
Streamlit's own requests (/_stcore, /media, /component, /static, the frontend's base-path
probes such as /convolution/_stcore/health) pass untouched.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

STREAMLIT_PREFIXES = ("_stcore", "media", "component", "static", "app", "~", "healthz")


def redirect_target(path: str, query: str = "") -> str | None:
    """Where a page load of `path` should go, or None to serve it as it is."""
    parts = [part for part in path.split("/") if part]
    if len(parts) < 2 or parts[0] in STREAMLIT_PREFIXES or any(p.startswith("_") for p in parts):
        return None
    if any("." in part for part in parts):  # a file (favicon.ico, a static asset): not a page
        return None
    return f"/{quote(parts[0])}" + (f"?{query}" if query else "")


class DeepPathRedirect:
    """ASGI middleware applying redirect_target to HTML page loads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            headers = dict(scope.get("headers") or [])
            if b"text/html" in headers.get(b"accept", b""):
                target = redirect_target(scope.get("path", ""),
                                         scope.get("query_string", b"").decode("latin-1"))
                if target is not None:
                    await RedirectResponse(target, status_code=302)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
