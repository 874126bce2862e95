"""Tests for `python -m explorer.train`, the command-line face of TrainingJob."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.training.__main__ import build_parser, main, parse_augmentation, settings_from_args
from explorer.training.augmentation import Augmentation
from explorer.training.runs import load_run
from tests.test_training import HANG_SECONDS

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--train-size", "400", "--test-size", "100", "--channels", "4", "--hidden", "16",
         "--threads", "1", "--quiet"]


def test_json_line_from_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "explorer.train", "--dataset", "shapes", "--max-seconds", "3",
         "--json", "--train-size", "1000", "--test-size", "200", "--channels", "8"],
        cwd=ROOT, capture_output=True, text=True, timeout=HANG_SECONDS,  # a hang guard only
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    for key in ("test_accuracy", "images_per_second", "train_seconds", "epochs", "steps",
                "final_loss"):
        assert summary[key] is not None, key
    assert summary["state"] == "finished" and summary["test_images"] == 200
    assert 0 < summary["train_seconds"] <= summary["elapsed_seconds"]
    # the budget ends the run at the first step past 3 s: late by about a step, however slow
    per_step = summary["train_seconds"] / summary["steps"]
    assert 3 <= summary["elapsed_seconds"] < 3 + 1 + 20 * per_step
    assert summary["images_per_second"] > 0 and summary["steps"] > 0
    assert "test accuracy" in result.stderr  # progress and results go to stderr


def test_save_writes_a_weights_only_file(tmp_path, capsys):
    path = tmp_path / "run.pt"
    assert main(["--epochs", "1", "--batch-norm", "--dropout", "0.2", "--save", str(path),
                 "--json", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 400 // 64 and summary["epochs"] == pytest.approx(1)
    payload = torch.load(path, weights_only=True)
    assert payload["settings"]["model"]["batch_norm"] is True
    run = load_run(path)
    assert run.model.conv1.weight.shape == (4, 3, 3, 3) and len(run.classes) == 10


def test_a_folder_of_class_folders(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (8, 8, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    assert main(["--dataset", str(tmp_path / "data"), "--epochs", "2", "--batch-size", "4",
                 "--json", *SMALL[6:]]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["state"] == "finished" and summary["test_images"] == 4  # 20 % held out


def test_bad_arguments_exit_with_a_message(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", str(tmp_path / "missing.zip"), "--quiet"])
    assert exit_info.value.code == 2
    assert "neither" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--blocks", "4", "--padding", "valid", "--kernel-size", "5", *SMALL])
    assert "too many" in capsys.readouterr().err


def test_time_budget_only_means_no_epoch_limit():
    args = build_parser().parse_args(["--max-seconds", "5", "--optimiser", "sgd"])
    settings = settings_from_args(args)
    assert settings.epochs is None and settings.max_seconds == 5
    assert settings.learning_rate == 0.05  # the optimiser's default
    assert settings_from_args(build_parser().parse_args([])).epochs == 3


def test_parse_augmentation():
    assert parse_augmentation("flip,shift=2,rotation,jitter=0.1") == Augmentation(
        flip=True, shift=2, rotation=15.0, colour_jitter=0.1)
    assert parse_augmentation("") == Augmentation()
    with pytest.raises(argparse.ArgumentTypeError):
        parse_augmentation("zoom")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_augmentation("shift=lots")


@pytest.mark.parametrize("arguments", [
    ["--epochs", "0"], ["--epochs", "-3"], ["--epochs", "2.5"], ["--lr", "nan"],
    ["--lr", "inf"], ["--lr", "0"], ["--lr", "11"], ["--batch-size", "0"],
    ["--batch-size", "100000"], ["--threads", "0"], ["--threads", "-2"], ["--seed", "-1"],
    ["--seed", str(2**64)], ["--max-seconds", "inf"], ["--max-seconds", "nan"],
    ["--max-seconds", "-5"], ["--train-size", "0"], ["--train-size", "-5"],
    ["--test-size", "0"], ["--eval-subset", "0"], ["--dropout", "2"], ["--channels", "0"],
    ["--hidden", "999999"], ["--blocks", "9"], ["--weight-decay", "nan"],
])
def test_out_of_range_arguments_exit_with_a_message(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, "--train-size", "100", "--test-size", "20", "--quiet"]
             if "--train-size" not in arguments else [*arguments, "--quiet"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "error" in error and "Traceback" not in error


def test_too_many_threads_are_capped_at_the_cores(capsys):
    import os

    assert main(["--epochs", "1", "--threads", "100000", "--json", *SMALL[:6], "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 1 <= summary["threads"] <= (os.cpu_count() or 1)


def test_a_batch_bigger_than_the_training_set_is_warned_about(capsys):
    assert main(["--epochs", "1", "--batch-size", "64", "--train-size", "96", "--test-size",
                 "20", "--channels", "4", "--hidden", "16", "--threads", "1"]) == 0
    assert "warning: The training set has only 96 images, fewer than 2 batches of 64" \
        in capsys.readouterr().err
