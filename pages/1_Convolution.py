"""Page 1: kernels, padding modes, convolution vs correlation, stride and pooling."""

import streamlit as st

from explorer.ui.image_picker import image_picker
from explorer.ui.widgets import being_built, page_header

page_header(
    "convolution",
    "Slide a small kernel over an image and take an inner product at every shift: that is "
    "**correlation**; flip the kernel first and it is **convolution**.",
)
being_built(
    3,
    [
        "pick or paint a kernel (box, Gaussian, Sobel, Laplacian, Gabor, ... or your own numbers)",
        "see correlation and convolution side by side, and their difference",
        "choose 'valid' / 'same' / 'full' and the boundary rule; stride and dilation",
        "step through the lecture's 5x5 example one output cell at a time",
        "Sobel edges, max and average pooling, and the same numbers from scipy and PyTorch",
    ],
)
with st.sidebar:
    st.header("Input image", anchor=False)
    picked = image_picker("convolution", mode="L", default="cameraman")
st.subheader(f"Input: {picked.label}", anchor=False)
st.image(picked.pixels, caption=f"shape {picked.pixels.shape}", clamp=True, output_format="PNG")
