"""The Train page's "Show the code": a PyTorch script that trains the same model the same way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from explorer.codegen.inputs import definitions
from explorer.images import synthetic
from explorer.training import augmentation, data, dataset_zip
from explorer.training.augmentation import Augmentation
from explorer.training.batches import normalisation
from explorer.training.data import Dataset
from explorer.training.nets import ModelSettings, feature_sizes
from explorer.training.settings import OPTIMISERS, SCHEDULES, TIME_TICKS, TrainSettings

# Image shape and normalisation of the named datasets, for scripts written without the data
# at hand (mean/std of the train split in [0, 1], as explorer.training.data computes them).
KNOWN_DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"channels": 1, "size": 28, "classes": 10, "torchvision": "MNIST",
              "mean": (0.1307,), "std": (0.3081,)},
    "fashion": {"channels": 1, "size": 28, "classes": 10, "torchvision": "FashionMNIST",
                "mean": (0.2860,), "std": (0.3530,)},
    "cifar10": {"channels": 3, "size": 32, "classes": 10, "torchvision": "CIFAR10",
                "mean": (0.4914, 0.4822, 0.4465), "std": (0.2470, 0.2435, 0.2616)},
    "shapes": {"channels": 3, "size": 32, "classes": 10},
    "shapes-small": {"channels": 3, "size": 32, "classes": 10},
}



def _numbers(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ",)"


def model_code(model: ModelSettings, in_channels: int, num_classes: int,
                image_size: tuple[int, int]) -> str:
    """`nn.Sequential(OrderedDict([...]))` with build_model's names, so weights load either way."""
    height, width = feature_sizes(model, image_size)[-1]
    padding = model.kernel_size // 2 if model.padding == "same" else 0
    act = {
        "relu": lambda _: "nn.ReLU()",
        "leaky_relu": lambda _: "nn.LeakyReLU(0.01)",
        "prelu": lambda width: f"nn.PReLU({width})",
        "elu": lambda _: "nn.ELU(1.0)",
    }[model.activation]
    lines, previous = [], in_channels
    for i, channels in enumerate(model.block_channels(), start=1):
        bias = ", bias=False" if model.batch_norm else ""
        lines.append(f'("conv{i}", nn.Conv2d({previous}, {channels}, {model.kernel_size}, '
                     f'padding={padding}{bias})),')
        if model.batch_norm:
            lines.append(f'("bn{i}", nn.BatchNorm2d({channels})),')
        lines.append(f'("act{i}", {act(channels)}),')
        lines.append(f'("pool{i}", nn.MaxPool2d(2)),')
        previous = channels
    lines.append('("flatten", nn.Flatten()),')
    if model.dropout > 0:
        lines.append(f'("drop1", nn.Dropout({model.dropout})),')
    lines.append(f'("fc1", nn.Linear({previous} * {height} * {width}, {model.hidden})),')
    lines.append(f'("act_fc1", {act(model.hidden)}),')
    if model.dropout > 0:
        lines.append(f'("drop2", nn.Dropout({model.dropout})),')
    lines.append(f'("fc2", nn.Linear({model.hidden}, {num_classes})),')
    body = "\n".join("    " + line for line in lines)
    return f"model = nn.Sequential(OrderedDict([\n{body}\n]))"


def standalone_script(settings: TrainSettings, dataset: Dataset | None = None) -> str:
    """A runnable PyTorch script that trains the same model the same way.

    It needs only torch, torchvision, numpy and Pillow, never explorer: mnist / fashion /
    cifar10 come from torchvision (downloaded to ./data); Shapes is drawn by the app's own
    generator and a zip is read by a short loader, both copied in, as is augmentation (the
    app's augment_batch). Pass the dataset for exact classes, sizes and normalisation; without
    it the named datasets' standard values are used. N_TRAIN / N_TEST at the top size the
    shapes set.
    """
    s = settings
    known = KNOWN_DATASETS.get(s.dataset)
    if dataset is not None:
        in_channels, image_size = dataset.channels, dataset.image_size
        num_classes = dataset.num_classes
        mean, std = normalisation(dataset)
    elif known is not None:
        in_channels, image_size = known["channels"], (known["size"], known["size"])
        num_classes = known["classes"]
        mean, std = known.get("mean", (0.5,) * in_channels), known.get("std", (0.25,) * in_channels)
    else:
        raise ValueError(f"Pass the dataset to write a script for {s.dataset!r}.")
    source = s.dataset if s.dataset in KNOWN_DATASETS else "zip"
    default_train = 2000 if source == "shapes-small" else 20000
    source = "shapes" if source == "shapes-small" else source
    if source == "shapes":
        count_train = len(dataset.train_labels) if dataset is not None else default_train
        count_test = len(dataset.test_labels) if dataset is not None else 4000
    augment = s.augmentation.active
    by_time = s.max_seconds is not None

    standard = {"import time"}
    if by_time and s.epochs is None:
        standard.add("import itertools")
    if augment or source in ("shapes", "zip"):
        standard.add("import math")
    if augment:
        standard.add("from dataclasses import dataclass")
    if source == "zip":
        standard |= {"import io", "import zipfile", "from pathlib import PurePosixPath"}
    imports = sorted(line for line in standard if line.startswith("import "))
    imports += ["from collections import OrderedDict"]
    imports += sorted(line for line in standard if line.startswith("from "))
    imports += ["", "import numpy as np", "import torch", "import torch.nn.functional as F"]
    if source in ("mnist", "fashion", "cifar10"):
        imports.append("import torchvision")
    if source == "zip":
        imports.append("from PIL import Image, ImageOps")
    imports.append("from torch import nn")

    constants = [
        f"SEED = {s.seed}",
        f"EPOCHS = {s.epochs}",
        f"MAX_SECONDS = {s.max_seconds}  # training-time budget; None = no budget",
        f"BATCH_SIZE = {s.batch_size}",
        f"LEARNING_RATE = {s.learning_rate!r}",
        f"WEIGHT_DECAY = {s.weight_decay!r}",
        f"THREADS = {s.threads}",
    ]
    if source in ("mnist", "fashion", "cifar10"):
        constants += [
            f"MEAN = {_numbers(mean)}  # per channel, of the train images in [0, 1]",
            f"STD = {_numbers(std)}",
        ]
    if source == "shapes":
        constants += [f"N_TRAIN = {count_train}", f"N_TEST = {count_test}",
                      f"IMAGE_SIZE = {image_size[0]}"]
    if source == "zip":
        constants += ['ZIP_PATH = "my_dataset.zip"  # a zip of one folder of images per class',
                      f"IMAGE_SIZE = {image_size[0]}"]

    if source in ("mnist", "fashion", "cifar10"):
        name = KNOWN_DATASETS[source]["torchvision"]
        data = f'''def as_tensors(split):
    """A torchvision dataset -> (N, C, H, W) uint8 images and (N,) int64 labels."""
    images = torch.as_tensor(np.asarray(split.data))  # (N, H, W) or (N, H, W, 3)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)


train_images, train_labels = as_tensors(torchvision.datasets.{name}("data", train=True, download=True))
test_images, test_labels = as_tensors(torchvision.datasets.{name}("data", train=False, download=True))'''
    elif source == "shapes":
        data = shapes_code()
    else:
        data = zip_code()
    if augment:
        data = augmentation_code(s.augmentation) + "\n\n" + data

    total = "EPOCHS * steps_per_epoch" if s.epochs is not None else f"{TIME_TICKS}"
    optimiser = OPTIMISERS[s.optimiser].code.format(lr="LEARNING_RATE", wd="WEIGHT_DECAY")
    scheduler = SCHEDULES[s.schedule].code.format(total="total_steps", lr="LEARNING_RATE")
    prepare_aug = (
        "    x = images.float() / 255  # (B, C, H, W) in [0, 1]\n"
        + ("    if augment:\n        x = augment_batch(x, AUGMENTATION, generator=generator)\n"
           if augment else "")
        + "    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)"
    )
    prepare_signature = "def prepare(images, augment=False):" if augment else "def prepare(images):"
    train_prepare = "prepare(train_images[index], augment=True)" if augment else (
        "prepare(train_images[index])")
    epochs_loop = "range(EPOCHS)" if s.epochs is not None else "itertools.count()"
    if by_time:
        schedule_step = f"""        # The schedule spans the epochs or the time budget, whichever ends first.
        seconds = time.perf_counter() - start
        progress = min(1.0, max({'step / total_steps, ' if s.epochs is not None else ''}seconds / MAX_SECONDS))
        while scheduler.last_epoch < round(progress * total_steps):
            scheduler.step()
        if progress >= 1:
            break
    print(f"epoch {{epoch + 1}}: loss {{loss.item():.3f}}, test accuracy {{evaluate():.3f}}")
    if progress >= 1:
        break"""
    else:
        schedule_step = """        scheduler.step()  # per batch
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {evaluate():.3f}")"""

    body = f'''
torch.set_num_threads(THREADS)
torch.manual_seed(SEED)
generator = torch.Generator().manual_seed(SEED)  # batch order{' and augmentation' if augment else ''}

{data}

{model_code(s.model, in_channels, num_classes, image_size)}
model = model.to(memory_format=torch.channels_last)  # 20-40 % faster convolutions on CPU

optimizer = {optimiser}
steps_per_epoch = max(1, len(train_labels) // BATCH_SIZE)  # full batches only
total_steps = {total}
scheduler = {scheduler}
mean = torch.tensor(MEAN).view(1, -1, 1, 1)
std = torch.tensor(STD).clamp(min=1 / 255).view(1, -1, 1, 1)  # a constant channel: std 0


{prepare_signature}
    """uint8 images -> normalised float32 in channels_last."""
{prepare_aug}


def evaluate():
    """Accuracy on the whole test split."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(test_labels), 256):
            logits = model(prepare(test_images[first : first + 256]))
            correct += (logits.argmax(1) == test_labels[first : first + 256]).sum().item()
    model.train()
    return correct / len(test_labels)


start = time.perf_counter()
step = 0
for epoch in {epochs_loop}:
    order = torch.randperm(len(train_labels), generator=generator)
    for batch in range(steps_per_epoch):
        index = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
        loss = F.cross_entropy(model({train_prepare}), train_labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
{schedule_step}
print(f"trained {{step}} steps in {{time.perf_counter() - start:.1f}} s")
torch.save(model.state_dict(), "cnn.pt")  # load with torch.load("cnn.pt", weights_only=True)
'''
    summary = _summary(s)
    header = f'"""Train a CNN on {s.dataset} as CNN Explorer did: {summary}."""'
    return "\n".join([header, "", *imports, "", *constants, body.rstrip("\n"), ""])


def _summary(s: TrainSettings) -> str:
    m = s.model
    parts = [f"{m.blocks} conv blocks", f"{m.kernel_size}x{m.kernel_size}", m.activation]
    if m.batch_norm:
        parts.append("batch norm")
    if m.dropout:
        parts.append(f"dropout {m.dropout:g}")
    parts += [s.optimiser, f"lr {s.learning_rate:g}", f"{s.schedule} schedule"]
    return ", ".join(parts)


# The app's own code that a script copies in, so that it runs without explorer.
SHAPES_DEFINITIONS = (
    "SHAPE_CLASSES", "_FULL_TURN", "_BASE_ANGLE", "_WOBBLE", "RADIUS", "THICKNESS", "CONTRAST",
    "GRADIENT", "NOISE", "_box", "_triangle", "_star", "_shape_distance", "contrasting_colours",
    "pixel_noise", "paint", "render_shapes",
)
ZIP_DEFINITIONS = (
    "IMAGE_SUFFIXES", "TRAIN_FOLDERS", "TEST_FOLDERS", "TEST_FRACTION", "_is_junk",
    "_split_and_class", "_hold_out",
)
AUGMENTATION_DEFINITIONS = ("Augmentation", "_grey", "augment_batch")

# A zip's images decoded as the app decodes them (explorer.images.files.read_image, then
# explorer.training.dataset_zip._decode), less its limits on hostile files and its shrinking of big photos
# before the resize (which can move a pixel of a large photo by a grey level).
_ZIP_READER = '''

def decode(body, size):
    """Image file bytes -> (3, size, size) uint8, squashed to a square (aspect not kept)."""
    with Image.open(io.BytesIO(body)) as image:
        rgba = np.asarray(ImageOps.exif_transpose(image).convert("RGBA"), dtype=np.float32) / 255
    alpha = rgba[..., 3:]  # transparent parts read as white paper
    pixels = torch.from_numpy(rgba[..., :3] * alpha + (1 - alpha))  # (H, W, 3)
    resized = F.interpolate(pixels.permute(2, 0, 1)[None], size=(size, size), mode="bilinear",
                            antialias=True, align_corners=False)
    return (resized[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def read_zip(path, size):
    """A zip of class folders -> {"train": [(class, name, image)], "test": [...]}.

    train/<class>/ and test/<class>/ folders, or <class>/ folders alone, either one
    optionally inside a single wrapper folder. Damaged images are skipped.
    """
    with zipfile.ZipFile(path) as archive:
        files = []
        for name in archive.namelist():
            parts = tuple(p for p in PurePosixPath(name.replace("\\\\", "/")).parts if p != ".")
            if not name.endswith("/") and parts and not _is_junk(parts):
                files.append((parts, name))
        tops = {parts[0] for parts, _ in files}
        folders = TRAIN_FOLDERS | TEST_FOLDERS
        if (len(tops) == 1 and all(len(parts) >= 2 for parts, _ in files)
                and any(len(parts) >= 3 for parts, _ in files)
                and next(iter(tops)).lower() not in folders):
            files = [(parts[1:], name) for parts, name in files]  # inside a wrapper folder
        explicit = any(parts[0].lower() in folders for parts, _ in files)
        found = {"train": [], "test": []}
        for parts, name in sorted(files):
            place = _split_and_class(parts, explicit)
            if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES or place is None:
                continue
            try:
                image = decode(archive.read(name), size)
            except Exception as error:  # a damaged image
                print(f"skipped {name}: {error}")
                continue
            found[place[0]].append((place[1], name, image))
    return found


found = read_zip(ZIP_PATH, IMAGE_SIZE)
CLASSES = tuple(sorted({label for label, _, _ in found["train"]}))
if not found["test"]:
    found = _hold_out(found["train"], CLASSES)  # TEST_FRACTION of each class, seed 0
index = {label: i for i, label in enumerate(CLASSES)}


def stack(items):
    """[(class, name, (3, S, S) uint8)] -> (N, 3, S, S) uint8 images and (N,) int64 labels."""
    images = torch.stack([image for _, _, image in items])
    return images, torch.tensor([index[label] for label, _, _ in items], dtype=torch.int64)


train_images, train_labels = stack(found["train"])
test_images, test_labels = stack(found["test"])'''

_STATISTICS = '''MEAN, STD = channel_stats(train_images)  # per channel, of the train images in [0, 1]
# A channel that is (nearly) the same in every image is centred, not divided by ~0.
STD = tuple(value if value >= 1 / 255 else 1.0 for value in STD)'''


def shapes_code() -> str:
    """Lines that draw the Shapes dataset exactly as explorer.training.data.shapes_dataset does."""
    lines = ["# The built-in Shapes dataset, drawn as CNN Explorer draws it (same bytes)",
             *definitions(synthetic, SHAPES_DEFINITIONS), "", "",
             *definitions(data, ("channel_stats", "_shape_split")), "", "",
             "# train and test come from separate random streams (seed 0)",
             "train_images, train_labels = _shape_split(N_TRAIN, IMAGE_SIZE, "
             "np.random.default_rng([0, 0]))  # (N, 3, S, S) uint8, (N,)",
             "test_images, test_labels = _shape_split(N_TEST, IMAGE_SIZE, "
             "np.random.default_rng([0, 1]))",
             _STATISTICS]
    return "\n".join(lines)


def zip_code() -> str:
    """Lines that read a zip of class folders into tensors as explorer.training.dataset_zip.dataset_from_zip
    does (same layouts, same held-out test images)."""
    lines = ["# A zip of class folders, read as CNN Explorer reads it",
             *definitions(dataset_zip, ZIP_DEFINITIONS), "", "",
             *definitions(data, ("channel_stats",)), _ZIP_READER, _STATISTICS]
    return "\n".join(lines)


def augmentation_code(settings: Augmentation) -> str:
    """The app's augmentation (explorer.training.augmentation.augment_batch) and these settings of it."""
    a = settings
    lines = ["# Augmentation, as CNN Explorer does it: every image draws its own random changes",
             *definitions(augmentation, AUGMENTATION_DEFINITIONS), "", "",
             f"AUGMENTATION = Augmentation(flip={a.flip}, shift={a.shift}, "
             f"rotation={a.rotation}, colour_jitter={a.colour_jitter})"]
    return "\n".join(lines)
