"""Page 5: famous pretrained CNNs layer by layer."""

import streamlit as st

from explorer.networks import model_registry
from explorer.ui.image_picker import image_picker
from explorer.ui.networks import attributions as attributions_view
from explorer.ui.networks import channels as channel_views
from explorer.ui.networks import occlusion as occlusion_view
from explorer.ui.networks import page as ui
from explorer.ui.widgets import code_panel, lazy_tabs, page_header

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
st.caption(f"**{loaded.label}** ({loaded.family}). {model_registry.model_spec(loaded.name).note}"
           if loaded.name in model_registry.MODELS else f"**{loaded.label}**. {loaded.message}")
if not loaded.pretrained:  # said in the main area too: the sidebar is closed on a projector
    st.warning(f"**Untrained {loaded.label}**: its trained weights are not on this server, so "
               "what follows comes from **random weights** (the architecture and shapes are "
               "real). Download them in the sidebar.", icon=":material/cloud_off:")
image = picked.pixels
x, prediction = ui.predicted(loaded, image, picked.label)  # (None, None) if unusable

lazy_tabs({
    "Predictions": lambda: ui.predictions_panel(loaded, image, prediction, x, picked.source),
    "Activations": lambda: ui.activations_panel(loaded, image, x),
    "First-layer kernels": lambda: ui.kernels_panel(loaded),
    "Grad-CAM": lambda: ui.gradcam_panel(loaded, image, x, prediction),
    "Occlusion": lambda: occlusion_view.occlusion_panel(loaded, image, x, prediction),
    "Attributions": lambda: attributions_view.attributions_panel(loaded, image, x, prediction),
    "What channels look for": lambda: channel_views.featurevis_panel(loaded),
    "Edges to objects": lambda: channel_views.hierarchy_panel(loaded, image, x),
    "Architecture": lambda: ui.architecture_panel(loaded),
    "Families compared": ui.families_panel,
})

layer = st.session_state.get(f"keep.pretrained.layer.{st.session_state.get('keep.pretrained.group')}")
code_panel(ui.code(loaded, layer), title="Show the code: torchvision and the feature extractor")
