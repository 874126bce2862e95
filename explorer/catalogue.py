"""The app's pages: script, title, icon and what a visitor will see (read by Home and the navigation)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    key: str
    script: str  # path relative to explorer/Home.py, as st.Page wants it
    title: str
    icon: str
    summary: str  # one line: what you will see
    ready: bool  # False while the page's issue is open: the page says it is being built


PAGES: tuple[PageInfo, ...] = (
    PageInfo(
        "lecture", "../pages/0_Lecture.py", "Lecture", ":material/school:",
        "The lecture's demos in order: one click opens each page set up, with the number to "
        "expect; presenter mode for the projector.",
        ready=True,
    ),
    PageInfo(
        "convolution", "../pages/1_Convolution.py", "Convolution", ":material/blur_on:",
        "Slide a kernel over an image: correlation vs convolution, padding modes, stride, pooling.",
        ready=True,
    ),
    PageInfo(
        "colour", "../pages/2_Colour_filters.py", "Colour filters", ":material/palette:",
        "Design a bank of colour filters (a Conv2d weight) and see where each colour lights up.",
        ready=True,
    ),
    PageInfo(  # the file's number is newer than its place: the sidebar follows this list
        "layers", "../pages/6_CNN_layers.py", "CNN layers", ":material/stacks:",
        "Backprop as correlation and convolution, receptive fields you can click, a dense layer "
        "as a 1x1 convolution, conv vs dense parameter counts.",
        ready=True,
    ),
    PageInfo(
        "train", "../pages/3_Train_a_CNN.py", "Train a CNN", ":material/model_training:",
        "Watch a small CNN learn live: loss curves, kernels taking shape, a confusion matrix.",
        ready=True,
    ),
    PageInfo(
        "transfer", "../pages/4_Transfer_learning.py", "Transfer learning", ":material/move_up:",
        "Adapt a pretrained network to new classes (yours, too): frozen features vs fine-tuning "
        "vs from scratch.",
        ready=True,
    ),
    PageInfo(
        "pretrained", "../pages/5_Pretrained_networks.py", "Pretrained networks", ":material/hub:",
        "Look inside AlexNet, VGG and ResNet layer by layer: predictions, activations, Grad-CAM.",
        ready=True,
    ),
)

PAGES_BY_KEY = {page.key: page for page in PAGES}
