"""Pretrained page tabs on what a unit responds to: feature visualisation (live), edges to objects."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st
import torch

from explorer.featurevis import dataset_examples
from explorer.featurevis import optimise as featurevis
from explorer.featurevis.identity import vis_key
from explorer.featurevis.inputs import example_images, parse_channels
from explorer.featurevis.job import VisJob
from explorer.featurevis.optimise import LOGITS, VisSettings
from explorer.images import plots
from explorer.jobs import registry as job_registry
from explorer.networks import feature_maps, shared_results, zoo
from explorer.ui.state import Check, seed
from explorer.ui.training_session import browser, owner, registry, session_owner

PAGE = "pretrained"
JOB_KEY = f"{PAGE}.featurevis.job"
STEPS = (32, 64, 128, 256, 512)
SIZES = (32, 64, 96, 128, 160, 224)
POLL_SECONDS = 2.0  # as the Train page: each poll redraws the pictures for every watcher
MOSAIC_FROM = 16  # more channels than this are drawn as one mosaic
CHANNELS_TEXT = 200  # characters of the channels box (and of its link value)
_CHANNELS = re.compile(r"\s*(all|\d{1,4}(-\d{1,4})?(\s*,\s*\d{1,4}(-\d{1,4})?)*)\s*",
                       re.IGNORECASE)
# A link's channels: "0-7", "0,3,5", "all", or one channel (a link writes "3" as the number 3).
CHANNELS_LINK = Check(
    lambda v: (type(v) is int and 0 <= v < 10_000) or (
        isinstance(v, str) and len(v) <= CHANNELS_TEXT and _CHANNELS.fullmatch(v) is not None
        and not v.strip().isdigit()),
    coerce=str)


EXAMPLES_FROM_A_RUN = 1000  # test pictures of a Train-page run searched for top examples


def example_source(loaded: zoo.LoadedModel) -> str:
    """Where a network's top examples come from: "run:<id>" (a Train-page run: its own test
    set), "default" (a Shapes network: Shapes' test set) or "photos" (the built-in photos)."""
    from explorer.training.data import SHAPE_CLASSES
    from explorer.training.job import TrainingJob

    for job in registry().jobs():
        if job.KIND == TrainingJob.KIND and job.model is loaded.model:
            return "run:" + job.job_id
    shapes = tuple(loaded.categories) == tuple(SHAPE_CLASSES) and loaded.input_shape[0] == 3
    return "default" if shapes else "photos"


def _pictures(source: str, size: int) -> tuple[torch.Tensor, str]:
    """(N, C, H, W) pictures in [0, 1] and what they are."""
    if source.startswith("run:"):
        job = registry().get(source.removeprefix("run:"))
        if job is not None and getattr(job, "dataset", None) is not None:
            data = job.dataset
            return (data.test_images[:EXAMPLES_FROM_A_RUN].float() / 255,
                    f"{data.name} test set (the run's own)")
        source = "photos"
    images, _ = example_images("default" if source == "default" else "photos", size)
    return images, "Shapes test set" if source == "default" else "built-in photos"


@st.cache_data(max_entries=8, show_spinner="Finding the patches each channel likes most...")
def _examples(_model, model_id: int, source: str, layer: str, units: tuple[int, ...],
              size: int, mean: tuple, std: tuple) -> tuple[list, np.ndarray, object, str]:
    """Top and bottom examples of each unit among the source's pictures (example_source), the
    pictures (N, H, W, C), the layer's receptive field and what the pictures are."""
    images, label = _pictures(source, size)
    found = dataset_examples.channel_examples(_model, layer, units,
                                              featurevis.normalise(images, mean, std))
    field = dataset_examples.field_or_none(_model, layer)
    return found, images.permute(0, 2, 3, 1).numpy(), field, label


def _patches(pictures: np.ndarray, field, examples) -> bytes:
    """Four examples as a 2 x 2 grid: the unit's receptive field, else the whole picture."""
    tiles = (dataset_examples.example_crops(pictures, field, examples) if field is not None
             else [pictures[e.image] for e in examples])
    side = max(t.shape[0] for t in tiles)
    tiles = np.stack([np.pad(t, ((0, side - t.shape[0]), (0, side - t.shape[1]), (0, 0)),
                             constant_values=1.0) for t in tiles])
    return plots.png_bytes(plots.image_grid(tiles, columns=2, pad=1, scale=max(1, 48 // side)))


def _submit(loaded: zoo.LoadedModel, layer: str, units: list[int], settings: VisSettings) -> None:
    me = owner()
    mean, std = tuple(loaded.transforms.mean), tuple(loaded.transforms.std)
    examples = None
    if settings.start == "best example":  # as bytes: a fourth of the floats' size to a worker
        pictures, _ = _pictures(example_source(loaded), settings.size)
        examples = (pictures * 255).round().to(torch.uint8)
    try:
        job_id = registry().submit_job(
            lambda threads, on_done: VisJob(loaded.model, loaded.name, layer, units, mean=mean,
                                            std=std, settings=settings, owner=me,
                                            threads=threads, on_done=on_done,
                                            examples=examples),
            threads=2, owner=me, browser=browser(),
            key=vis_key(loaded.model, layer, units, mean, std, settings))
    except job_registry.QueueFull as error:
        st.session_state[f"{PAGE}.featurevis.refused"] = str(error)
        return
    st.session_state[JOB_KEY] = job_id


def _stop(job_id: str) -> None:
    registry().stop_for(job_id, session_owner())  # a shared one goes on for the others


def featurevis_panel(loaded: zoo.LoadedModel) -> None:
    """Choose a layer and channels; optimise a picture per channel in the background."""
    layers = featurevis.conv_layers(loaded.model) + [LOGITS]
    if layers == [LOGITS]:
        st.info("This network has no convolutional layers: only its classes can be visualised.")
    left, middle, right = st.columns([2, 2, 3])
    layer = left.selectbox(  # both mirrored in the address (vis_layer, vis_channels)
        "Layer", layers, format_func=lambda n: "the classes (logits)" if n == LOGITS else n,
        key=seed(f"{PAGE}.featurevis.layer.{loaded.name}", layers[min(3, len(layers) - 1)],
                 valid=lambda v: isinstance(v, str) and v in layers, url="vis_layer"))
    text = middle.text_input("Channels (0-7, 0,3,5 or all)", max_chars=CHANNELS_TEXT,
                             key=seed(f"{PAGE}.featurevis.channels", "0-7",
                                      valid=lambda v: isinstance(v, str)
                                      and len(v) <= CHANNELS_TEXT,
                                      link_valid=CHANNELS_LINK, url="vis_channels"))
    steps = right.select_slider("Steps", STEPS, value=128, key=f"{PAGE}.featurevis.steps")
    start = right.segmented_control(
        "Start from", featurevis.STARTS, default="noise", key=f"{PAGE}.featurevis.start",
        help="Faint noise shows what the channel builds from nothing; the best example starts "
             "from the real picture that excites the channel most and makes it more so.")
    native = loaded.input_shape[1]
    with st.expander("Regularisation: what makes the pictures readable"):
        columns = st.columns(4)
        fourier = columns[0].toggle("Fourier, 1/f", True, key=f"{PAGE}.featurevis.fourier")
        decorrelate = columns[1].toggle("Decorrelated colours", True,
                                        key=f"{PAGE}.featurevis.decorrelate")
        jitter = columns[2].toggle("Jitter, zoom, turn", True, key=f"{PAGE}.featurevis.jitter")
        tv = columns[3].select_slider("TV penalty", (0.0, 0.1, 0.5, 2.0), value=0.0,
                                      key=f"{PAGE}.featurevis.tv")
        size = st.select_slider("Picture side (pixels)", SIZES,
                                value=min(SIZES, key=lambda s: abs(s - min(native, 128))),
                                key=f"{PAGE}.featurevis.size.{loaded.name}")
        st.caption("Off, the optimiser finds high-frequency patterns the network likes but a "
                   "person cannot read; each regularisation keeps only what survives small "
                   "changes of the picture.")
    try:
        units = parse_channels(text)
        if units is None:  # "all": the whole layer, one picture per channel
            units = list(range(featurevis.channel_count(loaded.model, layer,
                                                        loaded.input_shape)))
        featurevis.check_units(loaded.model, layer, units, loaded.input_shape)
        featurevis.check_batch(len(units), size)
        settings = VisSettings(steps=steps, size=size, fourier=fourier, decorrelate=decorrelate,
                               jitter=max(1, size // 16) if jitter else 0,
                               scale=0.05 if jitter else 0.0, rotate=5.0 if jitter else 0.0,
                               tv_weight=tv, start=start or "noise")
    except Exception as error:  # noqa: BLE001 - argparse's and ValueError: both are sentences
        st.error(f"Cannot visualise that: {error}", icon=":material/error:")
        return
    if not loaded.pretrained:
        st.warning("This network's weights are random: its channels look for noise.",
                   icon=":material/cloud_off:")
    if st.button("Visualise", type="primary", icon=":material/auto_awesome:",
                 key=f"{PAGE}.featurevis.go"):
        _submit(loaded, layer, units, settings)
    refused = st.session_state.pop(f"{PAGE}.featurevis.refused", None)
    if refused:
        st.error(refused, icon=":material/block:")
    job = registry().get(st.session_state.get(JOB_KEY) or "")
    if job is not None and job.KIND == VisJob.KIND and job.network == loaded.name:
        if job.done:
            show_vis(job.snapshot(), loaded)
        else:
            live_vis(job.job_id, loaded)


def _followed(job_id: str):
    """The job a live view polls (None once it is gone), after this tab's heartbeat."""
    me = session_owner()
    if me is not None:
        registry().heartbeat(me)
    return registry().get(job_id)


@st.fragment(run_every=POLL_SECONDS)
def live_vis(job_id: str, loaded: zoo.LoadedModel) -> None:
    job = _followed(job_id)
    if job is None:
        return
    st.button("Stop", icon=":material/stop:", key=f"{PAGE}.featurevis.stop", on_click=_stop,
              args=(job_id,))
    show_vis(job.snapshot(), loaded)
    if job.done:
        st.rerun()


def show_vis(snap, loaded: zoo.LoadedModel) -> None:
    """The pictures as they form, each channel's value, and (when finished) the real pictures
    that excite each channel most."""
    total = snap.settings.steps
    st.progress(snap.step / total, text=f"{snap.state}: step {snap.step} of {total}, "
                f"{snap.elapsed_seconds:.1f} s. {snap.message}")
    if snap.state == "failed":
        st.error(snap.message, icon=":material/warning:")
    if snap.images is None:
        return
    scale = max(1, 96 // snap.images.shape[1])
    if len(snap.units) > MOSAIC_FROM:  # a whole layer: one mosaic, channels in reading order
        st.image(plots.png_bytes(plots.image_grid(snap.images, columns=16, pad=2,
                                                  scale=max(1, 48 // snap.images.shape[1]))),
                 width="stretch", caption=f"{snap.layer}: channels {snap.units[0]} to "
                 f"{snap.units[-1]}, left to right and top to bottom. Top examples are shown "
                 f"for up to {MOSAIC_FROM} channels at a time.", output_format="PNG")
        return
    columns = st.columns(min(8, len(snap.units)))
    for i, unit in enumerate(snap.units):
        with columns[i % len(columns)]:
            tile = np.repeat(np.repeat(snap.images[i], scale, 0), scale, 1)
            st.image(plots.png_bytes(tile), width="stretch",
                     caption=f"{'class ' + loaded.categories[unit] if snap.layer == LOGITS else 'channel ' + str(unit)}: "
                             f"{snap.values[i]:.2f}", output_format="PNG")
    if snap.done and snap.layer != LOGITS and snap.state == "finished":
        found, pictures, field, where = _examples(
            loaded.model, id(loaded.model), example_source(loaded), snap.layer, snap.units,
            loaded.input_shape[1], tuple(loaded.transforms.mean), tuple(loaded.transforms.std))
        seen = (f"the {field.size[0]} x {field.size[1]} pixel patch its strongest unit sees"
                if field is not None else "the whole picture (its units see all of it)")
        started = (" Each optimised picture started from its channel's best whole picture "
                   "(start: best example) and now excites the channel more."
                   if snap.settings.start == "best example" else "")
        st.caption(f"Below each: the four pictures of the {where} where the channel is highest, "
                   f"cropped to {seen}.{started}")
        for i, examples in enumerate(found):
            with columns[i % len(columns)]:
                st.image(_patches(pictures, field, examples.top), width="stretch",
                         output_format="PNG")
        dead = [i for i, examples in enumerate(found) if examples.top[0].value <= 0]
        woken = [snap.units[i] for i in dead if snap.values[i] > 0]
        asleep = [snap.units[i] for i in dead if snap.values[i] <= 0]
        for channels, ending in ((woken, "the optimised picture shows what would."),
                                 (asleep, "the optimisation found nothing that does either.")):
            if channels:
                names = ", ".join(str(channel) for channel in channels)
                st.info(f"Channel{'s' if len(channels) > 1 else ''} {names}: dead for every "
                        f"picture of the {where} (no unit above zero anywhere), so no real "
                        f"picture excites {'them' if len(channels) > 1 else 'it'}; {ending}",
                        icon=":material/visibility_off:")
        with st.expander("Least-activating patches"):
            lows = st.columns(len(columns))
            for i, examples in enumerate(found):
                lows[i % len(lows)].image(_patches(pictures, field, examples.bottom),
                                          width="stretch", caption=f"channel {examples.channel}",
                                          output_format="PNG")
    if len(snap.history) > 1:
        series = {f"{'class' if snap.layer == LOGITS else 'channel'} {u}":
                  (list(range(1, len(snap.history) + 1)), snap.history[:, i].tolist())
                  for i, u in enumerate(snap.units)}
        st.plotly_chart(plots.line_figure(series, x_title="step", y_title="mean activation",
                                          height=240), width="stretch",
                        key=f"{PAGE}.featurevis.curve")


# ---------------------------------------------------------------- edges -> parts -> objects

HIERARCHY_KEY = f"{PAGE}.hierarchy.jobs"
HIERARCHY_CHANNELS = 4


def hierarchy_layers(model) -> list[str]:
    """An early, a middle and a late convolution (fewer when the network has fewer)."""
    modules = dict(model.named_modules())
    convs = [n for n in featurevis.conv_layers(model)
             if isinstance(modules.get(n), torch.nn.Conv2d)]
    if len(convs) <= 3:
        return convs
    return [convs[0], convs[len(convs) // 2], convs[-1]]


def hierarchy_panel(loaded: zoo.LoadedModel, image: np.ndarray, x) -> None:
    """For this picture: the strongest channels of an early, a middle and a late layer, where
    they fire, and (on request) what each of them looks for."""
    from explorer.ui.networks.page import as_picture, overlay

    if x is None:
        st.info("Nothing to show for this picture: the message above says why.")
        return
    layers = hierarchy_layers(loaded.model)
    if not layers:
        st.info("This network has no convolutional layers.")
        return
    try:
        maps = shared_results.captured(loaded, x, image)
    except (ValueError, RuntimeError) as error:
        st.error(f"The layers could not be captured: {error}", icon=":material/error:")
        return
    picture = as_picture(x)
    chosen = {layer: feature_maps.strongest_channels(maps[layer], HIERARCHY_CHANNELS)
              for layer in layers if layer in maps}
    st.markdown("The lecture's story, on this picture: early layers respond to edges and "
                "colours, later ones to larger parts. Each column: a layer's strongest "
                "channels (by mean activation) and where they fire.")
    jobs = {job.layer: job for job in (registry().get(i) for i in
                                       st.session_state.get(HIERARCHY_KEY, []))
            if job is not None and job.KIND == VisJob.KIND and job.network == loaded.name}
    columns = st.columns(len(chosen))
    for column, (layer, channels) in zip(columns, chosen.items(), strict=True):
        with column:
            field = dataset_examples.field_or_none(loaded.model, layer)
            st.markdown(f"**{layer}**" + (f" (sees {field.size[0]} px)" if field else ""))
            activation = maps[layer][0].numpy()  # (C, h, w)
            tiles = np.stack([overlay(picture, activation[c]) for c in channels])
            st.image(plots.png_bytes(plots.image_grid(tiles, columns=2, pad=2)),
                     width="stretch", caption="channels " + ", ".join(map(str, channels)),
                     output_format="PNG")
            job = jobs.get(layer)
            if job is not None and job.units == tuple(channels):
                if job.done:
                    _looks_for(job.snapshot())
                else:
                    _live_looks_for(job.job_id)
    if st.button("Show what these channels look for", icon=":material/auto_awesome:",
                 key=f"{PAGE}.hierarchy.go"):
        _submit_hierarchy(loaded, chosen)
        st.rerun()
    refused = st.session_state.pop(f"{PAGE}.featurevis.refused", None)
    if refused:
        st.error(refused, icon=":material/block:")


def _submit_hierarchy(loaded: zoo.LoadedModel, chosen: dict[str, list[int]]) -> None:
    me = owner()
    if registry().free_places(me) < len(chosen):
        st.session_state[f"{PAGE}.featurevis.refused"] = (
            f"This needs {len(chosen)} free places; one tab may hold "
            f"{registry().max_per_owner} unfinished runs at once: wait for the others.")
        return
    size = min(loaded.input_shape[1], 128)
    settings = VisSettings(steps=128, size=size, jitter=max(1, size // 16))
    mean, std = tuple(loaded.transforms.mean), tuple(loaded.transforms.std)
    ids = []
    for layer, channels in chosen.items():
        ids.append(registry().submit_job(
            lambda threads, on_done, layer=layer, channels=channels: VisJob(
                loaded.model, loaded.name, layer, channels, mean=mean, std=std,
                settings=settings, owner=me, threads=threads, on_done=on_done),
            threads=2, owner=me, browser=browser(),
            key=vis_key(loaded.model, layer, channels, mean, std, settings)))
    st.session_state[HIERARCHY_KEY] = ids


def _looks_for(snap) -> None:
    if snap.images is not None:
        st.image(plots.png_bytes(plots.image_grid(snap.images, columns=2, pad=2)),
                 width="stretch", caption=f"what they look for ({snap.state}, step {snap.step})",
                 output_format="PNG")
    else:
        st.caption(f"what they look for: {snap.message}")


@st.fragment(run_every=POLL_SECONDS)
def _live_looks_for(job_id: str) -> None:
    """One layer's visualisation as it forms; the page redraws once it is done."""
    job = _followed(job_id)
    if job is None:
        return
    _looks_for(job.snapshot())
    if job.done:
        st.rerun()
