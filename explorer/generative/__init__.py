"""Generative models trained live (the lecture's "Other applications of deep learning"):
an autoencoder and a VAE, GANs (a 2-D toy and an image GAN), a 2-D normalizing flow and a small
diffusion model. Each model is a module with a frozen `Settings` and `make_trainer(settings)`
(the contract in base); `registry.MODELS` names them; one job kind trains any of them
(job, identity); `python -m explorer.generative` trains or samples from a terminal."""
