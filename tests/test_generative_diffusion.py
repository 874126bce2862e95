"""The small DDPM: schedules, the marginal q(x_t | x_0) against repeated single steps, the
denoiser's shapes, DDIM / DDPM sampling with guidance, a tiny training run, hostile settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.generative import diffusion
from explorer.generative.data import ImageData
from explorer.generative.registry import make_trainer
from explorer.training.data import DatasetError
from explorer.user_input import InputError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread, as a job runs (two threads on a busy 2-core machine crawl)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = dict(width=8, batch_size=8, train_images=100, timesteps=20, sample_steps=4)


@pytest.fixture(scope="module")
def tiny() -> diffusion.DiffusionTrainer:
    trainer = make_trainer("diffusion", diffusion.Settings(**TINY, max_steps=5))
    for _ in range(3):
        trainer.step()
    return trainer


@pytest.mark.parametrize("name", list(diffusion.SCHEDULES))
def test_schedules_destroy_the_signal(name) -> None:
    schedule = diffusion.make_schedule(name, 200)
    betas, alpha_bar = schedule.betas, schedule.alpha_bar
    assert betas.shape == (200,) and bool((betas > 0).all()) and bool((betas < 1).all())
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all())  # strictly decreasing
    assert float(alpha_bar[0]) > 0.99 and float(alpha_bar[-1]) < 1e-3


def test_cosine_alpha_bar_is_the_formula() -> None:
    schedule = diffusion.make_schedule("cosine", 100)
    t = np.arange(1, 101) / 100
    f = np.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    # the clip at beta 0.999 only touches the last step
    assert np.allclose(schedule.alpha_bar.numpy()[:-1], f[:-1], rtol=1e-12)


@pytest.mark.parametrize("name", list(diffusion.SCHEDULES))
def test_marginal_matches_repeated_single_steps(name) -> None:
    """x_t from t single steps q(x_s | x_{s-1}) has the marginal's mean sqrt(ab_t) x_0 and
    variance 1 - ab_t: checked on 20,000 draws (tolerance: 5 standard errors)."""
    schedule = diffusion.make_schedule(name, 50)
    x0 = torch.tensor([-1.0, -0.3, 0.5, 1.0], dtype=torch.float64).repeat(20_000, 1)
    for t in (1, 10, 35):
        x = diffusion.forward_steps(schedule, x0, t, torch.Generator().manual_seed(t))
        ab = float(schedule.alpha_bar[t - 1])
        n, var = len(x), 1 - ab
        assert torch.allclose(x.mean(0), math.sqrt(ab) * x0[0], atol=5 * math.sqrt(var / n))
        # the sample variance's standard error is var sqrt(2 / n) for a Gaussian
        assert torch.allclose(x.var(0), torch.full((4,), var, dtype=torch.float64),
                              atol=5 * var * math.sqrt(2 / n))
        # and q_sample with the same noise law gives the same moments
        noise = torch.randn(x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        direct = diffusion.q_sample(schedule, x0, torch.full((n,), t), noise)
        assert torch.allclose(direct.mean(0), x.mean(0), atol=10 * math.sqrt(var / n))


def test_denoiser_shapes_and_null_class() -> None:
    model = diffusion.Denoiser(classes=10, width=8)
    x = torch.randn(3, 3, 32, 32)
    out = model(x, torch.tensor([1, 5, 20]), torch.tensor([0, 9, 10]))  # 10 = no class
    assert out.shape == x.shape
    assert float(out.detach().abs().max()) == 0.0  # the last convolution starts at zero


def test_sampling_times_run_from_T_to_1() -> None:
    assert diffusion.sampling_times(200, 5) == [200, 150, 100, 51, 1]
    assert diffusion.sampling_times(10, 10) == list(range(10, 0, -1))


@pytest.mark.parametrize("sampler", list(diffusion.SAMPLERS))
@pytest.mark.parametrize("guidance", [0.0, 3.0])
def test_sampling_is_seeded_and_in_range(tiny, sampler, guidance) -> None:
    x, frames, times = tiny.generate(torch.tensor([0, 4]), seed=5, guidance=guidance,
                                     sampler=sampler, keep=3)
    again, _, _ = tiny.generate(torch.tensor([0, 4]), seed=5, guidance=guidance,
                                sampler=sampler)
    assert torch.equal(x, again) and float(x.abs().max()) <= 1.0
    assert times[0] == 20 and times[-1] == 0 and len(frames) == len(times)
    assert torch.equal(frames[-1], x)


def test_trainer_contract(tiny) -> None:
    losses = tiny.step()
    assert set(losses) == {"loss"} and math.isfinite(losses["loss"])
    samples = tiny.sample(12, seed=1)
    assert samples.shape == (12, 3, 32, 32) and samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert tiny.sample(2, seed=1, label=3, guidance=0.0).shape == (2, 3, 32, 32)
    preview = tiny.preview()
    assert preview.samples.shape == (10, 3, 32, 32) and len(preview.classes) == 10
    assert preview.chain.shape[0] == len(preview.chain_times) and preview.chain_times[-1] == 0
    other = diffusion.make_trainer(tiny.settings)
    other.load_state_dict(tiny.state_dict())
    assert np.array_equal(other.sample(3, seed=4), tiny.sample(3, seed=4))


def test_the_moving_average_is_what_samples_and_ships() -> None:
    trainer = diffusion.make_trainer(diffusion.Settings(**TINY, ema=0.9, max_steps=5))
    for _ in range(3):
        trainer.step()
    shipped = trainer.state_dict()
    live = trainer.model.state_dict()
    assert any(not torch.equal(shipped[k], live[k]) for k in live)
    assert all(torch.equal(shipped[k], v) for k, v in trainer.average.state_dict().items())
    other = diffusion.make_trainer(trainer.settings)
    other.load_state_dict(shipped)
    assert np.array_equal(other.sample(2, seed=3), trainer.sample(2, seed=3))


def _grey_data(side: int) -> ImageData:
    """An MNIST-like dataset: 3 classes of (1, side, side) pictures."""
    images = torch.randint(0, 256, (12, 1, side, side), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 3
    return ImageData("mnist", ("a", "b", "c"), images, labels, images[:3], labels[:3])


def test_grey_28_pixel_data_trains_and_samples(monkeypatch) -> None:
    """MNIST's shape (1 x 28 x 28, the 7 x 7 inside): a step, a preview and samples of it."""
    monkeypatch.setattr(diffusion, "image_data", lambda name: _grey_data(28))
    trainer = diffusion.make_trainer(diffusion.Settings(**TINY, dataset="mnist", max_steps=2))
    assert trainer.classes == ("a", "b", "c") and trainer.shape == (1, 28, 28)
    assert math.isfinite(trainer.step()["loss"])
    assert trainer.preview().samples.shape == (3, 1, 28, 28)
    samples = trainer.sample(4, seed=0)
    assert samples.shape == (4, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1


def test_pictures_of_an_unusable_size_are_refused_clearly(monkeypatch) -> None:
    monkeypatch.setattr(diffusion, "image_data", lambda name: _grey_data(30))
    with pytest.raises(DatasetError, match="multiple of 4"):
        diffusion.make_trainer(diffusion.Settings(**TINY, dataset="mnist"))


def test_shipped_diffusion_draws_recognisable_shapes() -> None:
    """The issue's goal for the shipped weights, with the settings they were saved with (the
    page's defaults for them): 64 samples, classes in turn, judged by the Shapes network."""
    from explorer.generative.autoencoder import pretrained_path, pretrained_trainer
    from explorer.generative.judge import judge

    path = pretrained_path("diffusion")
    assert path.exists() and path.stat().st_size < 2_500_000
    trainer = pretrained_trainer(diffusion, "diffusion")
    assert trainer is not None, "assets/generative/diffusion.pt does not fit the denoiser"
    verdict = judge(trainer.sample(64, seed=0))
    assert verdict.share >= 0.8 and len(verdict.classes) >= 8, verdict.as_dict()


def test_training_lowers_the_loss() -> None:
    trainer = diffusion.make_trainer(diffusion.Settings(**{**TINY, "batch_size": 32},
                                                        max_steps=40, learning_rate=5e-3))
    losses = [trainer.step()["loss"] for _ in range(40)]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("changes, message", [
    ({"timesteps": 10**9}, "Timesteps"),
    ({"sample_steps": 50, "timesteps": 20}, "cannot exceed"),
    ({"guidance": 1e9}, "Guidance"),
    ({"guidance": float("nan")}, "Guidance"),
    ({"width": 12}, "multiple of 8"),
    ({"width": 4096}, "Width"),
    ({"batch_size": 10**6}, "Batch"),
    ({"max_steps": -1}, "Steps"),
    ({"schedule": "quadratic"}, "Unknown schedule"),
    ({"sampler": "euler"}, "Unknown sampler"),
    ({"dataset": "cifar"}, "not one this page knows"),
])
def test_hostile_settings_get_a_clear_message(changes, message) -> None:
    with pytest.raises(InputError, match=message):
        diffusion.Settings(**changes)


@pytest.mark.parametrize("kwargs, message", [
    ({"count": 10**9}, "Samples"), ({"count": 2, "label": 11}, "Class"),
    ({"count": 2, "label": 1, "guidance": 1e6}, "Guidance"),
])
def test_hostile_sampling_requests(tiny, kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        tiny.sample(**kwargs)


# -- the page's tab (AppTest) ------------------------------------------------------------------

PAGE = "../pages/10_Generative_models.py"
HANG_SECONDS = 120
K = "keep.generative.diffusion."


def _open(**params: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.query_params.update({"tab": "Diffusion", **params})
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def registry():
    from explorer.jobs import registry as job_registry

    yield job_registry.get_registry()
    job_registry.get_registry().stop_all()


def test_forward_process_widgets() -> None:
    from tests.helpers import captions, run

    at = _open(df_t="100", df_schedule="linear", df_sample_steps="2", df_count="10")
    assert any("x_t at t = " in c and "**100**" in c for c in captions(at))
    assert any("at t = 100, √ᾱ_t" in c.value for c in at.caption)
    assert at.selectbox(key=K + "data").value == "shapes"  # the training data's picker
    at.segmented_control(key=K + "fwd_schedule").set_value("cosine")
    at.slider(key=K + "t").set_value(0)
    run(at)
    assert any("at t = 0, √ᾱ_t = 1.000" in c.value for c in at.caption)


def test_sampling_widgets_and_a_tiny_live_run(registry, monkeypatch) -> None:
    from explorer.generative.diffusion_plots import strip  # noqa: F401  (the strip drawn)
    from tests.helpers import captions, run

    at = _open(df_sample_steps="2", df_count="10", df_class="3", df_guidance="4",
               df_train_steps="10")
    assert at.session_state[K + "class"] == 3 and at.session_state[K + "guidance"] == 4
    assert any(c.startswith("10 samples, 2 steps") for c in captions(at))
    at.radio(key=K + "sampler").set_value("ddpm")
    at.select_slider(key=K + "count").set_value(20)
    run(at)  # a changed setting keeps the samples on show until Sample is pressed
    assert any(c.startswith("10 samples, 2 steps") for c in captions(at))
    assert any("press **Sample**" in i.value and "2 DDPM steps" in i.value for i in at.info)
    at.button(key="generative.diffusion.sample").click()
    run(at)
    assert any(c.startswith("20 samples, 2 steps") for c in captions(at))
    assert not any("press **Sample**" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    job = registry.get(at.session_state["generative.diffusion.run"])
    assert job.join(HANG_SECONDS), job.snapshot()
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 10 and len(snap.losses["loss"]) == 10
    run(at)
    assert any(c.startswith("One sample per class") for c in captions(at))
    assert any("your run (10 steps)" in m.value for m in at.markdown)  # new weights: redrawn
    assert not any("press **Sample**" in i.value for i in at.info)

    drawn = []  # another widget of the tab (the forward process's t) does not sample again
    monkeypatch.setattr(diffusion.DiffusionTrainer, "generate",
                        lambda *args, **kwargs: drawn.append(args) or pytest.fail("sampled"))
    at.slider(key=K + "t").set_value(10)
    run(at)
    assert not drawn and any(c.startswith("20 samples, 2 steps") for c in captions(at))
    monkeypatch.undo()

    original = diffusion.DiffusionTrainer.generate  # another run of as many steps: drawn again
    monkeypatch.setattr(diffusion.DiffusionTrainer, "generate",
                        lambda *args, **kwargs: drawn.append(args) or original(*args, **kwargs))
    at.number_input(key=K + "seed").set_value(1)
    run(at)
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    second = registry.get(at.session_state["generative.diffusion.run"])
    assert second.job_id != job.job_id and second.join(HANG_SECONDS), second.snapshot()
    drawn.clear()
    run(at)
    assert any("your run (10 steps)" in m.value for m in at.markdown)
    assert len(drawn) == 1  # the sample panel's; the live preview is the job's own
    at.number_input(key=K + "seed").set_value(0)  # back to the first run: shared, finished
    run(at)
    drawn.clear()
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    assert at.session_state["generative.diffusion.run"] == job.job_id
    assert len(drawn) == 1  # as many steps as the run on show, other weights: drawn again
    monkeypatch.undo()

    def gone(settings):  # the run's uploaded zip has left the server since
        raise DatasetError("That uploaded zip is no longer on the server: upload it again.")

    monkeypatch.setattr(diffusion, "make_trainer", gone)
    run(at)
    assert not at.exception
    assert any("not available any more" in w.value for w in at.warning)
    assert any("the shipped weights" in m.value for m in at.markdown)


@pytest.mark.parametrize("params", [
    {"df_guidance": "1e9"}, {"df_t": "-5"}, {"df_class": "99"}, {"df_sample_steps": "100000"},
    {"df_schedule": "quadratic"}, {"df_count": "1000000"}])
def test_hostile_links_fall_back_to_defaults(params) -> None:
    at = _open(**{"df_sample_steps": "2", "df_count": "10", **params})
    assert not at.exception
