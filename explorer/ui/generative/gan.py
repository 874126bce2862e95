"""The Generative models page's image GAN tab: settings, Train / Stop / Restart on the shared
job, the fixed grid of z's decoded as it trains, J_D and J_G, D(x) and D(G(z)), what the default
Shapes network recognises, and an interpolation in z (the shipped weights before any run)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.generative import gan
from explorer.generative.gan_plots import discriminator_figure, losses_figure, samples_picture
from explorer.generative.job import GenerativeSnapshot
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.ui.generative import live
from explorer.ui.generative.verdicts import samples_verdict
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel

TAB = "gan"
K = f"generative.{TAB}."
LATENTS = (8, 16, 32, 64)
WIDTHS = (8, 12, 16, 24, 32)
BATCHES = (16, 32, 64)
RATES = (2e-4, 5e-4, 1e-3, 2e-3)
SECONDS = (30, 60, 120, 300)


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped() -> tuple[gan.Settings, gan.Generator, str] | None:
    """The shipped generator (assets/generative/gan.pt), once per process; None if missing."""
    return gan.shipped_generator()


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped_grid() -> np.ndarray | None:
    """The shipped generator's 64 samples (GRID, C, S, S), decoded once per process: every
    student's rerun of the tab shows the same picture."""
    held = shipped()
    return None if held is None else gan.decode(held[1], gan.fixed_z(gan.GRID, held[0].latent, 0))


def settings_form() -> gan.Settings:
    """The widgets (each in the link) -> Settings."""
    s = gan.Settings()
    dataset = live.dataset_picker(TAB, url="gan_data")
    left, right = st.columns(2)
    latent = seed(kept(K + "latent"), s.latent, valid=one_of(LATENTS), url="gan_latent")
    left.select_slider("Latent size", LATENTS, key=latent)
    width = seed(kept(K + "width"), s.width, valid=one_of(WIDTHS), url="gan_width")
    right.select_slider("Width", WIDTHS, key=width, help="Channels of D's first conv and G's "
                        "last; doubled at each lower resolution. D also sees how varied the "
                        "batch is (its minibatch standard deviation), so a G that makes only a "
                        "few kinds of picture (mode collapse) is caught. The shipped weights: "
                        "width 32, 20,000 steps.")
    batch = seed(kept(K + "batch"), s.batch_size, valid=one_of(BATCHES), url="gan_batch")
    left.select_slider("Batch", BATCHES, key=batch)
    lr = seed(kept(K + "lr"), s.lr_g, valid=one_of(RATES), url="gan_lr")
    right.select_slider("Learning rate", RATES, key=lr, format_func=lambda r: f"{r:g}")
    seconds = seed(kept(K + "seconds"), int(s.max_seconds), valid=one_of(SECONDS),
                   url="gan_seconds")
    left.select_slider("Seconds", SECONDS, key=seconds, help="Computing time (the run also "
                       "stops at 20 steps a second's worth of steps).")
    seed_key = seed(kept(K + "seed"), 0, valid=number_in(0, 9_999, integer=True), url="gan_seed")
    right.number_input("Seed", 0, 9_999, key=seed_key)
    budget = st.session_state[seconds]
    return gan.Settings(
        dataset=dataset, latent=st.session_state[latent], width=st.session_state[width],
        batch_size=st.session_state[batch], lr_g=st.session_state[lr], lr_d=st.session_state[lr],
        max_seconds=float(budget), max_steps=20 * budget, seed=st.session_state[seed_key])


def _draw(snap: GenerativeSnapshot | None) -> None:
    left, right = st.columns([1, 1], gap="medium")
    preview = snap.preview if snap is not None else None
    with left:
        if isinstance(preview, gan.Preview):
            st.markdown(f"{live.status(snap)}  \nThe same 64 z's decoded at step "
                        f"{preview.step:,}:")
            st.image(samples_picture(preview.grid, scale=2), width="content", output_format="PNG")
            if snap.done:
                st.caption(samples_verdict(preview.grid))
        else:
            held = shipped()
            if held is None:
                st.info("No shipped weights (assets/generative/gan.pt): press Train.")
            else:
                note, images = held[2], shipped_grid()
                st.markdown("Not trained here yet: 64 samples of the **shipped weights**. "
                            "Press **Train** to watch a GAN learn from scratch.")
                st.image(samples_picture(images, scale=2), width="content", output_format="PNG")
                st.caption(samples_verdict(images) + (f" Made by `{note}`." if note else ""))
    with right:
        losses = snap.losses if snap is not None else {}
        max_steps = snap.settings.max_steps if snap is not None else None
        st.plotly_chart(losses_figure(losses, max_steps=max_steps, height=220),
                        width="stretch", key=f"{K}j", config={"displayModeBar": False})
        st.plotly_chart(discriminator_figure(losses, max_steps=max_steps, height=220),
                        width="stretch", key=f"{K}d", config={"displayModeBar": False})


def _generator() -> tuple[gan.Generator, int, str] | None:
    """The finished run's generator (with its latent size), else the shipped one."""
    snap = live.snapshot(TAB)
    state = live.weights(TAB)
    if snap is not None and state is not None and isinstance(snap.settings, gan.Settings):
        return gan.generator_from_state(snap.settings, state), snap.settings.latent, "this run"
    held = shipped()
    if held is None:
        return None
    return held[1], held[0].latent, "the shipped weights"


def interpolation() -> None:
    """G along a straight line in z between two seeds' z's."""
    found = _generator()
    if found is None:
        st.caption("Train a GAN first: there are no shipped weights.")
        return
    generator, latent, source = found
    columns = st.columns(3)
    a = seed(kept(K + "from"), 1, valid=number_in(0, 9_999, integer=True))
    columns[0].number_input("From seed", 0, 9_999, key=a)
    b = seed(kept(K + "to"), 2, valid=number_in(0, 9_999, integer=True))
    columns[1].number_input("To seed", 0, 9_999, key=b)
    n = seed(kept(K + "count"), 10, valid=number_in(2, 16, integer=True), url="gan_count")
    columns[2].slider("Images", 2, 16, key=n)
    z0 = gan.fixed_z(1, latent, st.session_state[a])[0]
    z1 = gan.fixed_z(1, latent, st.session_state[b])[0]
    images = gan.interpolate(generator, z0, z1, st.session_state[n])
    st.image(samples_picture(images, columns=len(images), scale=3), width="content", output_format="PNG")
    st.caption(f"G((1 − t) z₀ + t z₁) for t from 0 to 1, with {source}: a smooth path in z "
               "gives a smooth change of picture.")


def panel() -> None:
    info = MODELS[TAB]
    st.markdown(f"**{info.label}**: {info.summary} J_D = −mean ln D(x) − E ln(1 − D(G(z))), "
                "J_G = −E ln D(G(z)); at the game's end D(x) = D(G(z)) = 1/2.")
    left, right = st.columns([1.4, 3], gap="medium")  # wide enough for Stop and Restart
    with left:
        settings = settings_form()
        live.controls(TAB, TAB, settings, stacked=True)
    with right:
        live.live(TAB, _draw)
    code_panel(generative_script(TAB, settings), title=f"Show the code: {info.label} as a script")
    with st.expander("Interpolation in z", expanded=False):
        interpolation()
