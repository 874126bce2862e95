"""The Train a CNN page's parts: data, model and training settings, job controls, live view, runs."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.jobs import registry as job_registry
from explorer.training import ablation as ablation_plan
from explorer.training import data, dataset_zip, lr_range, nets
from explorer.training import job as training
from explorer.training import settings as train_settings
from explorer.training.augmentation import Augmentation, augment_batch
from explorer.training.job import submit_training
from explorer.ui.state import kept, mirror, number_in, one_of, seed

PAGE = "train"
OWNER_KEY = kept(f"{PAGE}.owner")  # this tab's secret owner token (explorer.ui.heartbeat reads it)
JOB_KEY = f"{PAGE}.job"  # the run this tab shows: its own, or another's read-only
REFUSED_KEY = f"{PAGE}.refused"  # a message for the next run of the page
ABLATION_KEY = f"{PAGE}.ablation"  # [(variant key, job id)] of this tab's latest ablation
DRAWN_KEY = f"{PAGE}.drawn"  # what the controls were drawn for (see _control_state)
XSRF_COOKIE = "_streamlit_xsrf"
ZIP = "zip"  # the dataset choice "your own images"
POLL_SECONDS = 1.0
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256)
CHANNELS = (8, 16, 32, 64)
HIDDEN = (32, 64, 128, 256, 512)


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


# ---------------------------------------------------------------- process-wide state


@st.cache_resource
def registry() -> job_registry.JobRegistry:
    """One job registry per server process: jobs outlive page switches and reloads."""
    return job_registry.get_registry()


@st.cache_resource
def _dataset_store() -> tuple[dict, threading.Lock]:
    """Datasets loaded in this process (read-only tensors, shared by every session)."""
    return {}, threading.Lock()


def browser() -> str | None:
    """This session's browser (from Streamlit's XSRF cookie; None without one), read once."""
    key = f"{PAGE}.browser"
    if key not in st.session_state:
        st.session_state[key] = job_registry.browser_key(st.context.cookies.get(XSRF_COOKIE))
    return st.session_state[key]


def owner() -> str:
    """This tab's secret owner token: only it controls the tab's runs.

    It lives in the session and in this page's address bar (`owner=`), so a reloaded tab finds
    its runs again: a link's token is taken on only when its runs were started from this same
    browser (JobRegistry.claim). A copied address opened in another browser gets a fresh token
    and sees the linked run read-only. The page never shows the token; "Share this run" gives
    a link without it.
    """
    if not job_registry.is_token(st.session_state.get(OWNER_KEY)):
        linked = st.query_params.get("owner")
        if linked is not None and registry().claim(linked, browser()):
            st.session_state[OWNER_KEY] = linked
        else:
            st.session_state[f"{PAGE}.foreign"] = job_registry.is_token(linked)
            st.session_state[OWNER_KEY] = job_registry.new_token()
    mirror(OWNER_KEY, "owner")  # in the URL for a reload; never taken from a link here
    return st.session_state[OWNER_KEY]


def session_owner() -> str | None:
    """The owner token without touching the URL (for callbacks)."""
    value = st.session_state.get(OWNER_KEY)
    return value if job_registry.is_token(value) else None


# ---------------------------------------------------------------- data


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


# ---------------------------------------------------------------- settings


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


# ---------------------------------------------------------------- controls


def current_job_id() -> str | None:
    """This tab's run: from the session, else from the link (`job=`) if that run still exists
    (another tab's run is shown read-only)."""
    if JOB_KEY not in st.session_state:
        linked = st.query_params.get("job")
        job = registry().view(linked, owner()) if linked else None
        if not isinstance(job, training.TrainingJob):
            job = None  # a transfer run's id belongs to the Transfer learning page
        st.session_state[JOB_KEY] = job.job_id if job is not None else None
        if linked and job is None:
            st.session_state[REFUSED_KEY] = (
                "The run in this link is not on this server (any more): the server may have "
                "restarted, or the run was cleared to make room.")
    job_id = st.session_state[JOB_KEY]
    if job_id and registry().get(job_id) is None:
        st.session_state[JOB_KEY] = job_id = None
    return job_id


def _refuse(message: str) -> None:
    st.session_state[REFUSED_KEY] = message


def _submit(settings: train_settings.TrainSettings, dataset: data.Dataset) -> str | None:
    """Queue a run for this tab; None (and a message for the page) when the tab is at its
    limit of unfinished runs or the settings do not fit the data."""
    try:
        job_id = submit_training(registry(), settings, dataset, owner=owner(), browser=browser())
    except job_registry.QueueFull as error:
        _refuse(str(error))
        return None
    except ValueError as error:
        _refuse(f"This run cannot start: {error}")
        return None
    st.session_state[JOB_KEY] = job_id
    return job_id


def start(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """on_click: queue a run (it starts at once when a training slot is free)."""
    if settings is None or dataset is None:
        _refuse("Choose a dataset (and settings the model can take) before pressing Start.")
        return
    _submit(settings, dataset)


def ablation(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """on_click: the lecture's four variants, one after another through the queue (on the
    built-in data in the regime where they matter: explorer.training.ablation)."""
    if settings is None or dataset is None:
        _refuse("Choose a dataset (and settings the model can take) before the ablation.")
        return
    built_in = st.session_state.get(kept(f"{PAGE}.dataset")) in ablation_plan.BUILT_IN
    runs = ablation_plan.ablation_settings(settings, built_in=built_in)
    if built_in:
        dataset = load_named(ablation_plan.REGIME_DATASET)
        if dataset is None:
            return
    if registry().free_places(owner()) < len(runs):  # all four or none
        _refuse(
            f"The ablation queues {len(runs)} runs, and this tab may hold only "
            f"{registry().max_per_owner} unfinished runs at once on a shared server: stop or "
            "finish the runs it has first.")
        return
    st.session_state[ABLATION_KEY] = [(variant.key, _submit(run, dataset))
                                      for variant, run in runs]


def control(job_id: str, action: str) -> None:
    """on_click of Pause / Resume / Stop: only for the run's own tab, checked at the click (a
    button drawn earlier, or a request made by hand, proves nothing)."""
    job = registry().owned(job_id, session_owner())
    if job is None:
        _refuse("Only the tab that started this run can pause, resume or stop it; here it is "
                "shown read-only.")
    elif job.done:
        done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}.get(action, action)
        _refuse(f"This run has already ended ({job.state}): it cannot be {done} any more. "
                "Press Start for a new run.")
    elif action != "stop" and job.stop_requested:
        _refuse("This run is stopping; press Start for a new run.")
    elif action in ("pause", "resume", "stop"):
        getattr(job, action)()


def share(job_id: str) -> None:
    """on_click: make the run's view-only link (it never carries the owner token)."""
    if not registry().share(job_id, session_owner()):
        _refuse("Only the tab that started this run can share it.")


def _control_state(job: training.TrainingJob | None) -> tuple | None:
    """What the control buttons depend on; the live view redraws the page when it changes
    (the buttons are drawn outside the polling fragment)."""
    if job is None:
        return None
    return (job.job_id, job.state, job.pause_requested, job.stop_requested, job.done)


def _share_link(job_id: str) -> str:
    """This page's address with only the run's public id: view-only for whoever opens it."""
    page = (st.context.url or "").split("?")[0].split("#")[0] or f"/{PAGE}"
    return f"{page}?job={job_id}"


def controls(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """Start / Pause / Resume / Stop, the ablation queue and the learning-rate range test."""
    job = registry().get(current_job_id() or "")
    mine = job is not None and job.owner == owner()
    active = job is not None and not job.done
    ready = settings is not None and dataset is not None
    st.session_state[DRAWN_KEY] = _control_state(job)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.warning(refused, icon=":material/block:")
    if ready:
        note = training.batch_warning(len(dataset.train_labels), settings.batch_size)
        if note:
            st.warning(note, icon=":material/warning:")
    columns = st.columns(5)
    columns[0].button("Start", type="primary", icon=":material/play_arrow:", width="stretch",
                      disabled=not ready or (mine and active), on_click=start,
                      args=(settings, dataset))
    own_active = mine and active
    stopping = own_active and job.stop_requested
    if own_active and not stopping and (job.state == "paused" or job.pause_requested):
        columns[1].button("Resume", icon=":material/play_arrow:", width="stretch",
                          on_click=control, args=(job.job_id, "resume"))
    else:
        columns[1].button("Pause", icon=":material/pause:", width="stretch",
                          disabled=not (own_active and not stopping and job.state == "running"),
                          on_click=control, args=(getattr(job, "job_id", ""), "pause"))
    columns[2].button("Stop", icon=":material/stop:", width="stretch",
                      disabled=not own_active or stopping, on_click=control,
                      args=(getattr(job, "job_id", ""), "stop"))
    columns[3].button("Lecture ablation", icon=":material/science:", width="stretch",
                      disabled=not ready, on_click=ablation, args=(settings, dataset),
                      help="Four runs in a queue: plain, + batch norm, + dropout 0.5, "
                           "+ augmentation (the lecture's CIFAR-10 comparison)")
    if columns[4].button("LR range test", icon=":material/query_stats:", width="stretch",
                         disabled=not ready):
        range_test(settings, dataset)
    range_result()


def range_test(settings: train_settings.TrainSettings | None, dataset: data.Dataset | None) -> None:
    """Run the learning-rate range test for these settings; its result stays in the session."""
    if settings is None or dataset is None:
        st.warning("Choose a dataset (and settings the model can take) first.")
        return
    with st.spinner(f"Training {lr_range.RANGE_TEST_STEPS} batches with a growing learning "
                    "rate..."):
        try:
            result = lr_range.lr_range_test(settings, dataset, steps=lr_range.RANGE_TEST_STEPS)
        except ValueError as error:
            st.error(f"The range test cannot run: {error}", icon=":material/error:")
            return
    st.session_state[f"{PAGE}.range"] = result


def range_result() -> None:
    result = st.session_state.get(f"{PAGE}.range")
    if result is None:
        return
    if not result.ok:
        st.warning(result.note, icon=":material/warning:")
        return
    figure = plots.line_figure({"smoothed loss": (result.learning_rates, result.losses)},
                               x_title="learning rate", y_title="loss", log_x=True, height=260)
    figure.add_vline(x=result.suggested_lr, line_dash="dash",
                     annotation_text=f"suggested {result.suggested_lr:.2g}")
    st.plotly_chart(figure, width="stretch", key="range_test")
    st.caption(f"{len(result.losses)} of {result.steps} batches, learning rates "
               f"{result.start:g} to {result.end:g}. Suggested maximum learning rate "
               f"{result.suggested_lr:.2g} ({result.rule}); use it with the one-cycle schedule.")
    if result.note:
        st.warning(result.note, icon=":material/warning:")


# ---------------------------------------------------------------- live view


def _status_line(snap: training.JobSnapshot) -> str:
    if snap.state == "queued":
        return f"Waiting for a free training slot: number {snap.queue_position} in the queue."
    eta = f", about {snap.eta_seconds:.0f} s left" if snap.eta_seconds is not None else ""
    return (f"**{snap.state.capitalize()}**: epoch {snap.epoch:.2f}, step {snap.step}"
            f"{' of ' + str(snap.planned_steps) if snap.planned_steps else ''}, "
            f"{snap.images_per_second:,.0f} images/s{eta if not snap.done else ''}. "
            f"{snap.message}")


def show_run(snap: training.JobSnapshot, dataset: data.Dataset | None) -> None:
    """Progress, curves, kernels, confusion matrix and mistakes of one run (from a snapshot)."""
    st.progress(min(max(snap.progress, 0.0), 1.0), text=_status_line(snap))
    if snap.state == "failed":
        st.error(snap.message, icon=":material/warning:")
    elif snap.state == "stopped":
        measured = (f" The last measured test accuracy (on {snap.confusion_images:,} test "
                    f"images, at step {snap.latest.step}) was {snap.latest.test_accuracy:.1%}."
                    if snap.latest is not None else " It had not been evaluated yet.")
        st.info(f"Stopped at step {snap.step}"
                f"{' of ' + str(snap.planned_steps) if snap.planned_steps else ''}, before the "
                f"end: there is no final accuracy on the whole test split.{measured}",
                icon=":material/stop_circle:")
    points = snap.evaluations
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.line_figure(
            {"training loss (per step)": (snap.curve_steps, snap.curve_losses),
             **({"test loss": ([p.step for p in points], [p.test_loss for p in points])}
                if points else {})},
            x_title="step", y_title="loss", height=280), width="stretch", key="loss_curve")
    with right:
        if points:
            epochs = [p.epoch for p in points]
            st.plotly_chart(plots.line_figure(
                {"train": (epochs, [p.train_accuracy for p in points]),
                 "test": (epochs, [p.test_accuracy for p in points])},
                x_title="epoch", y_title="accuracy", height=280), width="stretch",
                key="accuracy_curve")
        else:
            st.caption("Accuracy appears after the first evaluation.")
    if snap.curve_learning_rates:
        st.plotly_chart(plots.line_figure(
            {"learning rate": (snap.curve_steps, snap.curve_learning_rates)},
            x_title="step", y_title="learning rate", log_y=True, height=200), width="stretch",
            key="lr_curve")
    if snap.final_test_accuracy is not None:
        st.success(f"Test accuracy on all {len(dataset.test_labels) if dataset else ''} test "
                   f"images: **{snap.final_test_accuracy:.1%}**", icon=":material/check_circle:")
    kernels_col, confusion_col = st.columns([2, 3])
    with kernels_col:
        if snap.kernels is not None:
            from explorer.networks import first_layer

            tiles = first_layer.kernels_to_images(snap.kernels) if snap.kernels.shape[1] == 3 \
                else (0.5 + 0.5 * snap.kernels / max(np.abs(snap.kernels).max(), 1e-12))
            st.image(plots.png_bytes(plots.image_grid(tiles, columns=8, scale=8)), width="stretch",
                     caption="First-layer kernels at the last evaluation (grey = 0)",
                     output_format="PNG")
    with confusion_col:
        if snap.confusion is not None:
            st.plotly_chart(plots.confusion_figure(snap.confusion, snap.classes),
                            width="stretch", key="confusion")
            st.caption(f"Confusion matrix on {snap.confusion_images} test images.")
    if snap.misclassified and dataset is not None and dataset.name == snap.dataset:
        wrong = snap.misclassified[:16]
        images = dataset.test_images[[m.index for m in wrong]].numpy()
        st.image(plots.png_bytes(plots.image_grid(images, columns=16, scale=3)), width="stretch",
                 output_format="PNG")
        st.caption("Mistakes, left to right: " + "; ".join(
            f"{snap.classes[m.true]} taken for {snap.classes[m.predicted]} "
            f"({m.confidence:.0%})" for m in wrong))


@st.fragment(run_every=POLL_SECONDS)
def live_view(job_id: str, dataset: data.Dataset | None) -> None:
    """Polls the job about once a second while it runs; the rest of the page stays put until
    the run's state changes (queued -> running, paused, done): then the whole page redraws,
    so the buttons outside this fragment match the run."""
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    job = registry().get(job_id)
    if job is None:
        st.caption("This run is gone (the server restarted or it was removed).")
        return
    snap = job.snapshot()
    show_run(snap, dataset)
    if snap.done or _control_state(job) != st.session_state.get(DRAWN_KEY):
        st.rerun()  # the controls, the run table and the downloads follow the new state


def run_view(job_id: str | None, dataset: data.Dataset | None) -> None:
    if st.session_state.pop(f"{PAGE}.foreign", False):
        st.info("This address carries another tab's key (made in another browser, or its runs "
                "are gone): this tab trains under its own key, and a run the address names is "
                "shown read-only.", icon=":material/visibility:")
    job = registry().get(job_id or "")
    if job is None:
        st.info("Press **Start** to train with the settings in the sidebar. Training goes on "
                "while you look at other pages; this page finds it again (also after a reload).",
                icon=":material/model_training:")
        return
    st.query_params["job"] = job.job_id
    if job.owner == owner():
        share_panel(job.job_id)
    else:
        st.info("You are looking at another tab's run, read-only: only the tab that started "
                "it can pause or stop it. **Start** trains a run of your own.",
                icon=":material/visibility:")
    if job.done:
        show_run(job.snapshot(), dataset)
    else:
        live_view(job.job_id, dataset)


def share_panel(job_id: str) -> None:
    """The owner's "Share this run": a view-only link (the run's id, never the owner token)."""
    if registry().is_shared(job_id):
        st.caption("View-only link to this run (it carries no control; once finished, the run "
                   "also appears in the Pretrained page of those who open it). The address bar "
                   "holds this tab's private key: share this link, not the address bar.")
        st.code(_share_link(job_id), language=None)
    else:
        st.button("Share this run", icon=":material/share:", key=f"{PAGE}.share",
                  on_click=share, args=(job_id,),
                  help="A link that shows this run to others read-only.")
