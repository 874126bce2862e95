"""The playground room: datasets, features, settings' limits, the net and trainer, the job, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from explorer.jobs.fair_share import Turns
from explorer.jobs.registry import JobRegistry
from explorer.playground import __main__ as cli
from explorer.playground.datasets import CLICKED, DATASETS, EXTENT, datasets_for, make_data
from explorer.playground.job import PlaygroundJob, run_key, submit_playground
from explorer.playground.model import (
    Trainer,
    build_model,
    feature_matrix,
    get_weights,
    layer_outputs,
)
from explorer.playground.settings import (
    ACTIVATIONS,
    FEATURES,
    MAX_CLICKED,
    PlaygroundSettings,
    replace_checked,
)
from explorer.training.compute import thread_budget

GENERATED = [key for key in DATASETS if key != CLICKED]


@pytest.mark.parametrize("key", GENERATED)
def test_datasets_fill_the_plane_with_both_classes(key):
    spec = DATASETS[key]
    data = make_data(key, 400, 0.0, 0.25, seed=3, problem=spec.problem)
    assert len(data.train_points) == 300 and len(data.test_points) == 100
    points = np.concatenate([data.train_points, data.test_points])
    targets = np.concatenate([data.train_targets, data.test_targets])
    assert np.all(np.isfinite(points)) and np.abs(points).max() <= EXTENT
    if spec.problem == "classification":
        assert set(np.unique(targets)) == {0.0, 1.0}
        assert 0.4 < targets.mean() < 0.6
    else:
        assert targets.min() >= -1 and targets.max() <= 1 and targets.std() > 0.1
    again = make_data(key, 400, 0.0, 0.25, seed=3, problem=spec.problem)
    np.testing.assert_array_equal(again.train_points, data.train_points)  # seeded


def test_dataset_labels_follow_their_rule():
    xor = make_data("xor", 300, 0.0, 0.5, seed=0)
    np.testing.assert_array_equal(xor.train_targets,
                                  (xor.train_points[:, 0] * xor.train_points[:, 1] > 0))
    circle = make_data("circle", 300, 0.0, 0.5, seed=0)
    inside = np.hypot(*circle.train_points.T) < 2.5
    np.testing.assert_array_equal(circle.train_targets, inside)
    assert "circle" in datasets_for("classification") and "plane" not in datasets_for(
        "classification") and CLICKED in datasets_for("regression")


def test_clicked_points_become_the_dataset():
    clicked = ((1.0, 1.0, 1.0), (-1.0, -2.0, -1.0), (2.0, -3.0, 1.0), (0.5, 0.5, -1.0))
    data = make_data(CLICKED, 0, 0.0, 0.5, seed=0, clicked=clicked)
    assert len(data.train_points) + len(data.test_points) == 4
    assert set(np.concatenate([data.train_targets, data.test_targets])) == {0.0, 1.0}


@pytest.mark.parametrize("name", list(FEATURES))
def test_features_match_their_formula(name):
    points = np.array([[3.0, -1.5], [-6.0, 6.0], [0.0, 2.0]], dtype=np.float32)
    settings = PlaygroundSettings(features=(name,))
    x1, x2 = torch.as_tensor(points[:, 0]), torch.as_tensor(points[:, 1])
    expected = eval(FEATURES[name].formula, {"torch": torch, "x1": x1, "x2": x2})  # noqa: S307
    torch.testing.assert_close(feature_matrix(settings, points)[:, 0], expected)
    assert feature_matrix(settings, points).abs().max() <= 9.0  # (6 / 2) ** 2


@pytest.mark.parametrize("changes, words", [
    ({"hidden": (10_000,)}, "hidden layers"),
    ({"hidden": (4,) * 50}, "at most 6 layers"),
    ({"hidden": (0,)}, "hidden layers"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": 1e9}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"points": 10**9}, "points"),
    ({"noise": -1.0}, "noise"),
    ({"activation": "swish"}, "activation"),
    ({"features": ()}, "at least one input feature"),
    ({"features": ("x1", "x1")}, "distinct"),
    ({"features": ("cos",)}, "distinct"),
    ({"dataset": "plane"}, "not a classification dataset"),
    ({"dataset": "nope"}, "unknown dataset"),
    ({"max_seconds": 1e6}, "max_seconds"),
    ({"seed": True}, "seed"),
    ({"dataset": CLICKED, "clicked": ((float("nan"), 0.0, 1.0),) * 3}, "finite"),
    ({"dataset": CLICKED, "clicked": ((99.0, 0.0, 1.0), (0.0, 0.0, -1.0))}, "outside"),
    ({"dataset": CLICKED, "clicked": ((1.0, 0.0, 1.0),) * (MAX_CLICKED + 1)}, "at most"),
    ({"dataset": CLICKED, "clicked": ((1.0, 0.0, 1.0), (2.0, 0.0, 1.0))}, "both classes"),
    ({"dataset": CLICKED, "clicked": ((1.0, 0.0, 3.0), (2.0, 0.0, 1.0))}, r"\+1 or -1"),
])
def test_hostile_settings_get_a_clear_message(changes, words):
    with pytest.raises(ValueError, match=words):
        replace_checked(PlaygroundSettings(), **changes)


def test_unknown_setting_names_are_refused():
    with pytest.raises(ValueError, match="unknown setting"):
        replace_checked(PlaygroundSettings(), widths=3)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_model_shapes_and_every_neuron(activation):
    settings = PlaygroundSettings(hidden=(5, 3), activation=activation,
                                  features=("x1", "x2", "x1*x2"))
    model = build_model(settings)
    x = torch.randn(7, 3)
    outputs = layer_outputs(model, x)
    assert [tuple(o.shape) for o in outputs] == [(7, 5), (7, 3), (7, 1)]
    torch.testing.assert_close(outputs[-1], model(x))
    again = build_model(settings)  # the seed fixes the initial weights
    for (w1, b1), (w2, b2) in zip(get_weights(model), get_weights(again), strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


@pytest.mark.parametrize("kind, power", [("l1", 1), ("l2", 2)])
def test_penalty_is_the_sum_over_weights_only(kind, power):
    trainer = Trainer(PlaygroundSettings(regularisation=kind, regularisation_rate=0.1))
    expected = 0.1 * sum(float(np.sum(np.abs(w) ** power)) for w, _ in get_weights(trainer.model))
    assert trainer.penalty().item() == pytest.approx(expected, rel=1e-5)


def test_trainer_is_reproducible_and_learns():
    settings = PlaygroundSettings(dataset="gauss", hidden=(3,), max_steps=50)
    first, second = Trainer(settings), Trainer(settings)
    with thread_budget(1):
        losses = [first.step() for _ in range(60)]
        assert [second.step() for _ in range(60)] == losses
    assert first.evaluate().test_accuracy >= 0.95  # two separated blobs, 60 batches


@pytest.mark.parametrize("changes, steps, low, high", [
    ({"dataset": "xor", "hidden": (4, 2)}, 1000, 0.95, 1.0),
    ({"dataset": "circle", "hidden": (4,)}, 500, 0.95, 1.0),
    ({"dataset": "xor", "hidden": (), "activation": "linear"}, 500, 0.0, 0.70),
])
def test_goals_that_take_seconds(changes, steps, low, high):
    """The issue's goals at a fraction of the 20 s budget (the full goals: the README's
    figures, measured with the command line)."""
    trainer = Trainer(replace_checked(PlaygroundSettings(), **changes))
    with thread_budget(1):  # as the job: two threads collapse on a busy machine
        for _ in range(steps):
            trainer.step()
    assert low <= trainer.evaluate().test_accuracy <= high


# -- the job -------------------------------------------------------------------------

SMALL = PlaygroundSettings(dataset="gauss", hidden=(2,), points=100, max_steps=40,
                           max_seconds=0.0)


def test_job_runs_to_its_step_budget():
    job = PlaygroundJob(SMALL, turns=Turns(slots=1))
    job.start()
    assert job.join(30)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 40 and "step budget" in snap.message
    assert snap.curve_steps[0] == 0 and snap.curve_steps[-1] == 40
    assert snap.evaluation is not None and snap.weights is not None
    assert len(snap.curve_train) == len(snap.curve_test) == len(snap.curve_steps)


def test_paused_job_steps_one_batch_at_a_time():
    job = PlaygroundJob(SMALL, paused=True, turns=Turns(slots=1))
    job.start()
    try:
        for expected in (1, 2, 3):
            job.step_once()
            _wait_for(lambda n=expected: job.snapshot().step == n
                      and job.snapshot().state == "paused")
        reference = Trainer(SMALL)
        for _ in range(3):
            reference.step()
        for (w, b), (rw, rb) in zip(job.snapshot().weights, get_weights(reference.model),
                                    strict=True):
            np.testing.assert_array_equal(w, rw)
            np.testing.assert_array_equal(b, rb)
        job.resume()
        assert job.join(30) and job.snapshot().step == 40
    finally:
        job.stop()


def test_stop_ends_a_paused_job():
    job = PlaygroundJob(SMALL, paused=True, turns=Turns(slots=1))
    job.start()
    _wait_for(lambda: job.snapshot().state == "paused")
    job.stop()
    assert job.join(10) and job.snapshot().state == "stopped"


def test_divergence_fails_with_a_message():
    settings = PlaygroundSettings(dataset="plane", problem="regression", hidden=(8, 8),
                                  activation="relu", optimiser="sgd", learning_rate=10.0,
                                  max_steps=2000, max_seconds=0.0)
    job = PlaygroundJob(settings, turns=Turns(slots=1))
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "failed" and "learning rate 10 is probably too high" in snap.message


def test_identical_settings_share_one_run():
    registry = JobRegistry(max_running=1, cores=2)
    try:
        first = submit_playground(registry, SMALL, owner="a" * 32)
        second = submit_playground(registry, SMALL, owner="b" * 32)
        own = submit_playground(registry, SMALL, owner="c" * 32, paused=True)
        assert first == second != own
        assert run_key(SMALL) != run_key(replace_checked(SMALL, seed=2))
        assert registry.members(first) == {"a" * 32, "b" * 32}
    finally:
        registry.stop_all()


def _wait_for(condition, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- the command line ----------------------------------------------------------------


def test_cli_prints_one_json_line(capsys):
    assert cli.main(["--dataset", "xor", "--hidden", "4", "--seed", "1", "--max-seconds",
                     "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] > 0 and 0 <= result["test_accuracy"] <= 1
    assert math.isfinite(result["train_loss"]) and result["state"] == "finished"


def test_cli_refuses_absurd_settings(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--hidden", "100000,8"])
    assert "hidden layers" in capsys.readouterr().err
