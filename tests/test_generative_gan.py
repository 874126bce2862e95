"""The GANs: J_D and J_G against the lecture's formulas, the 2-D toy (distributions, modes, D and
G steps, the gradient arrows), the image GAN (shapes, samples, interpolation, weights), both
through the job, bad settings refused before any work, the shipped weights judged by the
default Shapes network, and the page's two tabs driven through AppTest."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.generative import gan, gan2d, gan_plots
from explorer.generative.job import GenerativeJob
from explorer.jobs import registry as job_registry
from explorer.training.data import DatasetError
from explorer.user_input import InputError
from tests.helpers import run

HOME = "../explorer/Home.py"
PAGE = "../pages/10_Generative_models.py"
K2 = "keep.generative.gan2d."
KI = "keep.generative.gan."
HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    job_registry.get_registry().stop_all()


# -- the losses against the lecture's formulas (float64, so rounding is ~1e-15) ----------------

LOGITS = [torch.tensor([-3.0, 0.0, 0.5, 4.0], dtype=torch.float64),
          torch.tensor([-20.0, 20.0], dtype=torch.float64)]


@pytest.mark.parametrize("real", LOGITS)
@pytest.mark.parametrize("fake", LOGITS)
def test_losses_are_the_lectures_formulas(real, fake) -> None:
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    j_d = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()  # J_D as the lecture writes it
    j_g = -torch.log(d_fake).mean()  # J_G
    minimax = torch.log(1 - d_fake).mean()
    # 1 - sigmoid(20) rounds to 2e-9 in float64: the naive formula loses ~1e-8 relative there
    tol = 1e-7 if max(real.abs().max(), fake.abs().max()) > 10 else 1e-12
    torch.testing.assert_close(gan.discriminator_loss(real, fake), j_d, rtol=tol, atol=tol)
    torch.testing.assert_close(gan.generator_loss(fake), j_g, rtol=tol, atol=tol)
    torch.testing.assert_close(gan.minimax_generator_loss(fake), minimax, rtol=tol, atol=tol)


def test_losses_at_the_equilibrium_and_far_from_it() -> None:
    half = torch.zeros(8)  # D = 1/2 everywhere: the game's end
    assert math.isclose(gan.discriminator_loss(half, half).item(), math.log(4), rel_tol=1e-6)
    assert math.isclose(gan.generator_loss(half).item(), math.log(2), rel_tol=1e-6)
    far = torch.full((4,), -200.0)  # D sure a fake is fake: stable, no inf
    assert math.isfinite(gan.generator_loss(far).item())
    assert math.isclose(gan.generator_loss(far).item(), 200.0, rel_tol=1e-6)


# -- the 2-D toy -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(gan2d.DISTRIBUTIONS))
def test_distributions_lie_in_the_square(name) -> None:
    points = gan2d.DISTRIBUTIONS[name].draw(2_000, np.random.default_rng(0))
    assert points.shape == (2_000, 2)
    assert (points > -0.05).all() and (points < 1.05).all()
    count = gan2d.modes_covered(points, name)
    spec = gan2d.DISTRIBUTIONS[name]
    assert count == (None if spec.modes is None else len(spec.modes))  # real data: every mode


def test_modes_covered_counts_a_collapse() -> None:
    centre = gan2d.DISTRIBUTIONS["ring"].modes[3]
    collapsed = centre + 0.01 * np.random.default_rng(1).standard_normal((500, 2))
    assert gan2d.modes_covered(collapsed, "ring") == 1


def _params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _changed(before: list[torch.Tensor], net: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_d_and_g_steps_train_only_their_network() -> None:
    trainer = gan2d.make_trainer(gan2d.Settings(hidden=8, batch_size=16))
    g, d = _params(trainer.generator), _params(trainer.discriminator)
    losses = trainer.step_discriminator()
    assert _changed(d, trainer.discriminator) and not _changed(g, trainer.generator)
    assert set(losses) == {"J_D", "D(x)", "D(G(z))"}
    d = _params(trainer.discriminator)
    trainer.step_generator()
    assert _changed(g, trainer.generator) and not _changed(d, trainer.discriminator)
    losses = trainer.step()
    assert set(losses) == {"loss", "J_D", "J_G", "D(x)", "D(G(z))"} and trainer.steps == 1
    assert math.isclose(losses["loss"], losses["J_D"] + losses["J_G"])


def test_same_settings_same_run() -> None:
    settings = gan2d.Settings(hidden=8, batch_size=16, seed=5)
    runs = [[gan2d.make_trainer(settings).step()["loss"] for _ in range(3)] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("g_loss", list(gan2d.G_LOSSES))
def test_arrows_are_minus_the_gradient_of_each_points_loss(g_loss) -> None:
    trainer = gan2d.make_trainer(gan2d.Settings(hidden=8, g_loss=g_loss))
    preview = trainer.preview()
    assert preview.heat.shape == (gan2d.RES, gan2d.RES)
    assert ((preview.heat >= 0) & (preview.heat <= 1)).all()
    assert preview.fake.shape == preview.arrows.shape == (gan2d.SHOWN, 2)
    # reference: the logit's gradient by autograd, times the loss's derivative in the logit
    x = torch.from_numpy(preview.fake[:5]).double().requires_grad_(True)
    net = trainer.discriminator.double()
    logit = net(x).squeeze(1)
    (grad_a,) = torch.autograd.grad(logit.sum(), x)
    s = torch.sigmoid(logit).detach()[:, None]
    # d/da of -ln sigmoid(a) is -(1 - s); of ln(1 - sigmoid(a)) is -s
    expected = (1 - s) * grad_a if g_loss == "non-saturating" else s * grad_a
    np.testing.assert_allclose(preview.arrows[:5], expected.numpy(), rtol=1e-4, atol=1e-6)


def test_samples_and_weights_round_trip() -> None:
    settings = gan2d.Settings(hidden=8)
    trainer = gan2d.make_trainer(settings)
    trainer.step()
    samples = trainer.sample(100, seed=3)
    assert samples.shape == (100, 2) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1
    other = gan2d.make_trainer(gan2d.Settings(hidden=8, seed=9))
    other.load_state_dict(trainer.state_dict())
    np.testing.assert_array_equal(other.sample(100, seed=3), samples)


def test_plane_figure_draws_every_layer() -> None:
    preview = gan2d.make_trainer(gan2d.Settings(hidden=8)).preview()
    figure = gan_plots.plane_figure(preview)
    assert [t.type for t in figure.data] == ["heatmap", "scatter", "scatter", "scatter"]
    xs, ys = gan_plots.arrow_segments(preview.fake, preview.arrows)
    lengths = np.hypot(xs[1::3] - xs[0::3], ys[1::3] - ys[0::3])
    assert math.isclose(lengths.max(), gan_plots.ARROW_LENGTH, rel_tol=1e-5)
    assert len(gan_plots.plane_figure(preview, heat=False, arrows=False).data) == 2


@pytest.mark.parametrize(("field", "value"), [
    ("max_steps", 10**12), ("max_steps", 0), ("batch_size", 10**9), ("hidden", 10**6),
    ("lr_g", float("nan")), ("lr_d", float("inf")), ("d_steps", 1e9), ("max_seconds", -1),
    ("latent", 2.5), ("seed", -3), ("layers", True)])
def test_absurd_2d_settings_are_refused(field, value) -> None:
    with pytest.raises(InputError):
        gan2d.Settings(**{field: value})


def test_unknown_2d_choices_are_refused() -> None:
    with pytest.raises(InputError, match="choose one of"):
        gan2d.Settings(dataset="shapes")
    with pytest.raises(InputError, match="choose one of"):
        gan2d.Settings(g_loss="wasserstein")


# -- the image GAN -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """A few stand-in images: the networks' shapes, not Shapes' pictures (that takes seconds)."""
    return torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_networks_make_and_judge_the_datas_shape(shape) -> None:
    g, d = gan.Generator(8, 4, shape), gan.Discriminator(4, shape)
    with torch.no_grad():
        x = g(torch.randn(5, 8))
        assert d(x).shape == (5,)
    assert x.shape == (5, *shape) and float(x.min()) >= 0 and float(x.max()) <= 1


@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 32, 32), (3, 32, 28)])
def test_shapes_the_gan_cannot_make_are_refused(shape) -> None:
    with pytest.raises(DatasetError, match="32 x 32 or 28 x 28"):
        gan.check_shape(shape)


def test_minibatch_std_appends_the_batchs_spread() -> None:
    x = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    out = gan.MinibatchStd()(x)
    assert out.shape == (6, 5, 3, 3)
    torch.testing.assert_close(out[:, :4], x)
    expected = float(np.std(x.numpy(), axis=0).mean())  # numpy's std: the population's
    torch.testing.assert_close(out[:, 4], torch.full((6, 3, 3), expected))
    same = torch.ones(6, 4, 3, 3)  # a collapsed batch: no spread at all
    assert float(gan.MinibatchStd()(same)[:, 4].abs().max()) == 0.0


def test_image_trainer_steps_previews_samples(images) -> None:
    settings = gan.Settings(width=4, latent=8, batch_size=8)
    trainer = gan.GanTrainer(settings, images=images)
    first = trainer.preview()
    losses = trainer.step()
    assert set(losses) == {"loss", "J_D", "J_G", "D(x)", "D(G(z))"}
    assert all(math.isfinite(v) for v in losses.values())
    assert 0 < losses["D(x)"] < 1 and 0 < losses["D(G(z))"] < 1
    second = trainer.preview()
    assert first.grid.shape == (gan.GRID, 3, 32, 32) and first.grid.dtype == np.uint8
    assert second.step == 1 and not np.array_equal(first.grid, second.grid)
    samples = trainer.sample(6, seed=2)
    assert samples.shape == (6, 3, 32, 32) and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, trainer.sample(6, seed=2))  # eval mode: repeatable
    with pytest.raises(InputError):
        trainer.sample(10**9)


def test_interpolation_runs_from_one_z_to_the_other(images) -> None:
    trainer = gan.GanTrainer(gan.Settings(width=4, latent=8, batch_size=8), images=images)
    z0, z1 = gan.fixed_z(2, 8, seed=4)
    strip = gan.interpolate(trainer.generator, z0, z1, 5)
    assert strip.shape == (5, 3, 32, 32)
    ends = gan.decode(trainer.generator, torch.stack([z0, z1]))
    np.testing.assert_allclose(strip[[0, -1]], ends, atol=1e-6)
    for count in (1, 10**6, 2.5):
        with pytest.raises(InputError):
            gan.interpolate(trainer.generator, z0, z1, count)


def test_generator_from_the_trainers_weights(images) -> None:
    settings = gan.Settings(width=4, latent=8, batch_size=8)
    trainer = gan.GanTrainer(settings, images=images)
    trainer.step()
    generator = gan.generator_from_state(settings, trainer.state_dict())
    z = gan.fixed_z(3, 8, seed=1)
    np.testing.assert_array_equal(gan.decode(generator, z), gan.decode(trainer.generator, z))
    with pytest.raises(ValueError, match="no GAN generator"):
        gan.generator_from_state(settings, {"decoder.weight": torch.zeros(1)})


@pytest.mark.parametrize(("field", "value"), [
    ("max_steps", 10**12), ("batch_size", 10**9), ("width", 4096), ("latent", 0),
    ("lr_g", float("nan")), ("lr_d", 10.0), ("max_seconds", 1e9), ("seed", 1.5)])
def test_absurd_image_settings_are_refused(field, value) -> None:
    with pytest.raises(InputError):
        gan.Settings(**{field: value})
    with pytest.raises(InputError, match="not one this page knows"):
        gan.Settings(dataset="../../etc/passwd")


# -- through the job ---------------------------------------------------------------------------

def _finish(job: GenerativeJob) -> None:
    job.start()
    assert job.join(HANG_SECONDS), job.snapshot()


def test_2d_gan_through_the_job() -> None:
    job = GenerativeJob("gan2d", gan2d.Settings(hidden=8, max_steps=30, batch_size=16))
    _finish(job)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 30
    assert len(snap.losses["J_D"]) == len(snap.losses["J_G"]) == 30
    assert isinstance(snap.preview, gan2d.Preview) and snap.preview.step == 30
    assert set(job.weights) == set(gan2d.make_trainer(snap.settings).state_dict())


def test_image_gan_through_the_job(monkeypatch, images) -> None:
    monkeypatch.setattr(gan, "real_images", lambda name: images)  # no Shapes to render
    settings = gan.Settings(width=4, latent=8, batch_size=8, max_steps=4)
    job = GenerativeJob("gan", settings)
    _finish(job)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 4 and len(snap.losses["D(x)"]) == 4
    assert isinstance(snap.preview, gan.Preview) and snap.preview.grid.shape[0] == gan.GRID
    assert gan.generator_from_state(settings, job.weights).latent == 8


# -- the shipped weights: the goal, judged by the default Shapes network ---------------

def test_shipped_gan_draws_recognisable_shapes() -> None:
    from explorer.generative.judge import judge

    path = gan.shipped_path()
    assert path.exists() and path.stat().st_size < 2_500_000  # G and D at width 32: 2.2 MB
    settings, generator, note = gan.load_generator(path)
    assert "explorer.generative" in note and "--model gan" in note
    verdict = judge(gan.decode(generator, gan.fixed_z(64, settings.latent, 0)))
    assert verdict.share >= 0.8 and len(verdict.classes) >= 8, verdict.as_dict()


def test_a_generator_of_older_networks_is_ignored_not_a_crash(tmp_path, monkeypatch,
                                                               caplog) -> None:
    from explorer.generative.autoencoder import save_weights

    monkeypatch.setattr(gan, "ASSETS", tmp_path)
    assert gan.shipped_generator() is None  # no file
    old = {"generator.project.0.weight": torch.zeros(4, 4)}  # an older generator's layers
    save_weights(gan.shipped_path(), gan.Settings(width=4, latent=8), old, "made long ago")
    with caplog.at_level("WARNING"):
        assert gan.shipped_generator() is None
    assert "does not fit" in caplog.text


# -- the page ----------------------------------------------------------------------------------

def open_tab(tab: str, **params: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=HANG_SECONDS)
    at.run()
    at.query_params.update({"tab": tab, **params})
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _plane_data(at: AppTest, key: str) -> list[dict]:
    import json

    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)["data"]


def test_2d_tab_widgets_and_step_mode() -> None:
    at = open_tab("GAN on 2-D points", g2_data="moons", g2_hidden="16")
    assert at.selectbox(key=K2 + "data").value == "moons"
    assert at.select_slider(key=K2 + "hidden").value == 16
    assert any("Not trained yet" in m.value for m in at.markdown)
    assert [d["type"] for d in _plane_data(at, "generative.gan2d.plane")][0] == "heatmap"
    at.selectbox(key=K2 + "data").set_value("ring")
    run(at)
    assert any("of 8** clusters" in c.value for c in at.caption)
    at.toggle(key="generative.gan2d.step_mode").set_value(True)
    run(at)
    at.button(key="generative.gan2d.step_d").click()
    run(at)
    assert any("J_D" in m.value and "0 whole steps" in m.value for m in at.markdown)
    at.button(key="generative.gan2d.step_both").click()
    run(at)
    assert any("1 whole steps" in m.value for m in at.markdown)
    at.button(key="generative.gan2d.collapse").click()
    run(at)
    assert at.select_slider(key=K2 + "hidden").value == 32


def test_2d_tab_trains_through_the_shared_job() -> None:
    at = open_tab("GAN on 2-D points", g2_steps="500", g2_hidden="8", g2_batch="32")
    at.button(key="generative.gan2d.go").click()
    run(at)
    deadline = time.monotonic() + HANG_SECONDS  # a hang guard: 500 tiny steps take ~2 s
    while not any(m.value.startswith("finished") for m in at.markdown):
        assert time.monotonic() < deadline, [m.value for m in at.markdown]
        time.sleep(0.2)
        run(at)
    assert any("step 500 of 500" in m.value for m in at.markdown)
    data = _plane_data(at, "generative.gan2d.plane")
    assert len(data) == 4  # heat map, real, arrows, G(z)
    at.button(key="generative.gan2d.restart").click()
    run(at)
    at.button(key="generative.gan2d.stop").click()
    run(at)
    assert not at.exception


def test_image_tab_shows_the_shipped_samples_and_interpolates(monkeypatch, images) -> None:
    monkeypatch.setattr(gan, "real_images", lambda name: images)  # no Shapes to render
    at = open_tab("GAN on images", gan_latent="16")
    assert at.select_slider(key=KI + "latent").value == 16
    assert any("shipped weights" in m.value for m in at.markdown)
    assert any("recognises" in c.value for c in at.caption)
    at.slider(key=KI + "count").set_value(4)
    run(at)
    assert any("G((1 − t) z₀ + t z₁)" in c.value for c in at.caption)
    at.button(key="generative.gan.go").click()
    run(at)
    deadline = time.monotonic() + HANG_SECONDS  # a hang guard: the first preview comes at once
    while not any("The same 64 z's" in m.value for m in at.markdown):
        assert time.monotonic() < deadline, [m.value for m in at.markdown]
        time.sleep(0.2)
        run(at)
    at.button(key="generative.gan.stop").click()
    run(at)
    while not any(m.value.startswith("stopped") for m in at.markdown):
        assert time.monotonic() < deadline, [m.value for m in at.markdown]
        time.sleep(0.2)
        run(at)
    assert not at.exception


# -- the command line (the room's, dispatching through the registry) --------------------------

def test_command_line_trains_the_2d_gan_and_refuses_absurd_sizes(capsys, tmp_path) -> None:
    import json

    from explorer.generative import __main__ as cli

    out = tmp_path / "points.npy"
    assert cli.main(["--model", "gan2d", "--max-steps", "20", "--set", "hidden=8",
                     "--samples", str(out), "--count", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 20 and report["samples_shape"] == [50, 2]
    assert np.load(out).shape == (50, 2)
    for flags in (["--model", "gan", "--set", "width=99999"],
                  ["--model", "gan", "--set", "batch_size=100000000"],
                  ["--model", "gan2d", "--set", "hidden=1e9"],
                  ["--model", "gan2d", "--dataset", "spiral"]):
        assert cli.main(flags) == 2
        assert "error:" in capsys.readouterr().err
