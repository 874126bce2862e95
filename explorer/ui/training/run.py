"""The Train page's run: Start/Pause/Resume/Stop, ablation, LR range test, live view, share."""

from __future__ import annotations

import streamlit as st

from explorer.images import plots
from explorer.jobs import registry as job_registry
from explorer.training import ablation as ablation_plan
from explorer.training import data, lr_range
from explorer.training import settings as train_settings
from explorer.training.batches import batch_warning
from explorer.training.job import TrainingJob, submit_training
from explorer.ui.state import kept
from explorer.ui.training.setup import load_named
from explorer.ui.training.view import show_run
from explorer.ui.training_session import (
    ABLATION_KEY,
    FOREIGN_KEY,
    PAGE,
    POLL_SECONDS,
    browser,
    owner,
    registry,
    session_owner,
)

JOB_KEY = f"{PAGE}.job"  # the run this tab shows: its own, or another's read-only
REFUSED_KEY = f"{PAGE}.refused"  # a message for the next run of the page
DRAWN_KEY = f"{PAGE}.drawn"  # what the controls were drawn for (see _control_state)


def current_job_id() -> str | None:
    """This tab's run: from the session, else from the link (`job=`) if that run still exists
    (another tab's run is shown read-only)."""
    if JOB_KEY not in st.session_state:
        linked = st.query_params.get("job")
        job = registry().view(linked, owner()) if linked else None
        if job is not None and job.KIND != TrainingJob.KIND:
            job = None  # a transfer run's id belongs to the Transfer learning page
        st.session_state[JOB_KEY] = job.job_id if job is not None else None
        if linked and job is None:
            st.session_state[REFUSED_KEY] = (
                "The run in this link is not on this server (any more): the server may have "
                "restarted, or the run was cleared to make room.")
    job_id = st.session_state[JOB_KEY]
    if job_id and registry().get(job_id) is None:
        st.session_state[JOB_KEY] = job_id = None
    return job_id


def _refuse(message: str) -> None:
    st.session_state[REFUSED_KEY] = message


def _submit(settings: train_settings.TrainSettings, dataset: data.Dataset) -> str | None:
    """Queue a run for this tab; None (and a message for the page) when the tab is at its
    limit of unfinished runs or the settings do not fit the data."""
    try:
        job_id = submit_training(registry(), settings, dataset, owner=owner(), browser=browser())
    except job_registry.QueueFull as error:
        _refuse(str(error))
        return None
    except ValueError as error:
        _refuse(f"This run cannot start: {error}")
        return None
    st.session_state[JOB_KEY] = job_id
    return job_id


def start(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """on_click: queue a run (it starts at once when a training slot is free)."""
    if settings is None or dataset is None:
        _refuse("Choose a dataset (and settings the model can take) before pressing Start.")
        return
    _submit(settings, dataset)


def ablation(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """on_click: the lecture's four variants, one after another through the queue (on the
    built-in data in the regime where they matter: explorer.training.ablation)."""
    if settings is None or dataset is None:
        _refuse("Choose a dataset (and settings the model can take) before the ablation.")
        return
    built_in = st.session_state.get(kept(f"{PAGE}.dataset")) in ablation_plan.BUILT_IN
    runs = ablation_plan.ablation_settings(settings, built_in=built_in)
    if built_in:
        dataset = load_named(ablation_plan.REGIME_DATASET)
        if dataset is None:
            return
    if registry().free_places(owner()) < len(runs):  # all four or none
        _refuse(
            f"The ablation queues {len(runs)} runs, and this tab may hold only "
            f"{registry().max_per_owner} unfinished runs at once on a shared server: stop or "
            "finish the runs it has first.")
        return
    st.session_state[ABLATION_KEY] = [(variant.key, _submit(run, dataset))
                                      for variant, run in runs]


def control(job_id: str, action: str) -> None:
    """on_click of Pause / Resume / Stop: only for the run's own tab, checked at the click (a
    button drawn earlier, or a request made by hand, proves nothing)."""
    job = registry().owned(job_id, session_owner())
    if job is None:
        _refuse("Only the tab that started this run can pause, resume or stop it; here it is "
                "shown read-only.")
    elif job.done:
        done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}.get(action, action)
        _refuse(f"This run has already ended ({job.state}): it cannot be {done} any more. "
                "Press Start for a new run.")
    elif action != "stop" and job.stop_requested:
        _refuse("This run is stopping; press Start for a new run.")
    elif action == "stop" and registry().followed_by_several(job_id):
        registry().leave(job_id, session_owner())  # the others' run goes on
        st.session_state[JOB_KEY] = None
        st.query_params.pop("job", None)
        _refuse("You left the shared run: it goes on for the others who started the same "
                "settings. Press Start to train (or join) again.")
    elif action in ("pause", "resume") and registry().followed_by_several(job_id):
        _refuse("This run is shared with others who pressed Start with the same settings: "
                "pausing it would pause theirs too. Stop leaves it; change a setting (the "
                "seed, say) to train a run of your own.")
    elif action in ("pause", "resume", "stop"):
        getattr(job, action)()


def share(job_id: str) -> None:
    """on_click: make the run's view-only link (it never carries the owner token)."""
    if not registry().share(job_id, session_owner()):
        _refuse("Only the tab that started this run can share it.")


def _control_state(job: TrainingJob | None) -> tuple | None:
    """What the control buttons depend on; the live view redraws the page when it changes
    (the buttons are drawn outside the polling fragment). Whether others share the run is part
    of it: Pause and Stop / Leave change when someone joins or leaves."""
    if job is None:
        return None
    return (job.job_id, job.state, job.pause_requested, job.stop_requested, job.done,
            registry().followed_by_several(job.job_id))


def _share_link(job_id: str) -> str:
    """This page's address with only the run's public id: view-only for whoever opens it."""
    page = (st.context.url or "").split("?")[0].split("#")[0] or f"/{PAGE}"
    return f"{page}?job={job_id}"


def controls(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """Start / Pause / Resume / Stop, the ablation queue and the learning-rate range test."""
    job = registry().get(current_job_id() or "")
    mine = job is not None and registry().owned(job.job_id, owner()) is not None
    shared = mine and registry().followed_by_several(job.job_id)
    active = job is not None and not job.done
    ready = settings is not None and dataset is not None
    st.session_state[DRAWN_KEY] = _control_state(job)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.warning(refused, icon=":material/block:")
    if ready:
        note = batch_warning(len(dataset.train_labels), settings.batch_size)
        if note:
            st.warning(note, icon=":material/warning:")
    columns = st.columns(5)
    columns[0].button("Start", type="primary", icon=":material/play_arrow:", width="stretch",
                      disabled=not ready or (mine and active), on_click=start,
                      args=(settings, dataset))
    own_active = mine and active
    stopping = own_active and job.stop_requested
    if own_active and not stopping and (job.state == "paused" or job.pause_requested):
        columns[1].button("Resume", icon=":material/play_arrow:", width="stretch",
                          on_click=control, args=(job.job_id, "resume"))
    else:
        columns[1].button("Pause", icon=":material/pause:", width="stretch",
                          disabled=not (own_active and not stopping and job.state == "running")
                          or shared, on_click=control, args=(getattr(job, "job_id", ""), "pause"),
                          help="A shared run cannot be paused: it would pause the others' too."
                          if shared else None)
    columns[2].button("Leave" if shared and own_active else "Stop", icon=":material/stop:",
                      width="stretch", disabled=not own_active or stopping, on_click=control,
                      args=(getattr(job, "job_id", ""), "stop"),
                      help="Leave the shared run: it goes on for the others, and stops when "
                           "nobody follows it." if shared else None)
    columns[3].button("Lecture ablation", icon=":material/science:", width="stretch",
                      disabled=not ready, on_click=ablation, args=(settings, dataset),
                      help="Four runs in a queue: plain, + batch norm, + dropout 0.5, "
                           "+ augmentation (the lecture's CIFAR-10 comparison)")
    if columns[4].button("LR range test", icon=":material/query_stats:", width="stretch",
                         disabled=not ready):
        range_test(settings, dataset)
    range_result()
    engine_note()


def engine_note() -> None:
    """Where runs train: Ray workers, or this server (and why, when Ray was asked for)."""
    engine = registry().engine
    if engine.remote:
        st.caption(f":material/hub: Runs train on {engine.describe()}.")
    elif engine.note:
        st.caption(f":material/info: {engine.note}")


def range_test(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """Run the learning-rate range test for these settings; its result stays in the session."""
    if settings is None or dataset is None:
        st.warning("Choose a dataset (and settings the model can take) first.")
        return
    with st.spinner(f"Training {lr_range.RANGE_TEST_STEPS} batches with a growing learning "
                    "rate..."):
        try:
            result = lr_range.shared_lr_range_test(settings, dataset,
                                                   steps=lr_range.RANGE_TEST_STEPS)
        except ValueError as error:
            st.error(f"The range test cannot run: {error}", icon=":material/error:")
            return
    st.session_state[f"{PAGE}.range"] = result


def range_result() -> None:
    result = st.session_state.get(f"{PAGE}.range")
    if result is None:
        return
    if not result.ok:
        st.warning(result.note, icon=":material/warning:")
        return
    figure = plots.line_figure({"smoothed loss": (result.learning_rates, result.losses)},
                               x_title="learning rate", y_title="loss", log_x=True, height=260)
    figure.add_vline(x=result.suggested_lr, line_dash="dash",
                     annotation_text=f"suggested {result.suggested_lr:.2g}")
    st.plotly_chart(figure, width="stretch", key="range_test")
    st.caption(f"{len(result.losses)} of {result.steps} batches, learning rates "
               f"{result.start:g} to {result.end:g}. Suggested maximum learning rate "
               f"{result.suggested_lr:.2g} ({result.rule}); use it with the one-cycle schedule.")
    if result.note:
        st.warning(result.note, icon=":material/warning:")


@st.fragment(run_every=POLL_SECONDS)
def live_view(job_id: str, dataset: data.Dataset | None) -> None:
    """Polls the job every POLL_SECONDS (2 s) while it runs; the rest of the page stays put until
    the run's state changes (queued -> running, paused, done): then the whole page redraws,
    so the buttons outside this fragment match the run."""
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    job = registry().get(job_id)
    if job is None:
        st.caption("This run is gone (the server restarted or it was removed).")
        return
    snap = job.snapshot()
    shared_note(job_id)
    show_run(snap, dataset)
    if snap.done or _control_state(job) != st.session_state.get(DRAWN_KEY):
        st.rerun()  # the controls, the run table and the downloads follow the new state


def run_view(job_id: str | None, dataset: data.Dataset | None) -> None:
    me = owner()  # settles this tab's key (and FOREIGN_KEY) before the notice is decided
    job = registry().get(job_id or "")
    # Said until this tab shows a run of its own: popped on its first run, the notice vanished
    # when the live view reran the page a moment later (the named run left the queue).
    if st.session_state.get(FOREIGN_KEY, False):
        if job is not None and registry().owned(job.job_id, me) is not None:
            del st.session_state[FOREIGN_KEY]
        else:
            st.info("This address carries another tab's key (made in another browser, or its "
                    "runs are gone): this tab trains under its own key, and a run the address "
                    "names is shown read-only.", icon=":material/visibility:")
    if job is None:
        st.info("Press **Start** to train with the settings in the sidebar. Training goes on "
                "while you look at other pages; this page finds it again (also after a reload).",
                icon=":material/model_training:")
        return
    st.query_params["job"] = job.job_id
    if registry().owned(job.job_id, me) is not None:
        share_panel(job.job_id)
    else:
        st.info("You are looking at another tab's run, read-only: only the tab that started "
                "it can pause or stop it. **Start** trains a run of your own.",
                icon=":material/visibility:")
    if job.done:
        shared_note(job.job_id)
        show_run(job.snapshot(), dataset)
    else:
        live_view(job.job_id, dataset)


def shared_note(job_id: str) -> None:
    """"Shared with N others": identical settings (and data, seed, code) are trained once."""
    others = len(registry().members(job_id) - {owner()})
    if others:
        st.caption(f":material/group: Shared with {others} other{'s' if others > 1 else ''}: "
                   "the same settings, data and seed give the same run, so the server trains "
                   "it once for everyone who pressed Start with them.")


def share_panel(job_id: str) -> None:
    """The owner's "Share this run": a view-only link (the run's id, never the owner token)."""
    if registry().is_shared(job_id):
        st.caption("View-only link to this run (it carries no control; once finished, the run "
                   "also appears in the Pretrained page of those who open it). The address bar "
                   "holds this tab's private key: share this link, not the address bar.")
        st.code(_share_link(job_id), language=None)
    else:
        st.button("Share this run", icon=":material/share:", key=f"{PAGE}.share",
                  on_click=share, args=(job_id,),
                  help="A link that shows this run to others read-only.")
