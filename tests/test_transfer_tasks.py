"""Tests for explorer.transfer.tasks: built-in letters, per-class subsets, zips, examples."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.training.data import DatasetError
from explorer.transfer.tasks import (
    HOLD_OUT_MIN,
    LETTER_CLASSES,
    TASKS,
    builtin_task,
    check_class_names,
    letters_dataset,
    per_class_subset,
    task_from_examples,
    task_from_zip,
)


def test_letters_are_deterministic_balanced_and_shaped():
    first = letters_dataset(6, 4, seed=3)
    again = letters_dataset(6, 4, seed=3)
    other = letters_dataset(6, 4, seed=4)
    assert first.classes == LETTER_CLASSES and len(LETTER_CLASSES) == 10
    assert first.train_images.shape == (60, 3, 32, 32) and first.train_images.dtype == torch.uint8
    assert first.test_images.shape == (40, 3, 32, 32)
    assert torch.equal(first.train_images, again.train_images)
    assert torch.equal(first.test_labels, again.test_labels)
    assert not torch.equal(first.train_images, other.train_images)
    assert set(first.class_counts().values()) == {6}
    assert set(first.class_counts("test").values()) == {4}
    # the test split has its own random stream: more training images leave it unchanged
    assert torch.equal(letters_dataset(9, 4, seed=3).test_images, first.test_images)


def test_letters_are_visible_strokes():
    data = letters_dataset(3, 1, seed=0)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (data.train_images.float() * luma).sum(1).flatten(1)  # (N, H * W)
    # every letter stands out from its background: luma differs by >= 0.25 (64 grey levels)
    spread = grey.quantile(0.98, dim=1) - grey.quantile(0.02, dim=1)
    assert (spread > 45).all(), spread.min()


def test_size_and_bad_requests():
    assert letters_dataset(1, 1, size=64).train_images.shape[-2:] == (64, 64)
    with pytest.raises(DatasetError):
        letters_dataset(0, 1)
    with pytest.raises(DatasetError):
        letters_dataset(1, 1, size=4)
    with pytest.raises(ValueError, match="Unknown task"):
        builtin_task("digits")
    assert set(TASKS) >= {"letters", "shapes"}


def test_builtin_task_registry():
    task = builtin_task("letters", train_per_class=4, test_per_class=2)
    assert task.source == "builtin" and not task.evaluated_on_training and task.caution is None
    assert task.examples_per_class() == dict.fromkeys(LETTER_CLASSES, 4)
    shapes = builtin_task("shapes", train_per_class=2, test_per_class=1)
    assert shapes.dataset.num_classes == 10 and len(shapes.dataset.train_labels) == 20


def test_per_class_subsets_are_exact_deterministic_and_nested():
    task = builtin_task("letters", train_per_class=12, test_per_class=2)
    five = per_class_subset(task, 5, seed=1)
    assert five.examples_per_class() == dict.fromkeys(LETTER_CLASSES, 5)
    assert torch.equal(five.dataset.train_images, per_class_subset(task, 5, 1).dataset.train_images)
    assert torch.equal(five.dataset.test_images, task.dataset.test_images)
    assert not torch.equal(five.dataset.train_images, per_class_subset(task, 5, 2).dataset.train_images)
    ten = per_class_subset(task, 10, seed=1)
    rows = {bytes(image.numpy()) for image in ten.dataset.train_images}
    assert all(bytes(image.numpy()) in rows for image in five.dataset.train_images)
    assert per_class_subset(task, None) is task
    many = per_class_subset(task, 50)
    assert len(many.dataset.train_labels) == 120 and "Fewer than 50" in many.notes[-1]
    with pytest.raises(ValueError):
        per_class_subset(task, 0)


def _image(colour, size=(20, 30)):
    return np.full((*size, 3), colour, dtype=np.uint8)


def test_examples_with_a_hold_out():
    examples = {"red": [_image((200, 0, 0))] * HOLD_OUT_MIN,
                " Blue ": [_image((0, 0, 200)).astype(np.float32) / 255] * 10}
    task = task_from_examples(examples, size=24)
    data = task.dataset
    assert data.classes == ("red", "Blue") and task.source == "examples"
    assert not task.evaluated_on_training and task.caution is None
    assert data.train_images.shape[1:] == (3, 24, 24)
    assert data.class_counts("test") == {"red": 1, "Blue": 2}  # 20 %, at least one
    assert data.class_counts("train") == {"red": 4, "Blue": 8}
    assert int(data.train_images[data.train_labels == 0][0, 0].float().mean()) == 200


def test_too_few_examples_are_evaluated_on_training_with_a_caution():
    grey = np.linspace(0, 1, 64, dtype=np.float64).reshape(8, 8)  # (H, W) grey is fine
    task = task_from_examples({"a": [grey], "b": [_image(9), np.full((5, 5, 3), 7)]})
    assert task.evaluated_on_training and "Caution" in task.caution
    assert torch.equal(task.dataset.test_images, task.dataset.train_images)
    assert task.examples_per_class() == {"a": 1, "b": 2}
    assert per_class_subset(task, 1).dataset.test_labels.tolist() == [0, 1]


@pytest.mark.parametrize(("examples", "message"), [
    ({"cat": [_image(1)], "dog": []}, "'dog' has no examples"),
    ({"cat": [_image(1)]}, "at least 2 classes"),
    ({}, "at least 2 classes"),
    ({"Cat": [_image(1)], " cat ": [_image(2)]}, "Two classes are called 'cat'"),
    ({"cat": [_image(1)], "  ": [_image(2)]}, "Class 2 has no name"),
    ({str(i): [_image(i)] for i in range(11)}, "at most 10 classes"),
    ({"cat": [_image(1)], "dog": ["a picture"]}, "Example 1 of class 'dog' is not an image"),
    ({"cat": [_image(1)], "dog": [b"\x89PNG"]}, "not an image"),
    ({"cat": [_image(1)], "dog": [[[0, 0, 0]]]}, "not an image"),
    ({"cat": [_image(1)], "dog": [np.zeros((4, 4, 4), np.uint8)]}, "shape is"),
    ({"cat": [_image(1)], "dog": [np.full((4, 4, 3), 255.0)]}, "must lie in"),
    ({"cat": [_image(1)], "dog": [np.full((4, 4, 3), np.nan)]}, "NaN"),
    ({"cat": [_image(1)], "dog": [np.zeros((4, 4, 3), bool)]}, "not pixel numbers"),
    ({"cat": [_image(1)], "dog": _image(2)}, "'dog' has no examples"),
])
def test_bad_examples_get_a_clear_message(examples, message):
    with pytest.raises(ValueError, match=message):
        task_from_examples(examples)


def test_class_names_are_checked_on_their_own():
    assert check_class_names([" a", "B "]) == ("a", "B")
    with pytest.raises(ValueError, match="Two classes"):
        check_class_names(["x", "X"])
    with pytest.raises(ValueError):
        task_from_examples([("a", [_image(1)])])  # not a mapping


def _zip(classes: dict[str, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, count in classes.items():
            for i in range(count):
                png = io.BytesIO()
                Image.fromarray(_image((i * 20, 100, 0 if name == "a" else 250))).save(png, "PNG")
                archive.writestr(f"{name}/{i}.png", png.getvalue())
    return buffer.getvalue()


def test_a_zip_goes_through_the_train_pages_reader():
    task = task_from_zip(_zip({"a": 5, "b": 5}), size=40)
    assert task.source == "zip" and task.classes == ("a", "b")
    assert task.dataset.train_images.shape[1:] == (3, 40, 40)
    assert len(task.dataset.test_labels) == 2 and task.notes
    with pytest.raises(DatasetError, match="only one class"):
        task_from_zip(_zip({"a": 3}))
    with pytest.raises(DatasetError, match="not a zip"):
        task_from_zip(b"hello")
