"""Page 4: adapt a pretrained network to new classes, and see what the pretrained weights are worth."""

import streamlit as st

from explorer.ui.transfer import page as ui
from explorer.ui.transfer import results as runs
from explorer.ui.widgets import lazy_tabs, page_header

page_header(
    "transfer",
    "The lecture's last recipe: keep a pretrained network's convolutional layers fixed and "
    "train only a new last layer for new classes. Pick a network and a task (built in, a zip "
    "or your own pictures), then compare with fine-tuning and with training from scratch: "
    "with few examples, the pretrained features win.",
)

with st.sidebar:
    st.header("Pretrained network", anchor=False)
    backbone = ui.backbone_panel()
    st.header("New task", anchor=False)
    task = ui.task_panel()
    st.header("How much to retrain", anchor=False)
    settings = ui.settings_panel(backbone) if backbone is not None else None

if ui.examples_chosen():
    with st.expander("Your classes and examples", expanded=True, icon=":material/add_a_photo:"):
        task = ui.examples_task()
if task is not None:
    with st.expander(f"The task: {task.name}", icon=":material/photo_library:",
                     expanded=task.source == "builtin"):
        ui.task_overview(task)
if backbone is not None and task is not None and settings is not None:
    with st.expander("Which layers train: frozen / trainable, parameters per strategy",
                     icon=":material/layers:"):
        ui.layers_panel(backbone, settings, len(task.classes))

runs.controls(settings, backbone, task)
runs.runs_view()
finished = runs.finished_runs()
if finished:
    lazy_tabs({
        "Predict new pictures": lambda: runs.predictions_panel(finished),
        "Accuracy vs examples": lambda: runs.examples_curve(finished),
        "Downloads and code": lambda: runs.exports_panel(finished),
    }, key="transfer.tabs")
