"""The playground's background job on the job interface: live training with pause, one-batch steps and snapshots; submit_playground."""

from __future__ import annotations

import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from explorer.jobs.control import DONE_STATES, JobControl
from explorer.jobs.fair_share import Turns, get_turns
from explorer.jobs.identity import code_version, job_key
from explorer.jobs.registry import JobRegistry
from explorer.playground.model import Evaluation, Trainer, Weights, get_weights
from explorer.playground.settings import PlaygroundSettings
from explorer.training.compute import thread_budget

ROOM = Path(__file__).parent
BURST_SECONDS = 0.02  # steps between looks at stop / pause (a step takes about 1-2 ms)
EVAL_SECONDS = 0.1  # compute seconds between evaluations (a curve point and fresh weights)
MAX_CURVE = 600  # curve points kept; beyond it every other one is dropped
# Weights for the pages change at most this often (wall clock): a frame. Pages cache their
# figures by (job, frame), so a class following one shared run builds them once per frame.
FRAME_SECONDS = 0.5


class _Stopped(Exception):
    """Raised inside the loop when stop() was asked for."""


@dataclass(frozen=True)
class PlaygroundSnapshot:
    job_id: str
    owner: str | None
    state: str  # queued, running, paused, finished, stopped, failed
    message: str
    settings: PlaygroundSettings
    step: int
    epoch: float
    compute_seconds: float
    steps_per_second: float
    queue_position: int | None
    curve_steps: tuple[int, ...]
    curve_train: tuple[float, ...]  # full train-split loss (without the penalty)
    curve_test: tuple[float, ...]
    evaluation: Evaluation | None  # the latest
    weights: Weights | None  # the latest frame's
    frame: int = 0  # counts the weights published (a cache key for the pages' figures)

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


class PlaygroundJob(JobControl):
    """One playground run in a daemon thread; the page polls snapshot(). Tiny nets and a few
    thousand points: it runs many steps per turn on the cores, evaluates every EVAL_SECONDS of
    compute, and ends at the settings' step or time budget. pause() holds it before the next
    batch; step_once() runs exactly one batch while paused (a run made with paused=True waits
    for it, or for resume(), before its first batch)."""

    THREAD_PREFIX = "playground"
    KIND = "playground"
    takes_turns = True  # short steps: shares the cores with the other live runs (fair_share)
    PROCESS_FIELDS = ("_turns", "_wake")
    model = None  # nothing for the Train page's model lists

    def __init__(self, settings: PlaygroundSettings, *, owner: str | None = None,
                 threads: int = 1, paused: bool = False,
                 on_done: Callable[[PlaygroundJob], None] | None = None,
                 turns: Turns | None = None) -> None:
        self.settings = settings
        self.job_id = uuid.uuid4().hex[:12]
        self.owner, self.threads = owner, 1  # one torch thread: the nets are tiny
        self._turns = turns or get_turns()
        self._wake = threading.Event()
        self._init_control(on_done)
        if paused:
            self._may_run.clear()
        self._pending_steps = 0
        self._step, self._epoch, self._compute, self._rate = 0, 0.0, 0.0, 0.0
        self._curve: tuple[list[int], list[float], list[float]] = ([], [], [])
        self._evaluation: Evaluation | None = None
        self._weights: Weights | None = None
        self._frame, self._published = 0, -math.inf
        self.error: str | None = None

    def _restore_process_fields(self) -> None:
        self._turns, self._wake = get_turns(), threading.Event()

    # -- control ----------------------------------------------------------------

    def step_once(self) -> None:
        """Pause (if running) and train exactly one more batch."""
        self.pause()
        with self._lock:
            self._pending_steps = min(self._pending_steps + 1, 100)
        self._wake.set()

    def resume(self) -> None:
        super().resume()
        self._wake.set()

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def snapshot(self) -> PlaygroundSnapshot:
        with self._lock:
            steps, train, test = self._curve
            return PlaygroundSnapshot(
                self.job_id, self.owner, self._state, self._message, self.settings,
                self._step, self._epoch, self._compute, self._rate, self._queue_position,
                tuple(steps), tuple(train), tuple(test), self._evaluation, self._weights,
                self._frame)

    # -- the worker --------------------------------------------------------------

    def _run(self) -> None:
        self._turns.join(self.job_id)
        try:
            with thread_budget(1):
                self._train()
        except _Stopped:
            self._set_state("stopped", f"stopped at step {self._step}")
        except Exception as exc:  # a bug or bad data: report it, never kill the server
            self.error = traceback.format_exc()
            self._set_state("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._turns.leave(self.job_id)
            self._finish()

    def _set_state(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message

    def _wait_if_paused(self) -> bool:
        """Return at once while running (False); while paused, block until resumed (False) or
        a single step is asked for (True). _Stopped when stop() was called."""
        announced = False
        while True:
            if self._stop.is_set():
                raise _Stopped
            if self._may_run.is_set():
                if announced:
                    self._set_state("running", "")
                return False
            with self._lock:
                if self._pending_steps > 0:
                    self._pending_steps -= 1
                    return True
            if not announced:
                self._turns.release(self.job_id)  # a paused run holds no turn
                self._set_state("paused", f"paused at step {self._step}: Step trains one "
                                          "batch, Start goes on")
                announced = True
            self._wake.wait(0.5)
            self._wake.clear()

    def _train(self) -> None:
        s = self.settings
        trainer = Trainer(s)
        self._record(trainer)
        self._set_state("running", "")
        last_record = 0.0  # compute seconds at the latest curve point
        while True:
            single = self._wait_if_paused()
            if not self._turns.wait_turn(self.job_id, self._stop):
                raise _Stopped
            started = time.perf_counter()
            while True:
                loss = trainer.step()
                if not math.isfinite(loss):
                    self._set_state("failed", _diverged(trainer.steps, s))
                    return
                now = time.perf_counter()
                if single or trainer.steps >= s.max_steps or now - started >= BURST_SECONDS:
                    break
            with self._lock:
                compute = self._compute + now - started
                self._step, self._epoch = trainer.steps, trainer.steps / trainer.steps_per_epoch
            out_of_time = bool(s.max_seconds) and compute >= s.max_seconds
            ended = trainer.steps >= s.max_steps or out_of_time
            if single or ended or compute - last_record >= EVAL_SECONDS:
                self._record(trainer, publish=single or ended)
                last_record = compute
            with self._lock:  # the budget counts evaluations too: it is this run's compute
                self._compute += time.perf_counter() - started
                self._rate = trainer.steps / self._compute if self._compute > 0 else 0.0
            if single:
                self._set_state("paused", f"paused at step {trainer.steps} (one batch of "
                                          f"{trainer.batch} trained)")
            if ended:
                reason = "time budget" if out_of_time else "step budget"
                self._set_state("finished", f"finished after {trainer.steps} steps ({reason} "
                                            "reached)")
                return

    def _record(self, trainer: Trainer, publish: bool = True) -> None:
        """A curve point from an evaluation on both splits, and a frame of weights when one
        is due (FRAME_SECONDS after the last) or `publish` asks for it."""
        evaluation = trainer.evaluate()
        now = time.monotonic()
        publish = publish or now - self._published >= FRAME_SECONDS
        weights = get_weights(trainer.model) if publish else None
        if not (math.isfinite(evaluation.train_loss) and math.isfinite(evaluation.test_loss)):
            raise FloatingPointError(_diverged(trainer.steps, self.settings))
        with self._lock:
            steps, train, test = self._curve
            if steps and steps[-1] == trainer.steps:  # the same step twice: keep one point
                steps.pop(), train.pop(), test.pop()
            steps.append(trainer.steps)
            train.append(evaluation.train_loss)
            test.append(evaluation.test_loss)
            if len(steps) > MAX_CURVE:  # thin out the past, keep the newest point
                for series in (steps, train, test):
                    del series[-2::-2]
            self._evaluation = evaluation
            if weights is not None:
                self._weights, self._frame, self._published = weights, self._frame + 1, now


def _diverged(step: int, settings: PlaygroundSettings) -> str:
    rate = settings.learning_rate
    return (f"The loss became NaN or infinite at step {step}: training diverged. The learning "
            f"rate {rate:g} is probably too high; try {rate / 10:g}.")


def run_key(settings: PlaygroundSettings) -> str:
    """Everything a run's result depends on: the settings (seed included) and the room's code."""
    return job_key("playground", code_version(ROOM), settings)


def submit_playground(registry: JobRegistry, settings: PlaygroundSettings, *,
                      owner: str | None = None, browser: str | None = None,
                      paused: bool = False, share: bool = True) -> str:
    """Queue a playground run and return its id (see JobRegistry.submit_job). With share, a
    run started running joins an identical running or finished one (a class with the same
    settings shares one run); a run made paused (to step through batches) is always this
    tab's own."""
    return registry.submit_job(
        lambda threads, on_done: PlaygroundJob(settings, owner=owner, threads=threads,
                                               paused=paused, on_done=on_done),
        threads=1, owner=owner, browser=browser,
        key=run_key(settings) if share and not paused else None)
