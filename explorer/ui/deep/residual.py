"""The Residual vs plain tab: three networks trained live on Shapes (training error on one
axis), the residual block, and the unravelled view's path counts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.gradients import plots, residual
from explorer.gradients.identity import submit_comparison
from explorer.gradients.residual import (
    MAX_BLOCKS,
    VARIANTS,
    CompareSettings,
    central_paths,
    weight_layers,
)
from explorer.gradients.script import compare_script
from explorer.jobs import registry as job_registry
from explorer.ui.presenter import presenting
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.training_session import POLL_SECONDS, browser, owner, registry, session_owner
from explorer.ui.widgets import code_panel

PAGE = "deep"
RUNS_KEY = f"{PAGE}.compare.runs"  # [(variant, job id)] of this tab's latest comparison
STEPS = (100, 200, 300, 600)
DEFAULTS = CompareSettings()

BLOCK_DOT = """digraph {
  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontsize=11];
  x [label="x", shape=circle, fillcolor="#ffffff"];
  c1 [label="conv 3x3"]; b1 [label="batch norm"]; r1 [label="ReLU"];
  c2 [label="conv 3x3"]; b2 [label="batch norm"];
  add [label="+", shape=circle, fillcolor="#ffe8cc"]; r2 [label="ReLU"];
  x -> c1 -> b1 -> r1 -> c2 -> b2 -> add [label=""];
  b2 -> add [style=invis];
  x -> add [label="identity (skip)", color="#1f77b4", fontcolor="#1f77b4", constraint=false];
  add -> r2;
}"""

WHY = (
    "**The degradation problem.** With batch norm the gradients do not vanish (see the first "
    "tab), yet a much deeper plain network trains *worse* than a shallow one: in the same "
    "number of steps its training error stays higher, which is not overfitting (it is the "
    "error on the training images). A residual block only has to learn what to add to its "
    "input, and with its weights at zero it is the identity, so the deep residual network "
    "trains at least as well as the shallow one. Here: {deep} plain blocks ({layers} weight "
    "layers) barely leave chance in {steps} Adam steps, the shallow net ({shallow} layers) "
    "learns slowly, the residual net learns fastest. Measured (seed 0): training error after "
    "300 steps about 64 % shallow, 88-90 % deep plain, 35-43 % deep residual (one or two "
    "torch threads sum in a different order, and 300 steps amplify it); the three runs took "
    "about 80 s together on a busy 2-core server, about 30 s of CPU in all.")


@st.cache_data(max_entries=32, show_spinner=False)
def _first_over_last(settings: CompareSettings) -> dict[str, float]:
    """Shared by every session: the settings name the result."""
    return residual.first_over_last(settings)


def _key(name: str, default, valid, url: str) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


def _start(settings: CompareSettings) -> None:
    try:
        st.session_state[RUNS_KEY] = submit_comparison(registry(), settings, owner=owner(),
                                                       browser=browser())
    except (job_registry.QueueFull, ValueError) as error:
        st.session_state[f"{RUNS_KEY}.refused"] = str(error)


def _stop(runs: list[tuple[str, str]]) -> None:
    for _, job_id in runs:
        registry().stop_for(job_id, session_owner())


def _snapshots() -> list[tuple[str, object]]:
    runs = st.session_state.get(RUNS_KEY) or []
    found = []
    for variant, job_id in runs:
        job = registry().get(job_id or "")
        if variant in VARIANTS:
            found.append((variant, None if job is None else job.snapshot()))
    return found


def _draw(snaps: list[tuple[str, object]], planned: CompareSettings = DEFAULTS) -> None:
    """The curves, a table and a status line; `planned` sizes the networks not yet run."""
    curves = [(variant, VARIANTS[variant].label, snap.eval_steps, snap.train_errors)
              for variant, snap in snaps if snap is not None]
    st.plotly_chart(plots.compare_figure(curves, planned_steps=planned.steps), width="stretch",
                    key="deep_compare",
                    config={"displayModeBar": False})
    rows = []
    for variant, snap in snaps:
        settings = snap.settings if snap is not None else planned
        rows.append({
            "network": VARIANTS[variant].label,
            "weight layers": weight_layers(settings.blocks(variant)),
            "state": "gone" if snap is None else (
                f"queued ({snap.queue_position})" if snap.queue_position else snap.state),
            "step": 0 if snap is None else snap.step,
            "training error": "" if snap is None or not len(snap.train_errors)
            else f"{snap.train_errors[-1]:.1%}",
            "seconds": 0.0 if snap is None else round(snap.elapsed_seconds, 1),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if any(snap is not None for _, snap in snaps):
        st.caption(" · ".join(f"{row['network']}: {row['state']}"
                              + (f", {row['training error']}" if row["training error"] else "")
                              for row in rows))


@st.fragment(run_every=POLL_SECONDS)
def _live() -> None:
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    snaps = _snapshots()
    st.button("Stop", icon=":material/stop:", key=f"{PAGE}.compare.stop", on_click=_stop,
              args=(st.session_state.get(RUNS_KEY) or [],))
    _draw(snaps)
    if all(snap is None or snap.done for _, snap in snaps):
        st.rerun()


def comparison_section() -> None:
    columns = st.columns([3, 2, 2])
    deep = columns[0].slider("Blocks of the deep networks (2 convolutions each)", 2,
                             MAX_BLOCKS, key=_key("blocks", DEFAULTS.deep_blocks,
                                                  number_in(2, MAX_BLOCKS, integer=True),
                                                  "blocks"))
    steps = columns[1].select_slider("Steps", STEPS, key=_key(
        "csteps", DEFAULTS.steps, one_of(STEPS), "csteps"))
    settings = CompareSettings(deep_blocks=deep, steps=steps)
    columns[2].button("Train the three", type="primary", icon=":material/play_arrow:",
                      key=f"{PAGE}.compare.go", on_click=_start, args=(settings,))
    refused = st.session_state.pop(f"{RUNS_KEY}.refused", None)
    if refused:
        st.error(refused, icon=":material/block:")
    snaps = _snapshots()
    if not snaps:
        _draw([(variant, None) for variant in VARIANTS], settings)
        st.caption(f"Shallow: {settings.shallow_blocks} block; deep: {deep} blocks, width "
                   f"{settings.width}, Adam at {settings.learning_rate:g}, batches of "
                   f"{settings.batch_size}, the same batches for all three.")
    elif all(snap is None or snap.done for _, snap in snaps):
        _draw(snaps)
    else:
        _live()
    ratios = _first_over_last(settings)
    st.caption("Not vanishing gradients: before training, the first conv layer's gradient norm "
               "over the last one's is " + ", ".join(
                   f"{ratios[v]:.3g} ({VARIANTS[v].label})" for v in VARIANTS)
               + " (batch norm keeps the first layers' gradients alive).")
    code_panel(compare_script(settings), title="Show the code: the three networks in a script")
    st.caption(f"From a terminal: `python -m explorer.gradients --compare --blocks {deep} "
               f"--steps {steps} --json`")


def paths_section() -> None:
    st.markdown("**The unravelled view.** Each residual block is passed through its branch or "
                "skipped, so a network of L blocks is an ensemble of 2^L paths; C(L, k) of "
                "them pass k branches. Most paths are about L/2 long: a ResNet is an ensemble "
                "of shallower networks (Veit et al. 2016).")
    blocks = st.slider("Residual blocks L", 1, 60, key=_key(
        "paths", 54, number_in(1, 60, integer=True), "paths"))
    st.plotly_chart(plots.paths_figure(blocks, central_paths(blocks)), width="stretch",
                    key="deep_paths", config={"displayModeBar": False})
    st.caption("54 blocks is the lecture's 110-layer ResNet: of its 2^54 paths, the ones that "
               "carry gradient are 10-34 blocks long.")


def residual_panel() -> None:
    if not presenting():
        st.markdown("A shallow plain CNN, a deep plain CNN and the same deep CNN with residual "
                    "blocks, trained side by side on Shapes (2,000 training images); the "
                    "training error of each on one axis. Identical runs started by other "
                    "tabs are shared.")
    comparison_section()
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**A residual block**: relu(x + F(x))")
        st.graphviz_chart(BLOCK_DOT)
    with right:
        st.markdown(WHY.format(deep=DEFAULTS.deep_blocks,
                               layers=weight_layers(DEFAULTS.deep_blocks),
                               steps=DEFAULTS.steps,
                               shallow=weight_layers(DEFAULTS.shallow_blocks)))
    paths_section()
