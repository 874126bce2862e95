"""Tests for explorer.training's job and its helpers: schedules, the job, registry and exports."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.training.augmentation import Augmentation
from explorer.training.compute import thread_budget
from explorer.training.data import Dataset
from explorer.training.evaluation import eval_indices
from explorer.training.job import TrainingJob
from explorer.training.lr_range import lr_range_test
from explorer.training.nets import ModelSettings
from explorer.training.runs import load_run, metrics_csv, save_run
from explorer.training.settings import (
    OPTIMISERS,
    SCHEDULES,
    TrainSettings,
    schedule_curve,
    settings_from_dict,
    settings_to_dict,
)

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = ModelSettings(blocks=1, channels=4, hidden=16)


def quadrant_dataset(n_train: int = 256, n_test: int = 64, size: int = 16, *,
                     std: float = 0.3) -> Dataset:
    """Four classes: which quadrant of a noisy 3-channel image is bright. Learnable in seconds."""
    generator = torch.Generator().manual_seed(0)

    def split(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(count) % 4
        images = torch.rand(count, 3, size, size, generator=generator) * 0.4
        half = size // 2
        for label, (row, col) in enumerate([(0, 0), (0, half), (half, 0), (half, half)]):
            images[labels == label, :, row : row + half, col : col + half] += 0.6
        return (images.clamp(0, 1) * 255).to(torch.uint8), labels

    return Dataset("quadrants", ("top left", "top right", "bottom left", "bottom right"),
                   *split(n_train), *split(n_test), (0.5,) * 3, (std,) * 3)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return quadrant_dataset()


def tiny_settings(**changes) -> TrainSettings:
    values = {"dataset": "quadrants", "model": TINY_MODEL, "batch_size": 32, "epochs": 4,
              "eval_every": 4, "eval_subset": 48, "threads": 1, "learning_rate": 3e-3}
    values.update(changes)
    return TrainSettings(**values)


def training_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("training-")]


# Waits never use a time budget: a busy machine is slow, not wrong. They fail only when nothing
# progresses for HANG_SECONDS (a hang guard, far beyond any slowness seen at load 10).
HANG_SECONDS = 600.0


def progress_of(*jobs: TrainingJob):
    """What changes while training moves: every job's state and step, and (with no job
    given) every training thread's job in the process."""
    if not jobs:
        return tuple(t.name for t in training_threads())
    return tuple((job.state, job.snapshot().step, job.snapshot().queue_position)
                 for job in jobs)


def wait_for(condition, *, progress=None, what: str = "condition") -> None:
    """Wait until condition() holds; fail only when progress() stays the same for HANG_SECONDS
    (without progress(), HANG_SECONDS in all: a hang guard, not a budget)."""
    marker = progress() if progress is not None else None
    since = time.monotonic()
    while not condition():
        if progress is not None:
            current = progress()
            if current != marker:
                marker, since = current, time.monotonic()
        if time.monotonic() - since > HANG_SECONDS:
            raise AssertionError(f"{what}: no progress for {HANG_SECONDS:.0f} s")
        time.sleep(0.01)


def finish(*jobs: TrainingJob) -> None:
    """Wait until the jobs are done and their threads have ended, however slow the machine."""
    wait_for(lambda: all(job.done for job in jobs), progress=lambda: progress_of(*jobs),
             what="the runs to end")
    for job in jobs:
        assert job.join(HANG_SECONDS), "a finished job's thread did not end"


@pytest.fixture(autouse=True)
def no_threads_left_behind():
    yield
    for thread in training_threads():
        thread.join(HANG_SECONDS)
    assert not training_threads()


# -- schedules ---------------------------------------------------------------


def test_schedule_shapes():
    lr, total = 0.1, 90
    constant = schedule_curve("constant", lr, total)
    assert constant == pytest.approx([lr] * total)
    step = schedule_curve("step", lr, total)
    assert step[0] == pytest.approx(lr) and step[29] == pytest.approx(lr)
    assert step[30] == pytest.approx(lr / 10) and step[60] == pytest.approx(lr / 100)
    cosine = schedule_curve("cosine", lr, total)
    assert cosine[0] == pytest.approx(lr) and cosine[-1] < 0.001 * lr
    assert all(a >= b for a, b in itertools_pairwise(cosine))
    cycle = schedule_curve("one-cycle", lr, total)
    peak = int(np.argmax(cycle))
    assert 0.2 * total < peak < 0.4 * total and cycle[peak] == pytest.approx(lr, rel=0.01)
    assert cycle[0] < lr / 10 and cycle[-1] < lr / 100
    assert all(a <= b for a, b in itertools_pairwise(cycle[: peak + 1]))
    assert all(a >= b for a, b in itertools_pairwise(cycle[peak:]))
    assert set(SCHEDULES) == {"constant", "step", "cosine", "one-cycle"}


def itertools_pairwise(values):
    return zip(values, values[1:], strict=False)


def test_optimisers_registry():
    assert set(OPTIMISERS) == {"sgd", "momentum", "adam", "adamw"}
    parameter = torch.nn.Parameter(torch.zeros(2))
    momentum = OPTIMISERS["momentum"].make([parameter], 0.1, 0.0)
    assert momentum.param_groups[0]["momentum"] == 0.9
    assert isinstance(OPTIMISERS["adamw"].make([parameter], 0.1, 0.01), torch.optim.AdamW)


# -- settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"optimiser": "rmsprop"}, {"schedule": "warm"}, {"learning_rate": 0.0},
        {"learning_rate": math.nan}, {"batch_size": 0}, {"epochs": None, "max_seconds": None},
        {"max_seconds": -1.0}, {"eval_every": 1.5}, {"eval_every": 0}, {"threads": 0},
    ],
)
def test_settings_are_checked(changes):
    with pytest.raises(ValueError):
        tiny_settings(**changes)


def test_settings_round_trip_through_plain_dict():
    settings = tiny_settings(augmentation=Augmentation(flip=True, shift=2), max_seconds=5.0,
                             model=ModelSettings(batch_norm=True, dropout=0.5))
    data = settings_to_dict(settings)
    assert isinstance(data["model"], dict) and isinstance(data["augmentation"], dict)
    assert settings_from_dict(data) == settings


def test_model_that_cannot_take_the_images_is_refused_up_front(tiny):
    with pytest.raises(ValueError, match="too many"):
        TrainingJob(tiny_settings(model=ModelSettings(blocks=4, padding="valid")), tiny)


# -- the job -----------------------------------------------------------------


def test_job_learns_and_finishes(tiny):
    job = TrainingJob(tiny_settings(epochs=6), tiny)
    assert job.snapshot().state == "queued"
    job.start()
    finish(job)
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert snap.step == 6 * (256 // 32) and snap.epoch == pytest.approx(6)
    assert snap.progress == pytest.approx(1.0)
    assert np.mean(snap.curve_losses[:3]) > 2 * np.mean(snap.curve_losses[-3:])
    assert snap.final_test_accuracy is not None and snap.final_test_accuracy > 0.8
    assert len(snap.evaluations) == 12  # every 4 of the 48 steps
    assert [e.step for e in snap.evaluations] == list(range(4, 49, 4))
    assert snap.evaluations[-1].test_accuracy > snap.evaluations[0].test_accuracy
    assert snap.kernels is not None and snap.kernels.shape == (4, 3, 3, 3)
    assert snap.confusion is not None and snap.confusion.sum() == 64  # the full test split
    assert snap.confusion_images == 64
    for example in snap.misclassified:
        assert tiny.test_labels[example.index] == example.true != example.predicted
    assert snap.images_per_second > 0 and snap.train_seconds > 0 and snap.eta_seconds is None
    assert job.model is not None and not job.model.training
    assert torch.equal(job.model.conv1.weight, job.state_dict()["conv1.weight"])


def test_same_seed_same_run(tiny):
    runs = []
    for _ in range(2):
        job = TrainingJob(tiny_settings(epochs=1), tiny)
        job.start()
        finish(job)
        runs.append(job.snapshot().curve_losses)
    assert runs[0] == runs[1]


def test_augmented_run_is_repeatable(tiny):
    settings = tiny_settings(epochs=1, augmentation=Augmentation(
        flip=True, shift=2, rotation=10.0, colour_jitter=0.2))
    runs = []
    for _ in range(2):
        job = TrainingJob(settings, tiny)
        job.start()
        finish(job)
        assert job.snapshot().state == "finished"
        runs.append(job.snapshot().curve_losses)
    assert runs[0] == runs[1]
    job = TrainingJob(tiny_settings(epochs=1), tiny)
    job.start()
    finish(job)
    assert job.snapshot().curve_losses != runs[0]  # augmentation changed the batches


def test_eval_subset_is_fixed_and_sorted(tiny):
    first = eval_indices(tiny, 20)
    assert torch.equal(first, eval_indices(tiny, 20))
    assert torch.equal(first, first.sort().values) and len(first.unique()) == 20
    assert torch.equal(eval_indices(tiny, 1000), torch.arange(64))


def test_pause_resume_stop(tiny):
    job = TrainingJob(tiny_settings(epochs=1000), tiny)
    job.start()
    wait_for(lambda: job.snapshot().step >= 3, progress=lambda: progress_of(job))
    job.pause()
    wait_for(lambda: job.snapshot().state == "paused", progress=lambda: progress_of(job))
    paused_at = job.snapshot().step
    time.sleep(0.3)
    assert job.snapshot().step == paused_at
    assert job.snapshot().eta_seconds is not None
    job.resume()
    wait_for(lambda: job.snapshot().step > paused_at + 2, progress=lambda: progress_of(job))
    assert job.snapshot().state == "running"
    job.pause()
    wait_for(lambda: job.snapshot().state == "paused", progress=lambda: progress_of(job))
    job.stop()  # from paused
    finish(job)
    snap = job.snapshot()
    assert snap.state == "stopped" and "stopped" in snap.message
    assert job.model is not None  # what was learned so far stays available
    assert not training_threads()


def test_time_budget_ends_the_run(tiny):
    job = TrainingJob(tiny_settings(epochs=None, max_seconds=0.5, schedule="cosine"), tiny)
    job.start()
    finish(job)
    snap = job.snapshot()
    assert snap.state == "finished" and "time budget" in snap.message
    # it ends at the first step past the budget: late by at most a step and an evaluation,
    # whatever their length on this machine
    per_step = snap.train_seconds / snap.step
    per_eval = (snap.elapsed_seconds - snap.train_seconds) / max(1, len(snap.evaluations))
    assert 0.5 <= snap.elapsed_seconds <= 0.5 + 2 * (per_step + per_eval)
    # the cosine schedule ran along the budget: close to 0 at the end
    assert snap.curve_learning_rates[-1] < 0.2 * snap.curve_learning_rates[0]


def constant_channel_dataset(value: int = 0, std: float = 0.0) -> Dataset:
    """The quadrants with a constant blue channel (its std is 0), as a zip of images whose
    blue is always `value` gives."""
    data = quadrant_dataset()
    train, test = data.train_images.clone(), data.test_images.clone()
    train[:, 2], test[:, 2] = value, value
    return Dataset("constant blue", data.classes, train, data.train_labels, test,
                   data.test_labels, (0.5, 0.5, value / 255), (0.3, 0.3, std))


def test_a_constant_channel_trains(tiny):
    """A zero std no longer divides by zero: the channel is floored, not NaN."""
    job = TrainingJob(tiny_settings(), constant_channel_dataset())
    job.start()
    finish(job)
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert all(math.isfinite(v) for v in snap.curve_losses)
    assert snap.final_test_accuracy > 0.5


@pytest.mark.parametrize("mean", [math.nan, math.inf])
def test_non_finite_data_fails_naming_the_data_not_the_learning_rate(mean):
    data = constant_channel_dataset()
    broken = dataclasses.replace(data, mean=(0.5, 0.5, mean))
    job = TrainingJob(tiny_settings(), broken)
    job.start()
    finish(job)
    snap = job.snapshot()
    assert snap.state == "failed" and snap.step == 0
    assert "data is the cause" in snap.message and "NaN or infinite" in snap.message
    assert "too high" not in snap.message and "try " not in snap.message


def test_a_nan_loss_at_the_first_step_blames_the_data_not_the_learning_rate(tiny, monkeypatch):
    """Finite inputs, NaN loss before any update: no learning rate can have caused it."""
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr("explorer.training.job.F.cross_entropy",
                        lambda logits, y, **kw: real(logits, y, **kw) * math.nan)
    job = TrainingJob(tiny_settings(learning_rate=1e-4), tiny)
    job.start()
    finish(job)
    message = job.snapshot().message
    assert job.snapshot().state == "failed" and "very first step" in message
    assert "not the learning rate" in message and "try " not in message


def test_normalisation_floors_only_the_constant_channels(tiny):
    from explorer.training.batches import STD_FLOOR, normalisation

    assert normalisation(tiny) == ((0.5,) * 3, (0.3,) * 3)
    mean, std = normalisation(constant_channel_dataset())
    assert std == (0.3, 0.3, STD_FLOOR)
    assert normalisation(dataclasses.replace(tiny, std=(math.nan, -1.0, 0.0)))[1] == (
        STD_FLOOR,) * 3


def test_a_saved_run_of_a_constant_channel_keeps_a_usable_std(tmp_path):
    job = TrainingJob(tiny_settings(epochs=1), constant_channel_dataset())
    job.start()
    finish(job)
    save_run(job, tmp_path / "run.pt")
    run = load_run(tmp_path / "run.pt")
    assert min(run.std) > 0  # a page that divides by it gets finite pixels


@pytest.mark.parametrize(("count", "batch", "expected"), [
    (96, 64, "fewer than 2 batches"),
    (40, 64, "fewer than one batch"),
    (64, 64, "fewer than 2 batches"),
    (1000, 400, "left out of every epoch"),  # 2 batches use 800: 200 (20 %) left out
    (1000, 300, None),  # 100 left out: 10 %, not more
    (5, 1, None),
    (1000, 64, None),  # 40 of 1000 dropped: 4 %
    (20000, 64, None),
])
def test_batch_warning(count, batch, expected):
    from explorer.training.batches import batch_warning

    note = batch_warning(count, batch)
    if expected is None:
        assert note is None
    else:
        assert expected in note and str(count) in note
    assert batch_warning(0, 64) is None and batch_warning(10, 0) is None


def test_threads_never_exceed_the_cores(tiny):
    job = TrainingJob(tiny_settings(threads=10_000), tiny)
    assert 1 <= job.threads <= (os.cpu_count() or 1)


def test_a_run_that_ends_with_a_pause_pending_is_finished_not_paused(tiny, monkeypatch):
    """Pause pressed during the last step: the run still ends, and nothing offers Resume."""
    job = TrainingJob(tiny_settings(epochs=1), tiny)
    final = job._final_evaluation

    def pause_then_evaluate(*args):
        job.pause()  # the click lands after the last step, before the end
        final(*args)

    monkeypatch.setattr(job, "_final_evaluation", pause_then_evaluate)
    job.start()
    finish(job)
    assert job.snapshot().state == "finished"
    assert not job.pause_requested


def test_resume_after_stop_does_not_restart(tiny):
    job = TrainingJob(tiny_settings(epochs=1000), tiny)
    job.start()
    wait_for(lambda: job.snapshot().step >= 1, progress=lambda: progress_of(job))
    job.pause()
    wait_for(lambda: job.state == "paused", progress=lambda: progress_of(job))
    job.stop()
    job.resume()
    finish(job)
    step = job.snapshot().step
    job.resume()
    job.start()
    assert job.snapshot().state == "stopped" and job.snapshot().step == step
    assert not training_threads()


def test_pause_requested_reports_the_click_before_the_worker_pauses(tiny):
    job = TrainingJob(tiny_settings(epochs=1000), tiny)
    assert not job.pause_requested
    job.pause()  # queued: the pause waits for the start
    assert job.pause_requested and job.state == "queued"
    job.start()
    wait_for(lambda: job.state == "paused", progress=lambda: progress_of(job))
    assert job.snapshot().step == 0
    job.resume()
    assert not job.pause_requested
    job.stop()
    finish(job)


def test_huge_learning_rate_diverges(tiny):
    job = TrainingJob(tiny_settings(optimiser="sgd", learning_rate=10.0, epochs=50), tiny)
    job.start()
    finish(job)
    snap = job.snapshot()
    assert snap.state == "failed" and "try 1" in snap.message


def test_errors_in_the_worker_are_reported(tiny, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("augmentation exploded")

    monkeypatch.setattr("explorer.training.batches.augment_batch", broken)
    job = TrainingJob(tiny_settings(augmentation=Augmentation(flip=True)), tiny)
    job.start()
    finish(job)
    assert job.snapshot().state == "failed"
    assert "augmentation exploded" in job.snapshot().message and job.error


def test_snapshot_is_a_copy(tiny):
    job = TrainingJob(tiny_settings(epochs=1), tiny)
    job.start()
    finish(job)
    snap = job.snapshot()
    snap.kernels[:] = 0
    snap.confusion[:] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = "running"
    again = job.snapshot()
    assert np.abs(again.kernels).sum() > 0 and again.confusion.sum() == 64
    assert isinstance(again.curve_losses, tuple) and isinstance(again.evaluations, tuple)


def test_curve_is_bounded(tiny, monkeypatch):
    monkeypatch.setattr("explorer.training.snapshot.CURVE_POINTS", 10)
    job = TrainingJob(tiny_settings(epochs=5), tiny)  # 40 steps
    job.start()
    finish(job)
    snap = job.snapshot()
    assert len(snap.curve_steps) <= 11
    assert list(snap.curve_steps) == sorted(snap.curve_steps) and snap.curve_steps[-1] <= 40


def test_thread_budget_restores_the_default():
    before = torch.get_num_threads()
    with thread_budget(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("cap, asked, given", [
    (None, 3, 3), ("1", 2, 1), ("4", 2, 2), ("0", 2, 2), ("many", 2, 2), ("-3", 2, 2)])
def test_job_threads_are_capped_by_the_environment(monkeypatch, cap, asked, given):
    from explorer.training.compute import capped_threads

    if cap is None:
        monkeypatch.delenv("EXPLORER_JOB_THREADS", raising=False)
    else:
        monkeypatch.setenv("EXPLORER_JOB_THREADS", cap)
    assert capped_threads(asked) == given
    with thread_budget(asked):
        assert torch.get_num_threads() == given


# -- range test --------------------------------------------------------------


def test_lr_range_test(tiny):
    result = lr_range_test(tiny_settings(optimiser="sgd"), tiny, start=1e-4, end=10, steps=40)
    rates = result.learning_rates
    assert all(a < b for a, b in itertools_pairwise(rates))
    assert rates[0] == pytest.approx(1e-4)
    assert len(result.losses) == len(rates) == len(result.raw_losses)
    assert rates[0] <= result.suggested_lr <= rates[-1]
    assert result.suggested_lr <= result.min_loss_lr
    assert "steepest" in result.rule
    assert result.ok and (result.start, result.end, result.steps) == (1e-4, 10, 40)
    with pytest.raises(ValueError):
        lr_range_test(tiny_settings(), tiny, start=1.0, end=0.1)


def test_the_range_test_runs_the_steps_it_announces(tiny):
    from explorer.training.lr_range import RANGE_TEST_STEPS

    result = lr_range_test(tiny_settings(optimiser="sgd"), tiny, end=1e-3)  # never blows up
    assert result.steps == RANGE_TEST_STEPS == len(result.losses) and not result.stopped_early


def test_identical_range_tests_are_computed_once_for_the_whole_server(tiny, monkeypatch):
    from explorer.training import lr_range

    calls = []
    real = lr_range.lr_range_test
    monkeypatch.setattr(lr_range, "lr_range_test",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    lr_range.SHARED_RESULTS.clear()
    settings = tiny_settings(optimiser="sgd", seed=42)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        lr_range.shared_lr_range_test(settings, tiny, steps=20))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_SECONDS)
    assert len(results) == 3 and all(r is results[0] for r in results) and calls == [1]
    lr_range.shared_lr_range_test(tiny_settings(optimiser="sgd", seed=43), tiny, steps=20)
    assert calls == [1, 1]  # another seed is another test


@pytest.mark.parametrize("mean", [math.nan, math.inf])
def test_a_range_test_on_broken_data_gives_a_result_not_an_exception(mean):
    broken = dataclasses.replace(constant_channel_dataset(), mean=(0.5, 0.5, mean))
    result = lr_range_test(tiny_settings(), broken, steps=20)
    assert not result.ok and result.suggested_lr is None and result.losses == ()
    assert "data is the cause" in result.note and result.stopped_early


def test_a_range_test_on_a_constant_channel_works():
    result = lr_range_test(tiny_settings(optimiser="sgd"), constant_channel_dataset(),
                           end=10, steps=40)
    assert result.ok and all(math.isfinite(v) for v in result.losses)


def test_a_range_test_whose_loss_is_nan_from_the_start_says_so(tiny, monkeypatch):
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr("explorer.training.lr_range.F.cross_entropy",
                        lambda logits, y, **kw: real(logits, y, **kw) * math.nan)
    result = lr_range_test(tiny_settings(), tiny, steps=20)
    assert not result.ok and "very first batch" in result.note


@pytest.mark.parametrize(("drop_at", "edge"), [(1, "bottom"), (39, "top"), (20, None)])
def test_a_suggestion_at_the_edge_of_the_range_is_flagged(tiny, monkeypatch, drop_at, edge):
    """The suggestion is where the loss falls fastest; at either end of the range that is
    suspect (the page said 0.00012 with no caution)."""
    # a loss of 2 that slowly falls, with one steep drop of 0.5 just before step `drop_at`
    losses = iter([2.0 - 0.001 * i - (0.5 if i >= drop_at else 0.0) for i in range(40)])
    monkeypatch.setattr("explorer.training.lr_range.F.cross_entropy",
                        lambda logits, y, **kw: logits.sum() * 0 + next(losses))
    result = lr_range_test(tiny_settings(optimiser="sgd"), tiny, steps=40, smoothing=0.0)
    assert result.ok and len(result.losses) == 40
    if edge is None:
        assert "Caution" not in result.note
        assert result.learning_rates[0] < result.suggested_lr < result.learning_rates[-1]
    else:
        assert f"Caution: the suggestion {result.suggested_lr:.2g} sits at the {edge}" \
            in result.note


# -- exports -----------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_job(tiny) -> TrainingJob:
    job = TrainingJob(tiny_settings(epochs=2, model=dataclasses.replace(
        TINY_MODEL, batch_norm=True, dropout=0.2)), tiny)
    job.start()
    finish(job)
    return job


def test_metrics_csv(finished_job):
    text = metrics_csv(finished_job.snapshot())
    lines = text.strip().splitlines()
    assert lines[0] == ("step,epoch,seconds,learning_rate,loss,train_loss,train_accuracy,"
                        "test_loss,test_accuracy")
    assert len(lines) == 1 + 16  # one row per step (16 steps, all recorded)
    assert lines[4].startswith("4,0.5,") and lines[4].split(",")[-1] != ""
    assert lines[1].split(",")[-1] == ""  # no test numbers at step 1


def test_saved_run_loads_with_weights_only(finished_job, tmp_path):
    path = tmp_path / "run.pt"
    save_run(finished_job, path)
    payload = torch.load(path, weights_only=True)
    assert payload["classes"] == list(finished_job.dataset.classes)
    assert payload["settings"]["model"]["batch_norm"] is True
    assert set(payload["state_dict"]) == set(finished_job.model.state_dict())
    run = load_run(path.read_bytes())
    assert run.settings == finished_job.settings and run.classes == finished_job.dataset.classes
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(run.model(x), finished_job.model(x), atol=1e-6)


@pytest.mark.parametrize("content", [b"not a file", None])
def test_load_run_rejects_other_files(content, tmp_path):
    if content is None:  # a plain state dict without settings
        buffer = io.BytesIO()
        torch.save({"weight": torch.zeros(2)}, buffer)
        content = buffer.getvalue()
    with pytest.raises(ValueError):
        load_run(content)


# -- device --------------------------------------------------------------------


@pytest.mark.parametrize(("wanted", "cuda", "expected"), [
    ("auto", False, "cpu"), ("", False, "cpu"), ("cuda", False, "cpu"), ("cpu", True, "cpu"),
    ("auto", True, "cuda"), ("cuda:1", True, "cuda:1"), ("cuda:x", True, "cuda"),
])
def test_train_device(monkeypatch, wanted, cuda, expected):
    from explorer.training.compute import train_device

    monkeypatch.setenv("EXPLORER_TRAIN_DEVICE", wanted)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert train_device() == torch.device(expected)


def test_a_cpu_job_leaves_its_model_and_weights_on_the_cpu(tiny, monkeypatch):
    monkeypatch.setenv("EXPLORER_TRAIN_DEVICE", "cpu")
    job = TrainingJob(tiny_settings(epochs=1), tiny)
    assert job.device == torch.device("cpu")
    job.start()
    finish(job)
    assert all(p.device.type == "cpu" for p in job.model.parameters())
    assert all(t.device.type == "cpu" for t in job.state_dict().values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on CI)")
def test_a_cuda_job_learns_as_on_the_cpu_and_hands_back_cpu_weights(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_TRAIN_DEVICE", "cuda")
    settings = tiny_settings(epochs=6, model=dataclasses.replace(TINY_MODEL, batch_norm=True),
                             augmentation=Augmentation(shift=1))
    gpu = TrainingJob(settings, tiny)
    assert gpu.device.type == "cuda"
    gpu.start()
    finish(gpu)
    monkeypatch.setenv("EXPLORER_TRAIN_DEVICE", "cpu")
    cpu = TrainingJob(settings, tiny)
    cpu.start()
    finish(cpu)
    g, c = gpu.snapshot(), cpu.snapshot()
    assert g.state == c.state == "finished", (g.message, c.message)
    assert g.step == c.step and g.final_test_accuracy > 0.9
    # Same seed and data: the curves agree to float tolerance (cuDNN sums in another order).
    assert abs(g.final_test_accuracy - c.final_test_accuracy) <= 0.05
    assert np.allclose(g.curve_losses[:3], c.curve_losses[:3], atol=1e-3)
    weights = gpu.state_dict()
    assert weights and all(t.device.type == "cpu" for t in weights.values())
    save_run(gpu, tmp_path / "run.pt")
    assert load_run(tmp_path / "run.pt").settings == settings
    assert g.kernels is not None and g.confusion is not None
