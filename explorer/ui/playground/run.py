"""The Playground page's run: Start, Pause, Step one batch and Reset on the job interface, and the live fragment that redraws from snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from explorer.jobs import registry as job_registry
from explorer.playground.job import PlaygroundJob, PlaygroundSnapshot, submit_playground
from explorer.playground.model import build_model, get_weights
from explorer.playground.settings import PlaygroundSettings
from explorer.ui.training_session import POLL_SECONDS, browser, owner, registry, session_owner

PAGE = "playground"
JOB_KEY = f"{PAGE}.job"  # this tab's run
REFUSED_KEY = f"{PAGE}.refused"  # a message for the next run of the page
DRAWN_KEY = f"{PAGE}.drawn"  # the run state the buttons were drawn for

Panel = Callable[[PlaygroundSettings, PlaygroundSnapshot | None], None]


def _job() -> PlaygroundJob | None:
    """This tab's own run (None when there is none, or it is gone or not a playground run)."""
    job_id = st.session_state.get(JOB_KEY)
    job = registry().owned(job_id, session_owner()) if job_id else None
    if job is None or job.KIND != PlaygroundJob.KIND:
        st.session_state[JOB_KEY] = None
        return None
    return job


def current_step() -> int:
    """Batches this tab's run has trained (0 without a run)."""
    job = _job()
    return job.snapshot().step if job is not None else 0


def _refuse(message: str) -> None:
    st.session_state[REFUSED_KEY] = message


def _submit(settings: PlaygroundSettings, *, paused: bool,
            share: bool = True) -> PlaygroundJob | None:
    try:
        job_id = submit_playground(registry(), settings, owner=owner(), browser=browser(),
                                   paused=paused, share=share)
    except job_registry.QueueFull as error:
        _refuse(str(error))
        return None
    except ValueError as error:
        _refuse(f"This run cannot start: {error}")
        return None
    st.session_state[JOB_KEY] = job_id
    return registry().get(job_id)


def _shared(job: PlaygroundJob) -> bool:
    return registry().followed_by_several(job.job_id)


def start(settings: PlaygroundSettings | None) -> None:
    """on_click: go on with this tab's paused run, or start (or join) a run of these settings."""
    if settings is None:
        _refuse("Fix the settings in the sidebar first.")
        return
    job = _job()
    if job is not None and not job.done and job.settings == settings:
        job.resume()
        return
    if job is not None:
        registry().stop_for(job.job_id, session_owner())
    job = _submit(settings, paused=False)
    if job is not None and job.done:  # an identical run has finished: watch a fresh one learn
        registry().leave(job.job_id, session_owner())
        _submit(settings, paused=False, share=False)


def pause() -> None:
    job = _job()
    if job is None or job.done:
        return
    if _shared(job):
        _refuse("This run is shared with others who pressed Start with the same settings: "
                "pausing it would pause theirs too. Change the seed for a run of your own.")
        return
    job.pause()


def step(settings: PlaygroundSettings | None) -> None:
    """on_click: train one batch (a paused run of its own when the tab has none)."""
    if settings is None:
        _refuse("Fix the settings in the sidebar first.")
        return
    job = _job()
    if job is not None and (job.done or job.settings != settings or _shared(job)):
        registry().stop_for(job.job_id, session_owner())  # a shared run goes on for the others
        job = None
    if job is None:
        job = _submit(settings, paused=True)
    if job is not None:
        before = job.snapshot().step
        job.step_once()
        _wait_briefly(lambda: job.snapshot().step > before or job.done)


def _wait_briefly(condition: Callable[[], bool], seconds: float = 1.0) -> None:
    """Let a one-batch step land before the page redraws (bounded: a queued run waits on)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def reset() -> None:
    """on_click: stop (or leave) this tab's run; the page shows the untrained network again."""
    job = _job()
    if job is not None:
        registry().stop_for(job.job_id, session_owner())
    st.session_state[JOB_KEY] = None


def _control_state(job: PlaygroundJob | None) -> tuple | None:
    if job is None:
        return None
    return (job.job_id, job.state, job.pause_requested, job.done, _shared(job))


def controls(settings: PlaygroundSettings | None) -> None:
    """The four buttons and the run's one-line status."""
    owner()  # this tab's token (and the address bar's owner=) before any callback needs it
    job = _job()
    if job is not None and settings is not None and job.settings != settings:
        reset()  # a changed setting starts afresh, as in TensorFlow Playground
        job = None
    st.session_state[DRAWN_KEY] = _control_state(job)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.warning(refused, icon=":material/block:")
    running = job is not None and not job.done and not job.pause_requested \
        and job.state != "paused"
    columns = st.columns(4)
    finished = job is not None and job.state == "finished"  # with these settings (see above)
    columns[0].button("Start", type="primary", icon=":material/play_arrow:", width="stretch",
                      disabled=settings is None or running or finished, on_click=start,
                      args=(settings,), key=f"{PAGE}.start",
                      help="This run has used its budget: Reset, then Start trains it again "
                      "live (or raise the budget)." if finished else None)
    columns[1].button("Pause", icon=":material/pause:", width="stretch", key=f"{PAGE}.pause",
                      disabled=not running or (job is not None and _shared(job)),
                      on_click=pause, help="A shared run cannot be paused: it would pause "
                      "the others' too." if job is not None and _shared(job) else None)
    columns[2].button("Step", icon=":material/skip_next:", width="stretch", key=f"{PAGE}.step",
                      disabled=settings is None, on_click=step, args=(settings,),
                      help="Train exactly one batch, then pause.")
    columns[3].button("Reset", icon=":material/restart_alt:", width="stretch",
                      key=f"{PAGE}.reset", disabled=job is None, on_click=reset)


def preview(settings: PlaygroundSettings) -> PlaygroundSnapshot:
    """Step 0 of a run of these settings, without a job: the untrained network."""
    return PlaygroundSnapshot("", None, "not started", "Press Start (or Step)", settings, 0,
                              0.0, 0.0, 0.0, None, (), (), (), None,
                              get_weights(build_model(settings)))


def status(snap: PlaygroundSnapshot) -> str:
    """One line: state, step, epoch, test accuracy or loss."""
    parts = [f"**{snap.state}**", f"step {snap.step:,}", f"epoch {snap.epoch:.1f}"]
    evaluation = snap.evaluation
    if evaluation is not None:
        if evaluation.test_accuracy is not None:
            parts.append(f"test accuracy {evaluation.test_accuracy:.1%}")
        parts.append(f"test loss {evaluation.test_loss:.4f}")
    if snap.steps_per_second:
        parts.append(f"{snap.steps_per_second:,.0f} steps/s")
    if snap.queue_position:
        parts.append(f"number {snap.queue_position} in the queue")
    others = len(registry().members(snap.job_id) - {session_owner()}) if snap.job_id else 0
    if others:
        parts.append(f"shared with {others} other{'s' if others > 1 else ''} (same settings)")
    return " · ".join(parts) + (f" — {snap.message}" if snap.message else "")


def show(settings: PlaygroundSettings | None, panel: Panel) -> None:
    """The panel for this tab's run: live while it runs, else once."""
    if settings is None:
        return
    job = _job()
    if job is None:
        panel(settings, None)
    elif job.done:
        panel(settings, job.snapshot())
    else:
        _live(job.job_id, panel)


@st.fragment(run_every=POLL_SECONDS)
def _live(job_id: str, panel: Panel) -> None:
    """Polls the run; the whole page redraws when its state changes (the buttons follow)."""
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    job = registry().get(job_id)
    if job is None:
        st.caption("This run is gone (the server restarted or it was removed).")
        return
    snap = job.snapshot()
    panel(snap.settings, snap)
    if snap.done or _control_state(job) != st.session_state.get(DRAWN_KEY):
        st.rerun()
