"""2-D convolution as the lecture teaches it: filter2d and compare_engines (conv); the registries,
FilterSettings and input checks (specs); output shapes, padding and dilation (shapes); the SciPy,
FFT and PyTorch engines with their cost model (engines); the lecture's examples, step-through,
pooling, subsampling and Sobel (operations); the kernel registry (kernels), the lecture's
side-by-side figures (comparisons), a dense layer as a 1x1 convolution (dense_conv), one layer's
gradients (backprop), receptive fields (receptive_field), a template found by plain and
normalised correlation (pattern_matching).

May import: explorer.images, explorer.lecture, explorer.jobs.
"""
