"""Famous architectures side by side: the ILSVRC story (the lecture's top-5 errors beside
torchvision's parameters and GFLOPS, ilsvrc) and GoogLeNet's inception module (branch counts
from the real torchvision block, a single conv of the same width, branch outputs on a picture,
inception); a command line (`python -m explorer.architectures`).

May import: explorer.convolution, explorer.images, explorer.lecture, explorer.jobs (the
layers; its siblings networks, codegen and colour not). Imports today: explorer.lecture.
"""
