"""The lecture's demos in order: each names the page and the link parameters that set it up,
one sentence, and the number the lecture shows (read by the Lecture page and its tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from explorer.lecture import reference as lecture


def _grid(values) -> str:
    return json.dumps([list(row) for row in values])


@dataclass(frozen=True)
class Demo:
    key: str  # shown on the card: "S1" ... "S19" (the first demos), "23.1" ... (issue 23's items)
    section: str  # the lecture's section (its outline)
    title: str
    sentence: str  # what to look at
    expect: str  # the lecture's number or picture, as on its slide
    page: str  # catalogue key
    params: dict[str, str] = field(default_factory=dict)  # link parameters, as the URL has them

    @property
    def link(self) -> str:
        """The demo's relative address, e.g. /convolution?tab=...: one click, set up."""
        return f"/{self.page}" + (f"?{urlencode(self.params)}" if self.params else "")


MOTIVATION = "Motivation: the ImageNet challenge (ILSVRC)"
DEEP = "Deep networks and feature hierarchies"
BASICS = "2D convolution basics"
CNNS = "Convolutional neural networks"
PYTORCH = "Creating and visualising convolutional layers in PyTorch"
TRAINING = "Training CNNs: backpropagation, batch norm, dropout, etc."
TRANSFER = "Transfer learning from famous pre-trained networks"
APPLICATIONS = "Other applications of deep learning"
SECTIONS = (MOTIVATION, DEEP, BASICS, CNNS, PYTORCH, TRAINING, TRANSFER, APPLICATIONS)

CAMERAMAN = {"image": "builtin", "photo": "cameraman"}
LECTURE_5X5 = {"image": "pattern", "pattern": "lecture 5x5", "from": "grid",
               "grid": _grid(lecture.CONV_KERNEL_3X3), "normalise": "false", "mode": "valid",
               "stride": "1", "dilation": "1"}

DEMOS: tuple[Demo, ...] = (
    Demo("23.6", MOTIVATION, "The ILSVRC story",
         "ImageNet's top-5 error by year beside each winner's parameters and GFLOPS "
         "(torchvision's weights metadata); click a network to look inside it.",
         "25.6 % (2012 runner-up) → AlexNet 15.3 % → VGG16 7.5 % → GoogLeNet 6.7 % → "
         "ResNet 3.6 %.",
         "architectures", {"tab": "ILSVRC"}),
    Demo("23.1", DEEP, "A hidden unit is a half-space; the output intersects them",
         "Press Start: each hidden unit's boundary w·x + b = 0 turns until six half-spaces, "
         "combined by the output, carve out XOR; with no hidden layer one line is all a "
         "network can draw.",
         "The boundary is perpendicular to w and shifted by −b/‖w‖; a is largest where x is "
         "colinear with w. XOR: test accuracy ≥ 95 % with hidden units, ≤ 70 % without.",
         "playground", {"pg_data": "xor", "pg_hidden": "6", "pg_features": '["x1", "x2"]',
                        "pg_act": "tanh", "pg_unit": "0", "tab": "Half-spaces"}),
    Demo("23.2", DEEP, "The vanishing gradient problem",
         "A 12-layer plain CNN on a batch of Shapes: each layer's gradient norm on a log scale, "
         "first to last; switch sigmoid to ReLU, add batch norm or skip connections.",
         "Sigmoid (slope ≤ 0.25): the first layer's gradient is 4 × 10^-11 of the last's "
         "(< 10^-2); ReLU with skip connections: 0.46 (> 0.1).",
         "deep", {"tab": "Vanishing gradients", "depth": "12", "act": "sigmoid", "bn": "false",
                  "skip": "false"}),
    Demo("23.5", BASICS, "Pattern matching: a template found by correlation",
         "Move the pattern: the correlation's peak follows it; beside a bright square plain "
         "correlation is fooled, the normalised one is not.",
         "The 3x8 example: Z = 40 (\"Big\") vs 32 (\"Small\"); conv 6.1 × 10^5 vs dense "
         "2.2 × 10^11 weights.",
         "layers", {"tab": "Pattern matching", "pm_tpl": "cross",
                    "pm_scene": "noise and a bright square", "pm_row": "40", "pm_col": "20"}),
    Demo("S1", BASICS, "Boundary effects: valid, same, full",
         "A 9x9 uniform kernel on the 512x512 cameraman in the three modes, side by side.",
         "Output shapes full (520, 520), same (512, 512), valid (504, 504).",
         "convolution", {**CAMERAMAN, "from": "preset", "kernel": "box", "k_square": "true",
                         "k_size": "9", "boundary": "fill", "tab": "Modes side by side"}),
    Demo("S2", BASICS, "Local averaging: kernel size and type",
         "Uniform vs Gaussian blur, 9x9 vs 15x15, on one grey scale.",
         "15x15 blurs more than 9x9; the Gaussian blurs less than the uniform kernel.",
         "convolution", {**CAMERAMAN, "tab": "Blur: size and type"}),
    Demo("S3", BASICS, "Sobel: convolution vs correlation",
         "Sobel Gx on a dark-to-light step edge: correlation and convolution differ in sign.",
         "Convolution +4 at the edge, correlation −4 (the sign flips).",
         "convolution", {"image": "pattern", "pattern": "step edge (vertical)", "size": "8",
                         "from": "preset", "kernel": "sobel_x", "normalise": "false",
                         "mode": "valid", "stride": "1", "dilation": "1",
                         "tab": "Correlation vs convolution"}),
    Demo("S5", BASICS, "The numerical example of 'valid' convolution",
         "The 5x5 input and 3x3 kernel of the slide; click an output cell to see its sum.",
         "Output [[12, 12, 17], [10, 17, 19], [9, 6, 14]].",
         "convolution", {**LECTURE_5X5, "tab": "Step through"}),
    Demo("S6", CNNS, "Max pooling",
         "2x2 max pooling with stride 2 on the slide's 4x4 example.",
         "Output [[5, 4], [4, 6]].",
         "convolution", {"tab": "Pooling", "pool": "lecture", "pool_kind": "max"}),
    Demo("S15", CNNS, "Why convolution in the first layers: parameters",
         "AlexNet's 2nd layer, (96, 55, 55) → (256, 55, 55), as a conv layer and as a dense one.",
         "6.1 × 10^5 weights (conv) vs 2.2 × 10^11 (dense); VGG16: 14.7 M conv vs 123.6 M dense.",
         "layers", {"tab": "Parameters", "p_cin": "96", "p_cout": "256", "p_n": "55", "p_k": "5"}),
    Demo("S19", CNNS, "A dense layer is a 1x1 convolution",
         "nn.Linear and nn.Conv2d(kernel_size=1) with the same weights on a 1x1 map.",
         "The same numbers: largest difference 0.",
         "layers", {"tab": "Dense = 1x1 conv"}),
    Demo("S4", PYTORCH, "Sobel as an nn.Conv2d with two output channels",
         "Gx and Gy loaded with load_state_dict into nn.Conv2d(1, 2, 3), on the cameraman.",
         "Channels 0 and 1 equal correlate2d with Gx and Gy (difference ~1e-4, float32).",
         "convolution", {**CAMERAMAN, "mode": "valid", "tab": "Edges (Sobel)",
                         "sobel": "correlate"}),
    Demo("S7", PYTORCH, "Colour filtering",
         "Four colour filters (red, green, blue, red-blue) times a 9x9 Gaussian with σ = 2.",
         "A (4, 3, 9, 9) weight; each map lights up where its colour is.",
         "colour", {"tab": "Feature maps"}),
    Demo("S8", PYTORCH, "Learned kernels in AlexNet",
         "AlexNet's first-layer kernels drawn as colour images (needs its cached weights).",
         "64 kernels of 11x11x3 in torchvision; the paper's 96 were split over two GPUs.",
         "pretrained", {"model": "alexnet", "tab": "First-layer kernels"}),
    Demo("S17", TRAINING, "Backpropagation is correlation and convolution",
         "Autograd's dJ/dW and dJ/dA beside the lecture's formulas on one conv layer.",
         "dJ/dW = correlate(A, dJ/dZ), dJ/dA = full convolution of dJ/dZ with W: difference 0.",
         "layers", {"tab": "Backprop"}),
    Demo("S10", TRAINING, "Learning-rate schedules and one-cycle",
         "The one-cycle schedule previewed step by step before Start.",
         "Warm up to the learning rate over the first 30 %, then anneal to almost 0.",
         "train", {"schedule": "one-cycle", "lr": "0.003", "preview": "true",
                   "ablation": "false"}),
    Demo("S11", TRAINING, "ReLU, Leaky ReLU, PReLU, ELU",
         "The four activations' curves; pick one for the model.",
         "Leaky ReLU slope 0.01 below 0; ELU α(e^z − 1) with α = 1.",
         "train", {"activation": "elu", "preview": "true", "ablation": "false"}),
    Demo("S9", TRAINING, "Batch norm, dropout and augmentation (the ablation)",
         "Four runs on 2,000 Shapes images: plain, + batch norm, + dropout, + augmentation; "
         "press Lecture ablation (about 3 minutes).",
         "Lecture (CIFAR-10): 67 % → 72.5 % → 79.5 % → 79 %; here about 86 → 89.5 → 90.7 → "
         "92.8 % (the flip still helps on 2,000 images).",
         "train", {"dataset": "shapes-small", "ablation": "true", "preview": "false"}),
    Demo("S16", TRANSFER, "Transfer learning",
         "Adapt the default network to ten new letters: frozen features vs from scratch.",
         "Frozen features + new head beat training from scratch by about 30 points.",
         "transfer", {}),
    Demo("S12", TRANSFER, "VGG16's structure",
         "VGG16 layer by layer: 13 convolutions (3x3) and 3 dense layers.",
         "138,357,544 parameters; about 3x AlexNet's.",
         "pretrained", {"model": "vgg16", "tab": "Architecture"}),
    Demo("23.4", TRANSFER, "GoogLeNet's inception module",
         "Four branches in parallel (1x1, 3x3, 5x5, pool), counted on torchvision's block, "
         "against one convolution of the same output width.",
         "inception3a: 155,136 weights vs 442,368 for one 3x3 conv 192→256; the 5x5 branch "
         "makes only 32 channels.",
         "architectures", {"tab": "Inception", "block": "inception3a", "variant": "torchvision"}),
    Demo("23.3", TRANSFER, "Residual networks and the degradation problem",
         "A shallow plain, a deep plain and a deep residual CNN trained side by side on Shapes "
         "(press Train the three, about a minute); the unravelled view's 2^L paths.",
         "Training error after 300 steps: shallow about 64 %, deep plain about 89 % (worse: "
         "degradation), deep residual about 35-43 %; most of the 2^L paths are about L/2 long.",
         "deep", {"tab": "Residual vs plain", "blocks": "20", "csteps": "300"}),
    Demo("S18", TRANSFER, "Receptive fields: five 3x3 = one 11x11",
         "Click an output unit of a stack of layers and see what it sees.",
         "Five 3x3 convolutions and one 11x11 both see 11 pixels; VGG16's last pool 212.",
         "layers", {"tab": "Receptive field"}),
    Demo("S13", TRANSFER, "Classifying images: the top-3 table",
         "VGG16's most likely classes with their softmax probabilities (needs cached weights).",
         "e.g. African elephant 0.70, tusker 0.28, Indian elephant 0.02.",
         "pretrained", {"model": "vgg16", "tab": "Predictions"}),
    Demo("S14", TRANSFER, "Internal variables: layer 1 and layer 10",
         "VGG16's activations after the first and the tenth feature layer.",
         "Layer 1: edges and colours; layer 10: parts and textures.",
         "pretrained", {"model": "vgg16", "tab": "Activations", "layer": "features.1"}),
    Demo("24.1", APPLICATIONS, "Autoencoders: compress, rebuild, spot the odd one",
         "A conv encoder squeezes each Shapes image to a few numbers and a decoder rebuilds it: "
         "originals above reconstructions, the latent space coloured by class (click to "
         "decode a point), and the anomaly score of an image unlike the data; press Train to "
         "watch it learn.",
         "Random noise's reconstruction error is far above every Shapes test image's (the "
         "shipped weights: about 0.085 per pixel against a 99th percentile of 0.021).",
         "generative", {"tab": "Autoencoder", "ae_odd": "random noise"}),
    Demo("24.2", APPLICATIONS, "VAEs: reconstruction + beta x KL",
         "The lecture's cost split into its two terms on separate axes, z = mu + sigma * eps "
         "for one image, samples from N(0, I) and a latent walk; move beta to trade sharp, "
         "unstructured codes for blurry, smooth ones.",
         "The shipped VAE's samples from N(0, I): 53 of 64 (83 %) recognised by the default "
         "Shapes network, across 8 of its 10 classes; it names the class of 76 % of the "
         "VAE's reconstructions of test images.",
         "generative", {"tab": "VAE"}),
    Demo("24.3", APPLICATIONS, "GANs: a generator against a discriminator",
         "GAN Lab's view: D's output over the plane, the real ring of 8 Gaussians and G's "
         "samples pushed along J_G's gradient; press Train, or go step by step (D, then G); "
         "'Show mode collapse' for the GAN that finds one mode at a time.",
         "At the game's end D(x) = D(G(z)) = 1/2, J_D = ln 4 ≈ 1.39, J_G = ln 2 ≈ 0.69; the "
         "defaults cover all 8 modes by step 2,000, the collapsing GAN 1 or 2.",
         "generative", {"tab": "GAN on 2-D points", "g2_data": "ring"}),
    Demo("24.4", APPLICATIONS, "Normalizing flows: exact likelihood with a log-determinant",
         "A RealNVP coupling flow on two moons: the learned density as a heat map, a grid "
         "pushed through f and f⁻¹ layer by layer, and the NLL split into −log N(f(x)) and "
         "−log |det ∂f/∂x|; press Train, or draw your own points.",
         "The shipped flow's test NLL: 1.88 nats per point against 3.28 for one "
         "Gaussian fitted to the same points.",
         "generative", {"tab": "Normalizing flow", "fl_data": "moons"}),
    Demo("24.5", APPLICATIONS, "Diffusion: noise in, a network takes it out",
         "The forward process q(x_t | x_{t-1}) with a t slider under the linear and cosine "
         "schedules, the reverse chain from x_T to x_0 as frames and an animation, and "
         "class-conditional samples with a guidance scale; a small DDPM trains live.",
         "The shipped model: the default Shapes network recognises 63 of 64 samples (p ≥ 0.5) "
         "across all 10 classes; 64 samples take about 6 s on one core (50 DDPM steps, "
         "guidance 10). Class 9's samples are spiky, star-like shapes.",
         "generative", {"tab": "Diffusion", "df_t": "50", "df_class": "9"}),
)
DEMOS_BY_KEY = {demo.key: demo for demo in DEMOS}
