"""AppTest of the Playground page: settings, Start / Pause / Step / Reset, tabs, hostile input."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from explorer.jobs import registry as job_registry
from explorer.playground.job import PlaygroundJob
from tests.helpers import run

PAGE = "../pages/7_Playground.py"
K = "keep.playground."
HANG_SECONDS = 60


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    job_registry.get_registry().stop_all()


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(PAGE)
    return run(at)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def job_of(at: AppTest) -> PlaygroundJob | None:
    try:  # AppTest's session state has no .get
        job_id = at.session_state["playground.job"]
    except KeyError:
        job_id = None
    return job_registry.get_registry().get(job_id) if job_id else None


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.02)


def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_the_untrained_network_is_shown_before_any_run():
    at = open_page()
    assert "not started" in text(at) and "step 0" in text(at)
    specs = charts(at)
    assert len(specs) == 2  # the decision surface and the network graph
    assert specs[0]["data"][0]["type"] == "heatmap"
    assert len(specs[1]["layout"]["images"]) == 4 + 2 + 1  # every neuron as a picture
    assert not button(at, "Start").disabled and button(at, "Reset").disabled


def test_step_pause_start_and_reset():
    at = open_page()
    button(at, "Step").click()
    run(at)
    job = job_of(at)
    assert job is not None
    wait_for(lambda: job.snapshot().step == 1 and job.snapshot().state == "paused")
    button(at, "Step").click()
    run(at)
    assert job_of(at) is job
    wait_for(lambda: job.snapshot().step == 2)
    button(at, "Start").click()  # goes on with the same run
    run(at)
    assert job_of(at) is job
    wait_for(lambda: job.snapshot().step > 20)
    run(at)
    button(at, "Pause").click()
    run(at)
    wait_for(lambda: job.snapshot().state == "paused")
    run(at)  # the live view polls: a later run shows the curve
    assert "paused" in text(at)
    assert any(spec["data"][0].get("name") == "train" for spec in charts(at)
               if spec["data"] and spec["data"][0]["type"] == "scatter")
    button(at, "Reset").click()
    run(at)
    assert job_of(at) is None and job.join(10) and job.snapshot().state == "stopped"
    assert "not started" in text(at)


def test_changing_a_setting_starts_afresh():
    at = open_page()
    button(at, "Start").click()
    run(at)
    job = job_of(at)
    assert job is not None and job.settings.seed == 1
    at.number_input(key=K + "seed").set_value(2)
    run(at)
    assert job_of(at) is None and job.join(10)


def test_half_space_tab_draws_the_lecture_picture():
    at = open_page(pg_hidden="3", pg_unit="2")
    at.session_state["tab"] = "Half-spaces"
    run(at)
    specs = charts(at)
    assert any(a.get("text") == "<b>w</b>" for a in specs[0]["layout"].get("annotations", []))
    assert specs[0]["layout"]["title"]["text"].startswith("unit 3")
    assert len(at.get("image")) == 3 + 2  # v_j a_j for three units, the bias, the sum
    assert "−b/‖w‖" in " ".join(c.value for c in at.caption)


def test_clicked_points_train():
    points = [[-3, -3, 1], [3, 3, 1], [-3, 3, -1], [3, -3, -1], [-2, -2, 1], [2, -2, -1]]
    at = open_page(pg_data="clicked", pg_clicked=json.dumps(points))
    assert not at.error, [e.value for e in at.error]
    at.session_state["tab"] = "Data"
    run(at)
    assert at.get("metric")[0].value == "6 / 1000"
    assert not any("Choose **Your points**" in note.value for note in at.info)
    button(at, "Start").click()
    run(at)
    assert job_of(at).settings.clicked[0] == (-3.0, -3.0, 1.0)


@pytest.mark.parametrize("text, words", [
    ("100000", "hidden layers"),
    ("8,8,8,8,8,8,8,8,8", "at most 6 layers"),
    ("a lot", "whole numbers"),
    ("4, -2", "whole numbers"),
])
def test_absurd_widths_and_depths_typed_in_get_a_message_and_no_run(text, words):
    at = open_page()
    at.text_input(key=K + "hidden").set_value(text)
    run(at)
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    assert button(at, "Start").disabled and button(at, "Step").disabled
    assert not charts(at)  # no work for settings that cannot run


@pytest.mark.parametrize("params", [
    {"pg_hidden": "100000"}, {"pg_hidden": "8,8,8,8,8,8,8,8,8"}, {"pg_hidden": "a lot"},
    {"pg_data": "clicked", "pg_clicked": json.dumps([[1e9, 0, 1], [0, 0, -1]])},
    {"pg_data": "clicked", "pg_clicked": json.dumps([[1, 0, 1]] * 1001)},
    {"pg_data": "clicked", "pg_clicked": json.dumps([[1, 0, 7], [0, 0, -1]])},
    {"pg_data": "clicked", "pg_clicked": json.dumps([[1, "x", 1], [0, 0, -1]])},
])
def test_hostile_links_are_noted_and_ignored(params):
    at = open_page(**params)
    bad = "pg_clicked" if "pg_clicked" in params else "pg_hidden"
    assert any(f"`{bad}`" in toast.value for toast in at.toast)
    if bad == "pg_hidden":
        assert not at.error and "not started" in text(at)
    else:  # no points are left: the page says what to do, as a hint, not an error
        assert any("click at least two points" in i.value for i in at.info)
        assert not at.error and button(at, "Start").disabled


def test_thousands_of_clicked_points_are_refused():
    at = open_page(pg_data="clicked")  # a session's own list, past the clicks' bound
    at.session_state[K + "clicked"] = [[1.0, 0.0, 1.0], [0.0, 0.0, -1.0]] * 600
    run(at)
    assert any("at most 1000 clicked points" in e.value for e in at.error)
    assert button(at, "Start").disabled


@pytest.mark.parametrize("params", [
    {"pg_lr": "1e9"}, {"pg_lr": "NaN"}, {"pg_batch": "-5"}, {"pg_points": "1e12"},
    {"pg_act": "swish"}, {"pg_features": '["x1", "x1"]'}, {"pg_clicked": "[" * 5000},
    {"pg_unit": "99"}, {"pg_budget": "100000"}, {"pg_seed": "1.5"},
])
def test_bad_link_values_fall_back_to_defaults(params):
    at = open_page(**params)
    assert not at.error and not button(at, "Start").disabled
    assert "not started" in text(at)


def test_show_the_code_has_the_runs_settings_and_steps():
    at = open_page(pg_data="spiral", pg_hidden="8,8", pg_seed="7")
    button(at, "Step").click()
    run(at)
    wait_for(lambda: job_of(at).snapshot().step == 1)
    run(at)
    code = at.code[0].value
    assert "SEED = 7" in code and "HIDDEN = [8, 8]" in code and "STEPS = 1" in code
    assert "def make_points(" in code and "import explorer" not in code


def test_the_lecture_card_opens_the_half_space_view():
    from explorer.lecture.demos import DEMOS_BY_KEY

    demo = DEMOS_BY_KEY["23.1"]
    at = open_page(**demo.params)
    assert at.session_state["tab"] == "Half-spaces" and not at.toast
    specs = charts(at)
    assert specs[0]["layout"]["title"]["text"].startswith("unit 1: z =")
    assert any(a.get("text") == "<b>w</b>" for a in specs[0]["layout"]["annotations"])
    assert specs[1]["layout"]["title"]["text"].startswith("output = combination")
    button(at, "Start").click()
    run(at)
    settings = job_of(at).settings
    assert (settings.dataset, settings.hidden, settings.features) == ("xor", (6,), ("x1", "x2"))


def test_two_tabs_with_the_same_settings_share_one_run():
    first, second = open_page(pg_budget="60"), open_page(pg_budget="60")
    for at in (first, second):
        button(at, "Start").click()
        run(at)
    job = job_of(first)
    assert job is not None and job_of(second) is job
    run(first)
    assert "shared with 1 other" in text(first)
    assert button(first, "Pause").disabled  # pausing would pause the other tab's run too
    button(second, "Reset").click()  # leaves: the run goes on for the first tab
    run(second)
    assert job_of(second) is None and not job.stop_requested


def test_a_finished_run_shows_its_result_and_start_waits_for_a_change():
    at = open_page(pg_data="gauss", pg_hidden="2", pg_budget="5", pg_points="100")
    button(at, "Start").click()
    run(at)
    job = job_of(at)
    assert job.join(60) and job.snapshot().state == "finished"
    run(at)
    assert "finished" in text(at) and "test accuracy" in text(at)
    assert button(at, "Start").disabled and not button(at, "Reset").disabled
    button(at, "Reset").click()
    run(at)
    assert not button(at, "Start").disabled and "not started" in text(at)
    button(at, "Start").click()  # the same settings again: a fresh run to watch, not the result
    run(at)
    again = job_of(at)
    assert again is not job and again.settings == job.settings and not again.done
    other = open_page(pg_data="gauss", pg_hidden="2", pg_budget="5", pg_points="100")
    button(other, "Start").click()  # the same settings as a finished run: a fresh one to watch
    run(other)
    assert job_of(other) is again  # the unfinished identical run is shared
    assert again.join(60)
    third = open_page(pg_data="gauss", pg_hidden="2", pg_budget="5", pg_points="100")
    button(third, "Start").click()
    run(third)
    assert job_of(third) not in (job, again) and not job_of(third).done
