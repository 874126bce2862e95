"""AppTest of the Train a CNN page: start, watch, pause, resume, stop, ablation, reload, bad data."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from explorer.jobs import registry as job_registry
from explorer.training import ablation, data
from explorer.training import job as training
from explorer.ui.training import setup as training_setup
from tests.helpers import run
from tests.test_training import HANG_SECONDS, progress_of
from tests.test_training import wait_for as wait_until

PAGE = "../pages/3_Train_a_CNN.py"
K = "keep.train."
SMALL = data.shapes_dataset(n_train=512, n_test=256)


@pytest.fixture(autouse=True)
def small_shapes(monkeypatch):
    """The page's 'shapes' is a small set here, so a run takes about a second."""
    spec = data.DATASETS["shapes"]
    monkeypatch.setitem(data.DATASETS, "shapes", data.DatasetSpec(
        spec.label, spec.description, False, lambda root, download, progress: SMALL))
    store, _ = training_setup._dataset_store()
    store.clear()
    yield
    store.clear()
    job_registry.get_registry().stop_all()




@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def job_of(at: AppTest) -> training.TrainingJob:
    return job_registry.get_registry().get(at.session_state["train.job"])


def wait_for(at: AppTest, condition, *jobs: training.TrainingJob) -> None:
    """Wait while the jobs make progress (a busy machine is slow, not wrong), then rerun."""
    wait_until(condition, progress=lambda: progress_of(*jobs))
    run(at)


def test_defaults_show_data_model_and_controls(app: AppTest) -> None:
    text = " ".join(c.value for c in app.caption)
    assert "512 training and 256 test images" in text
    assert "parameters." in text  # the layer table's total
    table = app.dataframe[1].value  # [0] = class counts, [1] = layers
    assert list(table["layer"][:4]) == ["conv1", "act1", "pool1", "conv2"]
    assert not button(app, "Start").disabled
    assert button(app, "Stop").disabled
    assert any("Press **Start**" in i.value for i in app.info)


def test_a_run_starts_reports_and_finishes(app: AppTest) -> None:
    app.slider(key=K + "epochs").set_value(2)
    button(run(app), "Start").click()
    run(app)
    job = job_of(app)
    assert job.snapshot().settings.epochs == 2
    wait_for(app, lambda: job.done, job)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.final_test_accuracy is not None
    assert any("Test accuracy on all" in s.value for s in app.success)
    assert app.query_params["job"] == [snap.job_id] or app.query_params["job"] == snap.job_id
    runs = app.dataframe[-1].value
    assert list(runs["state"]) == ["finished"]
    assert len(app.get("download_button")) == 3


def test_pause_resume_stop(app: AppTest) -> None:
    app.slider(key=K + "epochs").set_value(30)
    button(run(app), "Start").click()
    run(app)
    job = job_of(app)
    wait_for(app, lambda: job.snapshot().step > 2, job)
    button(app, "Pause").click()
    run(app)
    assert any(b.label == "Resume" for b in app.button)  # at once, before the worker pauses
    wait_for(app, lambda: job.state == "paused", job)
    step = job.snapshot().step
    time.sleep(0.8)
    assert job.snapshot().step == step  # paused: no progress
    button(app, "Resume").click()
    run(app)
    wait_for(app, lambda: job.snapshot().step > step, job)
    button(app, "Stop").click()
    run(app)
    wait_for(app, lambda: job.done, job)
    assert job.state == "stopped"
    assert not button(app, "Start").disabled


def test_ablation_queues_the_four_lecture_variants(app: AppTest) -> None:
    button(app, "Lecture ablation").click()
    run(app)
    owner = app.session_state[K + "owner"]
    jobs = job_registry.get_registry().jobs_of(owner)
    assert len(jobs) == 4
    models = [job.snapshot().settings for job in jobs]
    drop = ablation.DROPOUT
    assert [(s.model.batch_norm, s.model.dropout, s.augmentation.active) for s in models] == [
        (False, 0.0, False), (True, 0.0, False), (True, drop, False), (True, drop, True)]
    for settings in models:  # the regime where the built-in data overfits
        assert (settings.optimiser, settings.learning_rate, settings.epochs) == (
            "momentum", 0.02, 30)
    assert {len(job.dataset.train_labels) for job in jobs} == {2000}  # Shapes, small
    # all four runs are shown, beside the lecture's numbers
    table = next(d.value for d in app.dataframe if "lecture (CIFAR-10, 100 epochs)" in d.value)
    assert list(table["variant"]) == [v.label for v in ablation.VARIANTS]
    assert list(table["lecture (CIFAR-10, 100 epochs)"]) == ["67 %", "72.5 %", "79.5 %", "79 %"]
    assert all(state.startswith(("queued", "running", "finished")) for state in table["state"])
    job_registry.get_registry().stop_all()


def test_one_tab_cannot_fill_the_queue_with_ablations(app: AppTest) -> None:
    app.slider(key=K + "epochs").set_value(30)
    run(app)
    button(app, "Lecture ablation").click()
    run(app)
    button(app, "Lecture ablation").click()  # a second (and third) click is refused
    run(app)
    assert not app.exception
    assert any("may hold only 4 unfinished runs" in w.value for w in app.warning)
    owner = app.session_state[K + "owner"]
    assert len(job_registry.get_registry().jobs_of(owner)) == 4
    job_registry.get_registry().stop_all()


def test_a_reloaded_tab_finds_its_run_again(app: AppTest) -> None:
    app.slider(key=K + "epochs").set_value(30)
    button(run(app), "Start").click()
    run(app)
    job = job_of(app)
    job.pause()  # still there at the reload, however fast the machine
    owner = app.session_state[K + "owner"]
    reloaded = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    reloaded.run()
    reloaded.query_params.update({"owner": owner, "job": job.job_id})
    reloaded.switch_page(PAGE).run()
    assert not reloaded.exception
    assert reloaded.session_state["train.job"] == job.job_id
    assert reloaded.session_state[K + "owner"] == owner
    assert not button(reloaded, "Stop").disabled
    job.stop()


def test_a_dataset_that_cannot_be_downloaded_says_so(app: AppTest, monkeypatch) -> None:
    def offline(root, download, progress):
        raise data.DatasetError("Could not download MNIST (no internet connection?).")

    spec = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", data.DatasetSpec(
        spec.label, spec.description, True, offline))
    app.selectbox(key=K + "dataset").set_value("mnist")
    run(app)
    assert any("Could not download MNIST" in e.value for e in app.error)
    assert button(app, "Start").disabled


def test_a_bad_zip_is_refused_with_a_message(app: AppTest) -> None:
    app.selectbox(key=K + "dataset").set_value("zip")
    run(app)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.png", b"x")
    app.file_uploader(key="train.zip").set_value(("evil.zip", buffer.getvalue(),
                                                  "application/zip"))
    run(app)
    assert app.error, "a refusal message"
    assert button(app, "Start").disabled


def test_runs_stay_alive_while_the_tab_shows_another_page(app: AppTest, monkeypatch) -> None:
    from explorer.ui import heartbeat

    beats = []
    monkeypatch.setattr(job_registry.JobRegistry, "heartbeat",
                        lambda self, owner: beats.append(owner))
    app.slider(key=K + "epochs").set_value(30)
    button(run(app), "Start").click()
    run(app)
    owner = app.session_state[K + "owner"]
    app.switch_page("../pages/1_Convolution.py").run()
    assert not app.exception
    assert beats and beats[-1] == owner  # the entrypoint's fragment reports the tab alive
    assert heartbeat.OWNER_KEY == K + "owner"
    job_registry.get_registry().stop_all()


def test_two_tabs_with_the_same_settings_share_one_run(app: AppTest) -> None:
    app.slider(key=K + "epochs").set_value(30)
    app.number_input(key=K + "seed").set_value(11)  # no earlier test's run has this seed
    button(run(app), "Start").click()
    run(app)
    job = job_of(app)
    other = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    other.run()
    other.switch_page(PAGE).run()
    other.slider(key=K + "epochs").set_value(30)
    other.number_input(key=K + "seed").set_value(11)
    button(run(other), "Start").click()
    run(other)
    assert not other.exception, other.exception
    assert job_of(other) is job  # trained once
    assert len(job_registry.get_registry().jobs()) == len(set(job_registry.get_registry().jobs()))
    assert any("Shared with 1 other" in c.value for c in other.caption)
    assert button(other, "Pause").disabled  # it would pause the other tab's run
    button(other, "Leave").click()
    run(other)
    assert other.session_state["train.job"] is None
    assert any("You left the shared run" in w.value for w in other.warning)
    assert not job.stop_requested  # it goes on for the first tab
    run(app)
    assert not any("Shared with" in c.value for c in app.caption)
    button(app, "Stop").click()  # the last member: the run stops
    run(app)
    wait_for(app, lambda: job.done, job)
    assert job.state == "stopped"
