"""CNN layers: backprop is correlation and convolution, receptive fields, dense = 1x1 conv."""

from explorer.ui.convolution import layers as panels
from explorer.ui.convolution.pattern_matching import pattern_panel
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "layers",
    "What a convolutional network's layers compute, checked with numbers: how gradients flow "
    "back through a convolution, how far a deep unit sees, why a dense layer is a 1x1 "
    "convolution, and why the first layers are convolutions at all.",
)
lazy_tabs({
    "Backprop": panels.backprop_panel,
    "Receptive field": panels.receptive_field_panel,
    "Dense = 1x1 conv": panels.dense_panel,
    "Parameters": panels.parameters_panel,
    "Pattern matching": pattern_panel,
})
