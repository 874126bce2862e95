"""Generative models: autoencoder, VAE, GANs, a normalizing flow and diffusion, trained live."""

from explorer.ui.generative import autoencoder, diffusion, flow, gan, gan2d, vae
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "generative",
    "The lecture's last part: networks that make new data. Each model trains live on the "
    "server (shared by everyone who starts the same settings), with the curves the lecture's "
    "formulas name and samples that improve while you watch; shipped weights show what a "
    "longer run reaches.",
)
lazy_tabs({
    "Autoencoder": autoencoder.panel,
    "VAE": vae.panel,
    "GAN on 2-D points": gan2d.panel,
    "GAN on images": gan.panel,
    "Normalizing flow": flow.panel,
    "Diffusion": diffusion.panel,
})
