"""The 2-D normalizing flow: the log-determinant against autograd's Jacobian, the inverse, the
NLL split, the single Gaussian against scipy, training, hostile settings and drawn points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from explorer.generative import flow
from explorer.generative.registry import make_trainer
from explorer.user_input import InputError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread, as a job runs (two threads on a busy 2-core machine crawl)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained() -> flow.FlowTrainer:
    trainer = flow.make_trainer(flow.Settings(points=400, couplings=4, hidden=16, seed=3,
                                              learning_rate=1e-2))
    for _ in range(60):
        trainer.step()
    return trainer


def _random_flow(couplings: int = 4) -> flow.Flow:
    """A flow whose couplings are not the identity (the last layers start at zero)."""
    torch.manual_seed(0)
    points = np.random.default_rng(0).normal(size=(50, 2)) * [2.0, 0.5] + [1.0, -1.0]
    model = flow.Flow(points, couplings, hidden=8).double()
    with torch.no_grad():
        for layer in model.layers[1:]:
            layer.net[-1].weight.normal_(0, 0.5)
            layer.net[-1].bias.normal_(0, 0.5)
    return model


def test_log_det_matches_autograd_jacobian() -> None:
    model = _random_flow()
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, log_det = model(x)
    for i in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(lambda p: model(p[None])[0][0], x[i])
        expected = torch.linalg.slogdet(jacobian).logabsdet  # (2, 2) Jacobian -> log|det|
        assert float(log_det[i]) == pytest.approx(float(expected), abs=1e-10)


def test_each_coupling_is_triangular_with_log_det_s() -> None:
    layer = _random_flow().layers[1]
    x = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda p: layer(p[None])[0][0], x[0])
    assert float(jacobian[0, 1]) == 0.0 and float(jacobian[0, 0]) == 1.0  # a passes unchanged
    assert float(layer(x)[1][0]) == pytest.approx(math.log(float(jacobian[1, 1])), abs=1e-12)


def test_inverse_undoes_forward_and_stages_end_where_the_flow_does() -> None:
    model = _random_flow()
    x = torch.randn(20, 2, dtype=torch.float64)
    z, _ = model(x)
    assert torch.allclose(model.inverse(z), x, atol=1e-10)
    stages = model.stages(x)
    assert len(stages) == len(model.layers) + 1 and torch.allclose(stages[-1], z)
    back = model.stages(z, inverse=True)
    assert torch.allclose(back[-1], x, atol=1e-10)


def test_gaussian_nll_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(300, 2)) @ [[1, 0.5], [0, 2]], rng.normal(size=(100, 2))
    cov = np.cov(train.T, ddof=0) + 1e-6 * np.eye(2)
    expected = -stats.multivariate_normal(train.mean(0), cov).logpdf(test).mean()
    assert flow.gaussian_nll_of(train, test) == pytest.approx(expected, rel=1e-9)


def test_nll_is_base_plus_log_det_and_density_integrates_to_one(trained) -> None:
    nll, base, log_det = trained.nll_split()
    assert nll == pytest.approx(base + log_det, abs=1e-5)
    assert trained.test_nll() == pytest.approx(nll)
    preview = trained.preview()
    step = float(preview.axis[1] - preview.axis[0])
    mass = float(preview.density.sum()) * step**2  # Riemann sum over [-4, 4]^2
    assert 0.9 < mass < 1.05  # moons lie well inside the plane
    assert preview.forward.shape == (6, 2 * flow.GRID_LINES, flow.LINE_POINTS, 2)
    assert preview.inverse.shape == preview.forward.shape
    assert len(preview.layer_names) == 5 and preview.samples.shape == (500, 2)


def test_training_lowers_the_nll_below_the_gaussian(trained) -> None:
    fresh = flow.make_trainer(trained.settings)
    assert trained.test_nll() < fresh.test_nll()
    assert trained.test_nll() < trained.gaussian_nll()


@pytest.mark.parametrize("dataset", ["moons", "rings"])
def test_datasets_through_the_registry(dataset) -> None:
    trainer = make_trainer("flow", flow.Settings(dataset=dataset, points=100, couplings=2,
                                                 hidden=8))
    losses = trainer.step()
    assert set(losses) == {"loss", "base", "log_det"}
    assert losses["loss"] == pytest.approx(losses["base"] + losses["log_det"], abs=1e-5)
    samples = trainer.sample(7, seed=2)
    assert samples.shape == (7, 2) and samples.dtype == np.float32
    assert np.array_equal(samples, trainer.sample(7, seed=2))
    assert np.abs(trainer.train).max() < flow.EXTENT
    state = trainer.state_dict()
    other = flow.make_trainer(trainer.settings)
    other.load_state_dict(state)
    assert np.array_equal(other.sample(7, seed=2), samples)


def test_drawn_points_train() -> None:
    drawn = tuple((0.1 * i - 1, 0.05 * i) for i in range(20))
    trainer = flow.make_trainer(flow.Settings(dataset=flow.DRAWN, drawn=drawn, couplings=2,
                                              hidden=8))
    assert trainer.train.shape == (20, 2) and math.isfinite(trainer.step()["loss"])


@pytest.mark.parametrize("changes, message", [
    ({"dataset": flow.DRAWN, "drawn": ((0.0, float("nan")),) * 12}, "coordinate"),
    ({"dataset": flow.DRAWN, "drawn": ((0.0, 9.0),) * 12}, "coordinate"),
    ({"dataset": flow.DRAWN, "drawn": ((0.0, 1.0),) * 3}, "at least 10"),
    ({"dataset": flow.DRAWN, "drawn": ((0.0, 1.0),) * 5000}, "At most"),
    ({"dataset": flow.DRAWN, "drawn": ((0.0, 1.0, 2.0),) * 12}, "two numbers"),
    ({"dataset": flow.DRAWN, "drawn": "0,1"}, "list"),
    ({"dataset": "spiral"}, "Unknown dataset"),
    ({"max_steps": 10**12}, "Steps"),
    ({"max_seconds": float("inf")}, "Seconds"),
    ({"points": 10**9}, "Points"),
    ({"couplings": 1000}, "Couplings"),
    ({"learning_rate": True}, "Learning rate"),
])
def test_hostile_settings_get_a_clear_message(changes, message) -> None:
    with pytest.raises(InputError, match=message):
        flow.Settings(**changes)


def test_absurd_sample_counts_are_refused(trained) -> None:
    for count in (0, 10**9, float("nan")):
        with pytest.raises(InputError, match="Samples"):
            trained.sample(count)


# -- the page's tab (AppTest) ------------------------------------------------------------------

PAGE = "../pages/10_Generative_models.py"
HANG_SECONDS = 120


def _open(**params: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.query_params.update({"tab": "Normalizing flow", **params})
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def _stop_jobs():
    from explorer.jobs import registry as job_registry

    yield job_registry.get_registry()
    job_registry.get_registry().stop_all()


def test_flow_tab_trains_and_shows_every_view(_stop_jobs) -> None:
    from tests.helpers import run

    at = _open(fl_steps="100", fl_couplings="4", fl_hidden="16", fl_data="rings")
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    job = _stop_jobs.get(at.session_state["generative.flow.run"])
    assert job.join(HANG_SECONDS), job.snapshot()
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 100
    assert snap.settings.dataset == "rings" and snap.settings.couplings == 4
    assert set(snap.losses) == {"loss", "base", "log_det"}
    run(at)
    assert any("Test NLL" in c.value for c in at.caption)
    for view in ("Samples", "Layers"):
        at.segmented_control(key="generative.flow.view").set_value(view)
        run(at)
    at.toggle(key="generative.flow.inverse").set_value(True)
    at.slider(key="generative.flow.layer").set_value(2)
    run(at)


def test_flow_tab_hostile_drawn_points_and_links(_stop_jobs) -> None:
    from explorer.ui.generative.flow import DRAWN_KEY
    from tests.helpers import run

    at = _open(fl_data="points", fl_couplings="1000", fl_lr="nan")
    assert at.session_state["keep.generative.flow.couplings"] == 8  # bad links: defaults
    assert at.session_state["keep.generative.flow.lr"] == 3e-3
    assert any("at least 10" in w.value for w in at.warning)  # no points drawn yet
    for bad in ([[float("nan"), 0.0]] * 12, [[9.0, 0.0]] * 12):
        at.session_state[DRAWN_KEY] = bad
        run(at)
        assert any("coordinate" in w.value for w in at.warning)
        assert not any(b.label == "Train" for b in at.button)
    at.session_state[DRAWN_KEY] = [[0.1 * i - 1, 0.05 * i] for i in range(12)]
    run(at)
    assert not at.warning and any(b.label == "Train" for b in at.button)
