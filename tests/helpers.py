"""Helpers shared by the AppTest page tests: read back what a page drew."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest


def heatmaps(at: AppTest) -> dict[str, np.ndarray]:
    """Every plotly heatmap on the page: title (without a " (×10⁻²)" factor) -> values."""
    found = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if "z" not in spec["data"][0]:  # a line chart
            continue
        z = spec["data"][0]["z"]
        if isinstance(z, dict):  # plotly's typed-array encoding
            values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
            z = values.reshape([int(n) for n in str(z["shape"]).split(",")])
        title = spec["layout"].get("title", {}).get("text", "")
        name = title.split(" (×")[0].removesuffix(" · ≥ 0")  # scale factor, non-negative note
        found[name] = np.asarray(z, dtype=float)
    return found


def captions(at: AppTest) -> list[str]:
    """The first caption of every image, in page order."""
    return [image.captions[0] for image in at.get("image")]


def run(at: AppTest) -> AppTest:
    """Rerun the page and fail on any exception it shows."""
    at.run()
    assert not at.exception, at.exception
    return at
