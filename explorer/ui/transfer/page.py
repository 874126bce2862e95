"""The Transfer learning page's choices: backbone, task (built-in, zip, your examples), strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.training import job as training
from explorer.transfer.adapt import STRATEGIES, TransferSettings, layer_plan, parameter_counts
from explorer.transfer.backbones import (
    BACKBONES,
    Backbone,
    backbone_from_job,
    backbone_from_loaded,
    default_backbone,
)
from explorer.transfer.tasks import (
    PER_CLASS_CHOICES,
    TASK_SIZE,
    TASKS,
    TransferTask,
    builtin_task,
    check_class_names,
    task_from_examples,
    task_from_zip,
)
from explorer.ui.networks import page as pretrained_page
from explorer.ui.state import kept, seed
from explorer.ui.training_session import owner, registry
from explorer.ui.transfer import examples as transfer_examples

PAGE = "transfer"
RUN_PREFIX = "run:"
SOURCES = {"builtin": "Built-in task", "zip": "Your zip of class folders",
           "examples": "Your examples (upload or camera)"}
INPUT_SIZES = (64, 112, 160, 224)  # what an ImageNet backbone may be shown (its own: 224)
DEFAULT_INPUT_SIZE = 112  # a quarter of 224's work per image; ImageNet features still work
BUDGETS = (10, 20, 30, 60, 120, 300)  # seconds of training per strategy (features included)


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


def _one_of(options):
    return lambda value: isinstance(value, str) and value in options


# ---------------------------------------------------------------- backbone


@st.cache_resource(show_spinner="Loading the network...", max_entries=4)
def _zoo_backbone(key: str) -> Backbone:
    """One per process: the shared network of the Pretrained page, never changed here."""
    return backbone_from_loaded(pretrained_page.zoo_model(BACKBONES[key].zoo_name))


def backbone_choices() -> dict[str, str]:
    """Select box keys -> labels: the app's network, this tab's finished Train runs (and runs
    shared with it), the torchvision networks."""
    choices = {"default": BACKBONES["default"].label}
    for job in registry().finished_visible_to(owner(), training.TrainingJob.KIND):
        snap = job.snapshot()
        accuracy = f", {snap.final_test_accuracy:.0%}" if snap.final_test_accuracy else ""
        choices[RUN_PREFIX + job.job_id] = f"Train-page run {job.job_id[:8]} ({snap.dataset}" \
                                           f"{accuracy})"
    choices.update({key: spec.label for key, spec in BACKBONES.items() if key != "default"})
    return choices


def backbone_panel() -> Backbone | None:
    """Sidebar: which pretrained network to adapt, and whether its weights are here."""
    choices = backbone_choices()
    key = st.selectbox("Pretrained network (backbone)", list(choices), format_func=choices.get,
                       key=_seeded("backbone", "default", _one_of(list(choices)), "backbone"),
                       help="The network whose layers are reused. Its last layer is replaced "
                            "by a new one with your classes.")
    if key == "default":
        backbone = default_backbone()
    elif key.startswith(RUN_PREFIX):
        job = registry().get(key.removeprefix(RUN_PREFIX))
        if job is None or job.model is None:
            st.error("That Train-page run is no longer on the server: pick another network.")
            return None
        backbone = backbone_from_job(job)
    else:
        backbone = _zoo_backbone(key)
    if key in BACKBONES:
        st.caption(BACKBONES[key].explanation)
    if backbone.pretrained:
        st.caption(f":material/check_circle: {backbone.message}")
    else:
        st.warning(backbone.message, icon=":material/cloud_off:")
        pretrained_page.download_button(BACKBONES[key].zoo_name,
                                        pretrained_page.zoo_model(BACKBONES[key].zoo_name))
    return backbone


# ---------------------------------------------------------------- task


@st.cache_data(max_entries=8, show_spinner="Reading the zip...")
def _zip_task(data: bytes, name: str) -> TransferTask | str:
    """The zip as a task, or the reader's message (cached per file, errors included)."""
    try:
        return task_from_zip(data, name=name, size=TASK_SIZE)
    except (ValueError, MemoryError) as error:  # DatasetError is a ValueError
        return str(error)


def task_panel() -> TransferTask | None:
    """Sidebar: where the new task's images come from (the examples editor is in the page)."""
    source = st.radio("New task", list(SOURCES), format_func=SOURCES.get,
                      label_visibility="collapsed",
                      key=_seeded("source", "builtin", _one_of(list(SOURCES)), "source"))
    if source == "builtin":
        name = st.selectbox("Built-in task", list(TASKS), format_func=lambda k: TASKS[k].label,
                            key=_seeded("task", "letters", _one_of(list(TASKS)), "task"))
        st.caption(TASKS[name].explanation)
        return builtin_task(name)
    if source == "zip":
        upload = st.file_uploader("Zip of class folders (one folder per class)", type=["zip"],
                                  key=f"{PAGE}.zip")
        st.caption("The same zip as on the Train page: `cats/1.png`, `dogs/7.jpg`, ...")
        if upload is None:
            return None
        task = _zip_task(upload.getvalue(), upload.name)
        if isinstance(task, str):
            st.error(f"**{upload.name}** cannot be used: {task}", icon=":material/error:")
            return None
        return task
    return None  # examples: drawn by examples_task() in the page body


def examples_chosen() -> bool:
    return st.session_state.get(kept(f"{PAGE}.source")) == "examples"


def examples_task() -> TransferTask | None:
    """The examples editor (page body) and the task it makes; a message for every problem."""
    classes = transfer_examples.examples_panel()
    counts = [len(pictures) for _, pictures in classes]
    if not any(counts):
        st.info("Add pictures to every class to make a task.", icon=":material/add_a_photo:")
        return None
    try:
        names = check_class_names([name for name, _ in classes])
        empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
        if empty:
            raise ValueError(f"Class '{empty[0]}' has no examples: add at least one picture "
                             f"(or lower the number of classes).")
        return task_from_examples(dict(zip(names, [p for _, p in classes], strict=True)),
                                  size=TASK_SIZE)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None


def task_overview(task: TransferTask) -> None:
    """Counts and a few examples of each class."""
    data = task.dataset
    train, test = data.class_counts("train"), data.class_counts("test")
    st.markdown(f"**{task.name}**: {len(data.classes)} classes, {len(data.train_labels):,} "
                f"training and {len(data.test_labels):,} test images of {data.image_size[0]} x "
                f"{data.image_size[1]} pixels.")
    for note in task.notes:
        st.caption(note)
    if task.caution:
        st.warning(task.caution, icon=":material/warning:")
    shown = [np.flatnonzero(data.train_labels.numpy() == label)[:8]
             for label in range(len(data.classes))]
    columns = st.columns(min(5, len(data.classes)))
    for label, name in enumerate(data.classes):
        with columns[label % len(columns)]:
            tiles = data.train_images[shown[label]].numpy()
            if len(tiles):
                st.image(plots.png_bytes(plots.image_grid(tiles, columns=4, scale=2)),
                         width="stretch", output_format="PNG")
            st.caption(f"**{name}**: {train.get(name, 0)} train, {test.get(name, 0)} test")


# ---------------------------------------------------------------- how much to retrain


def _per_class_label(value: int | None) -> str:
    return "all" if value is None else str(value)


def settings_panel(backbone: Backbone) -> TransferSettings:
    """Sidebar: strategy, examples per class, budget, epochs, input size, learning rate."""
    strategy = st.selectbox("How much to retrain", list(STRATEGIES),
                            format_func=lambda k: STRATEGIES[k].label,
                            key=_seeded("strategy", "frozen", _one_of(list(STRATEGIES)),
                                        "strategy"))
    st.caption(STRATEGIES[strategy].explanation)
    labels = [_per_class_label(v) for v in PER_CLASS_CHOICES]
    per_class = st.select_slider("Examples per class", labels,
                                 key=_seeded("per_class", "20", _one_of(labels), "per_class"),
                                 help="Training pictures of each class (the test pictures stay "
                                      "the same).")
    budget = st.select_slider("Time budget per strategy (s)", BUDGETS,
                              key=_seeded("budget", 30, lambda v: v in BUDGETS, "budget"),
                              help="Training stops after this many seconds (computing the "
                                   "features included) or after the epochs, whichever is first.")
    epochs = st.slider("Epochs (at most)", 5, 200, key=_seeded(
        "epochs", 50, lambda v: type(v) is int and 5 <= v <= 200, "epochs"))
    size = None
    if backbone.resizable:
        size = st.select_slider("Picture size shown to the network", INPUT_SIZES,
                                key=_seeded("size", DEFAULT_INPUT_SIZE,
                                            lambda v: v in INPUT_SIZES, "size"),
                                help=f"{backbone.label} was trained on {backbone.input_size[0]} "
                                     "px pictures; smaller is faster.")
    rate = st.select_slider("Learning rate (Adam)", ["default", "1e-4", "3e-4", "1e-3", "3e-3",
                                                     "1e-2", "3e-2"],
                            key=f"{PAGE}.rate",
                            help="default: the strategy's own (frozen head 1e-2, the others "
                                 "1e-3).")
    return TransferSettings(
        strategy=strategy,
        examples_per_class=None if per_class == "all" else int(per_class),
        epochs=int(epochs), max_seconds=float(budget), input_size=size,
        learning_rate=None if rate == "default" else float(rate),
    )


def layers_panel(backbone: Backbone, settings: TransferSettings, classes: int) -> None:
    """Every strategy's trainable / frozen parameters, and the chosen one's layer table."""
    rows = []
    for key, spec in STRATEGIES.items():
        trainable, frozen = parameter_counts(layer_plan(backbone, key, classes))
        rows.append({"strategy": spec.label, "trainable parameters": f"{trainable:,}",
                     "frozen parameters": f"{frozen:,}",
                     "starts from": "pretrained weights" if spec.pretrained else "random weights"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    plan = layer_plan(backbone, settings.strategy, classes)
    st.caption(f"Layers of {backbone.label} under **{STRATEGIES[settings.strategy].label}** "
               f"(the new head has {classes} outputs):")
    table = pd.DataFrame([{"layer": row.name, "type": row.type, "parameters": row.parameters,
                           "trainable": row.trainable, "state": row.state} for row in plan])
    colours = {"frozen": "background-color: #dde6f3", "trainable": "background-color: #fde9c8",
               "new head": "background-color: #f8c9a0"}
    st.dataframe(table.style.map(lambda v: colours.get(v, ""), subset=["state"]),
                 hide_index=True, width="stretch", height=min(420, 38 + 35 * len(plan)))
