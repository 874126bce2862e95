"""AppTest of the Transfer learning page: every strategy, every task source, bad input, the
comparison, predictions, downloads, and the adapted network on the Pretrained page."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.jobs import registry as job_registry
from explorer.transfer.adapt import STRATEGIES
from explorer.transfer.job import TransferJob
from explorer.transfer.tasks import LETTER_CLASSES
from tests.helpers import run
from tests.test_training import HANG_SECONDS
from tests.test_training import wait_for as wait_until

PAGE = "../pages/4_Transfer_learning.py"
K = "keep.transfer."


@pytest.fixture(autouse=True)
def offline_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights cached
    yield
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


def my_jobs(at: AppTest) -> list[TransferJob]:
    return job_registry.get_registry().jobs_of(at.session_state["keep.train.owner"],
                                               TransferJob.KIND)


def progress(jobs):
    return tuple((job.state, job.snapshot().epoch, job.snapshot().features_done) for job in jobs)


def finish(at: AppTest) -> list[TransferJob]:
    jobs = my_jobs(at)
    assert jobs, "a run started"
    wait_until(lambda: all(job.done for job in jobs), progress=lambda: progress(jobs),
               what="the transfer runs to end")
    run(at)
    return jobs


def quick(at: AppTest, per_class: str = "5", epochs: int = 5) -> AppTest:
    at.select_slider(key=K + "per_class").set_value(per_class)
    at.slider(key=K + "epochs").set_value(epochs)
    return run(at)


def runs_table(at: AppTest):
    return next(d.value for d in at.dataframe if "run" in d.value.columns)


def texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [e.value for e in at.error] + [w.value for w in at.warning]
                    + [i.value for i in at.info])


def picture(colour: tuple[int, int, int], seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 20, (40, 40, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


# ---------------------------------------------------------------- defaults and strategies


def test_defaults_show_task_layers_and_controls(app: AppTest) -> None:
    assert not button(app, "Train").disabled and not button(app, "Compare all four").disabled
    assert button(app, "Stop").disabled and button(app, "Pause").disabled
    assert "**letters**: 10 classes" in texts(app) and "Press **Train**" in texts(app)
    strategies, layers = app.dataframe[0].value, app.dataframe[1].value
    assert list(strategies["strategy"]) == [spec.label for spec in STRATEGIES.values()]
    assert set(layers["state"]) >= {"frozen", "new head"} and "trainable" not in set(layers["state"])
    head = layers[layers["state"] == "new head"].iloc[0]
    assert head["parameters"] == head["trainable"] == 128 * 10 + 10  # 10 letters, 128 features


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_each_strategy_trains_and_reports(app: AppTest, strategy: str) -> None:
    app.selectbox(key=K + "strategy").set_value(strategy)
    quick(run(app))
    button(app, "Train").click()
    run(app)
    (job,) = finish(app)
    snap = job.snapshot()
    assert snap.strategy == strategy and snap.state == "finished"
    assert snap.settings.examples_per_class == 5 and snap.train_images == 50
    assert snap.final_test_accuracy is not None
    table = runs_table(app)
    assert list(table["strategy"]) == [STRATEGIES[strategy].label]
    assert table["trainable parameters"][0] == f"{snap.trainable_parameters:,}"
    layers = app.dataframe[1].value
    assert int(layers["trainable"].sum()) == snap.trainable_parameters


def test_compare_predict_download_and_show_in_pretrained(app: AppTest) -> None:
    quick(app, per_class="20", epochs=30)
    button(app, "Compare all four").click()
    run(app)
    jobs = finish(app)
    snaps = {job.snapshot().strategy: job.snapshot() for job in jobs}
    assert set(snaps) == set(STRATEGIES)
    # The lecture's point, at 20 examples per class: frozen pretrained features beat scratch.
    assert snaps["frozen"].final_test_accuracy >= snaps["scratch"].final_test_accuracy + 0.10
    ranking = next(m.value for m in app.markdown if "same number of examples" in m.value)
    assert ranking.index("Frozen") < ranking.index("From scratch")
    assert len(runs_table(app)) == 4
    # Predictions on a test picture carry the new class names.
    predictions = next(d.value for d in app.dataframe if "probability" in d.value.columns)
    assert set(predictions["class"]) == set(LETTER_CLASSES)
    assert abs(predictions["probability"].sum() - 1) < 1e-6
    assert any("true class" in c.value for c in app.caption)
    # Downloads and the standalone code.
    app.session_state["transfer.tabs"] = "Downloads and code"
    run(app)
    labels = {b.proto.label for b in app.get("download_button")}
    assert {"Adapted network (.pt)", "Metrics (.csv)", "Comparison (.csv)",
            "Script (.py)"} <= labels
    code = next(c.value for c in app.code if "torchvision" in c.value)
    assert "import explorer" not in code and "from explorer" not in code
    # The adapted network is listed, and works, on the Pretrained page.
    frozen = next(job for job in jobs if job.settings.strategy == "frozen")
    app.switch_page("../pages/5_Pretrained_networks.py")
    run(app)
    choice = "run:" + frozen.job_id
    model_box = app.selectbox(key="keep.pretrained.model")
    assert choice in model_box.options or any(frozen.job_id[:8] in o for o in model_box.options)
    model_box.set_value(choice)
    run(app)
    assert any(name in texts(app) + str([d.value for d in app.dataframe])
               for name in LETTER_CLASSES)


def test_the_tab_limit_refuses_a_second_comparison_while_the_first_runs(app: AppTest,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(job_registry.get_registry(), "max_per_owner", 4)
    quick(app, per_class="all", epochs=200)
    app.select_slider(key=K + "budget").set_value(60)
    button(run(app), "Compare all four").click()
    run(app)
    button(app, "Compare all four").click()
    run(app)
    assert any("free places" in e.value for e in app.error)
    assert len(my_jobs(app)) == 4
    button(app, "Stop").click()
    run(app)
    for job in my_jobs(app):  # the queued comparisons too: nothing left to wait for
        job.stop()
    jobs = finish(app)
    assert {job.state for job in jobs} <= {"stopped", "finished"}


# ---------------------------------------------------------------- task sources


def class_zip(classes: dict[str, tuple[int, int, int]], per_class: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, colour in classes.items():
            for i in range(per_class):
                archive.writestr(f"{name}/{i}.png", picture(colour, i))
    return buffer.getvalue()


def test_a_zip_task_trains_and_a_bad_zip_is_refused(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("zip")
    run(app)
    assert button(app, "Train").disabled
    app.file_uploader(key="transfer.zip").set_value(
        ("colours.zip", class_zip({"red": (220, 30, 30), "blue": (30, 30, 220)}),
         "application/zip"))
    quick(run(app), per_class="all")
    assert "colours.zip" in texts(app)
    button(app, "Train").click()
    run(app)
    (job,) = finish(app)
    assert job.snapshot().classes == ("blue", "red") and job.snapshot().state == "finished"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.png", b"x")
    app.file_uploader(key="transfer.zip").set_value(("evil.zip", buffer.getvalue(),
                                                     "application/zip"))
    run(app)
    assert any("evil.zip" in e.value for e in app.error)
    assert button(app, "Train").disabled


def upload(at: AppTest, index: int, files: list[tuple[str, bytes, str]]) -> None:
    at.file_uploader(key=f"transfer.uploads.{index}").set_value(files)


def test_your_examples_train_predict_and_bad_pictures_are_named(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("examples")
    run(app)
    assert "Add pictures" in texts(app) and button(app, "Train").disabled
    app.text_input(key="transfer.class_name.0").set_value("red")
    app.text_input(key="transfer.class_name.1").set_value("blue")
    upload(app, 0, [(f"r{i}.png", picture((220, 30, 30), i), "image/png") for i in range(6)]
           + [("notes.png", b"not an image at all", "image/png")])
    upload(app, 1, [(f"b{i}.jpg", picture((30, 30, 220), i, "JPEG"), "image/jpeg")
                    for i in range(6)])
    quick(run(app), per_class="all")
    assert "notes.png" in texts(app) and "left out" in texts(app)
    assert "**6** examples" in texts(app)
    assert not button(app, "Train").disabled
    button(app, "Train").click()
    run(app)
    (job,) = finish(app)
    snap = job.snapshot()
    assert snap.classes == ("red", "blue") and snap.test_images == 2  # a fifth of 6, each
    assert not snap.evaluated_on_training
    predictions = next(d.value for d in app.dataframe if "probability" in d.value.columns)
    assert set(predictions["class"]) == {"red", "blue"}


def test_bad_class_setups_get_a_message_and_no_training(app: AppTest) -> None:
    app.radio(key=K + "source").set_value("examples")
    run(app)
    upload(app, 0, [("r.png", picture((220, 30, 30), 0), "image/png")])
    run(app)
    assert any("has no examples" in e.value for e in app.error)  # class 2 is empty
    assert button(app, "Train").disabled
    upload(app, 1, [("b.png", picture((30, 30, 220), 0), "image/png")])
    app.text_input(key="transfer.class_name.1").set_value(" CAT ")
    run(app)
    assert any("Two classes are called" in e.value for e in app.error)
    app.text_input(key="transfer.class_name.1").set_value("dog")
    run(app)
    assert not app.error and "Caution" in texts(app)  # 1 example each: tested on training
    assert not button(app, "Train").disabled


def test_an_imagenet_backbone_without_weights_says_so_and_offers_the_download(app):
    app.selectbox(key=K + "backbone").set_value("resnet18")
    run(app)
    assert app.warning and any("Download" in b.label for b in app.button)
    app.selectbox(key=K + "strategy").set_value("finetune_last")
    run(app)
    layers = app.dataframe[1].value
    states = dict(zip(layers["layer"], layers["state"], strict=True))
    assert states["layer4.1.conv2"] == "trainable" and states["conv1"] == "frozen"
    assert states["fc"] == "new head"


def test_train_page_runs_table_leaves_transfer_runs_out(app: AppTest) -> None:
    quick(app)
    button(app, "Train").click()
    run(app)
    finish(app)
    app.switch_page("../pages/3_Train_a_CNN.py")
    run(app)
    assert not any("Frozen" in str(d.value) for d in app.dataframe)
