"""What a deep-network job depends on, as one key (settings, data, code): identical requests
from several tabs share one run; and the functions that submit them to the job registry."""

from __future__ import annotations

from pathlib import Path

from explorer.gradients.data import deep_dataset
from explorer.gradients.job import CompareJob, GradientStepsJob
from explorer.gradients.residual import VARIANTS, CompareSettings
from explorer.gradients.settings import DeepSettings
from explorer.jobs.identity import code_version, job_key
from explorer.jobs.registry import JobRegistry, QueueFull
from explorer.training.identity import dataset_digest

ROOM = Path(__file__).parent


def steps_key(settings: DeepSettings) -> str:
    """The deep net's settings (seed included), the data and this room's code."""
    return job_key("gradients", code_version(ROOM), settings, dataset_digest(deep_dataset()))


def compare_key(variant: str, settings: CompareSettings) -> str:
    """One residual-vs-plain network: its name, the settings, the data and the code."""
    return job_key("residual", code_version(ROOM), variant, settings,
                   dataset_digest(deep_dataset()))


def submit_steps(registry: JobRegistry, settings: DeepSettings, *, owner: str | None = None,
                 browser: str | None = None) -> str:
    """Queue the live training steps (or join an identical run) and return the job's id;
    ValueError before anything queues when they are too much work."""
    settings.check_run()
    return registry.submit_job(
        lambda threads, on_done: GradientStepsJob(settings, owner=owner, threads=threads,
                                                  on_done=on_done),
        threads=1, owner=owner, browser=browser, key=steps_key(settings))


def submit_comparison(registry: JobRegistry, settings: CompareSettings, *,
                      owner: str | None = None,
                      browser: str | None = None) -> list[tuple[str, str]]:
    """Queue the three networks (each joins an identical run when one exists): [(variant, job
    id)]. QueueFull when the tab has no room for them (nothing is queued then)."""
    if owner is not None and registry.free_places(owner) < len(VARIANTS):  # all or none
        raise QueueFull(
            f"Residual vs plain trains {len(VARIANTS)} networks, and this tab may hold only "
            f"{registry.max_per_owner} unfinished runs at once on a shared server: stop or "
            "finish the runs it has first.")
    return [(variant, registry.submit_job(
        lambda threads, on_done, variant=variant: CompareJob(
            variant, settings, owner=owner, threads=threads, on_done=on_done),
        threads=1, owner=owner, browser=browser, key=compare_key(variant, settings)))
        for variant in VARIANTS]
