"""The playground's "Show the code" script: it runs alone and reproduces the app's run exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from explorer.playground.datasets import CLICKED, DATASETS
from explorer.playground.model import Trainer
from explorer.playground.script import playground_script
from explorer.playground.settings import PlaygroundSettings, replace_checked
from explorer.training.compute import thread_budget

CLICKS = ((1.0, 1.0, 1.0), (-2.0, -1.5, -1.0), (2.5, -3.0, 1.0), (0.5, 4.0, -1.0),
          (-4.0, 2.0, 1.0), (3.0, 3.0, -1.0))
STEPS = 25


def _settings(key: str) -> PlaygroundSettings:
    problem = "regression" if DATASETS[key].problem == "regression" else "classification"
    return PlaygroundSettings(problem=problem, dataset=key, points=120, hidden=(3, 2),
                              clicked=CLICKS if key == CLICKED else (),
                              features=("x1", "x2", "x1*x2", "sin(x1)"),
                              regularisation="l1", regularisation_rate=0.001)


@pytest.mark.parametrize("key", list(DATASETS))
def test_the_script_reproduces_the_run(key):
    settings = _settings(key)
    namespace: dict = {"__name__": "playground_script"}
    exec(compile(playground_script(settings, STEPS), "script", "exec"), namespace)  # noqa: S102
    with thread_budget(1):
        _model, _points, results = namespace["train"]()
        trainer = Trainer(settings)
        for _ in range(STEPS):
            trainer.step()
    evaluation = trainer.evaluate()
    # the same operations in the same order on the same numbers: equal to float32 rounding
    assert results["train_loss"] == pytest.approx(evaluation.train_loss, rel=1e-6, abs=1e-7)
    assert results["test_loss"] == pytest.approx(evaluation.test_loss, rel=1e-6, abs=1e-7)
    if settings.problem == "classification":
        assert results["test_accuracy"] == pytest.approx(evaluation.test_accuracy)


VARIANTS = [{"optimiser": "sgd", "activation": "relu"}, {"hidden": (), "activation": "linear"},
            {"regularisation": "l2", "regularisation_rate": 0.01}]


def test_the_script_runs_alone_and_is_clean(tmp_path):
    paths = []
    for index, changes in enumerate(VARIANTS):
        paths.append(tmp_path / f"playground_run_{index}.py")
        paths[-1].write_text(playground_script(replace_checked(_settings("moons"), **changes), 5))
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, paths)],
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    done = subprocess.run([sys.executable, str(paths[0])], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)  # one run alone: torch's import
    assert done.returncode == 0, done.stderr
    assert "test_accuracy:" in done.stdout and (tmp_path / "playground.png").exists()
