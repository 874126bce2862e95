"""The Architectures page's panels: the ILSVRC story and the inception module."""
