"""The live view every generative tab uses: Train / Stop / Restart bound to submit_generative,
a fragment that polls the run's snapshot while it trains, and its loss curves.

A tab calls `controls(tab, model_key, settings)` (buttons), then `live(tab, draw)`: draw(snap)
paints the tab's figures from a GenerativeSnapshot (None before any run); while the run trains,
draw is re-run every POLL_SECONDS inside a fragment, and once more when the run ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from explorer.generative.base import BaseSettings
from explorer.generative.data import IMAGE_DATASETS, available, register_zip
from explorer.generative.identity import submit_generative
from explorer.generative.job import GenerativeSnapshot
from explorer.generative.plots import loss_figure
from explorer.jobs import registry as job_registry
from explorer.ui.state import kept, one_of
from explorer.ui.state import seed as seed_widget
from explorer.ui.training_session import POLL_SECONDS, browser, owner, registry, session_owner

PAGE = "generative"
Draw = Callable[[GenerativeSnapshot | None], None]


UPLOAD = "zip"  # the dataset picker's choice for "your own zip"


def dataset_picker(tab: str, *, url: str | None = None) -> str:
    """A select box of the image datasets (Shapes; MNIST / Fashion-MNIST once downloaded on the
    Train page; your own zip of class folders) -> a name for data.image_data. An uploaded zip
    is kept on the server by its digest; a bad one is refused when the run reads it."""
    choices = [name for name in IMAGE_DATASETS if name == "shapes" or available(name)] + [UPLOAD]
    labels = {**IMAGE_DATASETS, UPLOAD: "Your own images (a zip of class folders)"}
    key = seed_widget(kept(f"{PAGE}.{tab}.data"), "shapes", valid=one_of(choices), url=url)
    choice = st.selectbox("Data", choices, key=key, format_func=labels.__getitem__)
    if choice != UPLOAD:
        return choice
    upload = st.file_uploader("A zip of class folders (images are resized to 32 x 32)",
                              type=["zip"], key=f"{PAGE}.{tab}.zip")
    if upload is None:
        st.caption("No zip yet: Shapes until you upload one.")
        return "shapes"
    return register_zip(upload.getvalue(), upload.name)


def run_key(tab: str) -> str:
    """The session-state key holding the id of `tab`'s latest run."""
    return f"{PAGE}.{tab}.run"


def _start(tab: str, model_key: str, settings: BaseSettings, share: bool) -> None:
    try:
        st.session_state[run_key(tab)] = submit_generative(
            registry(), model_key, settings, owner=owner(), browser=browser(), share=share)
    except (job_registry.QueueFull, ValueError) as error:
        st.session_state[f"{run_key(tab)}.refused"] = str(error)


def _stop(tab: str) -> None:
    job_id = st.session_state.get(run_key(tab))
    if job_id:
        registry().stop_for(job_id, session_owner())


def snapshot(tab: str) -> GenerativeSnapshot | None:
    """The snapshot of `tab`'s latest run (None: never started, or forgotten by the server)."""
    job = registry().get(st.session_state.get(run_key(tab)) or "")
    return None if job is None else job.snapshot()


def weights(tab: str) -> dict | None:
    """The trained state_dict of `tab`'s latest run once it finished, else None."""
    job = registry().get(st.session_state.get(run_key(tab)) or "")
    return getattr(job, "weights", None) if job is not None else None


def controls(tab: str, model_key: str, settings: BaseSettings, *, label: str = "Train",
             stacked: bool = False) -> None:
    """Train (joins an identical run: shared), Stop, and Restart (a fresh run of its own); in
    one row, or with Train on a row of its own (`stacked`: for a narrow column, where one row
    cuts the labels short at 1280 x 720)."""
    if stacked:
        train, stop, restart = st.container(), *st.columns(2)
    else:
        train, stop, restart = st.columns([2, 1, 1])
    train.button(label, type="primary", icon=":material/play_arrow:", key=f"{PAGE}.{tab}.go",
                 on_click=_start, args=(tab, model_key, settings, True), width="stretch")
    stop.button("Stop", icon=":material/stop:", key=f"{PAGE}.{tab}.stop",
                on_click=_stop, args=(tab,), width="stretch")
    restart.button("Restart", icon=":material/restart_alt:", key=f"{PAGE}.{tab}.restart",
                   on_click=_start, args=(tab, model_key, settings, False),
                   help="A fresh run of these settings (not shared)", width="stretch")
    refused = st.session_state.pop(f"{run_key(tab)}.refused", None)
    if refused:
        st.error(refused, icon=":material/block:")


def status(snap: GenerativeSnapshot | None) -> str:
    if snap is None:
        return "Not trained yet here: the pictures show the shipped weights."
    if snap.queue_position:
        return f"Queued ({snap.queue_position} ahead)."
    last = snap.losses.get("loss", ())
    text = (f"{snap.state}: step {snap.step:,} of {snap.settings.max_steps:,}, "
            f"{snap.compute_seconds:.1f} s of computing")
    if last:
        text += f", loss {last[-1]:.4g}"
    return text + (f" ({snap.message})" if snap.message and snap.state == "failed" else "")


def loss_chart(snap: GenerativeSnapshot | None, names: Sequence[str] | None = None, *,
               key: str, separate: bool = False, log_y: bool = False) -> None:
    """The snapshot's named losses (a note before a run)."""
    losses = snap.losses if snap is not None else {}
    if not any(losses.get(name) for name in (names or losses)):
        st.caption("The loss curves draw here, step by step, once you press Train.")
        return
    fig = loss_figure(losses, names, separate=separate, log_y=log_y,
                      max_steps=snap.settings.max_steps if snap is not None else None)
    st.plotly_chart(fig, width="stretch", key=key, config={"displayModeBar": False})


@st.fragment(run_every=POLL_SECONDS)
def _poll(tab: str, draw: Draw) -> None:
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    snap = snapshot(tab)
    draw(snap)
    if snap is None or snap.done:
        st.rerun()


def live(tab: str, draw: Draw) -> GenerativeSnapshot | None:
    """draw(snapshot) now, and again every POLL_SECONDS while the run trains."""
    snap = snapshot(tab)
    if snap is not None and not snap.done:
        _poll(tab, draw)
    else:
        if snap is not None and snap.state == "failed":
            st.error(f"The run failed: {snap.message}", icon=":material/error:")
        draw(snap)
    return snap
