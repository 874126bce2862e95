"""Tests for explorer.transfer.adapt, transfer_job, transfer_export and the CLI."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from explorer.training.data import shapes_dataset
from explorer.training.job import TrainingJob
from explorer.training.nets import ModelSettings
from explorer.training.settings import TrainSettings
from explorer.transfer.__main__ import main, parse_strategies
from explorer.transfer.adapt import (
    STRATEGIES,
    TransferSettings,
    adapt,
    find_head,
    last_block,
    layer_plan,
    parameter_counts,
)
from explorer.transfer.backbones import (
    BACKBONES,
    Backbone,
    backbone_from_job,
    backbone_input,
    default_backbone,
    load_backbone,
)
from explorer.transfer.compare import Comparison, compare
from explorer.transfer.export import (
    as_loaded_model,
    comparison_csv,
    load_adapted,
    metrics_csv,
    save_adapted,
    standalone_script,
)
from explorer.transfer.features import FeatureCache, head_inputs
from explorer.transfer.job import TransferJob
from explorer.transfer.tasks import builtin_task, task_from_examples

ROOT = Path(__file__).resolve().parent.parent
K = 10  # letters


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    return default_backbone()


@pytest.fixture(scope="module")
def task():
    return builtin_task("letters", train_per_class=8, test_per_class=3)


def small(strategy: str = "frozen", **changes) -> TransferSettings:
    values = {"strategy": strategy, "examples_per_class": 4, "epochs": 3, "threads": 1}
    return TransferSettings(**{**values, **changes})


def run(settings: TransferSettings, backbone: Backbone, task, **kwargs) -> TransferJob:
    job = TransferJob(settings, backbone, task, **kwargs)
    job.start()
    assert job.join(120), "the job did not end"
    return job


def wait_for(condition, what: str, limit: float = 120.0) -> None:
    """Poll until condition() holds (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def meta_backbone(name: str, family: str) -> Backbone:
    """A torchvision architecture on the meta device: its structure without any weights."""
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
    return Backbone(name, name, family, model, {"kind": "torchvision", "name": name},
                    (224, 224), (0.5,) * 3, (0.25,) * 3, False, "meta", True)


# ---------------------------------------------------------------------------
# Strategies: heads, last blocks, requires_grad
# ---------------------------------------------------------------------------

TRAINS = {  # default network: which parameters each strategy trains
    "frozen": {"fc2.weight", "fc2.bias"},
    "finetune_last": {"conv2.weight", "conv2.bias", "fc2.weight", "fc2.bias"},
    "finetune_all": {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                     "fc1.bias", "fc2.weight", "fc2.bias"},
}
TRAINS["scratch"] = TRAINS["finetune_all"]


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_on_the_default_network(backbone, strategy):
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    adapted = adapt(backbone, strategy, 7, seed=0)
    model = adapted.model
    assert model is not backbone.model and adapted.head == "fc2"
    trains = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trains == TRAINS[strategy]
    assert model.fc2.weight.shape == (7, 128) and model.fc2.bias.shape == (7,)
    plan = layer_plan(backbone, strategy, 7)
    trainable, frozen = parameter_counts(plan)
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert frozen == sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert {row.name: row.state for row in plan}["fc2"] == "new head"
    # pretrained strategies start from the backbone's weights; scratch does not
    same = torch.equal(model.conv1.weight, backbone.model.conv1.weight)
    assert same == STRATEGIES[strategy].pretrained
    # the shared backbone is untouched: same values, still all trainable, still 10 classes
    for key, value in backbone.model.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(p.requires_grad for p in backbone.model.parameters())
    assert backbone.model.fc2.out_features == 10
    # frozen layers are in eval mode during training, trainable ones in train mode
    assert model.fc2.training and model.conv2.training == (strategy != "frozen")
    assert model.conv1.training == (strategy in ("finetune_all", "scratch"))


@pytest.mark.parametrize(("name", "family", "head", "block", "head_in"), [
    ("resnet18", "ResNet", "fc", ("layer4",), 512),
    ("vgg16", "VGG", "classifier.6", tuple(f"features.{i}" for i in range(24, 31)), 4096),
    ("mobilenet_v3_small", "MobileNet", "classifier.3", ("features.11", "features.12"), 1024),
    ("alexnet", "AlexNet", "classifier.6", tuple(f"features.{i}" for i in range(6, 13)), 4096),
])
def test_torchvision_heads_and_last_blocks(name, family, head, block, head_in):
    backbone = meta_backbone(name, family)
    assert find_head(backbone.model)[0] == head and last_block(backbone) == block
    for strategy in ("frozen", "finetune_last", "finetune_all"):
        adapted = adapt(backbone, strategy, 3)
        assert adapted.head == head and adapted.features == head_in
        assert adapted.head_module().weight.shape == (3, head_in)
        for pname, parameter in adapted.model.named_parameters():
            in_block = any(pname.startswith(b + ".") for b in block)
            expected = {"frozen": pname.startswith(head + "."),
                        "finetune_last": pname.startswith(head + ".") or in_block,
                        "finetune_all": True}[strategy]
            assert parameter.requires_grad == expected, (strategy, pname)
        trainable, _ = parameter_counts(layer_plan(backbone, strategy, 3))
        assert trainable == sum(p.numel() for p in adapted.model.parameters() if p.requires_grad)
    assert find_head(backbone.model)[1].out_features == 1000  # the shared model keeps its head


def test_registry_and_settings_checks(backbone, task):
    assert {"default", "resnet18", "mobilenet_v3_small", "vgg16"} <= set(BACKBONES)
    assert parse_strategies("frozen,finetune,scratch") == ("frozen", "finetune_last", "scratch")
    assert parse_strategies("all") == tuple(STRATEGIES)
    with pytest.raises(ValueError, match="Unknown strategy"):
        TransferSettings(strategy="everything")
    with pytest.raises(ValueError):
        TransferSettings(epochs=0)
    with pytest.raises(ValueError, match="only takes 32 x 32"):
        TransferJob(TransferSettings(input_size=64), backbone, task)


# ---------------------------------------------------------------------------
# Cached features against a plain loop; frozen weights stay frozen
# ---------------------------------------------------------------------------


def test_cached_features_train_the_same_head_as_a_plain_loop(backbone, task):
    settings = small("frozen", epochs=4, batch_size=8, seed=3)
    cached = run(settings, backbone, task, cache=FeatureCache())
    through = run(replace(settings, cache_features=False), backbone, task)
    assert cached.snapshot().features_total == 40 and through.snapshot().features_total == 0

    # a plain training loop through the whole frozen network, written out here
    data = cached.task.dataset
    adapted = adapt(backbone, "frozen", K, seed=3)
    optimiser = torch.optim.Adam([p for p in adapted.model.parameters() if p.requires_grad],
                                 lr=settings.lr)
    generator = torch.Generator().manual_seed(3)
    for _ in range(4):
        adapted.set_train_mode()
        order = torch.randperm(len(data.train_labels), generator=generator)
        for first in range(0, len(order), 8):
            index = order[first : first + 8]
            x = backbone_input(backbone, data.train_images[index], (32, 32))
            loss = F.cross_entropy(adapted.model(x), data.train_labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    for job in (cached, through):
        for key in ("weight", "bias"):
            torch.testing.assert_close(getattr(job.model.fc2, key), getattr(adapted.model.fc2, key),
                                       atol=1e-5, rtol=1e-4)
    assert cached.snapshot().final_test_accuracy == pytest.approx(
        through.snapshot().final_test_accuracy, abs=0.04)


def test_the_cache_reuses_features_per_backbone_and_image(backbone, task):
    cache = FeatureCache()
    first = run(small("frozen"), backbone, task, cache=cache).snapshot()
    assert first.features_cached == 0 and cache.stats()["entries"] == 40 + 30
    again = run(small("frozen", examples_per_class=6), backbone, task, cache=cache).snapshot()
    assert again.features_cached == 40 and again.features_done == again.features_total == 60
    other = replace(backbone, key="another")  # another network: nothing reused
    assert run(small("frozen"), other, task, cache=cache).snapshot().features_cached == 0
    # the features are the head's input: fc1 after its ReLU
    adapted = adapt(backbone, "frozen", K)
    x = backbone_input(backbone, task.dataset.train_images[:5], (32, 32))
    expected = torch.relu(backbone.model[:-2](x))
    torch.testing.assert_close(head_inputs(adapted, x), expected)
    tiny = FeatureCache(max_bytes=128 * 4 * 10)
    run(small("frozen"), backbone, task, cache=tiny)
    assert tiny.stats()["entries"] == 10  # least recently used dropped beyond the budget


@pytest.mark.parametrize("strategy", ["finetune_last", "frozen"])
def test_frozen_weights_do_not_change_in_training(backbone, task, strategy):
    job = run(small(strategy, cache_features=False, learning_rate=0.01), backbone, task)
    trained = job.model.state_dict()
    original = backbone.model.state_dict()
    frozen = {"finetune_last": ("conv1.", "fc1."), "frozen": ("conv1.", "conv2.", "fc1.")}
    for key, value in trained.items():
        if key.startswith(frozen[strategy]):
            assert torch.equal(value, original[key]), key
    start = adapt(backbone, strategy, K, seed=0).model.state_dict()  # the job's starting point
    assert not torch.equal(trained["fc2.weight"], start["fc2.weight"])  # the new head trained
    assert torch.equal(trained["conv2.weight"], original["conv2.weight"]) == (strategy == "frozen")


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------


def test_snapshot_of_a_finished_job(backbone, task):
    job = run(small("finetune_all", epochs=4, eval_subset=10), backbone, task)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.phase == "done" and snap.done
    assert [p.epoch for p in snap.history] == [1, 2, 3, 4] and snap.epoch == 4
    assert all(p.test_accuracy is not None for p in snap.history)  # 4 epochs: every one measured
    assert 0 <= snap.final_test_accuracy <= 1 and snap.test_images == 30
    assert snap.examples_per_class == dict.fromkeys(task.classes, 4) and snap.train_images == 40
    assert snap.confusion.shape == (K, K) and snap.confusion.sum() == 30
    assert snap.trainable_parameters == sum(p.numel() for p in job.model.parameters())
    assert snap.frozen_parameters == 0 and snap.images_per_second > 0
    assert 0 < snap.train_seconds <= snap.elapsed_seconds and snap.progress == 1.0
    assert not job.model.training and job.error is None


def test_pause_resume_and_stop(backbone, task):
    job = TransferJob(small("scratch", epochs=1000, batch_size=4, eval_subset=5), backbone, task)
    assert job.snapshot().state == "queued"
    job.start()
    wait_for(lambda: job.snapshot().epoch >= 2, "two epochs")
    job.pause()
    wait_for(lambda: job.snapshot().state == "paused", "the pause")
    paused = job.snapshot()
    time.sleep(0.2)
    assert job.snapshot().epoch == paused.epoch and job.snapshot().history == paused.history
    job.resume()
    wait_for(lambda: job.snapshot().epoch > paused.epoch, "training to resume")
    job.stop()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.done and job.model is not None
    assert snap.elapsed_seconds >= snap.history[-1].seconds
    queued = TransferJob(small(), backbone, task)
    queued.stop()
    assert queued.done and queued.snapshot().state == "stopped"


def test_a_time_budget_ends_training(backbone, task):
    snap = run(small("scratch", epochs=1000, max_seconds=0.3, eval_subset=5), backbone,
               task).snapshot()
    assert snap.state == "finished" and "time budget" in snap.message
    assert snap.epoch < 1000 and snap.train_seconds >= 0.3


def test_compare_and_background_comparison(backbone, task):
    jobs = compare(backbone, task, small(epochs=2), ["frozen", "scratch"])
    assert [j.snapshot().strategy for j in jobs] == ["frozen", "scratch"]
    assert all(j.snapshot().state == "finished" for j in jobs)
    assert comparison_csv([j.snapshot() for j in jobs]).splitlines()[1].startswith("frozen,")
    background = Comparison(backbone, task, small(epochs=1000, eval_subset=5),
                            ["finetune_all", "frozen"])
    background.start()
    wait_for(lambda: background.snapshots()[0].epoch >= 1, "the first strategy")
    background.stop()
    assert background.join(60) and background.done
    assert [s.state for s in background.snapshots()] == ["stopped", "stopped"]


def test_a_backbone_from_a_train_page_run(task):
    settings = TrainSettings(model=ModelSettings(channels=4, hidden=16), epochs=1, threads=1,
                             eval_subset=20)
    training = TrainingJob(settings, shapes_dataset(200, 20, seed=5))
    training.start()
    assert training.join(120)
    backbone = backbone_from_job(training)
    assert backbone.key == f"run:{training.job_id}" and backbone.input_size == (32, 32)
    snap = run(small("finetune_last"), backbone, task).snapshot()
    assert snap.state == "finished" and snap.trainable_parameters == 4 * 8 * 9 + 8 + 16 * K + K


def test_missing_imagenet_weights_give_an_untrained_backbone(tmp_path, monkeypatch, task):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    backbone = load_backbone("resnet18")
    assert not backbone.pretrained and "not cached" in backbone.message
    assert "random" in backbone.message
    snap = run(small("frozen", input_size=32, epochs=1), backbone, task).snapshot()
    assert snap.state == "finished" and not snap.backbone_pretrained
    assert any("random weights" in note for note in snap.notes)
    assert snap.trainable_parameters == 512 * K + K


def test_examples_evaluated_on_training_carry_the_caution(backbone):
    pictures = {"dark": [np.zeros((8, 8, 3), np.uint8)] * 2,
                "light": [np.full((8, 8, 3), 250, np.uint8)] * 2}
    task = task_from_examples(pictures)
    snap = run(small("frozen", epochs=20), backbone, task).snapshot()
    assert snap.evaluated_on_training and any("Caution" in note for note in snap.notes)
    assert snap.final_test_accuracy == 1.0
    job = TransferJob(small("frozen", epochs=20), backbone, task)
    with pytest.raises(ValueError, match="no adapted network"):
        job.predict(np.zeros((8, 8, 3)))
    job.start()
    assert job.join(60)
    ranked = job.predict(np.full((40, 30, 3), 0.01))  # a new dark picture, another size
    assert ranked[0][0] == "dark" and sum(p for _, p in ranked) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="The picture is not an image"):
        job.predict("dark.png")


# ---------------------------------------------------------------------------
# Exports and the CLI
# ---------------------------------------------------------------------------


def test_exports_load_with_weights_only(backbone, task, tmp_path):
    job = run(small("finetune_last"), backbone, task)
    path = tmp_path / "adapted.pt"
    save_adapted(job, path)
    payload = torch.load(path, weights_only=True)
    assert payload["classes"] == list(task.classes) and payload["strategy"] == "finetune_last"
    loaded = load_adapted(path)
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), job.model(x))
    assert loaded.classes == task.classes and loaded.input_size == (32, 32)
    with pytest.raises(ValueError, match="not a network adapted"):
        load_adapted(torch.save({"a": 1}, tmp_path / "other.pt") or tmp_path / "other.pt")
    with pytest.raises(ValueError, match="safely"):
        load_adapted(b"not a file")
    payload["architecture"] = {"kind": "torchvision", "name": "vit_h_14"}  # not offered here
    torch.save(payload, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="unknown network 'vit_h_14'"):
        load_adapted(tmp_path / "foreign.pt")
    rows = metrics_csv(job.snapshot()).splitlines()
    assert rows[0] == "epoch,seconds,train_loss,train_accuracy,test_loss,test_accuracy"
    assert len(rows) == 1 + 3
    shown = as_loaded_model(job)
    assert shown.categories == task.classes and shown.input_shape == (3, 32, 32)


def test_standalone_script_runs_for_the_default_backbone(backbone, task, tmp_path, monkeypatch,
                                                         capsys):
    job = run(small("frozen", epochs=2), backbone, task)
    script = standalone_script(job)
    assert "import explorer" not in script and "from explorer" not in script
    folder = tmp_path / "data"
    data = task.dataset
    for i in range(0, len(data.train_labels), 2):
        path = folder / data.classes[int(data.train_labels[i])] / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.train_images[i].permute(1, 2, 0).numpy()).save(path)
    (tmp_path / "frozen.py").write_text(script)
    # run as `python frozen.py DATA --epochs 2 ...` would, in this process (no second torch
    # import); the script imports only torch and torchvision
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["frozen.py", str(folder), "--epochs", "2", "--weights",
                                      str(ROOT / "assets" / "default_net.pt"), "--out", "out.pt"])
    with torch.random.fork_rng(devices=[]):
        runpy.run_path(str(tmp_path / "frozen.py"), run_name="__main__")
    assert "epoch 2: loss" in capsys.readouterr().out
    saved = torch.load(tmp_path / "out.pt", weights_only=True)
    assert saved["state_dict"]["fc2.weight"].shape == (K, 128)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_scripts_for_an_imagenet_backbone_compile(strategy, task):
    backbone = meta_backbone("resnet18", "ResNet")
    job = TransferJob(small(strategy), backbone, task)
    script = standalone_script(job)
    compile(script, f"{strategy}.py", "exec")
    assert 'get_model("resnet18"' in script and 'HEAD = "fc"' in script


def test_cli_prints_one_json_line_per_strategy():
    result = subprocess.run(
        [sys.executable, "-m", "explorer.transfer", "--backbone", "default", "--task", "letters",
         "--per-class", "3", "--train-per-class", "3", "--test-per-class", "2",
         "--strategy", "frozen,finetune,scratch", "--epochs", "2", "--max-seconds", "30",
         "--threads", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["strategy"] for line in lines] == ["frozen", "finetune_last", "scratch"]
    for line in lines:
        assert 0 <= line["test_accuracy"] <= 1 and line["train_seconds"] > 0
        assert line["trainable_parameters"] > 0 and line["state"] == "finished"
    assert lines[0]["trainable_parameters"] == 128 * K + K


def test_cli_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--per-class" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--strategy", "everything"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--task", "/no/such/folder", "--quiet"])
    assert exit_info.value.code == 2 and "neither" in capsys.readouterr().err
