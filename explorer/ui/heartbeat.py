"""Keeps this tab's training runs alive while it shows any page (the Home page stays torch-free)."""

from __future__ import annotations

import sys

import streamlit as st

OWNER_KEY = "keep.train.owner"  # set by the Train page (explorer.ui.training_session.owner)
BEAT_SECONDS = 20  # well inside the registry's grace period (120 s)


def _registry():
    """The job registry if the Train page has been used in this process, without importing torch."""
    registry_module = sys.modules.get("explorer.jobs.registry")
    return None if registry_module is None else registry_module.get_registry()


def keep_jobs_alive() -> None:
    """Call on every page: while this tab owns unfinished runs, report it alive every 20 s."""
    owner = st.session_state.get(OWNER_KEY)
    registry = _registry()
    if owner is None or registry is None:
        return
    if any(not job.done for job in registry.jobs_of(owner)):
        _beat(owner)


@st.fragment(run_every=BEAT_SECONDS)
def _beat(owner: str) -> None:
    registry = _registry()
    if registry is not None:
        registry.heartbeat(owner)
