"""Colour filter banks: colour weights times a spatial kernel as one (C_out, 3, K, K) weight.

presets (named colour weights, weights for a picked colour), bank (filter specs, the lecture's
bank, the weight tensor), feature_maps (applying a bank: feature maps, each input channel's
share), proof (the same maps from a real nn.Conv2d).

May import: explorer.convolution, explorer.images, explorer.lecture, explorer.jobs.
"""
