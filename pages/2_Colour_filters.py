"""Page 2: a bank of colour filters (a Conv2d weight) and its feature maps."""

import streamlit as st

from explorer.ui.image_picker import image_picker
from explorer.ui.widgets import being_built, page_header

page_header(
    "colour",
    "A colour filter weighs the red, green and blue channels and blurs them with a spatial "
    "kernel: together they make one slice of a `Conv2d` weight of shape (C_out, 3, K, K).",
)
being_built(
    4,
    [
        "build a bank of 1-8 filters from presets (red, green, blue, red-blue, ...) or your own weights",
        "see each filter's feature map as a heat map, overlaid on the image",
        "see how much each input channel contributes, and check it against a real nn.Conv2d",
        "compare with the first-layer filters a network learned",
    ],
)
with st.sidebar:
    st.header("Input image", anchor=False)
    picked = image_picker(
        "colour", mode="RGB", default="astronaut", default_pattern="colour chart", default_size=256
    )
st.subheader(f"Input: {picked.label}", anchor=False)
st.image(picked.pixels, caption=f"shape {picked.pixels.shape}", clamp=True, output_format="PNG")
