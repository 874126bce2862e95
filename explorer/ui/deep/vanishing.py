"""The Vanishing gradients tab: a deep plain net's gradient norm per layer (log scale) and its
activation statistics on a real batch, and a few training steps live."""

from __future__ import annotations

import dataclasses

import streamlit as st

from explorer.gradients import plots
from explorer.gradients.deepnet import GradientReport, measure
from explorer.gradients.identity import submit_steps
from explorer.gradients.job import GradientStepsJob
from explorer.gradients.script import gradients_script
from explorer.gradients.settings import ACTIVATIONS, MAX_DEPTH, WIDTHS, DeepSettings
from explorer.jobs import registry as job_registry
from explorer.ui.presenter import presenting
from explorer.ui.state import boolean, kept, number_in, one_of, seed
from explorer.ui.training_session import POLL_SECONDS, browser, owner, registry, session_owner
from explorer.ui.widgets import code_panel

PAGE = "deep"
JOB_KEY = f"{PAGE}.steps.job"
BATCHES = (16, 32, 64)
STEPS = (10, 20, 40, 100)
RATES = (0.01, 0.1, 1.0)


def _key(name: str, default, valid, url: str) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


@st.cache_data(max_entries=64, show_spinner="Backpropagating one batch ...")
def _report(settings: DeepSettings) -> GradientReport:
    """Shared by every session: the settings name the result (seed included)."""
    return measure(settings)


def settings_widgets() -> DeepSettings | None:
    """The net's controls in one row; None (with a message) when the choice is too big."""
    columns = st.columns([3, 2, 2, 3, 2])
    depth = columns[0].slider("Depth (conv layers)", 2, MAX_DEPTH, key=_key(
        "depth", 12, number_in(2, MAX_DEPTH, integer=True), "depth"))
    width = columns[1].select_slider("Width (channels)", WIDTHS, key=_key(
        "width", 16, one_of(WIDTHS), "width"))
    names = list(ACTIVATIONS)
    activation = columns[2].selectbox("Activation", names,
                                      format_func=lambda n: ACTIVATIONS[n].label,
                                      key=_key("act", "sigmoid", one_of(names), "act"))
    batch_norm = columns[3].toggle("Batch norm", key=_key("bn", False, boolean(), "bn"))
    residual = columns[3].toggle("Skip connections", key=_key("skip", False, boolean(), "skip"))
    batch = columns[4].select_slider("Batch", BATCHES, key=_key("batch", 64, one_of(BATCHES),
                                                                 "batch"))
    seed_value = columns[4].number_input("Seed", 0, 999, key=_key(
        "seed", 0, number_in(0, 999, integer=True), "seed"))
    try:
        return DeepSettings(depth=depth, width=width, activation=activation,
                            batch_norm=batch_norm, residual=residual, batch_size=batch,
                            seed=seed_value)
    except ValueError as error:
        st.error(str(error), icon=":material/block:")
        return None


def vanishing_panel() -> None:
    if not presenting():
        st.markdown(
            "Backpropagation multiplies, layer by layer, by each activation's slope h'(z) and "
            "by the weights. A sigmoid's slope is at most **0.25**, so in a deep plain network "
            "the gradient that reaches the **first** layers is tiny: they hardly learn (the "
            "lecture's *vanishing gradient problem*). ReLU (slope 0 or 1), batch norm and skip "
            "connections keep it alive. One batch of 64 Shapes images, cross-entropy, "
            "PyTorch's default initialisation.")
    settings = settings_widgets()
    if settings is None:
        return
    report = _report(settings)
    st.plotly_chart(plots.gradient_figure(report, settings.label), width="stretch",
                    key="deep_gradients", config={"displayModeBar": False})
    st.caption(f"First layer ‖dL/dW‖ = {report.gradient_norms[0]:.2e}, last layer "
               f"{report.gradient_norms[-1]:.2e}: ratio {report.ratio:.1e}. Loss "
               f"{report.loss:.3f} on the batch. {ACTIVATIONS[settings.activation].explanation}")
    st.plotly_chart(plots.activation_figure(report, settings.activation), width="stretch",
                    key="deep_activations", config={"displayModeBar": False})
    st.caption("Mean slope: what each layer multiplies the gradient by on its way back (the "
               "dotted line is the largest slope the activation has). Flat units: h'(z) below "
               "1 % of that (a ReLU at z < 0, a saturated sigmoid), where no gradient passes.")
    live_section(settings)
    code_panel(gradients_script(settings), title="Show the code: these gradient norms in a script")
    st.caption(f"From a terminal: `{command_line(settings)}`")


def command_line(settings: DeepSettings) -> str:
    """The command line that prints this figure's numbers."""
    s = settings
    return (f"python -m explorer.gradients --depth {s.depth} --width {s.width} --activation "
            f"{s.activation}" + (" --batchnorm" if s.batch_norm else "")
            + (" --residual" if s.residual else "")
            + f" --batch-size {s.batch_size} --seed {s.seed} --json")


# ---------------------------------------------------------------- a few steps, live


def _start(settings: DeepSettings) -> None:
    try:
        st.session_state[JOB_KEY] = submit_steps(registry(), settings, owner=owner(),
                                                 browser=browser())
    except (job_registry.QueueFull, ValueError) as error:
        st.session_state[f"{JOB_KEY}.refused"] = str(error)


def _stop(job_id: str) -> None:
    registry().stop_for(job_id, session_owner())


def live_section(settings: DeepSettings) -> None:
    st.subheader("A few training steps, live", anchor=False)
    columns = st.columns([2, 2, 3])
    steps = columns[0].select_slider("Steps", STEPS, key=_key("steps", 40, one_of(STEPS),
                                                               "steps"))
    rate = columns[1].select_slider("Learning rate (SGD)", RATES, key=_key(
        "lr", 0.1, one_of(RATES), "lr"))
    run = dataclasses.replace(settings, steps=steps, learning_rate=rate)
    columns[2].button("Train these steps", type="primary", icon=":material/play_arrow:",
                      key=f"{PAGE}.steps.go", on_click=_start, args=(run,))
    refused = st.session_state.pop(f"{JOB_KEY}.refused", None)
    if refused:
        st.error(refused, icon=":material/block:")
    job = registry().get(st.session_state.get(JOB_KEY) or "")
    if job is None or job.KIND != GradientStepsJob.KIND:
        st.caption("Plain SGD, so each layer moves by the learning rate times its gradient: "
                   "watch how little the first layers' weights change.")
        return
    if job.done:
        show_steps(job.snapshot())
    else:
        live_steps(job.job_id)


@st.fragment(run_every=POLL_SECONDS)
def live_steps(job_id: str) -> None:
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    job = registry().get(job_id)
    if job is None:
        return
    st.button("Stop", icon=":material/stop:", key=f"{PAGE}.steps.stop", on_click=_stop,
              args=(job_id,))
    show_steps(job.snapshot())
    if job.done:
        st.rerun()


def show_steps(snap) -> None:
    total = snap.settings.steps
    st.progress(snap.step / total, text=f"{snap.settings.label}: {snap.state}, step "
                f"{snap.step} of {total} ({snap.elapsed_seconds:.1f} s). {snap.message}")
    if snap.state == "failed":
        st.error(snap.message, icon=":material/warning:")
    st.plotly_chart(plots.steps_figure(snap.changes, snap.losses), width="stretch",
                    key="deep_steps", config={"displayModeBar": False})
    if len(snap.changes):
        first, last = snap.changes[-1][0], snap.changes[-1][-1]
        st.caption(f"After {snap.step} steps the first layer's weights moved by "
                   f"{first:.1e} of their size, the last layer's by {last:.1e} (the SGD "
                   "updates summed exactly: in float32 a change below about 6e-8 of a weight "
                   "is lost in rounding, so the first layers may not move at all).")
