"""AppTest of the Pretrained networks page: networks, predictions, every tab, uploaded weights."""

from __future__ import annotations

import io
import os

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.jobs import tokens
from explorer.training import runs as train_runs
from explorer.training.batches import normalisation
from explorer.training.job import submit_training
from explorer.ui.networks import page as pretrained_page
from tests.helpers import run

PAGE = "../pages/5_Pretrained_networks.py"
K = "keep.pretrained."
TABS = ["Predictions", "Activations", "First-layer kernels", "Grad-CAM", "Occlusion", "Attributions",
        "What channels look for", "Edges to objects", "Architecture", "Families compared"]


@pytest.fixture(autouse=True)
def empty_torch_cache(tmp_path, monkeypatch):
    """No pretrained ImageNet weights: the offline case, the same on every machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    pretrained_page.zoo_model.clear()
    yield
    pretrained_page.zoo_model.clear()




@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def use_pattern(at: AppTest, name: str, size: int = 32) -> AppTest:
    at.radio(key=K + "source").set_value("pattern")
    run(at)
    at.selectbox(key=K + "pattern").set_value(name)
    run(at)
    at.select_slider(key=K + "size").set_value(size)
    return run(at)


def top5(at: AppTest):
    return at.dataframe[0].value


def test_default_network_works_offline_and_knows_its_classes(app: AppTest) -> None:
    assert app.selectbox(key=K + "model").value == pretrained_page.DEFAULT
    classes = train_runs.load_run(pretrained_page.DEFAULT_NET).classes
    table = top5(app)
    assert len(table) == 5 and set(table["class"]) <= set(classes)
    assert table["probability"].is_monotonic_decreasing and table["probability"].sum() <= 1.0001
    assert any("knows only its 10 classes" in i.value for i in app.info)  # a photo by default


def test_the_default_network_recognises_a_disk(app: AppTest) -> None:
    use_pattern(app, "disk")
    assert top5(app)["class"][0] == "disk"


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_of_the_default_network(app: AppTest, tab: str) -> None:
    app.session_state["tab"] = tab
    run(app)
    text = " ".join([m.value for m in app.markdown] + [c.value for c in app.caption]
                    + [c for i in app.get("image") for c in i.captions])
    expected = {"Predictions": "Normalise", "Activations": "output (1,",
                "First-layer kernels": "conv1: 32 kernels of 3x3x3",
                "Grad-CAM": "Grad-CAM for", "Architecture": "545,098 parameters",
                "Occlusion": "Drop in probability when hidden",
                "Attributions": "Integrated gradients:",
                "What channels look for": "each regularisation keeps only what survives",
                "Edges to objects": "**conv2** (sees 8 px)",
                "Families compared": "GoogLeNet matches VGG16"}[tab]
    assert expected in text


def test_switching_layer_and_channel_reuses_the_capture(app: AppTest) -> None:
    from explorer.networks import shared_results

    app.session_state["tab"] = "Activations"
    run(app)
    misses = shared_results.CAPTURES.stats()["misses"]
    group = app.selectbox(key=K + "group").value
    layers = app.selectbox(key=K + f"layer.{group}").options
    app.selectbox(key=K + f"layer.{group}").set_value(layers[2])
    run(app)
    assert shared_results.CAPTURES.stats()["misses"] == misses  # no second forward pass
    assert f"**{layers[2]}**: output" in " ".join(m.value for m in app.markdown)


def test_an_uncached_torchvision_network_says_so_and_still_works(app: AppTest) -> None:
    app.selectbox(key=K + "model").set_value("mobilenet_v3_small")
    run(app)
    assert any("not cached" in w.value for w in app.warning)
    for tab in ("Activations", "Grad-CAM", "Architecture"):
        app.session_state["tab"] = tab
        run(app)


def test_grad_cam_for_another_class(app: AppTest) -> None:
    use_pattern(app, "bars")
    app.session_state["tab"] = "Grad-CAM"
    run(app)
    next(b for b in app.selectbox if b.label == "Class").set_value(0)  # disk
    run(app)
    assert any("Grad-CAM for 'disk'" in c for i in app.get("image") for c in i.captions)


def test_uploaded_weights_fit_or_are_refused(app: AppTest, tmp_path) -> None:
    run_file = train_runs.load_run(pretrained_page.DEFAULT_NET)
    good = io.BytesIO()
    torch.save({k: v * 0 for k, v in run_file.model.state_dict().items()}, good)
    uploader = next(u for u in app.file_uploader if u.key.startswith("pretrained.weights."))
    uploader.set_value(("zeros.pt", good.getvalue(), "application/octet-stream"))
    run(app)
    assert any("zeros.pt" in s.value for s in app.success)
    probabilities = top5(app)["probability"]
    assert abs(probabilities[0] - 0.1) < 1e-6  # all-zero weights: every class 1/10

    app.selectbox(key=K + "model").set_value("squeezenet1_1")
    run(app)
    uploader = next(u for u in app.file_uploader if u.key.startswith("pretrained.weights."))
    wrong = io.BytesIO()
    torch.save(run_file.model.state_dict(), wrong)
    uploader.set_value(("wrong.pt", wrong.getvalue(), "application/octet-stream"))
    run(app)
    assert any("wrong.pt" in e.value and "missing" in e.value for e in app.error)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cnn_explorer_pwned",))


def test_a_weights_file_that_would_run_code_is_refused(app: AppTest) -> None:
    if os.path.exists("/tmp/cnn_explorer_pwned"):
        os.remove("/tmp/cnn_explorer_pwned")
    evil = io.BytesIO()
    torch.save({"conv1.weight": _Payload()}, evil)
    uploader = next(u for u in app.file_uploader if u.key.startswith("pretrained.weights."))
    uploader.set_value(("evil.pt", evil.getvalue(), "application/octet-stream"))
    run(app)
    assert app.error and not os.path.exists("/tmp/cnn_explorer_pwned")


def test_a_link_opens_a_network() -> None:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.query_params.update({"model": "resnet18", "image": "pattern", "pattern": "checkerboard"})
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key=K + "model").value == "resnet18"
    assert at.selectbox(key=K + "pattern").value == "checkerboard"


def test_shared_colour_scale_for_the_channel_grid(app: AppTest) -> None:
    app.session_state["tab"] = "Activations"
    run(app)
    app.toggle(key=K + "shared").set_value(True)
    run(app)
    assert any("one scale: black =" in c for i in app.get("image") for c in i.captions)


def test_downloading_weights_offline_says_why(app: AppTest, monkeypatch) -> None:
    from explorer.networks import zoo

    def offline(*args, **kwargs):
        raise zoo.DownloadError("no connection (test)")

    monkeypatch.setattr(zoo, "_download", offline)
    app.selectbox(key=K + "model").set_value("squeezenet1_1")
    run(app)
    next(b for b in app.button if b.label.startswith("Download the ImageNet weights")).click()
    run(app)
    assert any("could not be downloaded" in e.value for e in app.error)
    assert any("not cached" in w.value for w in app.warning)


def test_the_model_list_shows_this_tabs_runs_only() -> None:
    """A finished run is offered in its own tab's list, not in another student's."""
    from explorer.jobs import registry as job_registry
    from explorer.ui.heartbeat import OWNER_KEY
    from tests.test_training import quadrant_dataset, tiny_settings

    def tab_with_owner() -> tuple[AppTest, str]:
        at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
        token = tokens.new_token()
        at.session_state[OWNER_KEY] = token
        at.run()
        return at, token

    mine, token = tab_with_owner()
    other, _ = tab_with_owner()
    registry = job_registry.get_registry()
    job_id = submit_training(registry, tiny_settings(epochs=1), quadrant_dataset(), owner=token)
    assert registry.get(job_id).join(60)
    try:
        for at, listed in ((mine, True), (other, False)):
            at.switch_page(PAGE).run()
            assert not at.exception
            options = at.selectbox(key=K + "model").options
            assert any(job_id[:8] in option for option in options) is listed
    finally:
        registry.forget(job_id)


def test_a_finished_run_opens_as_a_network() -> None:
    """A run of this tab is browsable on the page (its normalisation as trained)."""
    from explorer.jobs import registry as job_registry
    from explorer.ui.heartbeat import OWNER_KEY
    from tests.test_training import quadrant_dataset, tiny_settings

    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    token = tokens.new_token()
    at.session_state[OWNER_KEY] = token
    at.run()
    registry = job_registry.get_registry()
    job_id = submit_training(registry, tiny_settings(epochs=1), quadrant_dataset(), owner=token)
    assert registry.get(job_id).join(60)
    try:
        at.switch_page(PAGE).run()
        at.selectbox(key=K + "model").set_value("run:" + job_id)
        at.run()
        assert not at.exception
    finally:
        registry.forget(job_id)


def test_occlusion_puts_the_disk_evidence_on_the_disk(app: AppTest) -> None:
    use_pattern(app, "disk")
    app.session_state["tab"] = "Occlusion"
    run(app)
    app.slider(key="pretrained.occlusion.patch").set_value(8)
    app.slider(key="pretrained.occlusion.stride").set_value(4)
    run(app)
    captions = [c for i in app.get("image") for c in i.captions]
    assert any("disk:" in c for c in captions) and any("red = evidence for 'disk'" in c
                                                       for c in captions)
    assert "49 positions of a 8 x 8 grey patch" in " ".join(c.value for c in app.caption)


def test_a_big_occlusion_map_fills_in_live_and_then_shows_whole(app: AppTest,
                                                                 monkeypatch) -> None:
    """Maps over INLINE_MULTIPLY_ADDS (VGG16's) run in the background: the tab shows progress
    and the map so far, and the whole map once it is done."""
    from explorer.networks import shared_results
    from explorer.ui.networks import occlusion as occlusion_view

    monkeypatch.setattr(occlusion_view, "INLINE_MULTIPLY_ADDS", 0)  # as if the net were VGG16
    monkeypatch.setattr(occlusion_view.occlusion, "ABANDON_AFTER_S", 3600.0)  # no fragment polls
    shared_results.OCCLUSIONS.clear()  # only this test's map
    use_pattern(app, "disk")
    app.session_state["tab"] = "Occlusion"
    app.session_state["pretrained.occlusion.patch"] = 4
    app.session_state["pretrained.occlusion.stride"] = 2
    run(app)
    live = shared_results.OCCLUSIONS.values()
    assert len(live) == 1 and (live[0].patch, live[0].stride) == (4, 2)
    if not live[0].finished:  # the first rerun caught it filling in
        assert any("Hiding the patch at position" in p.proto.text for p in app.get("progress"))
    assert live[0].wait(timeout=600) and live[0].error is None
    run(app)
    captions = [c for i in app.get("image") for c in i.captions]
    assert any("red = evidence for 'disk'" in c and "not measured yet" not in c
               for c in captions)
    assert "225 positions of a 4 x 4 grey patch" in " ".join(c.value for c in app.caption)
    assert not app.get("progress")


def test_feature_visualisation_runs_live_and_shows_the_best_examples(app: AppTest) -> None:
    from explorer.featurevis.job import VisJob
    from explorer.jobs import registry as job_registry
    from tests.test_training import wait_for

    app.session_state["tab"] = "What channels look for"
    run(app)
    next(b for b in app.selectbox if b.label == "Layer").set_value("conv2")
    app.text_input(key="pretrained.featurevis.channels").set_value("0-3")
    app.select_slider(key="pretrained.featurevis.steps").set_value(64)
    run(app)
    next(b for b in app.button if b.label == "Visualise").click()
    run(app)
    job = job_registry.get_registry().get(app.session_state["pretrained.featurevis.job"])
    assert isinstance(job, VisJob) and job.units == (0, 1, 2, 3)
    wait_for(lambda: job.done, progress=lambda: job.snapshot().step)
    run(app)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 64
    captions = [c for i in app.get("image") for c in i.captions]
    assert [c.split(":")[0] for c in captions if c.startswith("channel") and ":" in c] == \
        [f"channel {u}" for u in range(4)]
    assert any("where the channel is highest, cropped to the 8 x 8 pixel patch" in c.value
               for c in app.caption)


@pytest.mark.parametrize(("channels", "message"), [("0-99", "at most 64"),
                                                   ("200", "does not exist"),
                                                   ("x", "numbers like")])
def test_bad_channels_get_a_message(app: AppTest, channels: str, message: str) -> None:
    import re

    app.session_state["tab"] = "What channels look for"
    run(app)
    app.text_input(key="pretrained.featurevis.channels").set_value(channels)
    run(app)
    assert any(re.search(message, e.value) for e in app.error)
    assert not any(b.label == "Visualise" for b in app.button)


def test_edges_to_objects_visualises_the_strongest_channels_of_each_layer(app: AppTest) -> None:
    from explorer.featurevis.job import VisJob
    from explorer.jobs import registry as job_registry
    from tests.test_training import wait_for

    use_pattern(app, "disk")
    app.session_state["tab"] = "Edges to objects"
    run(app)
    assert "**conv1** (sees 3 px)" in " ".join(m.value for m in app.markdown)
    next(b for b in app.button if b.label == "Show what these channels look for").click()
    run(app)
    jobs = [job_registry.get_registry().get(i)
            for i in app.session_state["pretrained.hierarchy.jobs"]]
    assert [job.layer for job in jobs] == ["conv1", "conv2"]
    assert all(isinstance(job, VisJob) and len(job.units) == 4 for job in jobs)
    wait_for(lambda: all(job.done for job in jobs),
             progress=lambda: tuple(job.snapshot().step for job in jobs))
    run(app)
    captions = [c for i in app.get("image") for c in i.captions]
    assert sum("what they look for (finished" in c for c in captions) == 2


def test_a_whole_layer_is_one_mosaic(app: AppTest) -> None:
    from explorer.jobs import registry as job_registry
    from tests.test_training import wait_for

    app.session_state["tab"] = "What channels look for"
    run(app)
    next(b for b in app.selectbox if b.label == "Layer").set_value("conv1")
    app.text_input(key="pretrained.featurevis.channels").set_value("all")
    app.select_slider(key="pretrained.featurevis.steps").set_value(32)
    run(app)
    next(b for b in app.button if b.label == "Visualise").click()
    run(app)
    job = job_registry.get_registry().get(app.session_state["pretrained.featurevis.job"])
    assert job.units == tuple(range(32))
    wait_for(lambda: job.done, progress=lambda: job.snapshot().step)
    run(app)
    captions = [c for i in app.get("image") for c in i.captions]
    assert any("conv1: channels 0 to 31, left to right" in c for c in captions)


def test_a_train_page_run_finds_its_top_examples_in_its_own_test_set() -> None:
    from explorer.jobs import registry as job_registry
    from explorer.training import app_networks
    from explorer.ui.networks import channels as channel_views
    from tests.test_training import finish, quadrant_dataset, tiny_settings

    data = quadrant_dataset()
    registry = job_registry.get_registry()
    job = registry.get(submit_training(registry, tiny_settings(epochs=1), data))
    finish(job)
    mean, std = normalisation(data)
    loaded = app_networks.own_model("Run", job, data.classes, mean, std, "a test run")
    source = channel_views.example_source(loaded)
    assert source == "run:" + job.job_id
    pictures, label = channel_views._pictures(source, 16)
    assert pictures.shape == (64, 3, 16, 16) and "quadrants test set" in label
    default = pretrained_page.default_model()
    assert channel_views.example_source(default) == "default"


def open_with(query: dict) -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=120)
    at.run()
    at.query_params.update(query)
    at.switch_page(PAGE).run()
    at.session_state["tab"] = "What channels look for"
    return run(at)


def test_a_link_sets_up_the_visualisation_and_bad_link_values_get_a_message() -> None:
    at = open_with({"vis_layer": "conv1", "vis_channels": "2-5"})
    assert next(b for b in at.selectbox if b.label == "Layer").value == "conv1"
    assert at.text_input(key="pretrained.featurevis.channels").value == "2-5"
    assert not at.error
    bad = open_with({"vis_layer": "features.99", "vis_channels": "999"})
    assert next(b for b in bad.selectbox if b.label == "Layer").value == "conv2"  # the default
    assert any("vis_layer" in t.value for t in bad.toast)
    assert any("does not exist" in e.value for e in bad.error)
    assert not any(b.label == "Visualise" for b in bad.button)


def test_feature_visualisation_can_start_from_the_best_example(app: AppTest) -> None:
    """Issue 25: "Start from: best example" reaches the job, and every channel after the second
    ReLU that a Shapes picture excites ends above its best picture."""
    from explorer.featurevis import optimise as featurevis
    from explorer.featurevis.inputs import example_images
    from explorer.jobs import registry as job_registry
    from tests.test_training import wait_for

    app.session_state["tab"] = "What channels look for"
    run(app)
    next(b for b in app.selectbox if b.label == "Layer").set_value("act2")
    app.text_input(key="pretrained.featurevis.channels").set_value("0-7")
    app.select_slider(key="pretrained.featurevis.steps").set_value(16)
    app.get("button_group")[0].set_value("best example")
    run(app)
    next(b for b in app.button if b.label == "Visualise").click()
    run(app)
    job = job_registry.get_registry().get(app.session_state["pretrained.featurevis.job"])
    assert job.settings.start == "best example"
    wait_for(lambda: job.done, progress=lambda: job.snapshot().step)
    run(app)
    assert any("started from its channel's best whole picture" in c.value for c in app.caption)
    model = job._model
    examples, _ = example_images("default", 32)
    best = featurevis.unit_values_of_images(model, "act2", range(8), examples,
                                            mean=job._mean, std=job._std).max(axis=0)
    values = job.snapshot().values
    assert ((values > best) | (best <= 0)).all(), (values, best)
    # channel 7 is off for every Shapes picture: the page says so, and whether the optimised
    # picture turned it on
    assert best[7] <= 0
    ending = "shows what would" if values[7] > 0 else "found nothing that does either"
    assert any(i.value.startswith("Channel 7: dead for every picture") and ending in i.value
               for i in app.info), [i.value for i in app.info]
