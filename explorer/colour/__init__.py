"""Colour filter banks: a (C_out, 3, K, K) weight built from colour weights and a spatial kernel,
feature maps, each channel's share, the same result from nn.Conv2d (filters).

May import: explorer.convolution, explorer.images, explorer.lecture, explorer.jobs.
"""
