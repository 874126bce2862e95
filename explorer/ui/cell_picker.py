"""A heatmap whose cells can be clicked: the click sets the row and column widgets."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from explorer.images import plots

TARGETS = 1  # the trace index of plots.with_cell_targets' markers (the heatmap is trace 0)


def clickable_heatmap(figure: go.Figure, *, key: str, shape: tuple[int, int], row_key: str,
                      col_key: str) -> None:
    """Shows `figure`, a heatmap of `shape` cells; clicking a cell writes its row and column
    to the widgets `row_key` and `col_key` (sliders or number inputs seeded with state.seed),
    so a click and the sliders always agree."""

    def picked() -> None:
        event = st.session_state.get(key)
        points = [p for p in (event.selection.points if event else [])
                  if p.get("curve_number") == TARGETS]
        if points:
            st.session_state[row_key] = int(points[0]["y"])
            st.session_state[col_key] = int(points[0]["x"])

    st.plotly_chart(plots.with_cell_targets(figure, *shape), width="stretch", key=key,
                    on_select=picked, selection_mode="points",
                    config={"displayModeBar": False})
