"""The Generative models page's VAE tab: the two loss terms (reconstruction and KL) with a beta
slider, z = mu + sigma * eps for one image, samples from N(0, I) and a latent walk."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.generative import autoencoder as ae
from explorer.generative import vae
from explorer.generative.plots import image_grid
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.ui.generative import live
from explorer.ui.generative.verdicts import reconstructions_verdict, samples_verdict
from explorer.ui.presenter import presenting
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel

TAB = "vae"
STEPS = (100, 300, 1000, 3000, 10000)
BETAS = (0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0)
DEFAULTS = vae.Settings()
WALK = 8  # images on the latent walk
TEST_IMAGES = 200  # test images the walk's ends are picked from


def _key(name: str, default, valid, url: str) -> str:
    return seed(kept(f"generative.{TAB}.{name}"), default, valid=valid, url=url)


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped() -> vae.VAETrainer | None:
    return ae.pretrained_trainer(vae, TAB)


@st.cache_data(max_entries=1, show_spinner=False)
def shipped_preview():
    trainer = shipped()
    return None if trainer is None else trainer.preview()


def _trained(snap) -> tuple[vae.VAETrainer | None, str]:
    """A trainer holding the finished run's weights, else the shipped one."""
    weights = live.weights(TAB)
    if snap is not None and snap.done and weights is not None:
        try:
            trainer = vae.VAETrainer(snap.settings)
            trainer.load_state_dict(weights)
            return trainer, "your finished run"
        except Exception:  # e.g. the uploaded zip was forgotten: use the shipped weights
            pass
    return shipped(), "the shipped weights"


def _bars(preview) -> go.Figure:
    dims = np.arange(1, len(preview.mu) + 1)
    fig = go.Figure([
        go.Bar(x=dims, y=preview.mu, name="mu", marker_color="#1f77b4"),
        go.Bar(x=dims, y=preview.sigma, name="sigma", marker_color="#ff7f0e"),
        go.Scatter(x=dims, y=preview.z, mode="markers", name="z = mu + sigma * eps",
                   marker=dict(color="black", size=8, symbol="diamond")),
    ])
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), barmode="group",
                      xaxis_title="latent dimension", legend=dict(orientation="h", y=1.15))
    return fig


def _draw(snap) -> None:
    st.caption(live.status(snap))
    preview = snap.preview if snap is not None and snap.preview is not None else shipped_preview()
    left, right = st.columns([3, 2])
    with left:
        live.loss_chart(snap, ["reconstruction", "kl", "loss"], key="gen_vae_loss",
                        separate=True, log_y=True)
    if preview is None:
        right.info("No shipped weights: press Train.")
        return
    with right:
        st.image(image_grid(preview.samples, columns=8), width="stretch", output_format="PNG",
                 caption="Samples: D(z) with z ~ N(0, I) (the same z at every refresh)")
        st.caption(samples_verdict(preview.samples))
        st.image(image_grid(np.concatenate([preview.originals, preview.reconstructions]), 8),
                 width="stretch", caption="Test images and their reconstructions D(mu)",
                 output_format="PNG")
        st.caption(reconstructions_verdict(preview.originals, preview.reconstructions,
                                           preview.labels, preview.classes))
    st.markdown("**The reparameterisation** for the first test image: the encoder gives mu and "
                "sigma, z = mu + sigma * eps with eps ~ N(0, I), so the gradient reaches mu "
                "and sigma through a sample.")
    a, b = st.columns([3, 1])
    a.plotly_chart(_bars(preview), width="stretch", key="gen_vae_reparam",
                   config={"displayModeBar": False})
    b.image(image_grid(np.stack([preview.originals[0], preview.decoded]), 2), width="stretch",
            caption="x and D(z)", output_format="PNG")
    st.session_state[f"generative.{TAB}.shown"] = preview


def _walk_section(snap) -> None:
    trainer, source = _trained(snap)
    if trainer is None:
        return
    x, _ = trainer.data.test_batch(TEST_IMAGES)
    a, b = st.columns(2)
    first = a.number_input("From test image", 0, TEST_IMAGES - 1, key=_key(
        "walk_a", 0, number_in(0, TEST_IMAGES - 1, integer=True), "vae_a"))
    last = b.number_input("to test image", 0, TEST_IMAGES - 1, key=_key(
        "walk_b", 3, number_in(0, TEST_IMAGES - 1, integer=True), "vae_b"))
    path = trainer.walk(x[first], x[last], WALK)
    st.image(image_grid(np.concatenate([x[first][None].numpy(), path, x[last][None].numpy()]),
                        WALK + 2), width="stretch",
             caption=f"A latent walk ({source}): the two images at the ends, between them "
                     f"D((1 - t) mu_a + t mu_b) for {WALK} values of t from 0 to 1.", output_format="PNG")


def panel() -> None:
    info = MODELS[TAB]
    if not presenting():
        st.markdown(f"**{info.label}.** {info.summary} The cost is the lecture's "
                    "||x - D(mu + sigma * eps)||² + beta KL(N(mu, sigma²) || N(0, I)). A small "
                    "beta gives sharp reconstructions but a latent space with holes (samples "
                    "from N(0, I) look odd); a large beta gives a smooth latent space and "
                    "blurry images.")
    columns = st.columns(4)
    with columns[0]:
        dataset = live.dataset_picker(TAB, url="vae_data")
    beta = columns[1].select_slider("beta (KL weight)", BETAS, key=_key(
        "beta", DEFAULTS.beta, one_of(BETAS), "vae_beta"))
    latent = columns[2].slider("Latent size", 2, 32, key=_key(
        "latent", DEFAULTS.latent, number_in(2, 32, integer=True), "vae_latent"))
    steps = columns[3].select_slider("Steps", STEPS, key=_key(
        "steps", 3000, one_of(STEPS), "vae_steps"))
    settings = vae.Settings(dataset=dataset, beta=beta, latent=latent, max_steps=steps,
                            max_seconds=120.0)
    live.controls(TAB, TAB, settings)
    snap = live.live(TAB, _draw)
    st.markdown("**A latent walk** between two test images.")
    _walk_section(snap)
    code_panel(generative_script(TAB, settings), title=f"Show the code: {info.label} as a script")
    st.caption(f"From a terminal: `python -m explorer.generative --model vae --max-steps {steps}"
               f" --set beta={beta} --set latent={latent} --samples samples.npy --json`")
