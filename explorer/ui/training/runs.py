"""The Train page's runs: this tab's runs in a table, their curves overlaid, downloads."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.training import data
from explorer.training import job as training
from explorer.training import runs as train_runs
from explorer.training import script as train_script
from explorer.training.snapshot import JobSnapshot
from explorer.ui.training_session import PAGE, owner, registry


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _final_accuracy(snap: JobSnapshot) -> str:
    """The whole-test-split accuracy, or why there is none."""
    if snap.final_test_accuracy is not None:
        return _percent(snap.final_test_accuracy)
    return {"stopped": "none (stopped early)", "failed": "none (failed)"}.get(
        snap.state, "at the end")


def _row(snap: JobSnapshot) -> dict:
    s = snap.settings
    model = s.model
    parts = [f"{model.blocks} blocks x {model.channels}"] + (["BN"] if model.batch_norm else []) + (
        [f"dropout {model.dropout:g}"] if model.dropout else []) + (
        ["augmented"] if s.augmentation.active else [])
    return {"run": snap.job_id[:8], "dataset": snap.dataset, "model": ", ".join(parts),
            "optimiser": f"{s.optimiser} {s.learning_rate:g}", "state": snap.state,
            "epochs": round(snap.epoch, 2),
            "test accuracy (subset)": _percent(None if snap.latest is None
                                               else snap.latest.test_accuracy),
            "final test accuracy": _final_accuracy(snap),
            "images/s": round(snap.images_per_second)}


def runs_panel(dataset: data.Dataset | None) -> None:
    """Every run of this tab: a table, curves overlaid, downloads of the latest finished run."""
    jobs = registry().jobs_of(owner(), training.TrainingJob.KIND)
    if not jobs:
        return
    snaps = [job.snapshot() for job in jobs]
    st.dataframe(pd.DataFrame([_row(s) for s in snaps]), hide_index=True, width="stretch")
    ids = [s.job_id for s in snaps]
    chosen = st.multiselect("Overlay the test accuracy of", ids, default=ids[-4:],
                            format_func=lambda i: i[:8], key=f"{PAGE}.compare")
    series = {}
    for snap in snaps:
        if snap.job_id in chosen and snap.evaluations:
            label = f"{snap.job_id[:8]}: {_row(snap)['model']}"
            series[label] = ([p.epoch for p in snap.evaluations],
                             [p.test_accuracy for p in snap.evaluations])
    if series:
        st.plotly_chart(plots.line_figure(series, x_title="epoch", y_title="test accuracy"),
                        width="stretch", key="compare_runs")
    finished = [job for job, snap in zip(jobs, snaps, strict=True) if snap.state == "finished"]
    if finished:
        downloads(finished[-1])


def downloads(job: training.TrainingJob) -> None:
    snap = job.snapshot()
    st.caption(f"Downloads of the latest finished run ({snap.job_id[:8]}):")
    columns = st.columns(3)

    def weights() -> bytes:
        buffer = io.BytesIO()
        train_runs.save_run(job, buffer)
        return buffer.getvalue()

    columns[0].download_button("Weights + settings (.pt)", weights, file_name="cnn_run.pt",
                               icon=":material/download:", on_click="ignore")
    columns[1].download_button("Metrics (.csv)", lambda: train_runs.metrics_csv(job.snapshot()),
                               file_name="metrics.csv", mime="text/csv",
                               icon=":material/download:", on_click="ignore")
    columns[2].download_button("Training script (.py)",
                               lambda: train_script.standalone_script(snap.settings, job.dataset),
                               file_name="train_cnn.py", mime="text/x-python",
                               icon=":material/download:", on_click="ignore")
