"""What a generative run depends on, as one key (model, settings with the seed, this room's
code), and the function that submits it to the job registry: identical runs are trained once."""

from __future__ import annotations

from pathlib import Path

from explorer.generative.base import BaseSettings
from explorer.generative.job import GenerativeJob
from explorer.generative.registry import MODELS
from explorer.jobs.identity import code_version, job_key
from explorer.jobs.registry import JobRegistry

ROOM = Path(__file__).parent


def run_key(model: str, settings: BaseSettings) -> str:
    return job_key("generative", code_version(ROOM), model, settings)


def submit_generative(registry: JobRegistry, model: str, settings: BaseSettings, *,
                      owner: str | None = None, browser: str | None = None,
                      share: bool = True) -> str:
    """Queue a run (or join an identical one) and return its id; ValueError for an unknown
    model, QueueFull when the tab has no room."""
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    return registry.submit_job(
        lambda threads, on_done: GenerativeJob(model, settings, owner=owner, threads=threads,
                                               on_done=on_done),
        threads=1, owner=owner, browser=browser,
        key=run_key(model, settings) if share else None)
