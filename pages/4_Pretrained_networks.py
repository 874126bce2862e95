"""Page 4: famous pretrained CNNs layer by layer."""

import streamlit as st

from explorer import zoo
from explorer.ui import pretrained_page as ui
from explorer.ui.image_picker import image_picker
from explorer.ui.widgets import code_panel, page_header

page_header(
    "pretrained",
    "Networks trained on ImageNet learn edge and colour detectors first and object parts later. "
    "Pick a network and a picture: see its top-5 guesses, every layer's activations, the "
    "first-layer kernels and where it looks (Grad-CAM).",
)

with st.sidebar:
    st.header("Network", anchor=False)
    loaded = ui.model_panel()
    st.header("Input image", anchor=False)
    picked = image_picker("pretrained", mode="RGB", default="chelsea")

if loaded is None:
    st.stop()
st.caption(f"**{loaded.label}** ({loaded.family}). {zoo.model_spec(loaded.name).note}"
           if loaded.name in zoo.MODELS else f"**{loaded.label}**. {loaded.message}")
image = picked.pixels
x, prediction = ui.predicted(loaded, image)

TABS = ["Predictions", "Activations", "First-layer kernels", "Grad-CAM", "Architecture",
        "Families compared"]
tabs = st.tabs(TABS, key="tab", on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        ui.predictions_panel(loaded, image, prediction, x, picked.source)
with tabs[1]:
    if tabs[1].open:
        ui.activations_panel(loaded, image, x)
with tabs[2]:
    if tabs[2].open:
        ui.kernels_panel(loaded)
with tabs[3]:
    if tabs[3].open:
        ui.gradcam_panel(loaded, x, prediction)
with tabs[4]:
    if tabs[4].open:
        ui.architecture_panel(loaded)
with tabs[5]:
    if tabs[5].open:
        ui.families_panel()

layer = st.session_state.get(f"keep.pretrained.layer.{st.session_state.get('keep.pretrained.group')}")
code_panel(ui.code(loaded, layer), title="Show the code: torchvision and the feature extractor")
