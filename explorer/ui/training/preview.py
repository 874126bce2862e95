"""The Train page's "before you start" panel: the planned learning-rate schedule step by step
and the activation functions' curves (the lecture's "Learning-rate scheduling" and
"Improvements on ReLU")."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.images import plots
from explorer.training import data, nets
from explorer.training import settings as train_settings
from explorer.ui.state import kept
from explorer.ui.training_session import PAGE


def schedule_and_activation(settings: train_settings.TrainSettings | None,
                            dataset: data.Dataset) -> None:
    """Before Start: the learning rate at every step of the planned run, and the activation
    function beside the other three (the lecture's "Learning-rate scheduling" and "Improvements
    on ReLU")."""
    left, right = st.columns(2)
    with left:
        if settings is None or settings.epochs is None:
            st.info("Choose a dataset and settings to see the schedule.", icon=":material/info:")
        else:
            per_epoch = max(1, len(dataset.train_labels) // settings.batch_size)
            total = settings.epochs * per_epoch
            rates = train_settings.schedule_curve(settings.schedule, settings.learning_rate, total)
            st.plotly_chart(plots.line_figure(
                {train_settings.SCHEDULES[settings.schedule].label: (np.arange(total), np.array(rates))},
                x_title=f"step ({settings.epochs} epochs x {per_epoch} steps)",
                y_title="learning rate", height=260), width="stretch", key="schedule_preview")
            st.caption(train_settings.SCHEDULES[settings.schedule].explanation)
    with right:
        chosen = st.session_state.get(kept(f"{PAGE}.activation"), "relu")
        z = np.linspace(-3.0, 3.0, 121)
        curves = {nets.ACTIVATIONS[name].label + (" (chosen)" if name == chosen else ""):
                  (z, nets.activation_curve(name, z)) for name in nets.ACTIVATIONS}
        figure = plots.line_figure(curves, x_title="z", y_title="h(z)", height=260)
        figure.for_each_trace(lambda trace: trace.update(
            line_width=4 if "(chosen)" in trace.name else 1.5))  # the chosen one stands out
        st.plotly_chart(figure, width="stretch", key="activation_preview")
        st.caption(nets.ACTIVATIONS[chosen].explanation
                   if chosen in nets.ACTIVATIONS else "")
