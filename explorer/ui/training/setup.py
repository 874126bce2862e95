"""The Train page's choices (dataset, model, augmentation, training settings) and previews."""

from __future__ import annotations

import threading

import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.training import data, dataset_zip, nets
from explorer.training import settings as train_settings
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.training_session import PAGE

ZIP = "zip"  # the dataset choice "your own images"
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256)
CHANNELS = (8, 16, 32, 64)
HIDDEN = (32, 64, 128, 256, 512)


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


@st.cache_resource
def _dataset_store() -> tuple[dict, threading.Lock]:
    """Datasets loaded in this process (read-only tensors, shared by every session)."""
    return {}, threading.Lock()


def load_named(name: str) -> data.Dataset | None:
    """A registry dataset, downloaded once with a progress bar; None (and a message) if it fails."""
    store, lock = _dataset_store()
    if name in store:
        return store[name]
    spec = data.DATASETS[name]
    bar = st.progress(0.0, text=f"Loading {spec.label}...")

    def progress(done: int, total: int) -> None:
        fraction = min(done / total, 1.0) if total else 0.0
        bar.progress(fraction, text=f"Downloading {spec.label}: {done / 2**20:.1f} of "
                                    f"{total / 2**20:.1f} MB (once; kept in {data.data_root()})")

    try:
        with lock:
            if name not in store:
                store[name] = data.load_dataset(name, progress=progress)
    except data.DatasetError as error:
        bar.empty()
        st.error(f"{error}", icon=":material/cloud_off:")
        return None
    bar.empty()
    return store[name]


def load_zip() -> data.Dataset | None:
    """Your own images: a zip of class folders, decoded once per upload."""
    upload = st.file_uploader("Zip of class folders", type=["zip"], key=f"{PAGE}.zip",
                              help="Folders train/<class>/ and test/<class>/, or just <class>/ "
                                   "(then 20 % of each class is kept for testing).")
    cached = st.session_state.get(f"{PAGE}.zip.dataset")
    if upload is not None and st.session_state.get(f"{PAGE}.zip.id") != upload.file_id:
        st.session_state[f"{PAGE}.zip.id"] = upload.file_id
        try:
            cached = dataset_zip.dataset_from_zip(upload.getvalue(), name=upload.name)
        except data.DatasetError as error:
            st.error(str(error), icon=":material/folder_off:")
            cached = None
        st.session_state[f"{PAGE}.zip.dataset"] = cached
    if cached is None:
        st.caption("Upload a zip to train on your own images.")
    return cached


def dataset_label() -> str:
    """The sidebar's dataset as its menu names it (Shapes small and Shapes share one name)."""
    name = st.session_state.get(kept(f"{PAGE}.dataset"), "shapes")
    return data.DATASETS[name].label if name in data.DATASETS else "your own images (zip)"


def dataset_panel() -> data.Dataset | None:
    """Sidebar: which dataset."""
    names = [*data.DATASETS, ZIP]
    labels = {**{n: s.label for n, s in data.DATASETS.items()}, ZIP: "Your own images (zip)"}
    name = st.selectbox("Dataset", names, format_func=labels.get,
                        key=_seeded("dataset", "shapes", one_of(names), "dataset"))
    if name == ZIP:
        return load_zip()
    st.caption(data.DATASETS[name].description)
    return load_named(name)


def data_overview(dataset: data.Dataset) -> None:
    """A grid of examples per class and the class counts."""
    images, labels = dataset.preview(count_per_class=8)
    grid = plots.image_grid(images.numpy(), columns=8 * 2, scale=2 if dataset.image_size[0] <= 32 else 1)
    left, right = st.columns([3, 2])
    left.image(plots.png_bytes(grid), caption="8 training images of each class, class by class: "
               + ", ".join(dataset.classes), width="stretch", output_format="PNG")
    counts = pd.DataFrame({"class": dataset.classes,
                           "train": list(dataset.class_counts("train").values()),
                           "test": list(dataset.class_counts("test").values())})
    right.dataframe(counts, hide_index=True, width="stretch")
    right.caption(f"{dataset.channels} channel(s), {dataset.image_size[0]}x{dataset.image_size[1]} "
                  f"pixels; {len(dataset.train_labels)} training and {len(dataset.test_labels)} "
                  "test images.")
    for note in dataset.notes:
        right.caption(note)


def model_panel() -> nets.ModelSettings:
    """Sidebar: the CNN (defaults: the lecture's simple CNN)."""
    defaults = nets.ModelSettings()
    blocks = st.slider("Conv blocks", 1, nets.MAX_BLOCKS, key=_seeded(
        "blocks", defaults.blocks, number_in(1, nets.MAX_BLOCKS, integer=True), "blocks"))
    channels = st.select_slider("Channels in the first block (doubling after)", CHANNELS,
                                key=_seeded("channels", defaults.channels, one_of(CHANNELS),
                                            "channels"))
    kernel = st.radio("Kernel size", nets.KERNEL_SIZES, horizontal=True, key=_seeded(
        "kernel", defaults.kernel_size, one_of(nets.KERNEL_SIZES), "kernel"))
    activations = list(nets.ACTIVATIONS)
    activation = st.selectbox("Activation", activations,
                              format_func=lambda a: nets.ACTIVATIONS[a].label,
                              key=_seeded("activation", defaults.activation, one_of(activations),
                                          "activation"))
    batch_norm = st.toggle("Batch norm", key=_seeded("bn", False, one_of((True, False)), "bn"))
    dropout = st.slider("Dropout", 0.0, 0.8, step=0.1, key=_seeded(
        "dropout", 0.0, number_in(0.0, 0.8), "dropout"))
    hidden = st.select_slider("Dense units", HIDDEN, key=_seeded(
        "hidden", defaults.hidden, one_of(HIDDEN), "hidden"))
    return nets.ModelSettings(blocks=blocks, channels=channels, kernel_size=kernel,
                              activation=activation, batch_norm=batch_norm,
                              dropout=round(dropout, 2), hidden=hidden)


def augmentation_panel() -> Augmentation:
    flip = st.toggle("Flip left-right", key=_seeded("aug.flip", False, one_of((True, False)),
                                                    "flip"))
    shift = st.slider("Shift (pixels)", 0, 8, key=_seeded("aug.shift", 0,
                                                          number_in(0, 8, integer=True), "shift"))
    rotation = st.slider("Rotation (degrees)", 0, 45, step=5, key=_seeded(
        "aug.rotation", 0, number_in(0, 45, integer=True), "rotation"))
    jitter = st.slider("Colour jitter", 0.0, 0.5, step=0.05, key=_seeded(
        "aug.jitter", 0.0, number_in(0.0, 0.5), "jitter"))
    return Augmentation(flip=flip, shift=shift, rotation=float(rotation),
                             colour_jitter=round(jitter, 2))


def training_panel(dataset_name: str, model: nets.ModelSettings,
                   augmentation: Augmentation) -> train_settings.TrainSettings:
    """Sidebar: optimiser, learning rate, schedule, length, seed."""
    optimisers = list(train_settings.OPTIMISERS)
    optimiser = st.selectbox("Optimiser", optimisers,
                             format_func=lambda o: train_settings.OPTIMISERS[o].label,
                             key=_seeded("optimiser", "adam", one_of(optimisers), "optimiser"))
    rate = st.select_slider("Learning rate", LEARNING_RATES, key=_seeded(
        "lr", 1e-3, one_of(LEARNING_RATES), "lr"), format_func=lambda v: f"{v:g}")
    schedules = list(train_settings.SCHEDULES)
    schedule = st.selectbox("Schedule", schedules,
                            format_func=lambda s: train_settings.SCHEDULES[s].label,
                            key=_seeded("schedule", "constant", one_of(schedules), "schedule"))
    decay = st.number_input("Weight decay", 0.0, 0.1, step=1e-4, format="%.4f", key=_seeded(
        "decay", 0.0, number_in(0.0, 0.1), "decay"))
    batch = st.select_slider("Batch size", BATCH_SIZES, key=_seeded(
        "batch", 64, one_of(BATCH_SIZES), "batch"))
    epochs = st.slider("Epochs", 1, 30, key=_seeded("epochs", 3, number_in(1, 30, integer=True),
                                                    "epochs"))
    budget = st.slider("Time limit (seconds, 0 = none)", 0, 600, step=10, key=_seeded(
        "budget", 0, lambda v: number_in(0, 600, integer=True)(v) and v % 10 == 0, "budget"))
    seed_value = st.number_input("Seed", 0, 9999, key=_seeded(
        "seed", 0, number_in(0, 9999, integer=True), "seed"))
    return train_settings.TrainSettings(
        dataset=dataset_name, model=model, optimiser=optimiser, learning_rate=rate,
        weight_decay=float(decay), batch_size=batch, epochs=epochs,
        max_seconds=float(budget) if budget else None, schedule=schedule,
        augmentation=augmentation, seed=int(seed_value))


def model_overview(model: nets.ModelSettings, dataset: data.Dataset) -> bool:
    """The layer table for these settings; False (and a message) when they don't fit the data."""
    try:
        network = nets.build_model(model, in_channels=dataset.channels,
                                   num_classes=dataset.num_classes, image_size=dataset.image_size)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return False
    rows = nets.layer_table(network, (dataset.channels, *dataset.image_size))
    table = pd.DataFrame([{"layer": r.name, "type": r.type, "output shape": str(r.output_shape),
                           "parameters": r.parameters} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"Total: {sum(r.parameters for r in rows):,} parameters.")
    return True


def augmentation_preview(dataset: data.Dataset, augmentation: Augmentation) -> None:
    if not augmentation.active:
        st.caption("No augmentation: every epoch sees the same images.")
        return
    import torch

    images = dataset.train_images[:16].float() / 255.0
    generator = torch.Generator().manual_seed(int(st.session_state.get(f"{PAGE}.aug.draw", 0)))
    augmented = augment_batch(images, augmentation, generator)
    grid = plots.image_grid(torch.cat([images, augmented]).numpy(), columns=16, scale=2)
    st.image(plots.png_bytes(grid), width="stretch",
             caption="Top: 16 training images. Bottom: the same images augmented (each draws "
                     "its own random change).", output_format="PNG")
    st.button("Draw again", key=f"{PAGE}.aug.again",
              on_click=lambda: st.session_state.update(
                  {f"{PAGE}.aug.draw": st.session_state.get(f"{PAGE}.aug.draw", 0) + 1}))
