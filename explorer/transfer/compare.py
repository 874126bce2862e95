"""Several transfer strategies on the same examples: one after another, in this or a background
thread."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

from explorer.transfer.adapt import STRATEGIES, TransferSettings
from explorer.transfer.backbones import Backbone
from explorer.transfer.job import TransferJob, TransferSnapshot
from explorer.transfer.tasks import TransferTask

# ---------------------------------------------------------------------------
# Several strategies, the same examples
# ---------------------------------------------------------------------------


def compare(backbone: Backbone, task: TransferTask, settings: TransferSettings,
            strategies: Iterable[str] = tuple(STRATEGIES), *,
            on_start: Callable[[TransferJob], None] | None = None) -> list[TransferJob]:
    """Run one job per strategy, one after another in this thread, with the same settings
    (examples, seed, epochs, time budget); returns them finished. on_start(job) lets a caller
    watch (e.g. poll its snapshot from another thread)."""
    jobs = [TransferJob(_with_strategy(settings, name), backbone, task) for name in strategies]
    for job in jobs:
        if on_start is not None:
            on_start(job)
        job.start()
        job.join()
    return jobs


def _with_strategy(settings: TransferSettings, strategy: str) -> TransferSettings:
    return replace(settings, strategy=strategy)


class Comparison:
    """Several strategies run one after another in a background thread (for the page): the
    same pause/resume/stop controls, a snapshot per job. Stopping stops them all."""

    def __init__(self, backbone: Backbone, task: TransferTask, settings: TransferSettings,
                 strategies: Iterable[str] = tuple(STRATEGIES), *, owner: str | None = None,
                 threads: int | None = None) -> None:
        self.jobs = [TransferJob(_with_strategy(settings, name), backbone, task, owner=owner,
                                 threads=threads) for name in strategies]
        self.comparison_id = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"comparison-{self.comparison_id}")
                self._thread.start()

    def _run(self) -> None:
        for job in self.jobs:
            if self._stop.is_set():
                job.stop()
                continue
            job.start()
            job.join()

    def pause(self) -> None:
        for job in self.jobs:
            job.pause()

    def resume(self) -> None:
        for job in self.jobs:
            job.resume()

    def stop(self) -> None:
        self._stop.set()
        for job in self.jobs:
            job.stop()

    def join(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is None:
            return all(job.done for job in self.jobs)
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def done(self) -> bool:
        return all(job.done for job in self.jobs)

    def snapshots(self) -> list[TransferSnapshot]:
        return [job.snapshot() for job in self.jobs]
