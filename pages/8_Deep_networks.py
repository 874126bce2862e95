"""Deep networks: vanishing gradients in a deep plain net, and residual vs plain."""

from explorer.ui.deep.residual import residual_panel
from explorer.ui.deep.vanishing import vanishing_panel
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "deep",
    "Why depth was hard: in a deep plain network the gradient fades on its way back to the "
    "first layers (sigmoid, tanh), and even with ReLU and batch norm a much deeper plain "
    "network trains worse than a shallow one. Skip connections fix both.",
)
lazy_tabs({
    "Vanishing gradients": vanishing_panel,
    "Residual vs plain": residual_panel,
})
