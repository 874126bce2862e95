"""Job keys: equal when everything a result depends on is equal, different when anything is."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from explorer.featurevis.identity import vis_key
from explorer.featurevis.optimise import VisSettings
from explorer.jobs.identity import code_version, job_key, module_digest
from explorer.training import identity
from explorer.training.data import Dataset
from explorer.training.identity import dataset_digest, run_key
from explorer.transfer.adapt import TransferSettings
from explorer.transfer.backbones import default_backbone
from explorer.transfer.identity import transfer_key
from explorer.transfer.tasks import builtin_task
from tests.test_training import quadrant_dataset, tiny_settings


def copy_of(data: Dataset, **changes) -> Dataset:
    return dataclasses.replace(data, **{
        "train_images": data.train_images.clone(), "test_images": data.test_images.clone(),
        **changes})


def test_a_run_key_names_settings_data_seed_and_code_but_not_threads():
    data = quadrant_dataset()
    key = run_key(tiny_settings(), data)
    assert run_key(tiny_settings(), copy_of(data)) == key  # another object, the same content
    assert run_key(tiny_settings(threads=2), data) == key  # speed, not result
    assert run_key(tiny_settings(seed=1), data) != key
    assert run_key(tiny_settings(learning_rate=1e-2), data) != key
    changed = copy_of(data)
    changed.train_images[0, 0, 0, 0] ^= 1  # one pixel of one image
    assert run_key(tiny_settings(), changed) != key
    assert run_key(tiny_settings(), copy_of(data, name="other")) != key


def test_dataset_digests_are_computed_once_per_object(monkeypatch):
    data = quadrant_dataset()
    first = dataset_digest(data)
    monkeypatch.setattr(identity, "array_digest", lambda array: pytest.fail("hashed again"))
    assert dataset_digest(data) == first


def test_code_version_follows_the_source(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = code_version(tmp_path)
    other = tmp_path / "copy"
    other.mkdir()
    (other / "a.py").write_text("x = 2\n")
    assert code_version(other) != before
    assert code_version(tmp_path) == before


def test_module_digest_sees_every_weight():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 3)
    twin = torch.nn.Conv2d(3, 4, 3)
    twin.load_state_dict(model.state_dict())
    assert module_digest(model) == module_digest(twin)
    changed = torch.nn.Conv2d(3, 4, 3)
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.bias[0] += 1e-6
    assert module_digest(changed) != module_digest(model)
    assert job_key("a", 1) != job_key("b", 1) and job_key("a", 1) == job_key("a", 1)


def test_transfer_keys_name_the_strategy_backbone_and_examples():
    backbone = default_backbone()
    task = builtin_task("letters", train_per_class=4, test_per_class=2)
    key = transfer_key(TransferSettings(), backbone, task)
    assert transfer_key(TransferSettings(threads=2), backbone, task) == key
    assert transfer_key(TransferSettings(strategy="scratch"), backbone, task) != key
    fewer = builtin_task("letters", train_per_class=3, test_per_class=2)
    assert transfer_key(TransferSettings(), backbone, fewer) != key


def test_vis_keys_name_the_network_layer_channels_and_settings():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    mean, std = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)
    key = vis_key(model, "0", [0, 1], mean, std, VisSettings())
    assert vis_key(model, "0", [0, 1], mean, std, VisSettings()) == key
    assert vis_key(model, "0", [1], mean, std, VisSettings()) != key
    assert vis_key(model, "0", [0, 1], mean, std, VisSettings(seed=3)) != key
