""""Show the code": runnable SciPy / PyTorch scripts for the current settings (scripts), their
images and kernels as Python lines and the script-writing helpers (inputs), the pattern-matching
tab's script (pattern_matching), the Architectures page's scripts (architectures).

May import: explorer.convolution, explorer.images, explorer.lecture.
"""
