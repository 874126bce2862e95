"""AppTest of the Deep networks page: the vanishing-gradient figure's numbers, its widgets and
links, bad links and too-big choices, the live steps, and residual vs plain trained live."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.gradients.deepnet import measure
from explorer.gradients.residual import VARIANTS
from explorer.gradients.settings import DeepSettings
from explorer.jobs import registry as job_registry
from tests.helpers import run

PAGE = "../pages/8_Deep_networks.py"
K = "keep.deep."
HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    job_registry.get_registry().stop_all()


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.query_params.update(params)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith(key)
                or key in c.proto.id)


def values(data) -> np.ndarray:
    """A trace's numbers (plotly writes numpy arrays as typed arrays)."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).astype(float)
    return np.asarray(data, dtype=float)


def bars(at: AppTest) -> np.ndarray:
    return values(chart(at, "deep_gradients")["data"][0]["y"])


def wait_done(jobs, seconds: float = HANG_SECONDS) -> None:
    """Wait until every job is done (a hang guard, not a budget)."""
    deadline = time.monotonic() + seconds
    for job in jobs:
        assert job.join(max(0.1, deadline - time.monotonic())), job.snapshot()


def test_defaults_show_the_vanishing_gradient() -> None:
    at = open_page()
    expected = measure(DeepSettings()).gradient_norms
    np.testing.assert_allclose(bars(at), expected, rtol=1e-6)
    assert expected[0] / expected[-1] < 1e-2
    assert "first / last" in chart(at, "deep_gradients")["layout"]["title"]["text"]
    assert any("ratio" in c.value for c in at.caption)


def test_widgets_change_the_net() -> None:
    at = open_page()
    at.selectbox(key=K + "act").set_value("relu")
    at.toggle(key=K + "skip").set_value(True)
    run(at)
    norms = bars(at)
    assert len(norms) == 12 and norms[0] / norms[-1] > 0.1
    at.slider(key=K + "depth").set_value(5)
    run(at)
    assert len(bars(at)) == 5
    assert at.query_params["depth"] in ("5", ["5"])


def test_links_set_it_up_and_bad_links_are_ignored() -> None:
    at = open_page(depth="6", act="tanh", bn="true", tab="Vanishing gradients")
    assert at.slider(key=K + "depth").value == 6 and at.selectbox(key=K + "act").value == "tanh"
    assert at.toggle(key=K + "bn").value is True
    np.testing.assert_allclose(
        bars(at), measure(DeepSettings(depth=6, activation="tanh", batch_norm=True)).gradient_norms,
        rtol=1e-6)
    for name, value in (("depth", "100000"), ("width", "7"), ("act", "swish"), ("batch", "1e9"),
                        ("seed", "-1"), ("steps", "5000"), ("lr", "1e9")):
        at = open_page(**{name: value})
        assert len(bars(at)) == 12  # the defaults, with a note
        assert any(name in t.value for t in at.toast), name
    for name, value in (("blocks", "9999"), ("csteps", "nan"), ("paths", "1e9")):
        at = open_page(**{name: value, "tab": "Residual vs plain"})
        assert any(name in t.value for t in at.toast), name
        assert at.slider(key=K + "blocks").value == 20


def test_too_much_work_is_refused_with_a_message() -> None:
    at = open_page(depth="30", width="64", batch="64")
    assert any("too much work" in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_live_steps_run_and_show_the_first_layers_stay_put() -> None:
    at = open_page(depth="8", width="8", steps="10")
    next(b for b in at.button if b.label == "Train these steps").click()
    run(at)
    job = job_registry.get_registry().get(at.session_state["deep.steps.job"])
    wait_done([job])
    run(at)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.changes.shape == (10, 8)
    assert snap.changes[-1][0] < 1e-2 * snap.changes[-1][-1]  # sigmoid: the first layer stays
    assert any("After 10 steps" in c.value for c in at.caption)


def test_residual_vs_plain_trains_three_shared_runs() -> None:
    at = open_page(tab="Residual vs plain", blocks="2", csteps="100")
    assert list(at.dataframe[0].value["weight layers"]) == [4, 6, 6]  # before a run
    next(b for b in at.button if b.label == "Train the three").click()
    run(at)
    runs = at.session_state["deep.compare.runs"]
    assert [variant for variant, _ in runs] == list(VARIANTS)
    registry = job_registry.get_registry()
    wait_done([registry.get(job_id) for _, job_id in runs])
    run(at)
    table = at.dataframe[0].value
    assert list(table["state"]) == ["finished"] * 3
    assert list(table["weight layers"]) == [4, 6, 6]
    figure = chart(at, "deep_compare")
    assert [trace["name"] for trace in figure["data"]] == [v.label for v in VARIANTS.values()]
    # a second tab with the same settings joins the same runs
    other = open_page(tab="Residual vs plain", blocks="2", csteps="100")
    next(b for b in other.button if b.label == "Train the three").click()
    run(other)
    assert other.session_state["deep.compare.runs"] == runs
    assert chart(at, "deep_paths")["data"][0]["x"]  # the unravelled view


@pytest.mark.parametrize("key", ["23.2", "23.3"])
def test_lecture_cards_open_the_page_set_up(key: str) -> None:
    """Each card's link (and presenter mode) opens its tab with the lecture's point."""
    from explorer.lecture.demos import DEMOS_BY_KEY

    demo = DEMOS_BY_KEY[key]
    assert demo.page == "deep"
    at = open_page(**demo.params, present="1")
    if key == "23.2":
        norms = bars(at)
        assert len(norms) == 12 and norms[0] / norms[-1] < 1e-2
    else:
        assert at.slider(key=K + "blocks").value == 20
        assert list(at.dataframe[0].value["weight layers"]) == [4, 42, 42]
        assert chart(at, "deep_paths")["data"][0]["x"]
    assert not at.markdown or all("Backpropagation multiplies" not in m.value for m in at.markdown)


def test_too_many_live_steps_are_refused_before_anything_queues() -> None:
    at = open_page(depth="30", width="32", batch="64", steps="100")
    assert not at.error  # one pass is fine ...
    next(b for b in at.button if b.label == "Train these steps").click()
    run(at)
    assert any("too much work" in e.value and "at most" in e.value for e in at.error)
    assert "deep.steps.job" not in at.session_state  # ... 100 of them are not: nothing queued
