"""Page 2: a bank of colour filters (a Conv2d weight) and its feature maps."""

import streamlit as st

from explorer.colour.feature_maps import MODES, apply_filters
from explorer.ui import colour_filters as panels
from explorer.ui.convolution.kernel_editor import kernel_editor
from explorer.ui.image_picker import image_picker
from explorer.ui.state import boolean, kept, one_of, seed
from explorer.ui.widgets import code_panel, lazy_tabs, page_header

page_header(
    "colour",
    "A colour filter weighs the red, green and blue channels and blurs them with a spatial "
    "kernel: `W[m, n] = colour_weight[m, n] * kernel`. A bank of C_out such filters is one "
    "`Conv2d(3, C_out, K)` weight of shape (C_out, 3, K, K); its outputs are **feature maps** "
    "that light up where the image has each filter's colour.",
)

with st.sidebar:
    st.header("Input image", anchor=False)
    picked = image_picker("colour", mode="RGB", default="astronaut",
                          default_pattern="colour chart", default_size=256)
    st.header("Spatial kernel", anchor=False)
    choice = kernel_editor("colour", default="gaussian", default_params={"size": 9, "sigma": 2.0})
    st.header("Filters", anchor=False)
    panels.bank_controls()
    modes = list(MODES)
    mode = st.radio("Mode", modes, format_func=lambda m: MODES[m].label, horizontal=True,
                    key=seed(kept("colour.mode"), "same", valid=one_of(modes), url="mode"))
    relu = st.checkbox("ReLU after the filters", key=seed(kept("colour.relu"), False,
                                                          valid=boolean(), url="relu"))

with st.expander(f"Filter bank: {panels.bank_names()}", icon=":material/table_rows:"):
    bank = panels.bank_table(choice.kernel) if choice is not None else None
image = picked.pixels
st.caption(f"Input: **{picked.label}**, {image.shape[0]}x{image.shape[1]}x3")
if bank is None:
    st.stop()
try:
    maps = apply_filters(image, bank.weight, bias=bank.bias, mode=mode, relu=relu)
except ValueError as error:
    st.error(str(error), icon=":material/error:")
    st.stop()

lazy_tabs({
    "Feature maps": lambda: panels.feature_maps_panel(image, bank, maps, relu),
    "Overlay": lambda: panels.overlay_panel(image, bank, maps),
    "Channel contributions": lambda: panels.contributions_panel(image, bank, mode),
    "Weight tensor": lambda: panels.weight_panel(bank),
    "Proof: nn.Conv2d": lambda: panels.proof_panel(image, bank, maps, mode, relu),
    "Learned filters": panels.learned_panel,
})

panels.downloads(bank, maps, relu)
code_panel(panels.bank_code(picked, bank, choice, mode, relu),
           title="Show the code: the same feature maps in a script")
