"""The Train page's lecture ablation: its four runs live, beside the lecture's numbers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.training import ablation
from explorer.ui.state import bound_expander_link
from explorer.ui.training_session import ABLATION_KEY, POLL_SECONDS, registry

VARIANTS = {variant.key: variant for variant in ablation.VARIANTS}


def _runs() -> list[tuple[ablation.Variant, object]]:
    runs = []
    for key, job_id in st.session_state.get(ABLATION_KEY) or []:
        job = registry().get(job_id or "")
        runs.append((VARIANTS[key], None if job is None else job.snapshot()))
    return runs


def _accuracy_percent(snap) -> float | None:
    """The final accuracy, else the latest on the test subset, else None."""
    if snap is None:
        return None
    if snap.final_test_accuracy is not None:
        return 100 * snap.final_test_accuracy
    return None if snap.latest is None else 100 * snap.latest.test_accuracy


def comparison_figure(runs: list[tuple[ablation.Variant, object]]) -> go.Figure:
    """Grouped bars: the lecture's test accuracy and this server's, per variant."""
    labels = [variant.label for variant, _ in runs]
    ours = [_accuracy_percent(snap) for _, snap in runs]
    figure = go.Figure([
        go.Bar(name="lecture (CIFAR-10, 100 epochs)", x=labels,
               y=[variant.lecture_accuracy for variant, _ in runs], marker_color="#9aa5b1",
               text=[f"{variant.lecture_accuracy:g} %" for variant, _ in runs],
               textposition="outside"),
        go.Bar(name="this server (Shapes, 2,000 images)", x=labels, y=ours,
               marker_color="#1f77b4",
               text=["" if value is None else f"{value:.1f} %" for value in ours],
               textposition="outside"),
    ])
    figure.update_layout(barmode="group", height=300, yaxis={"title": "test accuracy (%)",
                                                             "range": [0, 105]},
                         margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "y": 1.15})
    return figure


@st.fragment(run_every=POLL_SECONDS)
def _live() -> None:
    runs = _runs()
    _draw(runs)
    if all(snap is None or snap.done for _, snap in runs):
        st.rerun()  # all four are done: draw once more without polling


def _draw(runs: list[tuple[ablation.Variant, object]]) -> None:
    st.dataframe(pd.DataFrame(ablation.ablation_rows(runs)), hide_index=True, width="stretch")
    st.plotly_chart(comparison_figure(runs), width="stretch", key="ablation_bars")


def ablation_panel() -> None:
    """The lecture's numbers, and this tab's four ablation runs once queued (polled live)."""
    runs = _runs()
    bound_expander_link("ablation")
    with st.expander("The lecture's ablation: plain, + batch norm, + dropout, + augmentation",
                     icon=":material/science:", expanded=bool(runs), key="ablation",
                     bind="query-params"):
        if not runs:
            st.dataframe(pd.DataFrame(ablation.ablation_rows(
                [(variant, None) for variant in ablation.VARIANTS])).drop(
                    columns=["state", "epoch", "train accuracy", "test accuracy"]),
                hide_index=True, width="stretch")
            st.caption("Press **Lecture ablation** to train the four runs here (about 3 minutes "
                       "on a 2-core server, one after another).")
        elif all(snap is None or snap.done for _, snap in runs):
            _draw(runs)
        else:
            _live()
        st.markdown(ablation.WHY)
