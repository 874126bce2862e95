"""Feature visualisation: the optimiser maximises, the regularisations act, bad input is named;
the background job; the CLI; occlusion sensitivity."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from torch import nn

from explorer.featurevis import optimise as featurevis
from explorer.featurevis.inputs import channels_argument, example_images, parse_channels
from explorer.featurevis.job import VisJob
from explorer.featurevis.optimise import (
    LOGITS,
    ImageParameters,
    VisSettings,
    random_transform,
    visualise,
)
from explorer.networks import occlusion
from explorer.training import app_networks
from tests.conftest import ROOT
from tests.test_training import HANG_SECONDS


@pytest.fixture(scope="module")
def default():
    return app_networks.default_network()


def norm(loaded):
    return {"mean": loaded.transforms.mean, "std": loaded.transforms.std}


@pytest.fixture(scope="module")
def conv2(default):
    """8 channels of the default network's second convolution, optimised once."""
    settings = VisSettings(steps=96, size=32, jitter=2)
    return visualise(default.model, "conv2", range(8), settings=settings, **norm(default))


def test_optimisation_raises_each_channel_and_beats_noise_and_the_best_example(default, conv2):
    assert conv2.images.shape == (8, 32, 32, 3) and conv2.history.shape == (96, 8)
    assert conv2.images.min() >= 0 and conv2.images.max() <= 1
    start, end = conv2.history[:5].mean(axis=0), conv2.history[-5:].mean(axis=0)
    assert (end >= start - 1e-3).all() and (end > start).sum() >= 6  # rises on average
    noise = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    random = featurevis.unit_values_of_images(default.model, "conv2", range(8), noise,
                                              **norm(default))
    examples, _ = example_images("default", 32)
    real = featurevis.unit_values_of_images(default.model, "conv2", range(8), examples,
                                            **norm(default))
    assert (conv2.values > random.max(axis=0)).all()
    assert (conv2.values > real.max(axis=0)).sum() >= 6  # "maximises": most channels


def test_the_final_values_are_the_units_own(default, conv2):
    x = torch.from_numpy(conv2.images).permute(0, 3, 1, 2)
    again = featurevis.unit_values_of_images(default.model, "conv2", range(8), x, **norm(default))
    np.testing.assert_allclose(np.diag(again), conv2.values, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def act2(default):
    """8 channels after the default network's second ReLU, optimised once (issue #25: 5 of 8
    stayed a blank grey square when the optimisation started where the ReLU is off)."""
    settings = VisSettings(steps=256, size=32, jitter=2)
    return visualise(default.model, "act2", range(8), settings=settings, **norm(default))


def test_channels_after_a_relu_are_never_blank_where_an_example_excites_them(default, act2):
    examples, _ = example_images("default", 32)
    real = featurevis.unit_values_of_images(default.model, "act2", range(8), examples,
                                            **norm(default))
    best = real.max(axis=0)  # (8,) the best Shapes test picture per channel
    excited = best > 0
    assert excited.any()
    # every channel some example excites gets a picture that excites it at least as much
    assert (act2.values[excited] >= best[excited]).all(), (act2.values, best)
    assert (act2.images.std(axis=(1, 2, 3))[excited] > 0.01).all()  # not a flat grey square
    x = torch.from_numpy(act2.images).permute(0, 3, 1, 2)  # the values reported are the ReLU's
    again = featurevis.unit_values_of_images(default.model, "act2", range(8), x, **norm(default))
    np.testing.assert_allclose(np.diag(again), act2.values, rtol=1e-4, atol=1e-5)
    assert (act2.history >= 0).all()  # post-ReLU values, never the leaky objective


@pytest.mark.parametrize("fourier", [True, False])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_image_parameters_start_from_given_pictures(fourier, decorrelate):
    """The parametrisation inverted: forward() gives back the pictures it started from (to the
    clamp at EDGE and float32 rounding through the sigmoid's inverse and the FFT)."""
    pictures = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    parameters = ImageParameters(3, 20, fourier=fourier, decorrelate=decorrelate)
    parameters.start_from(pictures)
    expected = pictures.clamp(featurevis.EDGE, 1 - featurevis.EDGE)
    torch.testing.assert_close(parameters().detach(), expected, atol=1e-4, rtol=0)


def test_best_examples_are_each_units_strongest_picture(default):
    examples, _ = example_images("default", 32)
    examples = examples[:200]
    real = featurevis.unit_values_of_images(default.model, "act2", range(8), examples,
                                            **norm(default))
    chosen = featurevis.best_examples(default.model, "act2", range(8), examples, size=32,
                                      **norm(default))
    torch.testing.assert_close(chosen, examples[torch.as_tensor(real.argmax(axis=0))])
    bigger = featurevis.best_examples(default.model, "act2", [3], examples, size=48,
                                      **norm(default))
    assert bigger.shape == (1, 3, 48, 48)


def test_starting_from_the_best_example_improves_on_it(default):
    """Issue 25: start="best example" begins at the real picture that excites each channel most
    and ends above it on every channel some example excites (32 steps)."""
    examples, _ = example_images("default", 32)
    settings = VisSettings(steps=32, size=32, jitter=2, start="best example")
    result = visualise(default.model, "act2", range(8), settings=settings, examples=examples,
                       **norm(default))
    best = featurevis.unit_values_of_images(default.model, "act2", range(8), examples,
                                            **norm(default)).max(axis=0)
    excited = best > 0
    assert (result.values[excited] > best[excited]).all(), (result.values, best)
    with pytest.raises(ValueError, match="example pictures"):
        visualise(default.model, "act2", [0], settings=settings, **norm(default))
    with pytest.raises(ValueError, match="start"):
        VisSettings(start="somewhere")


def test_the_input_of_a_relu_is_found_in_the_traced_graph(default):
    from explorer.networks.activations import relu_input

    assert relu_input(default.model, "act2") in ("bn2", "conv2")
    assert relu_input(default.model, "conv2") is None  # not a ReLU
    assert relu_input(default.model, "no such layer") is None

    class Functional(nn.Module):  # F.relu in forward, not a module
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.relu(self.conv(x)).mean(dim=(2, 3))

    functional = Functional()
    from explorer.networks.activations import layer_names

    relu = next(name for name in layer_names(functional) if "relu" in name)
    assert relu_input(functional, relu) == "conv"
    sequential = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3))
    assert relu_input(sequential, "1") == "0"  # VGG's in-place ReLUs


def test_a_class_logit_can_be_maximised(default):
    result = visualise(default.model, LOGITS, [0, 1], settings=VisSettings(steps=40, size=32,
                                                                           jitter=2),
                       **norm(default))
    logits = featurevis.unit_values_of_images(default.model, LOGITS, range(10),
                                              torch.from_numpy(result.images).permute(0, 3, 1, 2),
                                              **norm(default))
    assert logits[0].argmax() == 0 and logits[1].argmax() == 1


def test_the_model_is_untouched(default):
    before = {k: v.clone() for k, v in default.model.state_dict().items()}
    visualise(default.model, "conv1", [0, 1], settings=VisSettings(steps=5, size=32, jitter=2),
              **norm(default))
    after = default.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in default.model.parameters())


def test_jitter_changes_the_input_every_step_and_zero_amounts_are_the_identity():
    images = torch.rand(2, 3, 32, 32)
    generator = torch.Generator().manual_seed(0)
    moving = VisSettings(size=32, jitter=3, scale=0.1, rotate=10)
    first, second = (random_transform(images, moving, generator) for _ in range(2))
    assert first.shape == images.shape and not torch.allclose(first, second)
    still = VisSettings(size=32, jitter=0, scale=0, rotate=0)
    assert torch.equal(random_transform(images, still, generator), images)


@pytest.mark.parametrize("fourier", [True, False])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_image_parameters_give_images_in_range(fourier, decorrelate):
    images = ImageParameters(3, 24, fourier=fourier, decorrelate=decorrelate)().detach()
    assert images.shape == (3, 3, 24, 24) and images.min() >= 0 and images.max() <= 1
    assert abs(float(images.mean()) - 0.5) < 0.05  # faint noise around grey at the start


def test_total_variation_is_zero_for_flat_images_and_the_penalty_smooths(default):
    assert featurevis.total_variation(torch.full((2, 3, 8, 8), 0.3)).abs().max() == 0
    rough = visualise(default.model, "conv1", [3], settings=VisSettings(
        steps=30, size=32, jitter=0, scale=0, rotate=0, fourier=False), **norm(default))
    smooth = visualise(default.model, "conv1", [3], settings=VisSettings(
        steps=30, size=32, jitter=0, scale=0, rotate=0, fourier=False, tv_weight=5.0),
        **norm(default))
    tv = [float(featurevis.total_variation(torch.from_numpy(r.images).permute(0, 3, 1, 2)))
          for r in (rough, smooth)]
    assert tv[1] < tv[0]


def test_a_stop_ends_the_optimisation_early(default):
    calls = []
    result = visualise(default.model, "conv1", [0], settings=VisSettings(steps=100, size=32,
                                                                         jitter=2),
                       should_stop=lambda: len(calls) >= 3,
                       on_step=lambda step, images, values: calls.append(step), **norm(default))
    assert result.stopped and result.steps_done == 3 and result.images.shape == (1, 32, 32, 3)


@pytest.mark.parametrize(("layer", "units", "message"), [
    ("nope", [0], "Unknown layer"),
    ("conv2", [99], "does not exist"),
    ("conv2", [-1], "does not exist"),
    ("conv2", [], "at least one"),
    ("conv2", list(range(65)), "At most"),
    ("fc2", [0], "no feature maps"),
    (LOGITS, [10], "does not exist"),
])
def test_bad_layers_and_channels_are_named(default, layer, units, message):
    with pytest.raises(ValueError, match=message):
        featurevis.check_units(default.model, layer, units, default.input_shape)


def test_a_network_without_convolutions_has_nothing_to_visualise():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).eval()
    assert featurevis.conv_layers(mlp) == []
    with pytest.raises(ValueError, match="no feature maps|Unknown layer"):
        featurevis.check_units(mlp, "1", [0], (3, 2, 2))


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"size": 4}, {"learning_rate": float("nan")},
                                    {"jitter": 40, "size": 64}, {"rotate": 90}])
def test_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        VisSettings(**kwargs)


def test_the_conv_layers_of_the_default_network(default):
    layers = featurevis.conv_layers(default.model)
    assert layers[:4] == ["conv1", "act1", "pool1", "conv2"] and "fc2" not in layers


# ---------------------------------------------------------------- the job


def test_a_visualisation_holds_the_heavy_slot_and_the_network_one_step_at_a_time(default):
    """Between steps the server's heavy-work slot and the network's private copy are free, so
    students' passes (the Pretrained page on the same network) do not wait for the whole run."""
    from explorer.jobs import concurrency
    from explorer.networks.private_copy import copy_of

    free_between_steps = []

    def take_both() -> None:  # as another session's thread would (the copy's lock is an RLock)
        slot = concurrency._SLOTS.acquire(blocking=False)
        lock = copy_of(default.model).lock.acquire(blocking=False)
        free_between_steps.append(slot and lock)
        if slot:
            concurrency._SLOTS.release()
        if lock:
            copy_of(default.model).lock.release()

    def on_step(step, images, values):
        other = threading.Thread(target=take_both)
        other.start()
        other.join()

    featurevis.visualise(default.model, "conv1", [0], settings=VisSettings(
        steps=4, size=32, jitter=2), on_step=on_step, **norm(default))
    assert free_between_steps == [True] * 4


def test_the_job_reports_steps_and_finishes(default):
    finished = []
    job = VisJob(default.model, "default", "conv1", [0, 1, 2], settings=VisSettings(
        steps=12, size=32, jitter=2), on_done=finished.append, **norm(default))
    assert job.snapshot().state == "queued" and job.model is None
    job.start()
    assert job.join(HANG_SECONDS)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 12 and finished == [job]
    assert snap.images.shape == (3, 32, 32, 3) and snap.history.shape == (12, 3)
    np.testing.assert_array_equal(snap.values, job.result.values)


def test_a_stopped_job_and_a_job_stopped_in_the_queue(default):
    job = VisJob(default.model, "default", "conv1", [0], settings=VisSettings(
        steps=1000, size=32, jitter=2), **norm(default))
    job.start()
    while job.snapshot().step < 2:
        assert not job.done
    job.stop()
    assert job.join(HANG_SECONDS) and job.state == "stopped" and job.snapshot().step < 1000
    queued = VisJob(default.model, "default", "conv1", [0], settings=VisSettings(size=32),
                    **norm(default))
    queued.stop()
    assert queued.done and queued.state == "stopped"


# ---------------------------------------------------------------- the CLI


def test_parse_channels():
    assert parse_channels("0-3,7,2") == [0, 1, 2, 3, 7]
    assert parse_channels(" ALL ") is None
    for bad in ("", "a", "-1", "0-99", "0-999999999"):
        with pytest.raises(ValueError):  # the page's message
            parse_channels(bad)
        with pytest.raises(argparse.ArgumentTypeError):  # the command line's
            channels_argument(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer.featurevis", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG_SECONDS)


def test_cli_prints_a_line_per_channel_and_writes_the_grid(tmp_path):
    out = tmp_path / "grid.png"
    # 16 steps: the command's wiring; what 96 steps reach is checked in-process (conv2 above)
    result = run_cli("--network", "default", "--layer", "conv2", "--channels", "0-7",
                     "--steps", "16", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["channel"] for row in rows] == list(range(8))
    assert all(row["steps"] == 16 and row["pretrained"] is True for row in rows)
    assert all(row["optimised_wins"] == (row["optimised"] > row["best_example"])
               for row in rows if row["optimised"] != row["best_example"])  # (rounded alike)
    assert sum(row["optimised_wins"] for row in rows) >= 1
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_says_when_the_network_is_untrained(capsys, monkeypatch, default):
    """Weights not cached: the figures are a random network's, and the command says so."""
    import dataclasses

    from explorer.featurevis import __main__ as cli

    untrained = dataclasses.replace(default, pretrained=False,
                                    message="resnet18 is not cached: random weights.")
    monkeypatch.setattr(cli, "loaded_network", lambda name: untrained)
    assert cli.main(["--layer", "conv1", "--channels", "0", "--steps", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert "Note: resnet18 is not cached: random weights." in captured.err
    assert json.loads(captured.out)["pretrained"] is False


def test_cli_lists_layers_and_names_bad_arguments(capsys):
    """In this process (main(argv)): the real process is run by the tests above."""
    from explorer.featurevis.__main__ import main

    assert main(["--list-layers"]) == 0
    listed = capsys.readouterr().out
    assert "conv2" in listed and "logits" in listed
    for args, message in [(["--layer", "nope"], "Unknown layer"),
                          (["--layer", "conv1", "--channels", "99"], "does not exist"),
                          (["--network", "nonet", "--layer", "x"], "Unknown network")]:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


# ---------------------------------------------------------------- occlusion


class CornerNet(nn.Module):
    """Class 1's evidence is the brightness of the top-left 8 x 8 corner; class 0 is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        corner = x[:, :, :8, :8].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(corner), 8 * corner], dim=1)


def test_occlusion_puts_the_drop_where_the_evidence_is():
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, :8, :8] = 1.0
    result = occlusion.occlusion_map(CornerNet(), x, 1, patch=8, stride=4)
    assert result.drop.shape == (7, 7) and result.base_probability > 0.99
    assert np.unravel_index(result.drop.argmax(), result.drop.shape) == (0, 0)
    assert result.drop[0, 0] > 0.4 and np.abs(result.drop[3:, 3:]).max() < 1e-6
    assert result.upsampled.shape == (32, 32) and result.upsampled[:4, :4].min() > 0.4


def test_occlusion_positions_reach_the_edges_and_work_is_bounded(default):
    assert occlusion.positions(32, 8, 5) == [0, 5, 10, 15, 20, 24]
    assert occlusion.positions(10, 16, 4) == [0]
    x = torch.zeros(1, 3, 32, 32)
    for kwargs, message in [({"patch": 0, "stride": 1}, "patch"),
                            ({"patch": 4, "stride": 0}, "stride"),
                            ({"patch": 1, "stride": 2}, "at most")]:
        with pytest.raises(ValueError, match=message):
            occlusion.occlusion_map(CornerNet(), torch.zeros(1, 3, 64, 64), 1, **kwargs)
    with pytest.raises(ValueError, match="does not exist"):
        occlusion.occlusion_map(default.model, x, 10, patch=8, stride=8)


def test_occlusion_on_the_default_network_matches_its_own_forward_pass(default):
    from explorer.networks import activations

    examples, _ = example_images("default", 32)
    x = ((examples[:1] - torch.tensor(default.transforms.mean).view(1, 3, 1, 1))
         / torch.tensor(default.transforms.std).view(1, 3, 1, 1))
    probabilities = torch.softmax(activations.forward(default.model, x).double(), 1)[0]
    top = int(probabilities.argmax())
    result = occlusion.occlusion_map(default.model, x, top, patch=8, stride=8)
    assert result.drop.shape == (4, 4)
    assert abs(result.base_probability - float(probabilities[top])) < 1e-9


def test_occlusion_work_is_bounded_by_the_networks_cost():
    assert occlusion.position_limit(15_470_264_320) == 51  # VGG16 at 224: its 7 x 7 grid fits
    assert occlusion.position_limit(1.8e9) == occlusion.MAX_POSITIONS  # ResNet-18
    assert occlusion.position_limit(0) == occlusion.MAX_POSITIONS
    assert occlusion.position_limit(1e15) == 1
    with pytest.raises(ValueError, match="at most 12 for this network"):  # 4 x 4 = 16 > 12
        occlusion.occlusion_map(CornerNet(), torch.zeros(1, 3, 32, 32), 1, patch=8, stride=8,
                                max_positions=12)


def test_occlusion_in_small_chunks_gives_the_same_map(default, monkeypatch):
    """A slow network is occluded a few copies per forward pass (so other students' passes
    get the server's heavy-work slot in between); the map does not depend on it."""
    from explorer.networks import activations

    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    whole = occlusion.occlusion_map(default.model, x, 3, patch=8, stride=4)
    sizes = []
    real = activations.forward
    monkeypatch.setattr(occlusion.activations, "forward",
                        lambda model, batch: sizes.append(len(batch)) or real(model, batch))
    monkeypatch.setattr(occlusion, "CHUNK_SECONDS", 0.0)  # as if one pass took longer than it
    chunked = occlusion.occlusion_map(default.model, x, 3, patch=8, stride=4)
    assert sizes == [1] * (1 + 49)  # the unoccluded pass, then one copy per pass
    np.testing.assert_allclose(chunked.drop, whole.drop, atol=1e-6)


def test_a_background_occlusion_run_fills_in_the_same_map(default, monkeypatch):
    monkeypatch.setattr(occlusion, "ABANDON_AFTER_S", 3600.0)  # a slow machine: keep going
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    whole = occlusion.occlusion_map(default.model, x, 2, patch=8, stride=8)
    run = occlusion.OcclusionRun(default.model, x, 2, patch=8, stride=8)
    assert run.current() is None and run.total == 16 and not run.waiting
    run.step()  # the unoccluded pass
    run.step()  # the first chunk of occluded copies
    partial = run.current()
    assert 0 < run.completed < 16 or run.finished
    if not run.finished:
        assert np.isnan(partial.drop).sum() == 16 - run.completed
        assert np.isnan(partial.upsampled).any()
    assert run.start().wait(timeout=600) and run.error is None
    np.testing.assert_allclose(run.current().drop, whole.drop, atol=1e-6)
    np.testing.assert_allclose(run.current().upsampled, whole.upsampled, atol=1e-6)
    assert not np.isnan(run.current().upsampled).any()


def test_a_failing_background_run_reports_instead_of_raising(monkeypatch):
    monkeypatch.setattr(occlusion, "ABANDON_AFTER_S", 3600.0)
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("out of memory")

    run = occlusion.OcclusionRun(Broken(), torch.zeros(1, 3, 16, 16), 0, patch=8, stride=8)
    assert run.start().wait(timeout=600)
    assert run.finished and "out of memory" in run.error
    with pytest.raises(ValueError, match="does not exist"):
        occlusion.OcclusionRun(CornerNet(), torch.zeros(1, 3, 16, 16), 5, patch=8,
                               stride=8).step()
    assert occlusion.position_count(224, 224, 37, 37) == 49


def test_a_map_nobody_looks_at_stops_and_the_queue_is_bounded(default, monkeypatch):
    """A student who moves the stride slider leaves the old map behind: it stops instead of
    taking its ~10 s on VGG16, and no one can queue more than MAX_PENDING maps."""
    monkeypatch.setattr(occlusion, "ABANDON_AFTER_S", -1.0)  # nobody has looked since it began
    run = occlusion.OcclusionRun(default.model, torch.zeros(1, 3, 32, 32), 0, patch=4, stride=2)
    assert run.start().wait(timeout=600)
    assert run.abandoned and run.completed == 0 and "nobody" in run.error
    monkeypatch.setattr(occlusion, "MAX_PENDING", 0)
    with pytest.raises(ValueError, match="try again in a moment"):
        occlusion.OcclusionRun(default.model, torch.zeros(1, 3, 32, 32), 0, patch=4,
                               stride=2).start()


def test_an_abandoned_shared_map_starts_again_when_asked_for(default, monkeypatch):
    from explorer.networks import shared_results

    image = np.random.default_rng(5).random((32, 32, 3)).astype(np.float32)
    x, _ = shared_results.prediction(default, image)
    monkeypatch.setattr(occlusion, "ABANDON_AFTER_S", -1.0)
    first = shared_results.occlusion_run(default, x, image, 1, 4, 2, 256)
    assert first.wait(timeout=600) and first.abandoned
    monkeypatch.setattr(occlusion, "ABANDON_AFTER_S", 3600.0)
    second = shared_results.occlusion_run(default, x, image, 1, 4, 2, 256)
    assert second is not first and second.wait(timeout=600) and second.error is None
    assert shared_results.occlusion_run(default, x, image, 1, 4, 2, 256) is second  # shared


def test_a_whole_layer_at_once_is_bounded_by_its_size(default):
    featurevis.check_batch(64, 64)  # the default network's conv2, whole, at 64 px: fine
    with pytest.raises(ValueError, match="at most 16 at this size"):
        featurevis.check_batch(17, 128)
    with pytest.raises(ValueError, match="too much"):
        visualise(default.model, "conv1", range(32), settings=VisSettings(size=256, steps=1),
                  **norm(default))
    result = visualise(default.model, "conv1", range(32), settings=VisSettings(
        size=32, steps=4, jitter=2), **norm(default))
    assert result.images.shape == (32, 32, 32, 3)


def test_cli_all_channels():
    result = run_cli("--layer", "conv1", "--channels", "all", "--steps", "4", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["channel"] for line in result.stdout.splitlines()] == list(range(32))


def test_cli_starts_from_the_best_example(capsys):
    """`--start best-example`: every channel some Shapes picture excites ends above its best
    example (in-process: the command's own code, without a second interpreter)."""
    from explorer.featurevis import __main__ as cli

    assert cli.main(["--layer", "act2", "--channels", "0-7", "--steps", "16",
                     "--start", "best-example", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["start"] for row in rows] == ["best example"] * 8
    excited = [row for row in rows if row["best_example"] > 0]
    assert excited and all(row["optimised_wins"] for row in excited), rows
    with pytest.raises(SystemExit):
        cli.main(["--layer", "act2", "--start", "somewhere"])
