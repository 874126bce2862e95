"""The deep-networks room: per-layer gradient norms against torch.func, the activation
statistics against their formulas, the lecture's vanishing-gradient goal, settings checks, the
live-steps job, the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.gradients import __main__ as cli
from explorer.gradients.data import BatchStream, deep_dataset
from explorer.gradients.deepnet import build_deep_net, gradient_report, measure
from explorer.gradients.identity import steps_key, submit_steps
from explorer.gradients.job import GradientStepsJob
from explorer.gradients.settings import ACTIVATIONS, MAX_DEPTH, DeepSettings
from explorer.jobs.registry import JobRegistry


@pytest.fixture(scope="module")
def data():
    return deep_dataset()


def _batch(data, size=16, seed=0):
    return BatchStream(data, size, seed).next()


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("batch_norm,residual", [(False, False), (True, True)])
def test_gradient_norms_match_torch_func(data, activation, batch_norm, residual):
    """Each layer's ||dL/dW|| equals the norm of torch.func.grad of the functional loss."""
    settings = DeepSettings(depth=5, width=4, activation=activation, batch_norm=batch_norm,
                            residual=residual, batch_size=16)
    model = build_deep_net(settings)
    x, y = _batch(data)
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}

    def loss(p, b):  # buffers as an argument: batch norm updates its running statistics
        return F.cross_entropy(torch.func.functional_call(model, (p, b), (x,)), y)

    grads = torch.func.grad(loss)(params, buffers)
    report = gradient_report(model, x, y, activation)
    expected = np.array([grads[f"layers.{i}.conv.weight"].norm().item() for i in range(5)])
    # float32 sums of about 16 x 8 x 8 x 36 terms: relative 1e-4 is ample
    np.testing.assert_allclose(report.gradient_norms, expected, rtol=1e-4)
    assert report.gradient_norms.shape == (5,)


def test_activation_stats_match_formulas(data):
    """mean h'(z): sigmoid σ(1 − σ) and ReLU's share of z > 0, on the captured inputs."""
    x, y = _batch(data)
    for activation, slope in (("sigmoid", lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
                              ("relu", lambda z: (z > 0).float()),
                              ("tanh", lambda z: 1 - torch.tanh(z) ** 2)):
        settings = DeepSettings(depth=4, width=4, activation=activation, batch_size=16)
        model = build_deep_net(settings)
        captured = []
        handles = [layer.act.register_forward_hook(
            lambda _m, inputs, _o, into=captured: into.append(inputs[0].detach()))
            for layer in model.layers]
        report = gradient_report(model, x, y, activation)
        for handle in handles:
            handle.remove()
        captured = captured[:4]  # the forward pass's (the report's own h(z) calls come after)
        expected = [slope(z).mean().item() for z in captured]
        np.testing.assert_allclose(report.slope_mean, expected, rtol=1e-5, atol=1e-7)
        outputs = [model.layers[i].act(z) for i, z in enumerate(captured)]
        np.testing.assert_allclose(report.activation_mean, [h.mean().item() for h in outputs],
                                   rtol=1e-5, atol=1e-7)
        assert np.all(report.slope_mean <= ACTIVATIONS[activation].max_slope + 1e-7)


def test_the_lectures_goal(data):
    """Depth 12: the first layer's gradient is < 1 % of the last's with sigmoid, and > 10 %
    with ReLU and skip connections (the CLI's defaults: width 16, batch 64, seed 0)."""
    sigmoid = measure(DeepSettings(depth=12, activation="sigmoid"), data)
    relu_skip = measure(DeepSettings(depth=12, activation="relu", residual=True), data)
    assert sigmoid.ratio < 1e-2
    assert relu_skip.ratio > 0.1
    # vanishing means decreasing towards the input, layer after layer
    assert np.all(np.diff(np.log(sigmoid.gradient_norms)) > 0)


def test_same_seed_same_report(data):
    a = measure(DeepSettings(depth=3, width=4, batch_size=8, seed=3), data)
    b = measure(DeepSettings(depth=3, width=4, batch_size=8, seed=3), data)
    np.testing.assert_array_equal(a.gradient_norms, b.gradient_norms)


@pytest.mark.parametrize("change", [
    {"depth": 1}, {"depth": MAX_DEPTH + 1}, {"depth": 10**9}, {"depth": 2.5}, {"depth": True},
    {"width": 0}, {"width": 10**6}, {"activation": "swish"}, {"batch_size": 1},
    {"learning_rate": float("nan")}, {"learning_rate": 0}, {"learning_rate": 1e9},
    {"steps": 0}, {"steps": 10**6}, {"seed": -1},
    {"depth": 30, "width": 64, "batch_size": 256},  # too much work for one pass
])
def test_settings_refuse_bad_values(change):
    with pytest.raises(ValueError):
        DeepSettings(**change)


def test_steps_job_runs_and_stops(data):
    settings = DeepSettings(depth=4, width=4, batch_size=8, steps=3, activation="sigmoid")
    job = GradientStepsJob(settings, dataset=data)
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 3
    assert snap.gradient_norms.shape == (3, 4) and snap.changes.shape == (3, 4)
    assert np.all(snap.changes > 0) and len(snap.losses) == 3
    # the first step's gradient is the report's; SGD moves each layer by lr x its gradient
    first = measure(settings, data)
    np.testing.assert_allclose(snap.gradient_norms[0], first.gradient_norms, rtol=1e-5)
    np.testing.assert_allclose(snap.changes[0], settings.learning_rate
                               * first.gradient_norms / first.weight_norms, rtol=1e-4)

    stopped = GradientStepsJob(DeepSettings(depth=4, width=4, batch_size=8, steps=100),
                               dataset=data)
    stopped.stop()
    stopped.start()
    assert stopped.join(10) and stopped.state == "stopped"


def test_identical_steps_share_one_run(data):
    registry = JobRegistry(max_running=1, cores=2)
    settings = DeepSettings(depth=3, width=4, batch_size=8, steps=2)
    first = submit_steps(registry, settings, owner="a" * 32)
    second = submit_steps(registry, settings, owner="b" * 32)
    assert first == second
    assert steps_key(settings) != steps_key(DeepSettings(depth=3, width=4, batch_size=8,
                                                         steps=2, seed=1))
    assert registry.get(first).join(60)
    registry.stop_all()


def test_command_line_json(capsys):
    assert cli.main(["--depth", "12", "--activation", "sigmoid", "--seed", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    norms = result["gradient_norms"]
    assert len(norms) == 12 and norms[0] / norms[-1] < 1e-2
    assert math.isclose(result["first_over_last"], norms[0] / norms[-1])


def test_command_line_refuses_absurd_depth(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--depth", "100000"])
    assert "depth" in capsys.readouterr().err


def test_the_pages_script_prints_the_same_norms(tmp_path, data):
    """"Show the code": the script, run without explorer, prints the report's numbers."""
    import re
    import subprocess
    import sys

    from explorer.gradients.script import gradients_script

    settings = DeepSettings(depth=5, width=8, batch_size=16, seed=2, activation="tanh",
                            batch_norm=True, residual=True)
    path = tmp_path / "gradients.py"
    path.write_text(gradients_script(settings))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env={"MPLBACKEND": "Agg", "PATH": ""},
                         check=True).stdout
    printed = [float(v) for v in re.findall(r"\|dL/dW\| = (\S+)", out)]
    np.testing.assert_allclose(printed, measure(settings, data).gradient_norms, rtol=1e-5)
    assert "import explorer" not in path.read_text()
