"""CNN Explorer: interactive lessons on how convolutional neural networks see."""

__version__ = "0.1.0"
