"""The Transfer learning page's runs: start and control them, live curves, comparison, predictions, exports."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.jobs import registry as job_registry
from explorer.transfer.adapt import STRATEGIES, TransferSettings
from explorer.transfer.backbones import Backbone
from explorer.transfer.export import (
    comparison_csv,
    metrics_csv,
    save_adapted,
    standalone_script,
)
from explorer.transfer.identity import transfer_key
from explorer.transfer.job import TransferJob, TransferSnapshot
from explorer.transfer.tasks import TransferTask
from explorer.ui.image_picker import image_picker
from explorer.ui.training_session import browser, owner, registry, session_owner
from explorer.ui.widgets import code_panel

PAGE = "transfer"
GROUP_KEY = f"{PAGE}.group"  # the job ids the last Train / Compare press started
REFUSED_KEY = f"{PAGE}.refused"
DRAWN_KEY = f"{PAGE}.drawn"
POLL_SECONDS = 2.0  # as the Train page (explorer/ui/training_session.py)


def my_runs() -> list[TransferJob]:
    """This tab's transfer runs, oldest first."""
    return registry().jobs_of(owner(), TransferJob.KIND)


def _same_comparison(a: TransferSnapshot, b: TransferSnapshot) -> bool:
    return (a.backbone, a.task, a.settings.examples_per_class, a.classes) == \
        (b.backbone, b.task, b.settings.examples_per_class, b.classes)


def current_group() -> list[TransferJob]:
    """The runs the last press started; after a reload, this tab's latest runs on the same
    backbone, task and number of examples."""
    ids = st.session_state.get(GROUP_KEY)
    if ids:
        jobs = [job for job in (registry().get(i) for i in ids) if job is not None]
        if jobs:
            return jobs
    runs = my_runs()
    if not runs:
        return []
    last = runs[-1].snapshot()
    return [job for job in runs if _same_comparison(job.snapshot(), last)]


def _submit(settings: list[TransferSettings], backbone: Backbone, task: TransferTask) -> None:
    """Queue one run per settings, all or none (the tab's limit of unfinished runs)."""
    me = owner()
    if registry().free_places(me) < len(settings):
        st.session_state[REFUSED_KEY] = (
            f"This needs {len(settings)} free places and one tab may hold "
            f"{registry().max_per_owner} unfinished runs at once on a shared server: stop or "
            "wait for the runs already going.")
        return
    started = []
    for one in settings:
        try:
            started.append(registry().submit_job(
                lambda threads, on_done, one=one: TransferJob(
                    one, backbone, task, owner=me, threads=threads, on_done=on_done),
                threads=one.threads, owner=me, browser=browser(),
                key=transfer_key(one, backbone, task)))  # identical runs: trained once
        except job_registry.QueueFull as error:
            st.session_state[REFUSED_KEY] = str(error)
        except ValueError as error:  # settings the backbone or task cannot take
            st.session_state[REFUSED_KEY] = f"This cannot start: {error}"
    if started:
        st.session_state[GROUP_KEY] = started


def controls(settings: TransferSettings | None, backbone: Backbone | None,
             task: TransferTask | None) -> None:
    """Train the chosen strategy, compare all four, pause / stop this tab's runs."""
    ready = settings is not None and backbone is not None and task is not None
    group = current_group()
    running = [job for job in group if not job.done]
    columns = st.columns([1.2, 1.6, 1, 1])
    if columns[0].button("Train", type="primary", icon=":material/play_arrow:", disabled=not ready,
                         key=f"{PAGE}.train", help="Train the chosen strategy."):
        _submit([settings], backbone, task)
        st.rerun()
    if columns[1].button("Compare all four", icon=":material/compare_arrows:", disabled=not ready,
                         key=f"{PAGE}.compare",
                         help="Frozen, fine-tune the last block, fine-tune all, from scratch: "
                              "the same task, examples and budget."):
        _submit([dataclasses.replace(settings, strategy=key) for key in STRATEGIES],
                backbone, task)
        st.rerun()
    paused = bool(running) and all(job.pause_requested for job in running)
    shared = [job for job in running if registry().followed_by_several(job.job_id)]
    if columns[2].button("Resume" if paused else "Pause", disabled=not running or bool(shared),
                         icon=":material/play_circle:" if paused else ":material/pause:",
                         key=f"{PAGE}.pause",
                         help="Shared with others who started the same runs: pausing would "
                              "pause theirs too." if shared else None):
        for job in running:
            job.resume() if paused else job.pause()
        st.rerun()
    if columns[3].button("Stop", disabled=not running, icon=":material/stop:", key=f"{PAGE}.stop",
                         help="Runs shared with others go on for them." if shared else None):
        for job in running:
            registry().stop_for(job.job_id, owner())
        st.rerun()
    if shared:
        st.caption(f":material/group: {len(shared)} of these runs are shared with others who "
                   "started the same settings, backbone and examples: trained once for all.")
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(refused, icon=":material/block:")
    st.session_state[DRAWN_KEY] = tuple((job.job_id, job.state) for job in group)


# ---------------------------------------------------------------- the runs, live


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _status(snap: TransferSnapshot) -> str:
    if snap.state == "queued":
        return f"{snap.strategy_label}: waiting, number {snap.queue_position} in the queue."
    if snap.phase == "features" and snap.features_total:
        return (f"{snap.strategy_label}: computing features {snap.features_done} of "
                f"{snap.features_total} ({snap.features_cached} already cached)")
    if snap.done:
        return f"{snap.strategy_label}: {snap.message}"
    return (f"{snap.strategy_label}: {snap.state}, epoch {snap.epoch} of {snap.planned_epochs}, "
            f"{snap.train_seconds:.1f} s of {snap.settings.max_seconds or 0:.0f} s. {snap.message}")


def _row(snap: TransferSnapshot) -> dict:
    return {"run": snap.job_id[:8], "strategy": snap.strategy_label,
            "examples per class": snap.settings.examples_per_class or "all",
            "state": snap.state, "test accuracy": _percent(snap.test_accuracy),
            "trainable parameters": f"{snap.trainable_parameters:,}",
            "training s": round(snap.train_seconds, 1),
            "of which features s": round(snap.feature_seconds, 1),
            "backbone": snap.backbone, "task": snap.task}


def show_group(snaps: list[TransferSnapshot]) -> None:
    """Progress of each strategy, the overlaid test-accuracy curves and the comparison table."""
    for snap in snaps:
        st.progress(min(max(snap.progress, 0.0), 1.0), text=_status(snap))
        if snap.state == "failed":
            st.error(f"{snap.strategy_label} failed: {snap.message}", icon=":material/warning:")
    for note in dict.fromkeys(note for snap in snaps for note in snap.notes):
        st.caption(note)
    series = {snap.strategy_label: ([p.epoch for p in snap.evaluations],
                                    [p.test_accuracy for p in snap.evaluations])
              for snap in snaps if snap.evaluations}
    left, right = st.columns([3, 2])
    with left:
        if series:
            st.plotly_chart(plots.line_figure(series, x_title="epoch", y_title="test accuracy",
                                              height=300),
                            width="stretch", key=f"{PAGE}.curves")
        else:
            st.caption("The test-accuracy curves appear after the first epoch.")
    with right:
        if len(snaps) > 1 and any(s.test_accuracy is not None for s in snaps):
            ranked = sorted(snaps, key=lambda s: -(s.test_accuracy or 0))
            st.markdown("**At the same number of examples:**\n" + "\n".join(
                f"{i}. {s.strategy_label}: "
                f"{'**' + _percent(s.test_accuracy) + '**' if s.test_accuracy else 'not yet'} "
                f"({s.trainable_parameters:,} trainable)"
                for i, s in enumerate(ranked, start=1)))
        done = [s for s in snaps if s.final_test_accuracy is not None]
        if done:
            st.caption(f"Final test accuracy on all {done[0].test_images:,} test images"
                       f"{' (the training examples: see the caution)' if done[0].evaluated_on_training else ''}.")
    st.dataframe(pd.DataFrame([_row(s) for s in snaps]), hide_index=True, width="stretch")


@st.fragment(run_every=POLL_SECONDS)
def live_group(job_ids: tuple[str, ...]) -> None:
    """Polls the runs every POLL_SECONDS (2 s); the whole page redraws when a run's state changes
    (so the buttons, the predictions and the downloads follow)."""
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    jobs = [job for job in (registry().get(i) for i in job_ids) if job is not None]
    show_group([job.snapshot() for job in jobs])
    drawn = tuple((job.job_id, job.state) for job in jobs)
    if all(job.done for job in jobs) or drawn != st.session_state.get(DRAWN_KEY):
        st.rerun()


def runs_view() -> None:
    group = current_group()
    if not group:
        st.info("Press **Train** for the chosen strategy, or **Compare all four** to see what "
                "the pretrained weights are worth. Runs go on while you visit other pages.",
                icon=":material/model_training:")
        return
    if all(job.done for job in group):
        show_group([job.snapshot() for job in group])
    else:
        live_group(tuple(job.job_id for job in group))


def examples_curve(runs: list[TransferJob]) -> None:
    """Final test accuracy against examples per class, one line per strategy, for this tab's
    finished runs on the latest backbone and task: the lecture's point in one picture."""
    snaps = [job.snapshot() for job in runs]
    if not snaps:
        return
    last = snaps[-1]
    same = [s for s in snaps if (s.backbone, s.task, s.classes) == (last.backbone, last.task,
                                                                     last.classes)
            and s.final_test_accuracy is not None and s.settings.examples_per_class]
    if len({s.settings.examples_per_class for s in same}) < 2:
        st.caption("Compare at two or more numbers of examples per class (5, 20, 50) and a "
                   "chart of accuracy against examples appears here.")
        return
    series: dict[str, tuple[list, list]] = {}
    for strategy, spec in STRATEGIES.items():
        points = sorted({s.settings.examples_per_class: s.final_test_accuracy
                         for s in same if s.strategy == strategy}.items())
        if points:
            series[spec.label] = ([p[0] for p in points], [p[1] for p in points])
    st.plotly_chart(plots.line_figure(series, x_title="examples per class (log)",
                                      y_title="test accuracy", log_x=True, height=300),
                    width="stretch", key=f"{PAGE}.examples_curve")
    st.caption(f"{last.backbone} on {last.task}: the latest run of each strategy at each "
               "number of examples.")


# ---------------------------------------------------------------- predictions and exports


def finished_runs() -> list[TransferJob]:
    return [job for job in my_runs() if job.done and job.model is not None
            and job.state in job_registry.USABLE_STATES]


def _pick(runs: list[TransferJob], label: str, key: str) -> TransferJob:
    """A select box over the runs' ids (widgets copy their options: never pass the jobs)."""
    by_id = {job.job_id: job for job in runs[::-1]}  # the latest first
    return by_id[st.selectbox(label, list(by_id), format_func=lambda i: _label(by_id[i]),
                              key=key)]


def _label(job: TransferJob) -> str:
    snap = job.snapshot()
    return (f"{job.job_id[:8]}: {snap.strategy_label}, {snap.settings.examples_per_class or 'all'}"
            f" per class, {_percent(snap.test_accuracy)}")


def predictions_panel(runs: list[TransferJob]) -> None:
    """A new picture (a held-out test picture, a photo, an upload or the camera) through an
    adapted network, with the new class names."""
    job = _pick(runs, "Adapted network", f"{PAGE}.predictor")
    source = st.radio("Picture", ["test", "other"], horizontal=True, key=f"{PAGE}.picture",
                      format_func={"test": "A test picture of the task",
                                   "other": "Your own (photo, upload, camera)"}.get)
    if source == "test":
        data = job.task.dataset
        index = st.slider("Test picture", 0, len(data.test_labels) - 1, 0, key=f"{PAGE}.test_index")
        pixels = data.test_images[index].permute(1, 2, 0).numpy()  # (H, W, 3) uint8
        truth = f"true class: **{data.classes[int(data.test_labels[index])]}**"
    else:
        picked = image_picker(PAGE, mode="RGB", default="astronaut")
        pixels, truth = picked.pixels, picked.label
    left, right = st.columns([1, 2])
    left.image(plots.png_bytes(np.asarray(pixels)), width="stretch", output_format="PNG")
    left.caption(truth)
    try:
        ranked = job.predict(pixels)
    except (ValueError, RuntimeError) as error:
        right.error(f"No prediction for this picture: {error}", icon=":material/error:")
        return
    right.dataframe(pd.DataFrame({"class": [c for c, _ in ranked],
                                  "probability": [p for _, p in ranked]}),
                    column_config={"probability": st.column_config.ProgressColumn(
                        "probability", min_value=0.0, max_value=1.0, format="percent")},
                    hide_index=True, width="stretch")


def exports_panel(runs: list[TransferJob]) -> None:
    """Downloads of one adapted network, the comparison, and the standalone script."""
    job = _pick(runs, "Run", f"{PAGE}.exported")

    def weights() -> bytes:
        buffer = io.BytesIO()
        save_adapted(job, buffer)
        return buffer.getvalue()

    columns = st.columns(4)
    columns[0].download_button("Adapted network (.pt)", weights, file_name="adapted.pt",
                               icon=":material/download:", on_click="ignore")
    columns[1].download_button("Metrics (.csv)", lambda: metrics_csv(job.snapshot()),
                               file_name="transfer_metrics.csv", mime="text/csv",
                               icon=":material/download:", on_click="ignore")
    columns[2].download_button("Comparison (.csv)",
                               lambda: comparison_csv([r.snapshot() for r in current_group()]),
                               file_name="transfer_comparison.csv", mime="text/csv",
                               icon=":material/download:", on_click="ignore")
    script = standalone_script(job)
    columns[3].download_button("Script (.py)", script, file_name="transfer.py",
                               mime="text/x-python", icon=":material/download:", on_click="ignore")
    st.caption("The `.pt` file loads with `torch.load(..., weights_only=True)`; the script needs "
               "only torch and torchvision and reproduces this strategy on a folder of class "
               "folders. The adapted network is also listed on the **Pretrained networks** page "
               "(activations, Grad-CAM) with its new class names.")
    code_panel(script, title="Show the code (this strategy, standalone)")
