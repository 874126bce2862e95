"""The platform baseline: a bare Streamlit app (a title, a slider, one 256x256 image).

What any Streamlit app costs per rerun on this machine, without the CNN Explorer's work:
benchmarks/class_load.py runs the class scenario against it beside the real app, so that the
app's latencies can be read as a multiple of the platform's.

    streamlit run benchmarks/bare_app.py --server.port 8600 --server.address 127.0.0.1

The slider's key starts with "keep." because the load generator (benchmarks/stload.py) only
moves widgets named like the app's kept widgets; it drives this app as one page ("convolution":
a single-page app ignores the page name and the link's parameters).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

SIZE = 256

st.title("Bare Streamlit app")
frequency = st.slider("Frequency", min_value=1, max_value=32, value=8, key="keep.bare.frequency")

# One greyscale image that depends on the slider: concentric rings, `frequency` per radius.
axis = np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)
radius = np.hypot(axis[None, :], axis[:, None])
image = (127.5 * (1.0 + np.cos(np.pi * frequency * radius))).astype(np.uint8)
st.image(image, caption=f"{SIZE}x{SIZE}, {frequency} rings", width=SIZE)
