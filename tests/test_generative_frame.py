"""The generative room's shared parts: the image datasets (Shapes, a hostile zip), the judge,
the figures, and the command line (flags checked at the edge, a tiny run, models not there)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from explorer.generative import __main__ as cli
from explorer.generative import data, judge, plots
from explorer.training.data import DatasetError


@pytest.fixture(scope="module")
def shapes() -> data.ImageData:
    return data.image_data("shapes")


def test_shapes_as_image_data(shapes) -> None:
    assert shapes.shape == (3, 32, 32) and len(shapes.classes) == 10
    x, y = shapes.test_batch(5)
    assert x.dtype == torch.float32 and x.shape == (5, 3, 32, 32) and y.shape == (5,)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    a = data.BatchStream(shapes, 16, seed=3).next()[0]
    b = data.BatchStream(shapes, 16, seed=3).next()[0]
    assert torch.equal(a, b)  # seeded


def test_unknown_and_zip_names() -> None:
    with pytest.raises(DatasetError, match="Unknown dataset"):
        data.image_data("cifar-100")
    assert not data.is_valid_name("zip:../../etc") and not data.is_valid_name(3)
    with pytest.raises(DatasetError, match="no longer on the server"):
        data.image_data("zip:" + "0" * 16)


def test_a_zip_that_is_not_images_is_refused_clearly() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cats/notes.txt", "not an image")
        archive.writestr("dogs/a.png", b"\x89PNG broken")
    name = data.register_zip(buffer.getvalue(), "bad.zip")
    assert data.is_valid_name(name)
    with pytest.raises(DatasetError):
        data.image_data(name)
    name = data.register_zip(b"not a zip at all", "x.zip")
    with pytest.raises(DatasetError, match="not a zip"):
        data.image_data(name)


def test_judge_recognises_real_shapes_and_checks_shapes(shapes) -> None:
    x, y = shapes.test_batch(32)
    verdict = judge.judge(x.numpy())
    assert verdict.count == 32 and verdict.share > 0.9 and len(verdict.classes) >= 8
    assert verdict.as_dict()["classes_covered"] == len(verdict.classes)
    grey = judge.judge(x[:, :1].numpy()[:, 0])  # (N, H, W) is taken as grey
    assert grey.count == 32
    with pytest.raises(ValueError, match="samples must be"):
        judge.judge(np.zeros((4, 2, 8, 8)))


def test_named_correctly_counts_own_classes(shapes) -> None:
    x, y = shapes.test_batch(32)
    verdict = judge.judge(x.numpy())
    expected = sum(name == shapes.classes[label]
                   for name, label in zip(verdict.labels, y.tolist(), strict=True))
    assert judge.named_correctly(x.numpy(), y.numpy(), shapes.classes) == expected >= 28
    wrong = (y.numpy() + 1) % len(shapes.classes)  # every label shifted: almost none agree
    assert judge.named_correctly(x.numpy(), wrong, shapes.classes) <= 2
    other = tuple(f"class {i}" for i in range(len(shapes.classes)))  # names the network lacks
    assert judge.named_correctly(x.numpy(), y.numpy(), other) == 0
    with pytest.raises(ValueError, match="32 images but 3 labels"):
        judge.named_correctly(x.numpy(), y.numpy()[:3], shapes.classes)


def test_thin_keeps_means_and_grid_shape() -> None:
    x, y = plots.thin(np.arange(1000.0), 10)
    assert len(y) == 10 and np.isclose(y.mean(), 499.5)
    grid = plots.image_grid(np.zeros((10, 1, 4, 4)), columns=4)
    assert grid.shape == (3 * 5 + 1, 4 * 5 + 1, 3) and grid.dtype == np.uint8
    fig = plots.loss_figure({"loss": [3, 2, 1], "kl": [1, 1, 1]}, ["loss", "kl"], separate=True)
    assert len(fig.data) == 2


def test_cli_trains_writes_samples_and_reports(tmp_path, capsys) -> None:
    out = tmp_path / "s.npy"
    code = cli.main(["--model", "ae", "--max-steps", "4", "--samples", str(out), "--count", "5",
                     "--set", "width=4", "--set", "batch_size=8", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["steps"] == 4 and report["first_loss"] > 0 and report["last_loss"] > 0
    assert {"sample_seconds", "losses"} <= set(report)
    samples = np.load(out)
    assert samples.shape == (5, 3, 32, 32) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("argv, message", [
    (["--model", "vae", "--max-steps", "1e12"], "--max-steps"),
    (["--model", "vae", "--count", "-1"], "--count"),
    (["--model", "nope"], "invalid choice"),
])
def test_cli_refuses_absurd_flags(argv, message, capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--model", "vae", "--set", "beta=nan", "--max-steps", "1"], "beta"),
    (["--model", "ae", "--set", "latent=100000", "--max-steps", "1"], "Bottleneck"),
    (["--model", "ae", "--set", "colour=3"], "no such setting"),
    (["--model", "vae", "--dataset", "../x", "--max-steps", "1"], "Dataset"),
])
def test_cli_bad_settings_get_a_message(argv, message, capsys) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_trains_on_a_zip_path_and_refuses_a_bad_one(tmp_path, capsys) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, name in enumerate(("dark", "light", "dark", "light")):
            png = io.BytesIO()
            Image.new("RGB", (20, 20), (40 + 150 * (name == "light"),) * 3).save(png, "PNG")
            archive.writestr(f"{name}/{k}.png", png.getvalue())
    good = tmp_path / "mine.zip"
    good.write_bytes(buffer.getvalue())
    argv = ["--model", "diffusion", "--dataset", str(good), "--max-steps", "2", "--set",
            "width=8", "--set", "batch_size=4", "--count", "2", "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 2
    assert cli.main([*argv[:3], str(tmp_path / "missing.zip"), *argv[4:]]) == 2
    assert "no such zip file" in capsys.readouterr().err
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    assert cli.main([*argv[:3], str(tmp_path / "fake.zip"), *argv[4:]]) == 2
    assert "not a zip" in capsys.readouterr().err


def test_cli_says_when_a_model_is_not_there_yet(monkeypatch, capsys) -> None:
    from explorer.generative import registry

    info = registry.MODELS["flow"]
    monkeypatch.setitem(registry.MODELS, "flow", registry.ModelInfo(
        "flow", info.label, "explorer.generative.no_such_module", info.summary))
    assert cli.main(["--model", "flow", "--max-steps", "1"]) == 2
    assert "not available yet" in capsys.readouterr().err
