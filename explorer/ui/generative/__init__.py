"""The Generative models page's parts: one panel module per model (autoencoder, vae, gan2d, gan,
flow, diffusion), each with `panel()`, the live view they share (live) and the Shapes network's
verdict on their pictures (verdicts)."""
