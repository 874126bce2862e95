"""Page 3: train a small CNN live and compare runs."""

from explorer.ui.widgets import being_built, page_header

page_header(
    "train",
    "Train the lecture's simple CNN (two conv + ReLU + max-pool blocks, two dense layers) and "
    "watch it learn: the loss falls, the first-layer kernels take shape, the errors change.",
)
being_built(
    5,
    [
        "train on a built-in shapes dataset (no download), MNIST, Fashion-MNIST, CIFAR-10 or your own images",
        "change the model (blocks, channels, batch norm, dropout) and the optimiser and schedule",
        "watch live loss and accuracy curves, kernels, a confusion matrix and mistakes",
        "pause, resume, compare runs: the lecture's plain / batch norm / dropout / augmentation ablation",
    ],
)
