"""The Generative models page's 2-D GAN tab (GAN Lab's view): the settings, Train / Stop /
Restart on the shared job, D's heat map with real points, G's samples and G's gradient arrows,
the curves, and a step-by-step mode that trains D or G one step at a time in this tab."""

from __future__ import annotations

import streamlit as st

from explorer.generative import gan2d
from explorer.generative.gan_plots import discriminator_figure, losses_figure, plane_figure
from explorer.generative.job import GenerativeSnapshot
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.ui.generative import live
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel

TAB = "gan2d"
K = f"generative.{TAB}."
STEPPER = f"{K}stepper"  # this tab's step-by-step trainer: (settings, Gan2dTrainer)
HIDDEN = (8, 16, 32, 64, 128)
RATES = (1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2)
BATCHES = (32, 64, 128, 256, 512)
STEPS = (500, 1_000, 3_000, 10_000)
SHOW = ("D's heat map", "real data", "G(z)", "G's gradient")
# The mode-collapse lesson: a smaller, faster-learning GAN on the ring (measured: 1-2 of the 8
# modes at 3,000 steps, hopping between them; the defaults cover all 8 by step 2,000).
COLLAPSE = {"data": "ring", "hidden": 32, "lr": 2e-3, "batch": 128, "dsteps": 1}


def _collapse() -> None:
    """on_click: the mode-collapse settings."""
    for name, value in COLLAPSE.items():
        st.session_state[kept(K + name)] = value


def settings_form() -> gan2d.Settings:
    """The widgets (each in the link) -> Settings."""
    s = gan2d.Settings()
    data = seed(kept(K + "data"), s.dataset, valid=one_of(list(gan2d.DISTRIBUTIONS)),
                url="g2_data")
    st.selectbox("Real data", list(gan2d.DISTRIBUTIONS), key=data,
                 format_func=lambda k: gan2d.DISTRIBUTIONS[k].label)
    loss = seed(kept(K + "loss"), s.g_loss, valid=one_of(list(gan2d.G_LOSSES)), url="g2_loss")
    st.selectbox("Generator loss", list(gan2d.G_LOSSES), key=loss,
                 help="non-saturating: the lecture's J_G = -E ln D(G(z)); minimax: the original "
                 "game's E ln(1 - D(G(z))), whose gradient vanishes while D wins.")
    left, right = st.columns(2)
    hidden = seed(kept(K + "hidden"), s.hidden, valid=one_of(HIDDEN), url="g2_hidden")
    left.select_slider("Hidden units", HIDDEN, key=hidden)
    lr = seed(kept(K + "lr"), s.lr_g, valid=one_of(RATES), url="g2_lr")
    right.select_slider("Learning rate", RATES, key=lr, format_func=lambda r: f"{r:g}")
    batch = seed(kept(K + "batch"), s.batch_size, valid=one_of(BATCHES), url="g2_batch")
    left.select_slider("Batch", BATCHES, key=batch)
    dsteps = seed(kept(K + "dsteps"), s.d_steps, valid=number_in(1, 5, integer=True),
                  url="g2_dsteps")
    right.slider("D steps per G step", 1, 5, key=dsteps)
    steps = seed(kept(K + "steps"), s.max_steps, valid=one_of(STEPS), url="g2_steps")
    left.select_slider("Steps", STEPS, key=steps)
    seed_key = seed(kept(K + "seed"), 0, valid=number_in(0, 9_999, integer=True), url="g2_seed")
    right.number_input("Seed", 0, 9_999, key=seed_key)
    return gan2d.Settings(
        dataset=st.session_state[data], g_loss=st.session_state[loss],
        hidden=st.session_state[hidden], lr_g=st.session_state[lr], lr_d=st.session_state[lr],
        batch_size=st.session_state[batch], d_steps=st.session_state[dsteps],
        max_steps=st.session_state[steps], seed=st.session_state[seed_key])


def _shown() -> set[str]:
    key = seed(kept(K + "show"), list(SHOW), valid=lambda v: isinstance(v, list)
               and all(x in SHOW for x in v))
    return set(st.pills("Show", SHOW, selection_mode="multi", key=key))


def _plane(preview: gan2d.Preview, shown: set[str], key: str) -> None:
    figure = plane_figure(preview, heat=SHOW[0] in shown, real=SHOW[1] in shown,
                          fake=SHOW[2] in shown, arrows=SHOW[3] in shown, height=430)
    st.plotly_chart(figure, width="stretch", key=key, config={"displayModeBar": False})
    if preview.mode_count is not None:
        st.caption(f"Step {preview.step:,}: G's samples cover **{preview.modes} of "
                   f"{preview.mode_count}** clusters (each holding ≥ 2 % of them within 3 σ). "
                   "Fewer, hopping from one to the next: mode collapse.")


def _curves(losses: dict, max_steps: int | None, key: str) -> None:
    left, right = st.columns(2)
    left.plotly_chart(losses_figure(losses, max_steps=max_steps, height=230), width="stretch",
                      key=f"{key}.j", config={"displayModeBar": False})
    right.plotly_chart(discriminator_figure(losses, max_steps=max_steps, height=230),
                       width="stretch", key=f"{key}.d", config={"displayModeBar": False})


def _live_view(settings: gan2d.Settings, shown: set[str]) -> None:
    def draw(snap: GenerativeSnapshot | None) -> None:
        st.markdown(live.status(snap) if snap is not None else
                    "Not trained yet: the untrained networks. Press **Train** (or Step by step).")
        preview = snap.preview if snap is not None else None
        if not isinstance(preview, gan2d.Preview):
            preview = gan2d.make_trainer(settings).preview()
        _plane(preview, shown, f"{K}plane")
        _curves(snap.losses if snap is not None else {},
                snap.settings.max_steps if snap is not None else settings.max_steps, f"{K}c")

    live.live(TAB, draw)


def _stepper(settings: gan2d.Settings) -> gan2d.Gan2dTrainer:
    held = st.session_state.get(STEPPER)
    if held is None or held[0] != settings:
        held = (settings, gan2d.make_trainer(settings))
        st.session_state[STEPPER] = held
    return held[1]


def _step(which: str) -> None:
    """on_click: one Adam step of D, of G, or a whole step (d_steps of D, one of G)."""
    held = st.session_state.get(STEPPER)
    if held is None:
        return
    trainer = held[1]
    if which == "D":
        trainer.step_discriminator()
    elif which == "G":
        trainer.step_generator()
    else:
        trainer.step()
    st.session_state[f"{K}stepped"] = st.session_state.get(f"{K}stepped", 0) + 1


def _step_view(settings: gan2d.Settings, shown: set[str]) -> None:
    trainer = _stepper(settings)
    columns = st.columns(4)
    columns[0].button("Train D", icon=":material/skip_next:", key=f"{K}step_d", on_click=_step,
                      args=("D",), width="stretch", help="One Adam step of D on J_D: the heat "
                      "map moves, G's points stay.")
    columns[1].button("Train G", icon=":material/skip_next:", key=f"{K}step_g", on_click=_step,
                      args=("G",), width="stretch", help="One Adam step of G on its loss: the "
                      "purple points move along the arrows, the heat map stays.")
    columns[2].button("Both", icon=":material/fast_forward:", key=f"{K}step_both",
                      on_click=_step, args=("both",), width="stretch")
    columns[3].button("Reset", icon=":material/restart_alt:", key=f"{K}step_reset",
                      on_click=st.session_state.pop, args=(STEPPER, None), width="stretch")
    last = trainer.last
    text = ", ".join(f"{name} {value:.3f}" for name, value in last.items())
    st.markdown(f"Step-by-step (this tab only): {trainer.steps} whole steps. {text}")
    _plane(trainer.preview(), shown, f"{K}step_plane")


def panel() -> None:
    info = MODELS[TAB]
    st.markdown(f"**{info.label}**: {info.summary} D learns J_D = −mean ln D(x) − E ln(1 − "
                "D(G(z))); G learns J_G = −E ln D(G(z)) (the lecture's formulas).")
    left, right = st.columns([1, 2], gap="medium")
    with left:
        settings = settings_form()
        step_mode = st.toggle("Step by step", key=f"{K}step_mode",
                              help="Train D and G one step at a time (GAN Lab's step mode).")
        if not step_mode:
            live.controls(TAB, TAB, settings, stacked=True)
        st.button("Show mode collapse", key=f"{K}collapse", on_click=_collapse,
                  help="Ring of 8 Gaussians, 32 hidden units, learning rate 0.002, batch 128: "
                  "G's samples crowd onto one or two modes and hop between them.")
        shown = _shown()
    with right:
        if step_mode:
            _step_view(settings, shown)
        else:
            _live_view(settings, shown)
    code_panel(generative_script(TAB, settings), title=f"Show the code: {info.label} as a script")
