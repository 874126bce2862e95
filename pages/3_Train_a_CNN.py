"""Page 3: train a small CNN live and compare runs."""

import streamlit as st

from explorer.training import data
from explorer.ui.state import bound_expander_link
from explorer.ui.training import ablation as ablation_view
from explorer.ui.training import preview as training_preview
from explorer.ui.training import run as training_run
from explorer.ui.training import runs as training_runs
from explorer.ui.training import setup as training_setup
from explorer.ui.widgets import page_header

page_header(
    "train",
    "Train the lecture's simple CNN (two blocks of conv + ReLU + max-pool, then two dense "
    "layers) and watch it learn: the loss falls, the first-layer kernels take shape, the "
    "mistakes change. Then change one thing at a time and compare the runs.",
)

with st.sidebar:
    st.header("Data", anchor=False)
    dataset = training_setup.dataset_panel()
    st.header("Model", anchor=False)
    model = training_setup.model_panel()
    st.header("Training", anchor=False)
    with st.expander("Augmentation"):
        augmentation = training_setup.augmentation_panel()
    settings = None
    if dataset is not None:
        try:
            settings = training_setup.training_panel(
                dataset.name if dataset.name in data.DATASETS else "zip", model, augmentation)
        except ValueError as error:
            st.error(str(error))

fits = False
if dataset is not None:
    with st.expander(f"The data: {training_setup.dataset_label()}",
                     icon=":material/photo_library:"):
        training_setup.data_overview(dataset)
    with st.expander("The model: layers, output shapes, parameters", icon=":material/layers:"):
        fits = training_setup.model_overview(model, dataset)
    bound_expander_link("preview")  # a lecture card may open or close it
    with st.expander("Learning-rate schedule and activation, before you start",
                     icon=":material/show_chart:", key="preview", bind="query-params"):
        training_preview.schedule_and_activation(settings, dataset)
    if augmentation.active:
        with st.expander("Augmentation preview", icon=":material/flip:"):
            training_setup.augmentation_preview(dataset, augmentation)

training_run.controls(settings if fits else None, dataset)
ablation_view.ablation_panel()
training_run.run_view(training_run.current_job_id(), dataset)
st.subheader("Runs", anchor=False)
training_runs.runs_panel(dataset)
