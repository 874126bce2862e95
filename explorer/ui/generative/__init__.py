"""The Generative models page's parts: one panel module per model (autoencoder, vae, gan2d, gan,
flow, diffusion), each with `panel()`, and the live view they share (live)."""
