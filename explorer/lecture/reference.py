"""Numbers from the lecture unit (its slides' text) that the app must reproduce exactly."""

# "Numerical example of 'valid' convolution": a 5x5 input, a 3x3 kernel (the subscripts)
CONV_INPUT_5X5 = (
    (3, 3, 2, 1, 0),
    (0, 0, 1, 3, 1),
    (3, 1, 2, 2, 3),
    (2, 0, 0, 2, 2),
    (2, 0, 0, 0, 1),
)
CONV_KERNEL_3X3 = (
    (0, 1, 2),
    (2, 2, 0),
    (0, 1, 2),
)
CONV_VALID_OUTPUT = (
    (12, 12, 17),
    (10, 17, 19),
    (9, 6, 14),
)

# "Illustration of max-pooling": 2x2 max pooling with stride 2
POOL_INPUT_4X4 = (
    (2, 3, 4, 0),
    (1, 5, 3, 2),
    (0, 4, 2, 3),
    (1, 0, 6, 1),
)
POOL_MAX_2X2_OUTPUT = (
    (5, 4),
    (4, 6),
)

# "Edge detection via 2D convolution": Sobel gradient operators
SOBEL_GX = ((1, 0, -1), (2, 0, -2), (1, 0, -1))
SOBEL_GY = ((1, 2, 1), (0, 0, 0), (-1, -2, -1))

# "Local averaging: boundary effects": a 9x9 box on the 512x512 cameraman
CAMERAMAN_SHAPES_9X9 = {"full": (520, 520), "same": (512, 512), "valid": (504, 504)}

# "Color filtering in PyTorch": colour weights (C_out, C_in) = (4, 3), 9x9 Gaussian with sigma 2
COLOUR_WEIGHTS = {
    "red": (1.0, -0.5, -0.5),
    "green": (-0.5, 1.0, -0.5),
    "blue": (-0.5, -0.5, 1.0),
    "red-blue": (0.5, -1.0, 0.5),
}

# "Pattern matching": a 2x1 template W found in a 3x8 image X by correlation; the slide's boxed
# image cell is the window's top-left X[j1, j2]: "Big" at (1, 4) (window (4, 6)), "Small" at
# (1, 5) (window (5, 3))
PATTERN_TEMPLATE_2X1 = ((4,), (4,))
PATTERN_IMAGE_3X8 = (
    (4, 1, 3, 1, 2, 9, 1, 4),
    (1, 1, 9, 0, 4, 5, 9, 6),
    (8, 2, 7, 1, 6, 3, 5, 3),
)
PATTERN_BIG = (1, 4)
PATTERN_SMALL = (1, 5)

# "Large-scale image classification" ... "Residual networks": ILSVRC top-5 error rates, in %
# (the 2012 runner-up, without a deep net, and the winners the lecture names)
ILSVRC_TOP5_ERROR = {
    "2012 runner-up": 25.6,
    "AlexNet": 15.3,
    "VGG16": 7.5,
    "GoogLeNet": 6.7,
    "ResNet": 3.6,
}
