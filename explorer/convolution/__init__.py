"""2-D convolution as the lecture teaches it: filter2d with its engines, boundaries, pooling and
step-through (conv), the kernel registry (kernels), the lecture's side-by-side figures
(comparisons), a dense layer as a 1x1 convolution (dense_conv), one layer's gradients (backprop),
receptive fields (receptive_field).

May import: explorer.images, explorer.lecture, explorer.jobs.
"""
