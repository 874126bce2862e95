"""New tasks for the Transfer learning page: built-in letters, a zip, or examples per class."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from explorer.images.synthetic import LETTER_CLASSES, SHAPE_CLASSES, render_letters
from explorer.training.data import Dataset, DatasetError, channel_stats, shapes_dataset
from explorer.training.dataset_zip import dataset_from_zip
from explorer.user_input import NumberField

TASK_SIZE = 32  # built-in tasks are 32 x 32 RGB, like Shapes
MIN_CLASSES, MAX_CLASSES = 2, 10  # examples per class (Teachable-Machine style)
MAX_EXAMPLES = 500  # per class: more belongs in a zip
# a built-in task's generated images per class (the command line's --train/--test-per-class)
TRAIN_PER_CLASS = NumberField("Generated training images per class", 1, 5_000, integer=True)
TEST_PER_CLASS = NumberField("Generated test images per class", 1, 2_000, integer=True)
HOLD_OUT_MIN = 5  # every class needs this many examples before some are held out for testing
HOLD_OUT_FRACTION = 0.2  # of each class (at least one image) when they are
PER_CLASS_CHOICES = (5, 10, 20, 50, None)  # None = all; what the page offers

def _letter_split(per_class: int, size: int,
                  rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = rng.permutation(np.repeat(np.arange(len(LETTER_CLASSES)), per_class))  # balanced
    images = render_letters(labels, size, rng)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def letters_dataset(train_per_class: int = 200, test_per_class: int = 100, *,
                    size: int = TASK_SIZE, seed: int = 0) -> Dataset:
    """Ten capital letters, exactly `train_per_class` / `test_per_class` images of each.

    Deterministic: the same arguments give the same bytes. Train and test come from separate
    random streams (the test set does not change with train_per_class).
    """
    if train_per_class < 1 or test_per_class < 1:
        raise DatasetError("Ask for at least one train and one test image per letter.")
    if not 8 <= size <= 256:
        raise DatasetError(f"Letter images must be 8 to 256 pixels wide, not {size}.")
    train = _letter_split(train_per_class, size, np.random.default_rng([seed, 0, 26]))
    test = _letter_split(test_per_class, size, np.random.default_rng([seed, 1, 26]))
    return _dataset("letters", LETTER_CLASSES, train, test)


def _shapes_task(train_per_class: int, test_per_class: int, *, size: int = TASK_SIZE,
                 seed: int = 0) -> Dataset:
    """Shapes (balanced to within one image per class: shapes_dataset's own split)."""
    count = len(SHAPE_CLASSES)
    return shapes_dataset(train_per_class * count, test_per_class * count, size=size, seed=seed)


def _dataset(name: str, classes: tuple[str, ...], train: tuple[torch.Tensor, torch.Tensor],
             test: tuple[torch.Tensor, torch.Tensor], notes: tuple[str, ...] = ()) -> Dataset:
    images = train[0].contiguous()
    mean, std = channel_stats(images)
    return Dataset(name, classes, images, train[1].contiguous(), test[0].contiguous(),
                   test[1].contiguous(), mean, std, notes)


# ---------------------------------------------------------------------------
# What a transfer job trains on
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TransferTask:
    """A dataset and how far its test numbers can be trusted.

    evaluated_on_training: True when there were too few examples to hold any out, so the
    "test" split is the training examples themselves (the page shows `caution`).
    """

    name: str
    source: str  # "builtin", "zip" or "examples"
    dataset: Dataset
    evaluated_on_training: bool = False
    notes: tuple[str, ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.dataset.classes

    @property
    def caution(self) -> str | None:
        if not self.evaluated_on_training:
            return None
        return ("Caution: too few examples to hold any out, so the accuracy is measured on the "
                "examples the network learned from. It says how well it remembers them, not "
                f"how well it recognises new ones. Give every class at least {HOLD_OUT_MIN} "
                "examples to keep some apart for testing.")

    def examples_per_class(self) -> dict[str, int]:
        """Training images of each class."""
        return self.dataset.class_counts("train")


@dataclass(frozen=True)
class TaskSpec:
    label: str
    classes: tuple[str, ...]
    make: Callable[..., Dataset]  # (train_per_class, test_per_class, *, size, seed) -> Dataset
    explanation: str


TASKS: dict[str, TaskSpec] = {
    "letters": TaskSpec(
        "Letters (10 capital letters)", LETTER_CLASSES, letters_dataset,
        "Capital letters A C E F H K L N T Y drawn with strokes in random colours, sizes, "
        "positions and slants on Shapes' noisy backgrounds. No network here has seen them, "
        "but their bars, corners and curves are what the Shapes features detect.",
    ),
    "shapes": TaskSpec(
        "Shapes (the default network's own task)", SHAPE_CLASSES, _shapes_task,
        "The Train page's ten shapes: new for an ImageNet network, already learned by the "
        "app's default network (so its frozen features are all it needs).",
    ),
}


@functools.lru_cache(maxsize=4)
def builtin_task(name: str, *, train_per_class: int = 200, test_per_class: int = 100,
                 size: int = TASK_SIZE, seed: int = 0) -> TransferTask:
    """A built-in task by TASKS key; deterministic by seed, cached per process."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; choose one of {list(TASKS)}.")
    TRAIN_PER_CLASS.check(train_per_class)  # before anything is generated
    TEST_PER_CLASS.check(test_per_class)
    spec = TASKS[name]
    dataset = spec.make(train_per_class, test_per_class, size=size, seed=seed)
    return TransferTask(name, "builtin", dataset)


def per_class_subset(task: TransferTask, per_class: int | None, seed: int = 0) -> TransferTask:
    """The first `per_class` training images of each class in a seeded random order (None: all).

    Deterministic and nested: the 10 per class are among the 20 per class of the same seed.
    The test split is unchanged (for a task evaluated on its training examples it is the new
    training split). A class with fewer images keeps them all, with a note.
    """
    if per_class is None:
        return task
    if per_class < 1:
        raise ValueError(f"Use at least one example per class; got {per_class}.")
    data = task.dataset
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.train_labels), generator=generator)  # one shuffle for all
    picks, short = [], []
    for label, name in enumerate(data.classes):
        members = order[data.train_labels[order] == label]  # this class, in the shuffled order
        picks.append(members[:per_class])
        if len(members) < per_class:
            short.append(f"{name} ({len(members)})")
    index = torch.cat(picks).sort().values  # keep the dataset's own order
    train = (data.train_images[index], data.train_labels[index])
    test = train if task.evaluated_on_training else (data.test_images, data.test_labels)
    notes = task.notes
    if short:
        notes += (f"Fewer than {per_class} examples in: {', '.join(short)}; those use all.",)
    dataset = _dataset(data.name, data.classes, train, test, data.notes)
    return TransferTask(task.name, task.source, dataset, task.evaluated_on_training, notes)


# ---------------------------------------------------------------------------
# The user's own images
# ---------------------------------------------------------------------------


def task_from_zip(data: bytes, *, name: str = "upload.zip", size: int = TASK_SIZE) -> TransferTask:
    """A zip of class folders through the Train page's safe reader (explorer.training.data), images
    resized to size x size (the backbone's input size). DatasetError (a ValueError) with the
    reader's message when the zip fails its checks."""
    dataset = dataset_from_zip(data, name=name, size=size)
    return TransferTask(name, "zip", dataset, notes=dataset.notes)


def check_class_names(names: Sequence[object]) -> tuple[str, ...]:
    """The class names stripped; ValueError unless 2-10 distinct (case-insensitive) non-empty
    names."""
    if len(names) < MIN_CLASSES:
        raise ValueError(f"Name at least {MIN_CLASSES} classes to tell apart; there "
                         f"{'is' if len(names) == 1 else 'are'} {len(names)}.")
    if len(names) > MAX_CLASSES:
        raise ValueError(f"Use at most {MAX_CLASSES} classes; there are {len(names)}.")
    cleaned, seen = [], {}
    for i, name in enumerate(names, start=1):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Class {i} has no name: give every class a name.")
        key = name.strip().casefold()
        if key in seen:
            raise ValueError(f"Two classes are called '{name.strip()}' (classes {seen[key]} and "
                             f"{i}; names are compared without case and spaces): rename one.")
        seen[key] = i
        cleaned.append(name.strip())
    return tuple(cleaned)


def example_image(image: object, size: int, where: str) -> torch.Tensor:
    """One example (H, W, 3) or (H, W): uint8, integers 0-255 or float in [0, 1] -> (3, size,
    size) uint8, squashed to a square with antialiasing. ValueError naming `where` otherwise."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{where} is not an image: expected a decoded picture (a numpy "
                         f"array), got {type(image).__name__}.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or image.size == 0:
        raise ValueError(f"{where} is not a colour or grey picture: its shape is {image.shape} "
                         "instead of (height, width, 3) or (height, width).")
    if image.dtype == np.uint8:
        pixels = image.astype(np.float32) / 255
    elif np.issubdtype(image.dtype, np.integer):
        if image.min() < 0 or image.max() > 255:
            raise ValueError(f"{where} has whole-number values outside 0-255.")
        pixels = image.astype(np.float32) / 255
    elif np.issubdtype(image.dtype, np.floating):
        pixels = image.astype(np.float32)
        if not np.isfinite(pixels).all():
            raise ValueError(f"{where} contains NaN or infinite values.")
        if pixels.min() < -1e-3 or pixels.max() > 1 + 1e-3:
            raise ValueError(f"{where} has values from {pixels.min():.3g} to {pixels.max():.3g};"
                             " a float picture must lie in [0, 1] (divide 0-255 values by 255).")
    else:
        raise ValueError(f"{where} holds {image.dtype} values, not pixel numbers.")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)  # grey -> RGB
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]  # (1, 3, H, W)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def task_from_examples(examples: Mapping[str, Sequence[object]], *, size: int = TASK_SIZE,
                       seed: int = 0, name: str = "your examples") -> TransferTask:
    """Teachable-Machine style: {class name: [decoded images]} -> a task at size x size.

    Rules (ValueError with a sentence for the page otherwise): 2-10 classes, distinct names
    (ignoring case and surrounding spaces), 1 to MAX_EXAMPLES examples in every class, each an
    image array (see example_image). Hold-out: when every class has HOLD_OUT_MIN (5) examples
    or more, HOLD_OUT_FRACTION (20 %) of each class, at least one, chosen at random with
    `seed`, becomes the test split; otherwise the task trains on everything and is evaluated
    on the training examples (evaluated_on_training, with a caution).
    """
    if not isinstance(examples, Mapping):
        raise ValueError("Examples must be given as {class name: list of pictures}.")
    classes = check_class_names(list(examples))
    lists = list(examples.values())
    for label, items in zip(classes, lists, strict=True):
        if isinstance(items, np.ndarray) or not isinstance(items, Sequence) or not items:
            raise ValueError(f"Class '{label}' has no examples: add at least one picture.")
        if len(items) > MAX_EXAMPLES:
            raise ValueError(f"Class '{label}' has {len(items)} examples; at most "
                             f"{MAX_EXAMPLES} per class (use a zip for more).")
    images = [[example_image(image, size, f"Example {i} of class '{label}'")
               for i, image in enumerate(items, start=1)]
              for label, items in zip(classes, lists, strict=True)]
    held_out = min(len(group) for group in images) >= HOLD_OUT_MIN
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, group in enumerate(images):
        n_test = max(1, round(len(group) * HOLD_OUT_FRACTION)) if held_out else 0
        chosen = set(rng.permutation(len(group))[:n_test].tolist())
        for i, image in enumerate(group):
            (test if i in chosen else train).append((image, label))
    if not held_out:
        test = train

    def stack(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.stack([image for image, _ in items]),  # (N, 3, size, size) uint8
                torch.tensor([label for _, label in items], dtype=torch.int64))

    notes = (f"Resized every example to {size} x {size} colour pixels (aspect ratio not kept).",)
    if held_out:
        notes += (f"Kept {HOLD_OUT_FRACTION:.0%} of each class's examples (at least one, picked "
                  f"at random, seed {seed}) apart for testing.",)
    dataset = _dataset(name, classes, stack(train), stack(test), notes)
    return TransferTask(name, "examples", dataset, evaluated_on_training=not held_out,
                        notes=notes)
