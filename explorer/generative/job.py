"""One job kind trains any generative model: the trainer steps in turns on the cores (with the
training runs), records every step's named losses and refreshes the preview about once a second;
pause and stop between steps. The page polls snapshots; the command line waits for the end."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from explorer.generative.base import PREVIEW_SECONDS, BaseSettings
from explorer.generative.registry import make_trainer
from explorer.jobs.control import DONE_STATES, JobControl
from explorer.jobs.fair_share import get_turns
from explorer.training.compute import thread_budget


class _Stopped(Exception):
    """Raised inside the loop when stop() was asked for."""


@dataclass(frozen=True)
class GenerativeSnapshot:
    job_id: str
    model: str  # registry key
    state: str  # queued, running, paused, finished, stopped, failed
    message: str
    settings: BaseSettings
    step: int
    compute_seconds: float  # the run's own computing time (what max_seconds bounds)
    losses: dict[str, tuple[float, ...]] = field(default_factory=dict)  # name -> one per step
    preview: Any = None  # the trainer's latest preview (numpy arrays)
    preview_step: int = 0  # the step the preview was made at (a cache key for the figures)
    queue_position: int | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def progress(self) -> float:
        by_steps = self.step / self.settings.max_steps
        by_time = self.compute_seconds / self.settings.max_seconds
        return min(1.0, max(by_steps, by_time))


class GenerativeJob(JobControl):
    """Trains registry model `model` with `settings` until max_steps or max_seconds of its own
    computing time; `weights` holds the trained state_dict when it ends."""

    KIND = "generative"
    THREAD_PREFIX = "generative"
    takes_turns = True
    RUN_FIELDS = ("_trainer",)  # the live model: dropped when the run ends

    def __init__(self, model: str, settings: BaseSettings, *, owner: str | None = None,
                 threads: int = 1, on_done: Callable[[Any], None] | None = None) -> None:
        self.job_id = uuid.uuid4().hex[:12]
        self.model_key, self.settings = model, settings
        self.owner, self.threads = owner, max(1, threads)
        self.error: str | None = None
        self.weights: dict[str, Any] | None = None
        self.model = None  # nothing for the Pretrained page's model lists
        self._step = 0
        self._compute = 0.0
        self._losses: dict[str, list[float]] = {}
        self._preview: Any = None
        self._preview_step = 0
        self._init_control(on_done)

    # -- what the pages read ---------------------------------------------------------

    def snapshot(self) -> GenerativeSnapshot:
        with self._lock:
            return GenerativeSnapshot(
                self.job_id, self.model_key, self._state, self._message, self.settings,
                self._step, self._compute, {k: tuple(v) for k, v in self._losses.items()},
                self._preview, self._preview_step, self._queue_position)

    # -- the worker ----------------------------------------------------------------------

    def _set(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message

    def _wait(self, turns) -> None:
        """Pause while asked (holding no turn), then wait for a turn; _Stopped on stop()."""
        if not self._may_run.is_set():
            turns.release(self.job_id)
            self._set("paused", f"paused at step {self._step}")
            self._may_run.wait()
            self._set("running", "")
        if self._stop.is_set() or not turns.wait_turn(self.job_id, self._stop):
            raise _Stopped

    def _publish(self, trainer) -> None:
        preview = trainer.preview()
        with self._lock:
            self._preview, self._preview_step = preview, self._step

    def _run(self) -> None:
        turns = get_turns()
        turns.join(self.job_id)
        settings = self.settings
        try:
            with thread_budget(self.threads):
                self._trainer = trainer = make_trainer(self.model_key, settings)
                self._publish(trainer)  # the untrained model: the starting point
                self._set("running", "")
                last_preview = time.monotonic()
                while self._step < settings.max_steps and self._compute < settings.max_seconds:
                    self._wait(turns)
                    started = time.perf_counter()
                    losses = trainer.step()
                    spent = time.perf_counter() - started
                    with self._lock:
                        self._step += 1
                        self._compute += spent
                        for name, value in losses.items():
                            self._losses.setdefault(name, []).append(float(value))
                    if time.monotonic() - last_preview >= PREVIEW_SECONDS:
                        self._publish(trainer)
                        last_preview = time.monotonic()
                self._publish(trainer)
                self.weights = trainer.state_dict()
            self._set("finished", f"finished after {self._step} steps, "
                                  f"{self._compute:.1f} s of computing")
        except _Stopped:
            self._set("stopped", f"stopped at step {self._step}")
        except Exception as exc:  # a bug or a bad setting: report it, never kill the server
            self.error = traceback.format_exc()
            self._set("failed", f"{type(exc).__name__}: {exc}")
        finally:
            turns.leave(self.job_id)
            self.__dict__.pop("_trainer", None)
            self._finish()
