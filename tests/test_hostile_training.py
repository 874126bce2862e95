"""Hostile input to the Train page: other tabs' links, forged clicks, bad link values, bad data,
and every button pressed in the wrong state. Everything hostile is made inside the tests."""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import zipfile
from unittest import mock

import numpy as np
import pytest
import streamlit as st
import streamlit.testing.v1.local_script_runner as local_script_runner
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.jobs import registry as job_registry
from explorer.jobs import tokens
from explorer.jobs.registry import JobRegistry
from explorer.training import data, lr_range
from explorer.training import job as training
from explorer.ui import training_session
from explorer.ui.training import run as training_run
from explorer.ui.training import setup as training_setup
from tests.helpers import run
from tests.test_page_train import PAGE, SMALL, K, button, small_shapes  # noqa: F401 (autouse fixture)
from tests.test_training import HANG_SECONDS, progress_of, wait_for

OWNER = K + "owner"


@pytest.fixture(autouse=True)
def browsers(monkeypatch):
    """Each AppTest stands for a browser named by its context's timezone (AppTest cannot send
    cookies; the real XSRF cookie is checked in test_job_registry and test_browser)."""
    for module in (training_session, training_run):  # owner() claims, _submit() records
        monkeypatch.setattr(module, "browser", lambda: st.context.timezone, raising=False)


@pytest.fixture
def one_slot(monkeypatch):
    """A server whose single training slot is busy makes later runs queue."""
    registry = JobRegistry(max_running=1, max_live=1)
    monkeypatch.setattr(job_registry, "_REGISTRY", registry)
    training_session.registry.clear()
    yield registry
    registry.stop_all()
    training_session.registry.clear()


def open_train(query: dict | None = None, *, browser: str = "browser a") -> AppTest:
    """A new tab (a new session) on the Train page, opened with a link's parameters."""
    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.context = {"timezone": browser}
    at.run()
    if query:
        at.query_params.update(query)
    at.switch_page(PAGE)
    return run(at)


def press(at: AppTest, label: str) -> AppTest:
    button(at, label).click()
    return run(at)


def forge(at: AppTest, label: str) -> AppTest:
    """Send a click on a button the page drew disabled, as a hand-made request can (Streamlit
    drops it; the callbacks check the owner again anyway)."""
    target = button(at, label)
    assert target.disabled, f"{label} should be disabled here"
    target._value = True
    return run(at)


_SEEDS = iter(range(100, 10_000))


def start_long_run(at: AppTest, *, hold: bool = False) -> training.TrainingJob:
    """Start a 30-epoch run of its own (a seed no other run has: identical runs would be
    shared); with hold, pause it before its first step, so it is still there (and holds its
    training slot) however fast the machine is."""
    at.slider(key=K + "epochs").set_value(30)
    at.number_input(key=K + "seed").set_value(next(_SEEDS))
    press(run(at), "Start")
    job = registry().get(at.session_state["train.job"])
    if hold:
        job.pause()
        run(at)
    return job


def registry() -> JobRegistry:
    return job_registry.get_registry()


def address(at: AppTest) -> dict[str, str]:
    """The tab's address bar, as a student would copy it."""
    return {name: value[-1] if isinstance(value, list) else value
            for name, value in at.query_params.items()}


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success",
                                  "code") for e in at.get(kind)]
    return " ".join(str(p) for p in parts)


def progress_texts(at: AppTest) -> list[str]:
    return [element.proto.text for element in at.get("progress")]


def poll(at: AppTest) -> AppTest:
    """What run_every does in a browser: rerun only the page's fragments (the live view and
    the heartbeat); AppTest's own run() always reruns the whole page."""
    fragments = list(at._fragment_storage._fragments)
    assert fragments, "no fragment on the page"
    pages = at._registered_pages  # a fragment run does not call st.navigation
    rerun_data = functools.partial(local_script_runner.RerunData, fragment_id_queue=fragments)
    with mock.patch.object(local_script_runner, "RerunData", rerun_data):
        at.run()
    at._registered_pages = pages
    assert not at.exception, at.exception
    return at


def wait(at: AppTest, condition, *jobs: training.TrainingJob) -> AppTest:
    wait_for(condition, progress=lambda: progress_of(*jobs))
    return run(at)


# ---------------------------------------------------------------- runs belong to their tab


def test_a_job_link_shows_another_tabs_run_read_only_and_a_forged_stop_is_refused():
    owner_tab = open_train()
    job = start_long_run(owner_tab, hold=True)
    viewer = open_train({"job": job.job_id}, browser="browser b")
    assert viewer.session_state["train.job"] == job.job_id
    assert viewer.session_state[OWNER] != owner_tab.session_state[OWNER]
    assert any("another tab's run, read-only" in i.value for i in viewer.info)
    assert button(viewer, "Stop").disabled and button(viewer, "Pause").disabled
    assert not button(viewer, "Start").disabled  # a run of its own
    assert not any(b.label == "Share this run" for b in viewer.button)
    forge(viewer, "Stop")
    assert not job.stop_requested and not job.done
    forge(viewer, "Pause")
    assert not job.stop_requested and not job.done
    assert registry().jobs_of(viewer.session_state[OWNER]) == []
    assert owner_tab.session_state[OWNER] not in texts(owner_tab)  # never shown on the page
    job.stop()


def test_the_same_job_link_with_another_owner_token_gives_no_control():
    owner_tab = open_train()
    job = start_long_run(owner_tab, hold=True)
    for token in (tokens.new_token(), "0" * 32, "not-a-token", '{"a": 1}', "[" * 5000):
        other = open_train({"job": job.job_id, "owner": token}, browser="browser b")
        assert other.session_state[OWNER] != owner_tab.session_state[OWNER]
        assert button(other, "Stop").disabled
        forge(other, "Stop")
        assert not job.stop_requested
    job.stop()


def test_a_copied_address_opened_in_another_browser_is_read_only_but_a_reload_is_not():
    owner_tab = open_train()
    job = start_long_run(owner_tab, hold=True)
    copied = address(owner_tab)
    assert copied["owner"] == owner_tab.session_state[OWNER] and copied["job"] == job.job_id
    classmate = open_train(copied, browser="browser b")
    token = classmate.session_state[OWNER]
    assert token != copied["owner"]
    assert address(classmate)["owner"] == token  # the foreign key leaves the address bar
    assert any("another tab's key" in i.value for i in classmate.info)
    # still said after the page reruns (the live view reruns it when the named run moves on; a
    # notice shown once was gone by then in a busy full run)
    assert any("another tab's key" in i.value for i in run(classmate).info)
    assert button(classmate, "Stop").disabled
    forge(classmate, "Stop")
    assert not job.stop_requested
    own = start_long_run(classmate, hold=True)  # a run of its own: the notice has done its job
    assert registry().owned(own.job_id, token) is not None
    assert not any("another tab's key" in i.value for i in classmate.info)
    own.stop()
    reloaded = open_train(copied, browser="browser a")
    assert reloaded.session_state[OWNER] == copied["owner"]
    assert not button(reloaded, "Stop").disabled
    press(reloaded, "Stop")
    wait(reloaded, lambda: job.done, job)
    assert job.state == "stopped"


def test_two_tabs_of_one_browser_with_the_same_address_share_the_runs_and_the_limit():
    first = open_train()
    job = start_long_run(first, hold=True)
    second = open_train(address(first))  # "duplicate tab": same browser, same address
    assert second.session_state[OWNER] == first.session_state[OWNER]
    assert not button(second, "Stop").disabled
    press(second, "Lecture ablation")  # the run + 4 would pass the tab's limit of 4
    assert any("may hold only 4 unfinished runs" in w.value for w in second.warning)
    assert len(registry().jobs_of(first.session_state[OWNER])) == 1
    press(second, "Stop")
    wait(first, lambda: job.done, job)
    assert job.state == "stopped"
    assert button(first, "Stop").disabled and not button(first, "Start").disabled


def test_share_gives_a_view_only_link_and_puts_the_finished_run_in_the_viewers_list():
    owner_tab = open_train()
    owner_tab.slider(key=K + "epochs").set_value(1)
    press(run(owner_tab), "Start")
    job = registry().get(owner_tab.session_state["train.job"])
    press(owner_tab, "Share this run")
    links = [c.value for c in owner_tab.code if f"job={job.job_id}" in c.value]
    assert links and "owner" not in links[0]
    assert owner_tab.session_state[OWNER] not in texts(owner_tab)
    viewer = open_train({"job": job.job_id}, browser="browser b")
    stranger = open_train(browser="browser c")
    wait(viewer, lambda: job.done, job)
    me, them = viewer.session_state[OWNER], stranger.session_state[OWNER]
    assert [j.job_id for j in registry().finished_visible_to(me)] == [job.job_id]
    assert registry().finished_visible_to(them) == []
    assert [j.job_id for j in registry().finished_visible_to(owner_tab.session_state[OWNER])] \
        == [job.job_id]
    assert registry().owned(job.job_id, me) is None


def test_an_unshared_run_stays_out_of_other_model_lists():
    owner_tab = open_train()
    owner_tab.slider(key=K + "epochs").set_value(1)
    press(run(owner_tab), "Start")
    job = registry().get(owner_tab.session_state["train.job"])
    viewer = open_train({"job": job.job_id}, browser="browser b")
    wait(viewer, lambda: job.done, job)
    assert registry().finished_visible_to(viewer.session_state[OWNER]) == []


def test_a_link_to_a_run_that_is_gone_says_so():
    tab = open_train({"job": "0123456789ab"})
    assert tab.session_state["train.job"] is None
    assert any("not on this server" in w.value for w in tab.warning)


# ---------------------------------------------------------------- the queue


def test_stop_on_a_queued_run_ends_only_that_run(one_slot):
    first = open_train()
    running = start_long_run(first, hold=True)
    second = open_train(browser="browser b")
    second.slider(key=K + "epochs").set_value(1)
    press(run(second), "Start")
    queued = one_slot.get(second.session_state["train.job"])
    assert queued.state == "queued"
    assert any("Waiting for a free training slot" in text for text in progress_texts(second))
    assert button(second, "Pause").disabled and not button(second, "Stop").disabled
    press(second, "Stop")
    assert queued.done and queued.state == "stopped" and not running.done
    runs = second.dataframe[-1].value
    assert list(runs["state"]) == ["stopped"]
    assert list(runs["final test accuracy"]) == ["none (stopped early)"]
    assert "None" not in runs.astype(str).to_numpy().ravel().tolist()
    assert "latest finished run" not in texts(second)
    assert not button(second, "Start").disabled
    running.stop()


def test_a_queued_run_gets_its_pause_button_once_it_starts(one_slot):
    first = open_train()
    running = start_long_run(first, hold=True)
    second = open_train(browser="browser b")
    queued = start_long_run(second)
    assert queued.state == "queued" and button(second, "Pause").disabled
    running.stop()
    wait(second, lambda: queued.state == "running", running, queued)
    assert not button(second, "Pause").disabled
    press(second, "Pause")
    assert any(b.label == "Resume" for b in second.button)  # at once, not after the worker
    queued.stop()


def test_a_queued_run_gets_its_pause_button_while_only_the_live_view_polls(one_slot):
    """Issue 13 as a browser sees it: nothing but the polling fragment runs after Start, and
    when the queued run starts, Pause must become usable (it stayed disabled)."""
    first = open_train()
    running = start_long_run(first, hold=True)
    second = open_train(browser="browser b")
    queued = start_long_run(second)
    assert queued.state == "queued" and button(second, "Pause").disabled
    poll(second)  # nothing changed: only the fragment ran, the buttons were not redrawn
    assert enabled(second) == set()
    running.stop()
    wait_for(lambda: queued.state == "running" and queued.snapshot().step > 0,
             progress=lambda: progress_of(running, queued))
    poll(second)  # the state changed: the whole page is drawn again
    assert {"Pause", "Stop"} <= enabled(second)
    assert not any("Waiting for a free training slot" in t for t in progress_texts(second))
    queued.stop()
    wait_for(lambda: queued.done, progress=lambda: progress_of(queued))
    poll(second)  # the end redraws the page too: Start is usable again
    assert "Start" in enabled(second) and "Stop" not in enabled(second)


def enabled(at: AppTest) -> set[str]:
    """Labels of the enabled buttons in what the last run drew."""
    return {b.label for b in at.button if not b.disabled}


def test_the_live_view_redraws_the_page_when_the_runs_state_changes(monkeypatch):
    """The buttons are drawn outside the polling fragment: when the run's state differs from
    what they were drawn for, the fragment asks for a whole-page rerun."""
    tab = open_train()
    job = start_long_run(tab, hold=True)
    real = training_run._control_state
    drawn = []

    def control_state(job_):
        drawn.append(real(job_))
        return ("stale",) if len(drawn) == 1 else real(job_)  # as if it changed since drawn

    monkeypatch.setattr(training_run, "_control_state", control_state)
    run(tab)
    assert len(drawn) >= 4  # drawn (stale), seen changed by the fragment, drawn again, seen
    job.stop()


# ---------------------------------------------------------------- buttons in the wrong state


def test_start_without_a_dataset_starts_nothing():
    tab = open_train()
    tab.selectbox(key=K + "dataset").set_value("zip")
    run(tab)
    for label in ("Start", "Lecture ablation", "LR range test"):
        assert button(tab, label).disabled
        forge(tab, label)
    assert registry().jobs_of(tab.session_state[OWNER]) == []
    assert "train.range" not in tab.session_state


def test_start_pressed_as_the_dataset_changes_trains_what_the_page_showed():
    tab = open_train()
    tab.selectbox(key=K + "dataset").set_value("zip")
    button(tab, "Start").click()  # both in one request: the click belongs to the page drawn
    run(tab)
    jobs = registry().jobs_of(tab.session_state[OWNER])
    assert [job.dataset for job in jobs] == [SMALL]
    assert button(tab, "Start").disabled  # no dataset now
    jobs[0].stop()


def test_resume_after_stop_and_controls_of_an_ended_run():
    tab = open_train()
    job = start_long_run(tab, hold=True)
    assert any(b.label == "Resume" for b in tab.button)
    press(tab, "Stop")
    wait(tab, lambda: job.done, job)
    assert job.state == "stopped"
    assert not any(b.label == "Resume" for b in tab.button)
    assert button(tab, "Pause").disabled and button(tab, "Stop").disabled
    step = job.snapshot().step
    for label in ("Pause", "Stop"):
        forge(tab, label)
    job.resume()  # even from the API: nothing restarts
    assert job.state == "stopped" and job.snapshot().step == step
    assert any("Stopped at step" in i.value for i in tab.info)
    assert "None" not in tab.dataframe[-1].value.astype(str).to_numpy().ravel().tolist()


def test_a_finished_run_offers_its_downloads_and_a_stopped_one_does_not():
    tab = open_train()
    tab.slider(key=K + "epochs").set_value(1)
    press(run(tab), "Start")
    finished = registry().get(tab.session_state["train.job"])
    wait(tab, lambda: finished.done, finished)
    stopped = start_long_run(tab, hold=True)
    press(tab, "Stop")
    wait(tab, lambda: stopped.done, stopped)
    caption = [c.value for c in tab.caption if "latest finished run" in c.value]
    assert caption == [f"Downloads of the latest finished run ({finished.job_id[:8]}):"]
    finished.pause()  # a pause pressed after the end changes nothing
    run(tab)
    assert not any(b.label == "Resume" for b in tab.button)


def test_a_click_on_a_button_drawn_before_the_run_ended_is_refused_with_a_message():
    tab = open_train()
    job = start_long_run(tab, hold=True)
    assert "Resume" in enabled(tab) and "Stop" in enabled(tab)
    job.stop()  # ends while the page still shows Resume and Stop enabled
    wait_for(lambda: job.done, progress=lambda: progress_of(job))
    press(tab, "Resume")
    assert any("already ended (stopped)" in w.value for w in tab.warning)
    assert job.state == "stopped"
    press(tab, "Start")
    job = registry().get(tab.session_state["train.job"])
    job.pause()
    run(tab)
    job.stop()
    wait_for(lambda: job.done, progress=lambda: progress_of(job))
    press(tab, "Stop")
    assert any("already ended (stopped)" in w.value for w in tab.warning)
    assert job.state == "stopped"


# ---------------------------------------------------------------- link values


BAD_VALUES = ("0", "-1", "2.5", "1e309", "-1e309", "NaN", "Infinity", "true", "null",
              '"3"', '{"a": 1}', "[[1], [2]]", "[3]", "", "x" * 10_000, "0x10", "[" * 5000)


LINKED = ("epochs", "lr", "batch", "budget", "seed", "decay", "blocks", "channels", "kernel",
          "hidden", "dropout", "bn", "activation", "optimiser", "schedule", "dataset", "flip",
          "shift", "rotation", "jitter", "threads")
DEFAULTS = {"epochs": 3, "lr": 1e-3, "batch": 64, "budget": 0, "seed": 0, "decay": 0.0,
            "blocks": 2, "channels": 32, "hidden": 128, "dropout": 0.0, "optimiser": "adam",
            "schedule": "constant", "dataset": "shapes", "bn": False, "kernel": 3,
            "activation": "relu"}


@pytest.mark.parametrize("value", BAD_VALUES, ids=lambda v: repr(v)[:20])
def test_out_of_range_link_values_are_ignored(value):
    """Every Train parameter of a link set to the same bad value: the defaults, no crash."""
    tab = open_train({name: value for name in LINKED})
    expected = {**DEFAULTS, "bn": True} if value == "true" else DEFAULTS  # a valid toggle
    assert {key: tab.session_state[K + key] for key in DEFAULTS} == expected
    assert not button(tab, "Start").disabled


@pytest.mark.parametrize(("name", "value"), [
    ("epochs", "31"), ("epochs", "0"), ("epochs", "1e9"), ("lr", "0.002"), ("lr", "11"),
    ("lr", "1e-300"), ("batch", "63"), ("batch", "100000"), ("budget", "605"),
    ("budget", "610"), ("budget", "-10"), ("seed", "10000"), ("seed", "1e20"),
    ("decay", "0.2"), ("decay", "-0.01"), ("blocks", "5"), ("channels", "4096"),
    ("hidden", "1000000"), ("dropout", "0.9"), ("kernel", "7"), ("shift", "9"),
    ("rotation", "50"), ("jitter", "0.6"), ("optimiser", "rmsprop"), ("schedule", "warm"),
    ("dataset", "../etc"), ("activation", "gelu"),
])
def test_each_setting_out_of_its_range_in_a_link_keeps_its_default(name, value):
    tab = open_train({name: value})
    assert {key: tab.session_state[K + key] for key in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize("query", [
    {"job": "[" * 5000}, {"job": '{"a": 1}'}, {"job": "../../etc/passwd"}, {"job": "x" * 100_000},
    {"owner": "[" * 5000}, {"owner": "A" * 32}, {"owner": "0" * 31}, {"owner": "g" * 32},
    {"job": "", "owner": ""},
])
def test_odd_job_and_owner_values_neither_crash_nor_claim(query):
    tab = open_train(query)
    assert tab.session_state["train.job"] is None
    assert tokens.is_token(tab.session_state[OWNER])
    assert tab.session_state[OWNER] != query.get("owner")


# ---------------------------------------------------------------- data that breaks training


def constant_blue_zip(per_class: int = 12) -> bytes:
    """Two classes of 16x16 pictures whose blue channel is 0 everywhere (its std is 0)."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, red in (("dark", 40), ("bright", 220)):
            for i in range(per_class):
                pixels = np.zeros((16, 16, 3), np.uint8)
                pixels[..., 0] = np.clip(red + rng.integers(-20, 20, (16, 16)), 0, 255)
                pixels[..., 1] = rng.integers(0, 255, (16, 16))
                png = io.BytesIO()
                Image.fromarray(pixels).save(png, format="PNG")
                archive.writestr(f"{name}/{i}.png", png.getvalue())
    return buffer.getvalue()


def test_a_zip_with_a_constant_channel_trains_and_its_range_test_works():
    tab = open_train()
    tab.selectbox(key=K + "dataset").set_value("zip")
    run(tab)
    tab.file_uploader(key="train.zip").set_value(("blue.zip", constant_blue_zip(),
                                                  "application/zip"))
    run(tab)
    assert any("fewer than one batch" in w.value for w in tab.warning)  # 19 images, batch 64
    tab.slider(key=K + "epochs").set_value(3)
    press(run(tab), "LR range test")
    assert not tab.exception
    assert "learning rate too high" not in texts(tab)
    press(tab, "Start")
    job = registry().get(tab.session_state["train.job"])
    wait(tab, lambda: job.done, job)
    assert job.state == "finished", job.snapshot().message
    assert all(math.isfinite(v) for v in job.snapshot().curve_losses)


@pytest.fixture
def broken_shapes(monkeypatch):
    """The page's 'shapes' with a NaN channel mean: every normalised pixel of it is NaN."""
    small = data.shapes_dataset(n_train=128, n_test=64)
    broken = dataclasses.replace(small, mean=(small.mean[0], small.mean[1], math.nan))
    spec = data.DATASETS["shapes"]
    monkeypatch.setitem(data.DATASETS, "shapes", data.DatasetSpec(
        spec.label, spec.description, False, lambda root, download, progress: broken))
    store, _ = training_setup._dataset_store()
    store.clear()
    yield broken
    store.clear()


def test_broken_data_is_named_as_the_cause_in_the_run_and_the_range_test(broken_shapes):
    tab = open_train()
    press(tab, "LR range test")
    assert any("data is the cause" in w.value for w in tab.warning)
    assert not tab.get("plotly_chart") or all(
        c.key != "range_test" for c in tab.get("plotly_chart"))
    press(tab, "Start")
    job = registry().get(tab.session_state["train.job"])
    wait(tab, lambda: job.done, job)
    assert job.state == "failed"
    message = " ".join(e.value for e in tab.error)
    assert "data is the cause" in message and "too high" not in message


@pytest.fixture
def tiny_shapes(monkeypatch):
    """96 training images: with batch 64, 3 epochs are 3 steps that never see 32 of them."""
    small = data.shapes_dataset(n_train=96, n_test=64)
    spec = data.DATASETS["shapes"]
    monkeypatch.setitem(data.DATASETS, "shapes", data.DatasetSpec(
        spec.label, spec.description, False, lambda root, download, progress: small))
    store, _ = training_setup._dataset_store()
    store.clear()
    yield small
    store.clear()


def test_a_training_set_of_less_than_two_batches_is_warned_about(tiny_shapes):
    tab = open_train()
    notes = [w.value for w in tab.warning if "fewer than 2 batches of 64" in w.value]
    assert notes and "96" in notes[0] and "32 images out" in notes[0]
    tab.select_slider(key=K + "batch").set_value(16)
    run(tab)
    assert not any("batches of" in w.value for w in tab.warning)


def test_the_range_test_says_what_it_runs_and_flags_an_edge_suggestion(monkeypatch):
    spinners, steps = [], []
    real_spinner = st.spinner

    def spinner(text="", **kwargs):
        spinners.append(text)
        return real_spinner(text, **kwargs)

    def at_the_bottom(settings, dataset, **kwargs):
        steps.append(kwargs.get("steps"))
        rates = tuple(1e-4 * 10 ** (4 * i / 199) for i in range(200))
        return lr_range.RangeTestResult(
            rates, tuple(2.0 - i / 1000 for i in range(200)), (2.0,) * 200, 1.2e-4, 1.0,
            note="Caution: the suggestion 0.00012 sits at the bottom of the range tested.")

    monkeypatch.setattr(training_run.st, "spinner", spinner)
    monkeypatch.setattr(lr_range, "lr_range_test", at_the_bottom)
    tab = press(open_train(), "LR range test")
    assert steps == [lr_range.RANGE_TEST_STEPS]
    assert any(f"Training {lr_range.RANGE_TEST_STEPS} batches" in text for text in spinners)
    assert any("sits at the bottom" in w.value for w in tab.warning)


def test_a_reloaded_pretrained_page_keeps_the_tabs_runs_in_its_model_list():
    tab = open_train()
    tab.slider(key=K + "epochs").set_value(1)
    press(run(tab), "Start")
    job = registry().get(tab.session_state["train.job"])
    wait(tab, lambda: job.done, job)
    tab.switch_page("../pages/5_Pretrained_networks.py")
    run(tab)
    token = tab.session_state[OWNER]
    assert tab.query_params.get("owner") == [token] or tab.query_params.get("owner") == token
    assert f"Run {job.job_id[:8]}" in " ".join(tab.selectbox(key="keep.pretrained.model").options)
    # The reload: a new session from the same browser, with the page's own address.
    reloaded = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    reloaded.context = {"timezone": "browser a"}
    reloaded.run()
    reloaded.query_params.update({"owner": token})
    reloaded.switch_page("../pages/5_Pretrained_networks.py")
    run(reloaded)
    assert f"Run {job.job_id[:8]}" in " ".join(reloaded.selectbox(key="keep.pretrained.model").options)
    # The same address in another browser does not list the run.
    other = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    other.context = {"timezone": "browser b"}
    other.run()
    other.query_params.update({"owner": token})
    other.switch_page("../pages/5_Pretrained_networks.py")
    run(other)
    assert f"Run {job.job_id[:8]}" not in " ".join(other.selectbox(key="keep.pretrained.model").options)


def test_an_address_with_only_another_browsers_key_says_so_on_its_first_run():
    """owner=<a key made elsewhere> and no run: the notice is there at once (the page read the
    key only after deciding the notice, so it came one rerun late)."""
    tab = open_train({"owner": tokens.new_token()}, browser="browser b")
    assert any("another tab's key" in i.value for i in tab.info)
