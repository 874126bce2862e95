"""Keeps this tab's training runs alive while it shows any page (the Home page stays torch-free)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import streamlit as st

OWNER_KEY = "keep.train.owner"  # set by the Train page (explorer.ui.training_session.owner)
BEAT_SECONDS = 20  # well inside the registry's grace period (120 s)


def imported_already(name: str) -> ModuleType | None:
    """The module if some session has started importing it, once its import has finished.

    Another session's thread may be half-way through importing it: `sys.modules` then holds a
    partially initialised module. `import_module` waits on that module's import lock instead.
    """
    if name not in sys.modules:
        return None
    return importlib.import_module(name)


def _registry():
    """The job registry if the Train page has been used in this process, without importing torch."""
    registry_module = imported_already("explorer.jobs.registry")
    return None if registry_module is None else registry_module.get_registry()


def keep_jobs_alive() -> None:
    """Call on every page: while this tab owns unfinished runs, report it alive every 20 s."""
    owner = st.session_state.get(OWNER_KEY)
    if owner is None:  # this tab never trained: nothing to keep alive
        return
    registry = _registry()
    if registry is None:
        return
    if any(not job.done for job in registry.jobs_of(owner)):
        _beat(owner)


@st.fragment(run_every=BEAT_SECONDS)
def _beat(owner: str) -> None:
    registry = _registry()
    if registry is not None:
        registry.heartbeat(owner)
