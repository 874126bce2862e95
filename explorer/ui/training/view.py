"""One Train-page run drawn from its snapshot: progress, curves, kernels, confusion, mistakes."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.images import plots
from explorer.jobs.bounded_cache import BoundedCache
from explorer.training import data
from explorer.training.snapshot import JobSnapshot

# A run's figures and pictures are the same for every tab that shows it at the same moment (a
# shared run is followed by many tabs, each polling every 2 s): each is built once per
# (run, what it shows) for the whole server. Plotly's figure building was about a seventh of
# the server's Python time while a class trained (py-spy, benchmarks/stload.py --jobs).
_DRAWN: BoundedCache = BoundedCache(max_entries=512, max_bytes=64 * 2**20,
                                    size=lambda v: len(v) if isinstance(v, bytes) else 0)


def _drawn(snap: JobSnapshot, what: str, version: tuple, build):
    return _DRAWN.get_or_compute((snap.job_id, what, version), build)


def _status_line(snap: JobSnapshot) -> str:
    if snap.state == "queued":
        return f"Waiting for a free training slot: number {snap.queue_position} in the queue."
    eta = f", about {snap.eta_seconds:.0f} s left" if snap.eta_seconds is not None else ""
    return (f"**{snap.state.capitalize()}**: epoch {snap.epoch:.2f}, step {snap.step}"
            f"{' of ' + str(snap.planned_steps) if snap.planned_steps else ''}, "
            f"{snap.images_per_second:,.0f} images/s{eta if not snap.done else ''}. "
            f"{snap.message}")


def show_run(snap: JobSnapshot, dataset: data.Dataset | None) -> None:
    """Progress, curves, kernels, confusion matrix and mistakes of one run (from a snapshot)."""
    st.progress(min(max(snap.progress, 0.0), 1.0), text=_status_line(snap))
    if snap.state == "failed":
        st.error(snap.message, icon=":material/warning:")
    elif snap.state == "stopped":
        measured = (f" The last measured test accuracy (on {snap.confusion_images:,} test "
                    f"images, at step {snap.latest.step}) was {snap.latest.test_accuracy:.1%}."
                    if snap.latest is not None else " It had not been evaluated yet.")
        st.info(f"Stopped at step {snap.step}"
                f"{' of ' + str(snap.planned_steps) if snap.planned_steps else ''}, before the "
                f"end: there is no final accuracy on the whole test split.{measured}",
                icon=":material/stop_circle:")
    points = snap.evaluations
    # what each picture depends on: the curve's last step (its length repeats when it is
    # merged), the evaluations made and whether the run has ended (the final evaluation)
    last = snap.curve_steps[-1] if snap.curve_steps else 0
    steps, evaluated = (last, len(points)), (len(points), snap.done)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(_drawn(snap, "loss", steps, lambda: plots.line_figure(
            {"training loss (per step)": (snap.curve_steps, snap.curve_losses),
             **({"test loss": ([p.step for p in points], [p.test_loss for p in points])}
                if points else {})},
            x_title="step", y_title="loss", height=280)), width="stretch", key="loss_curve")
    with right:
        if points:
            epochs = [p.epoch for p in points]
            st.plotly_chart(_drawn(snap, "accuracy", evaluated, lambda: plots.line_figure(
                {"train": (epochs, [p.train_accuracy for p in points]),
                 "test": (epochs, [p.test_accuracy for p in points])},
                x_title="epoch", y_title="accuracy", height=280)), width="stretch",
                key="accuracy_curve")
        else:
            st.caption("Accuracy appears after the first evaluation.")
    if snap.curve_learning_rates:
        st.plotly_chart(_drawn(snap, "rate", steps, lambda: plots.line_figure(
            {"learning rate": (snap.curve_steps, snap.curve_learning_rates)},
            x_title="step", y_title="learning rate", log_y=True, height=200)), width="stretch",
            key="lr_curve")
    if snap.final_test_accuracy is not None:
        st.success(f"Test accuracy on all {len(dataset.test_labels) if dataset else ''} test "
                   f"images: **{snap.final_test_accuracy:.1%}**", icon=":material/check_circle:")
    kernels_col, confusion_col = st.columns([2, 3])
    with kernels_col:
        if snap.kernels is not None:
            from explorer.networks import first_layer

            def kernels() -> bytes:
                tiles = first_layer.kernels_to_images(snap.kernels) \
                    if snap.kernels.shape[1] == 3 \
                    else (0.5 + 0.5 * snap.kernels / max(np.abs(snap.kernels).max(), 1e-12))
                return plots.png_bytes(plots.image_grid(tiles, columns=8, scale=8))

            st.image(_drawn(snap, "kernels", evaluated, kernels), width="stretch",
                     caption="First-layer kernels at the last evaluation (grey = 0)",
                     output_format="PNG")
    with confusion_col:
        if snap.confusion is not None:
            st.plotly_chart(_drawn(snap, "confusion", (*evaluated, snap.confusion_images),
                                   lambda: plots.confusion_figure(snap.confusion, snap.classes)),
                            width="stretch", key="confusion")
            st.caption(f"Confusion matrix on {snap.confusion_images} test images.")
    if snap.misclassified and dataset is not None and dataset.name == snap.dataset:
        wrong = snap.misclassified[:16]
        picture = _drawn(snap, "mistakes", (*evaluated, tuple(m.index for m in wrong)),
                         lambda: plots.png_bytes(plots.image_grid(
                             dataset.test_images[[m.index for m in wrong]].numpy(),
                             columns=16, scale=3)))
        st.image(picture, width="stretch", output_format="PNG")
        st.caption("Mistakes, left to right: " + "; ".join(
            f"{snap.classes[m.true]} taken for {snap.classes[m.predicted]} "
            f"({m.confidence:.0%})" for m in wrong))
