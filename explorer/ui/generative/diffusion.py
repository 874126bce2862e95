"""The Generative models page's diffusion tab: the forward process (a t slider, linear / cosine
schedules as x_t and sqrt(alpha-bar_t)), a small DDPM trained live on Shapes, and sampling
(shipped or trained weights): class picker, guidance scale, the reverse chain as frames and an
animation."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st
import torch

from explorer.generative import diffusion
from explorer.generative.diffusion_plots import as_rgb, schedule_figure, strip, to_display
from explorer.generative.job import GenerativeSnapshot
from explorer.generative.plots import image_grid
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.training.data import DatasetError
from explorer.ui.generative import live
from explorer.ui.state import kept, link_applied, number_in, one_of, seed
from explorer.ui.widgets import code_panel
from explorer.user_input import InputError

TAB = "diffusion"
K = f"generative.{TAB}."
CHART = {"displayModeBar": False}
RATES = (3e-4, 1e-3, 2e-3, 5e-3)
SECONDS = (30, 60, 180, 300)
STEPS = (10, 100, 1_000, 3_000, 100_000)  # whichever bound comes first: steps or seconds
COUNTS = (10, 20, 40, 64)
FORWARD_TIMES = 6  # x_t pictures along the forward process
SHOWN = K + "shown"  # (weights, request, samples or None for the shipped model's) on show
SAMPLE_LINKS = ("df_class", "df_guidance", "df_sample_steps", "df_sampler", "df_count")


@st.cache_resource(max_entries=1, show_spinner="Loading the shipped diffusion weights…")
def _shipped() -> diffusion.DiffusionTrainer | None:
    from explorer.generative.autoencoder import pretrained_trainer

    return pretrained_trainer(diffusion, TAB)


@st.cache_data(max_entries=4, show_spinner=False)
def _examples(count: int = 10) -> np.ndarray:
    """One Shapes training image per class, (10, 3, 32, 32) in [-1, 1]."""
    from explorer.training.data import shapes_dataset

    images, _ = shapes_dataset(n_train=2000).preview(1)
    return images[:count].float().numpy() / 127.5 - 1


def forward_panel() -> None:
    """x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps for a chosen t, under both schedules."""
    st.markdown("**Forward process** q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I), so "
                "q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) with ᾱ_t = ∏ (1 − β_s).")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        name = seed(kept(K + "fwd_schedule"), "cosine", valid=one_of(list(diffusion.SCHEDULES)),
                    url="df_schedule")
        st.segmented_control("Schedule", list(diffusion.SCHEDULES), key=name,
                             format_func=lambda k: diffusion.SCHEDULES[k].label)
        steps = diffusion.Settings().timesteps
        t_key = seed(kept(K + "t"), steps // 4, valid=number_in(0, steps, integer=True),
                     url="df_t")
        t = int(st.slider("t", 0, steps, key=t_key))
        which = int(st.number_input("Picture (class)", 0, 9, 0, key=K + "picture"))
    chosen = st.session_state.get(name) or "cosine"
    schedules = {k: diffusion.make_schedule(k, steps) for k in diffusion.SCHEDULES}
    schedule = schedules[chosen]
    x0 = torch.as_tensor(_examples()[which:which + 1], dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    times = sorted({0, t, *np.linspace(0, steps, FORWARD_TIMES).round().astype(int).tolist()})
    frames = [x0[0] if s == 0 else diffusion.q_sample(schedule, x0, torch.tensor([s]), noise)[0]
              for s in times]
    with right:
        st.image(strip(to_display(torch.stack(frames).numpy())),
                 caption="x_t at t = " + ", ".join(("**" if s == t else "") + str(s)
                                                   + ("**" if s == t else "") for s in times), output_format="PNG")
        kept_signal = 1.0 if t == 0 else float(schedule.alpha_bar[t - 1].sqrt())
        st.caption(f"{diffusion.SCHEDULES[chosen].label} schedule ("
                   f"{diffusion.SCHEDULES[chosen].formula}): at t = {t}, √ᾱ_t = "
                   f"{kept_signal:.3f} of the picture is left, √(1 − ᾱ_t) = "
                   f"{np.sqrt(max(0.0, 1 - kept_signal**2)):.3f} is noise.")
        st.plotly_chart(schedule_figure(schedules, max(t, 1)), width="stretch",
                        key=K + "schedule", config=CHART)


def settings_form() -> diffusion.Settings | None:
    s = diffusion.Settings()
    dataset = live.dataset_picker(TAB, url="df_data")
    left, right = st.columns(2)
    name = seed(kept(K + "schedule"), s.schedule, valid=one_of(list(diffusion.SCHEDULES)),
                url="df_train_schedule")
    left.selectbox("Schedule", list(diffusion.SCHEDULES), key=name,
                   format_func=lambda k: diffusion.SCHEDULES[k].label)
    rate = seed(kept(K + "lr"), s.learning_rate, valid=one_of(RATES), url="df_lr")
    right.select_slider("Learning rate", RATES, key=rate, format_func=lambda r: f"{r:g}")
    seconds = seed(kept(K + "seconds"), int(s.max_seconds), valid=one_of(SECONDS),
                   url="df_seconds")
    left.select_slider("Seconds", SECONDS, key=seconds)
    train_steps = seed(kept(K + "train_steps"), s.max_steps, valid=one_of(STEPS),
                       url="df_train_steps")
    right.select_slider("Steps", STEPS, key=train_steps, format_func=lambda n: f"{n:,}")
    seed_key = seed(kept(K + "seed"), 0, valid=number_in(0, 9_999, integer=True), url="df_seed")
    left.number_input("Seed", 0, 9_999, key=seed_key)
    try:
        return diffusion.Settings(dataset=dataset, schedule=st.session_state[name],
                                  learning_rate=st.session_state[rate],
                                  max_seconds=float(st.session_state[seconds]),
                                  max_steps=int(st.session_state[train_steps]), seed=int(st.session_state[seed_key]))
    except InputError as error:
        st.warning(str(error), icon=":material/edit:")
        return None


def train_panel() -> None:
    st.markdown("**Train live**: L = ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t, y)‖² with t uniform "
                "and the class y hidden for 10 % of the pictures (so one network is both the "
                "conditional and the unconditional model).")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        settings = settings_form()
        if settings is not None:
            live.controls(TAB, TAB, settings, stacked=True)

    def draw(snap: GenerativeSnapshot | None) -> None:
        live.loss_chart(snap, ["loss"], key=K + "loss")
        preview = snap.preview if snap is not None else None
        if not isinstance(preview, diffusion.Preview):
            st.caption("Press **Train**: one sample per class and a reverse chain appear here "
                       "and sharpen as the loss falls.")
            return
        st.markdown(live.status(snap))
        st.image(image_grid(preview.samples, columns=10), width="stretch",
                 caption="One sample per class: " + ", ".join(preview.classes), output_format="PNG")
        st.image(strip(preview.chain), caption="Reverse chain of the first: t = "
                 + " → ".join(str(t) for t in preview.chain_times), output_format="PNG")

    with right:
        live.live(TAB, draw)
    if settings is not None:
        code_panel(generative_script(TAB, settings),
                   title=f"Show the code: {MODELS[TAB].label} as a script")


def _model() -> tuple[diffusion.DiffusionTrainer | None, str]:
    """The finished run's weights (this tab's last run) or the shipped ones."""
    state = live.weights(TAB)
    snap = live.snapshot(TAB)
    if state is not None and snap is not None:
        try:  # a zip's classes are read again: an uploaded zip may have left the server since
            trainer = diffusion.make_trainer(snap.settings)
        except DatasetError as error:
            st.warning(f"Your run's data is not available any more ({error}): sampling from "
                       "the shipped weights instead.", icon=":material/warning:")
        else:
            trainer.load_state_dict(state)
            return trainer, f"your run ({snap.step:,} steps)"
    return _shipped(), "the shipped weights (assets/generative/diffusion.pt)"


def _samples(trainer: diffusion.DiffusionTrainer, chosen: int, n: int, sample_seed: int,
             guidance: float, steps: int, sampler: str
             ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """n samples of class `chosen` (len(classes): every class in turn), (n, C, H, W) in [0, 1],
    and the first one's reverse chain (frames, C, H, W) with its times."""
    classes = len(trainer.classes)
    labels = torch.arange(n) % classes if chosen == classes else torch.full((n,), chosen)
    x, frames, times = trainer.generate(labels, seed=sample_seed, guidance=guidance,
                                        steps=steps, sampler=sampler, keep=8)
    return diffusion.to_unit(x), np.stack([diffusion.to_unit(f[0]) for f in frames]), times


@st.cache_data(max_entries=64, show_spinner=False)
def _shipped_samples(chosen: int, n: int, sample_seed: int, guidance: float, steps: int,
                     sampler: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The shipped model's samples, computed once per server for the same settings (the whole
    class asks for the same pictures; a rerun of the tab for another widget asks again)."""
    return _samples(_shipped(), chosen, n, sample_seed, guidance, steps, sampler)


def _drawn(trainer: diffusion.DiffusionTrainer, source: str, request: tuple, pressed: bool
           ) -> tuple[tuple[np.ndarray, np.ndarray, list[int]], tuple]:
    """The samples on show and their request. Sampling (up to 64 x 50 denoiser passes, a few
    seconds) runs when Sample is pressed, on the first look, when a link sets the settings or
    when the weights change (a run of one's own finished); a rerun for any other widget shows
    the samples already drawn. The shipped model's samples are shared by the whole class
    (_shipped_samples); a run of one's own keeps its samples in this session."""
    shipped = trainer is _shipped()
    snap = live.snapshot(TAB)
    weights = source if shipped or snap is None else (source, snap.job_id)  # which run's
    shown = st.session_state.get(SHOWN)
    if (pressed or shown is None or shown[0] != weights
            or any(link_applied(url) for url in SAMPLE_LINKS)):
        result = _shipped_samples(*request) if shipped else _samples(trainer, *request)
        st.session_state[SHOWN] = (weights, request, None if shipped else result)
        return result, request
    _, request, result = shown
    return (_shipped_samples(*request) if result is None else result), request


def sample_panel() -> None:
    trainer, source = _model()
    if trainer is None:
        st.info("No shipped weights and no finished run: train one above.",
                icon=":material/info:")
        return
    classes = trainer.classes
    st.markdown(f"**Sample** from {source}: start at x_T ~ N(0, I) and take the learned steps "
                "back; guidance w mixes ε = ε(∅) + w (ε(y) − ε(∅)) (the lecture's "
                "'condition on a provided piece of information').")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        choices = [len(classes), *range(len(classes))]
        label = seed(kept(K + "class"), len(classes), valid=one_of(choices), url="df_class")
        st.selectbox("Class", choices, key=label,
                     format_func=lambda k: _class_name(classes, k))
        guide = seed(kept(K + "guidance"), trainer.settings.guidance,
                     valid=number_in(0, 15), url="df_guidance")
        st.slider("Guidance scale w", 0.0, 15.0, step=0.5, key=guide,
                  help="0: the unconditional model; 1: the conditional one; more: stronger "
                  "(less varied) classes.")
        steps = seed(kept(K + "steps"), trainer.settings.sample_steps,
                     valid=number_in(2, 50, integer=True), url="df_sample_steps")
        st.slider("Sampling steps", 2, 50, key=steps)
        sampler = seed(kept(K + "sampler"), trainer.settings.sampler,
                       valid=one_of(list(diffusion.SAMPLERS)),
                       url="df_sampler")
        st.radio("Sampler", list(diffusion.SAMPLERS), key=sampler,
                 format_func=diffusion.SAMPLERS.__getitem__)
        count = seed(kept(K + "count"), 20, valid=one_of(COUNTS), url="df_count")
        st.select_slider("Samples", COUNTS, key=count)
        sample_seed = int(st.number_input("Seed", 0, 9_999, 0, key=K + "sample_seed"))
    request = (int(st.session_state[label]), int(st.session_state[count]), sample_seed,
               float(st.session_state[guide]), int(st.session_state[steps]),
               str(st.session_state[sampler]))
    with right:  # the button beside the pictures it redraws, in sight on a projector
        pressed = st.button("Sample", type="primary", key=K + "sample",
                            icon=":material/casino:",
                            help="Draw with the settings on the left (64 samples take a few "
                            "seconds).")
        with st.spinner("Sampling…"):
            (samples, chain, times), drawn = _drawn(trainer, source, request, pressed)
        if drawn != request:
            st.info(f"These are the samples drawn before (class {_class_name(classes, drawn[0])}"
                    f", guidance {drawn[3]:g}, {drawn[4]} {drawn[5].upper()} steps, seed "
                    f"{drawn[2]}): press **Sample** to draw with the new settings.",
                    icon=":material/casino:")
        st.image(image_grid(samples, columns=10), width="stretch",
                 caption=f"{drawn[1]} samples, {drawn[4]} steps", output_format="PNG")
        st.image(strip(chain), caption="Reverse chain of the first sample: t = "
                 + " → ".join(str(t) for t in times), output_format="PNG")
        movie = px.imshow((as_rgb(chain).transpose(0, 2, 3, 1) * 255).round().astype(np.uint8),
                          animation_frame=0, labels={"animation_frame": "frame"})
        movie.update_layout(height=330, margin=dict(l=10, r=10, t=10, b=10))
        movie.update_xaxes(showticklabels=False)
        movie.update_yaxes(showticklabels=False)
        st.plotly_chart(movie, width="stretch", key=K + "movie", config=CHART)


def _class_name(classes: tuple[str, ...], chosen: int) -> str:
    return "every class in turn" if chosen == len(classes) else classes[chosen]


def panel() -> None:
    info = MODELS[TAB]
    st.markdown(f"**{info.label}**: {info.summary}")
    forward_panel()
    st.divider()
    sample_panel()
    st.divider()
    train_panel()
