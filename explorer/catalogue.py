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
        "architectures", "../pages/9_Architectures.py", "Architectures", ":material/timeline:",
        "The ILSVRC story: top-5 error by year beside parameters and compute; GoogLeNet's "
        "inception module counted branch by branch.",
        ready=True,
    ),
    PageInfo(
        "playground", "../pages/7_Playground.py", "Playground", ":material/scatter_plot:",
        "Train a small neural network on 2-D points live: decision regions, every neuron over "
        "the plane, a hidden unit as a half-space.",
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
    PageInfo(
        "deep", "../pages/8_Deep_networks.py", "Deep networks", ":material/stacked_line_chart:",
        "Vanishing gradients layer by layer (sigmoid vs ReLU, batch norm, skip connections) and "
        "residual vs plain networks trained side by side.",
        ready=True,
    ),
    PageInfo(
        "generative", "../pages/10_Generative_models.py", "Generative models",
        ":material/auto_awesome:",
        "Models that make new data, trained live: autoencoder, VAE, GANs, a normalizing flow "
        "and diffusion.",
        ready=True,
    ),
)

PAGES_BY_KEY = {page.key: page for page in PAGES}
