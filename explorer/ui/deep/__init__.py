"""The Deep networks page's parts: vanishing gradients (measured and live) and residual vs plain."""
