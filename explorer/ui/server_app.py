"""The app as Streamlit's ASGI application (`st.App`): Home.py, plus a redirect for addresses
deeper than one page (`/convolution/deeper`), which Streamlit's frontend would show blank."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # uvicorn imports this file as a top-level module
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from explorer.deep_links import DeepPathRedirect  # noqa: E402

app = st.App("../Home.py", middleware=[Middleware(DeepPathRedirect)])  # from explorer/ui/
