"""Architectures: the ILSVRC story (error, parameters, compute) and GoogLeNet's inception module."""

from explorer.ui.architectures import panels
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "architectures",
    "How ImageNet's winners changed: the top-5 error fell from 25.6 % (2012) to 3.6 % (2015) "
    "while the networks grew deeper; GoogLeNet's inception module kept them cheap by giving "
    "bigger kernels fewer channels.",
)
lazy_tabs({
    "ILSVRC": panels.ilsvrc_panel,
    "Inception": panels.inception_panel,
})
