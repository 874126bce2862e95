"""Page 1: kernels, padding modes, convolution vs correlation, stride and pooling."""

import numpy as np
import streamlit as st

from explorer.ui.convolution import panels
from explorer.ui.convolution.kernel_editor import kernel_editor
from explorer.ui.image_picker import image_picker
from explorer.ui.presenter import presenting
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "convolution",
    "Slide a small kernel W over an image X and take an inner product at every shift: that is "
    "**correlation**, what `torch.nn.Conv2d` computes. Flip the kernel first and it is "
    "**convolution**, what `scipy.signal.convolve2d` computes.",
)

with st.sidebar:
    st.header("Input image", anchor=False)
    picked = image_picker("convolution", mode="L", default="cameraman")
    st.header("Kernel", anchor=False)
    choice = kernel_editor("convolution", default="box", default_params={"size": 9})
    st.header("Sliding", anchor=False)
    settings = panels.settings_panel()

image = picked.pixels.astype(np.float64)
st.caption(f"Input: **{picked.label}**, {image.shape[0]}x{image.shape[1]}"
           + (" (the lecture's numbers)" if picked.raw_values else ", values 0 (black) to 1 (white)"))
if choice is None:
    st.stop()
if presenting():  # on the projector the result goes first; the kernel one click away
    with st.expander(f"Kernel: {choice.label}", icon=":material/grid_on:"):
        panels.kernel_panel(choice)
else:
    panels.kernel_panel(choice)

lazy_tabs({
    "Correlation vs convolution": lambda: panels.filter_panel(image, choice, settings,
                                                              picked.label),
    "Modes side by side": lambda: panels.modes_panel(image, choice, settings),
    "Blur: size and type": lambda: panels.blur_panel(image),
    "Step through": lambda: panels.step_panel(image, choice, settings),
    "Edges (Sobel)": lambda: panels.sobel_panel(image, settings),
    "Pooling": lambda: panels.pooling_panel(image),
    "Engines": lambda: panels.engines_panel(image, choice, settings),
})

with st.expander("Show the code: the same numbers in a script", icon=":material/code:"):
    panels.code_section(st.session_state.get("tab", ""), picked, choice, settings)
