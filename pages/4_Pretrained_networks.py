"""Page 4: famous pretrained CNNs layer by layer."""

import streamlit as st

from explorer.ui.image_picker import image_picker
from explorer.ui.widgets import being_built, page_header

page_header(
    "pretrained",
    "Networks trained on ImageNet learn edge and colour detectors first and object parts later. "
    "Look inside them one layer at a time.",
)
being_built(
    6,
    [
        "choose AlexNet, VGG, GoogLeNet, ResNet, DenseNet, MobileNet ... or the app's own small network",
        "see the top-5 predictions for a picture, with the preprocessing shown",
        "browse every layer's activations, the first-layer kernels, and Grad-CAM",
        "compare the families: parameters, accuracy and compute",
    ],
)
with st.sidebar:
    st.header("Input image", anchor=False)
    picked = image_picker("pretrained", mode="RGB", default="chelsea")
st.subheader(f"Input: {picked.label}", anchor=False)
st.image(picked.pixels, caption=f"shape {picked.pixels.shape}", clamp=True, output_format="PNG")
