"""The Pretrained networks page's parts: model choice, predictions, activations, kernels, Grad-CAM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.images import plots
from explorer.jobs import registry as job_registry
from explorer.jobs import tokens
from explorer.networks import (
    activations,
    custom,
    feature_maps,
    first_layer,
    layer_costs,
    model_registry,
    predictions,
    shared_results,
    weights_files,
    zoo,
)
from explorer.training import app_networks, batches, nets
from explorer.training import job as training
from explorer.ui.heartbeat import OWNER_KEY
from explorer.ui.state import kept, seed

PAGE = "pretrained"
DEFAULT = "default"  # the app's own network, trained on the built-in shapes (assets/)
RUN_PREFIX = "run:"  # networks trained on the Train page in this server process
DEFAULT_NET = app_networks.DEFAULT_NET
GRID_COUNTS = (8, 16, 32, 64)


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


# Link values must have the widget's own type: 3.0 for a slider of ints, 1 for a toggle or a
# list for a select box would be equal to a valid value (3.0 == 3, 1 == True) yet break it.
def _text_in(options):
    return lambda value: isinstance(value, str) and value in options


def _int_in(options):
    return lambda value: type(value) is int and value in options


def _int_between(low: int, high: int):
    return lambda value: type(value) is int and low <= value <= high


def _flag(value) -> bool:
    return type(value) is bool


# ---------------------------------------------------------------- models (one copy per process)


@st.cache_resource(show_spinner="Loading the network...", max_entries=4)
def zoo_model(name: str) -> zoo.LoadedModel:
    """A torchvision network with its cached weights, or untrained when they are not cached."""
    return zoo.load_model(name)


@st.cache_resource(show_spinner="Loading the app's network...")
def default_model() -> zoo.LoadedModel:
    """The simple CNN of the Train page, trained on shapes and shipped in assets/."""
    return app_networks.default_network()


@st.cache_resource(max_entries=8)
def trained_model(job_id: str) -> zoo.LoadedModel | None:
    job = job_registry.get_registry().get(job_id)
    if job is None or job.model is None:
        return None
    if job.KIND != training.TrainingJob.KIND:  # a network adapted on the Transfer page
        from explorer.transfer.export import as_loaded_model

        return as_loaded_model(job)
    dataset = job.dataset
    mean, std = batches.normalisation(dataset)  # as trained: a constant channel's std floored
    return app_networks.own_model(f"Run {job_id[:8]}", job, dataset.classes, mean, std,
                                  f"Trained on the Train page ({dataset.name}).")


def model_choices() -> dict[str, str]:
    """Select box keys -> labels: the app's network, this tab's finished runs (and runs shared
    with it), the torchvision zoo. Other students' runs are not listed."""
    choices = {DEFAULT: "CNN Explorer's default network (shapes, offline)"}
    owner = st.session_state.get(OWNER_KEY)
    if tokens.is_token(owner) or "owner" in st.query_params:
        from explorer.ui.training_session import owner as tab_owner

        owner = tab_owner()  # mirrored in this page's address too: a reload keeps the runs
    owner = owner if tokens.is_token(owner) else None
    for job in job_registry.get_registry().finished_visible_to(owner):
        if job.model is not None:
            snap = job.snapshot()
            accuracy = f", {snap.final_test_accuracy:.0%}" if snap.final_test_accuracy else ""
            if job.KIND == training.TrainingJob.KIND:
                label = f"Run {job.job_id[:8]} ({snap.dataset}{accuracy})"
            else:
                label = (f"Adapted {job.job_id[:8]}: {snap.backbone} on {snap.task}, "
                         f"{snap.strategy_label.lower()}{accuracy}")
            choices[RUN_PREFIX + job.job_id] = label
    for name, spec in model_registry.MODELS.items():
        choices[name] = f"{spec.label} ({spec.year})"
    return choices


def model_panel() -> zoo.LoadedModel | None:
    """Sidebar: which network, its weight status, uploaded weights."""
    choices = model_choices()
    key = st.selectbox("Network", list(choices), format_func=choices.get,
                       key=_seeded("model", DEFAULT, _text_in(list(choices)), "model"))
    if key == DEFAULT:
        loaded = default_model()
    elif key.startswith(RUN_PREFIX):
        loaded = trained_model(key.removeprefix(RUN_PREFIX))
    else:
        loaded = zoo_model(key)
    if loaded is None:
        st.error("That run is no longer on the server.")
        return None
    uploaded = st.session_state.get(f"{PAGE}.uploaded.{key}")
    if uploaded is not None:
        loaded = uploaded
    if loaded.pretrained:
        st.success(loaded.message, icon=":material/check_circle:")
    else:
        st.warning(loaded.message + " The architecture, shapes and layers can still be explored; "
                   "predictions and activations are those of random weights.",
                   icon=":material/cloud_off:")
        if key in model_registry.MODELS:
            download_button(key, loaded)
    upload = st.file_uploader("Your weights for this architecture (.pt / .pth)",
                              type=["pt", "pth"], key=f"{PAGE}.weights.{key}")
    if upload is not None and st.session_state.get(f"{PAGE}.weights_id") != upload.file_id:
        st.session_state[f"{PAGE}.weights_id"] = upload.file_id
        try:
            state_dict = weights_files.read_weights(upload.getvalue(), loaded.model)
            changed = custom.with_weights(loaded, state_dict, upload.name)
        # WeightsError (a ValueError) explains every refusal; RuntimeError / MemoryError would
        # come from torch on a file that passed every check: still a message, not a traceback.
        except (ValueError, RuntimeError, MemoryError) as error:
            st.session_state[f"{PAGE}.weights_error"] = (upload.file_id, str(error))
        else:
            st.session_state[f"{PAGE}.uploaded.{key}"] = changed
            st.rerun()
    refused = st.session_state.get(f"{PAGE}.weights_error")
    if upload is not None and refused is not None and refused[0] == upload.file_id:
        st.error(f"**{upload.name}** was not loaded: {refused[1]}", icon=":material/error:")
    return loaded


def download_button(name: str, loaded: zoo.LoadedModel) -> None:
    """Fetch the ImageNet weights into torch's cache once, with a progress bar."""
    size = loaded.meta.get("_file_size")
    label = f"Download the ImageNet weights ({size:.0f} MB)" if size else "Download the weights"
    if not st.button(label, icon=":material/download:", key=f"{PAGE}.download.{name}"):
        return
    bar = st.progress(0.0, text="Connecting...")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0,
                     text=f"{done / 2**20:.0f} of {total / 2**20:.0f} MB")

    result = zoo.load_model(name, allow_download=True, progress=progress)
    bar.empty()
    if result.pretrained:
        zoo_model.clear()  # every session now gets the trained network from the cache
        st.rerun()
    st.error(result.message, icon=":material/cloud_off:")


# ---------------------------------------------------------------- per-session results


def predicted(loaded: zoo.LoadedModel, image: np.ndarray, label: str = "") -> tuple:
    """(input tensor, top-5), computed once per server for each (network, image): a layer or
    channel switch, or another student on the same picture, needs no forward pass.

    A picture that cannot be shown to the network (NaN, infinity, wrong shape) gives (None,
    None), a network whose output is not finite (input, None); an error names the picture
    (`label`) and says why."""
    try:
        return shared_results.prediction(loaded, image, k=5)
    # ValueError explains bad pictures and non-finite outputs; RuntimeError would be torch's
    # on an input that passed those checks: a message either way, never a traceback.
    except (ValueError, RuntimeError) as error:
        problem = str(error)
    try:
        x = predictions.preprocess(loaded, image)
    except (ValueError, RuntimeError):
        x = None
    st.error(f"**{label}**: {problem}" if label else problem, icon=":material/error:")
    return x, None


def _not_shown(x, prediction, needs_prediction: bool = False) -> bool:
    """True (after saying so) when this tab has nothing to show: see the error above."""
    if x is None:
        st.info("Nothing to show for this picture: the message above says why. Pick another "
                "picture in the sidebar.", icon=":material/image_not_supported:")
        return True
    if needs_prediction and prediction is None:
        st.info("This network gives no usable output for this picture: the message above "
                "says why.", icon=":material/block:")
        return True
    return False


def captured(loaded: zoo.LoadedModel, x, image: np.ndarray) -> dict:
    """All default layers' activations, shared by the sessions in a bounded cache."""
    with st.spinner("Running the network and keeping every layer's output..."):
        return shared_results.captured(loaded, x, image)


def as_picture(x) -> np.ndarray:
    """The preprocessed (1, C, H, W) tensor as an image (each channel stretched to 0..1)."""
    values = feature_maps.finite_values(x[0].detach().numpy()).transpose(1, 2, 0)
    low, high = values.min(axis=(0, 1)), values.max(axis=(0, 1))
    picture = (values - low) / np.where(high > low, high - low, 1.0)
    return picture[..., 0] if picture.shape[2] == 1 else picture


# ---------------------------------------------------------------- panels


def predictions_panel(loaded: zoo.LoadedModel, image: np.ndarray,
                      prediction: predictions.Prediction | None, x, source: str) -> None:
    if _not_shown(x, None):
        return
    note = predictions.aspect_note(image.shape)
    if note:
        st.info(note, icon=":material/crop:")
    if loaded.name not in model_registry.MODELS and source == "builtin":
        st.info(f"This network knows only its {len(loaded.categories)} classes ("
                + ", ".join(loaded.categories) + "), so on a photo it still has to pick one of "
                "them. Try a test pattern in the sidebar (disk, checkerboard, bars) or upload a "
                "shape.", icon=":material/category:")
    left, right = st.columns([2, 3])
    with left:
        st.image(plots.png_bytes(as_picture(x)), width="stretch",
                 caption=f"What the network sees: tensor {tuple(x.shape)}, shown with each "
                         "channel stretched to black..white", output_format="PNG")
        st.markdown(predictions.preprocess_steps(loaded))
    with right:
        if prediction is None:
            st.warning("No prediction: the network's output for this picture is not usable "
                       "(see the message above).", icon=":material/block:")
            return
        table = pd.DataFrame({"class": [c for c, _ in prediction.top],
                              "probability": [p for _, p in prediction.top]})
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"probability": st.column_config.ProgressColumn(
                         "probability", format="%.3f", min_value=0.0, max_value=1.0)})
        lecture = {f"class {i}": c for i, (c, _) in enumerate(prediction.top[:3])} | {
            f"prob {i}": round(p, 6) for i, (_, p) in enumerate(prediction.top[:3])}
        order = [k for i in range(3) for k in (f"class {i}", f"prob {i}")]
        st.caption("The lecture's top-3 table layout:")
        st.dataframe(pd.DataFrame([lecture])[order], hide_index=True)


def activations_panel(loaded: zoo.LoadedModel, image: np.ndarray, x) -> None:
    if _not_shown(x, None):
        return
    try:
        maps = captured(loaded, x, image)
    except (ValueError, RuntimeError) as error:
        st.error(f"The layers could not be captured: {error}", icon=":material/error:")
        return
    if not maps:
        st.info("This network has no layer with a feature-map output (C, H, W).")
        return
    names = list(maps)
    groups = activations.group_layers(names)
    top = st.columns(4)
    group_names = list(groups)
    group = top[0].selectbox("Block", group_names, key=_seeded(
        "group", group_names[0], _text_in(group_names)))
    layer = top[1].selectbox("Layer", groups[group], key=_seeded(
        f"layer.{group}", groups[group][0], _text_in(groups[group]), "layer"))
    activation = maps[layer]  # (1, C, H, W)
    channels = activation.shape[1]
    count = top[2].select_slider("Channels in the grid", GRID_COUNTS, key=_seeded(
        "count", 16, _int_in(GRID_COUNTS)))
    strongest = top[3].toggle("Strongest first", key=_seeded("strongest", False, _flag,
                                                             "strongest"),
                              help="Channels in order of their mean activation, strongest first.")
    shared = top[3].toggle("One colour scale", key=_seeded("shared", False, _flag, "shared"),
                           help="One black-to-white range for all the channels shown, so strong "
                                "and weak channels compare.")
    picked = (feature_maps.strongest_channels(activation, min(count, channels)) if strongest
              else list(range(min(count, channels))))
    stats = feature_maps.channel_stats(activation)
    st.markdown(f"**{layer}**: output {tuple(activation.shape)}; mean {stats['mean']:.3g}, "
                f"max {stats['max']:.3g}, zeros {stats['zero_fraction']:.0%} of the values.")
    if stats["non_finite"]:
        st.warning(f"{stats['non_finite']:,} values of this layer are NaN or infinite (the "
                   "network's weights are too large for this picture): they are left out of the "
                   "statistics and drawn white (+inf) or black (-inf, NaN).",
                   icon=":material/warning:")
    scale = 4 if activation.shape[-1] <= 16 else 2 if activation.shape[-1] <= 64 else 1
    if shared:  # one black..white range over the shown channels: strong and weak ones compare
        values = feature_maps.finite_values(activation[0, picked].numpy()[None])[0]  # (n, H, W)
        grid = plots.image_grid(plots.stretch(values)[:, None], columns=8, scale=scale)
        scale_text = f"one scale: black = {values.min():.3g}, white = {values.max():.3g}"
    else:
        grid = feature_maps.channel_grid(activation, picked, columns=8, scale=scale)
        scale_text = "each stretched to its own range: black = lowest, white = highest"
    st.image(plots.png_bytes(grid), width="stretch",
             caption="Channels " + ", ".join(map(str, picked)) + f" ({scale_text})",
             output_format="PNG")
    if channels > 1:
        channel = st.slider("One channel, large and over the image", 0, channels - 1,
                            key=_seeded(f"channel.{channels}", int(picked[0]),
                                        _int_between(0, channels - 1), "channel"))
    else:  # a slider needs two ends
        channel = 0
    left, right = st.columns(2)
    values = feature_maps.finite_values(activation[0, channel].numpy()[None])[0]
    left.image(plots.png_bytes(plots.heat_rgb(values)), width="stretch",
               caption=f"Channel {channel}: {values.shape[0]}x{values.shape[1]}, "
                       f"{values.min():.3g} (black) to {values.max():.3g} (yellow)",
               output_format="PNG")
    right.image(plots.png_bytes(overlay(as_picture(x), values)), width="stretch",
                caption="Over the network's input (bright = strong)", output_format="PNG")


def overlay(picture: np.ndarray, values: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """A map resized to the picture and blended over it where it is positive."""
    from skimage.transform import resize

    base = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=-1)
    big = resize(feature_maps.finite_values(values[None])[0], base.shape[:2], order=1)
    positive = np.clip(big, 0, None) / max(float(big.max()), 1e-12)
    heat = plots.heat_rgb(positive, 0.0, 1.0).astype(np.float32) / 255.0
    weight = opacity * positive[..., None]
    return base * (1 - weight) + heat * weight


def kernels_panel(loaded: zoo.LoadedModel) -> None:
    try:
        weight = feature_maps.first_layer_kernels(loaded.model, loaded.first_conv)
    except ValueError as error:
        st.info(f"No first-layer kernels to show: {error}")
        return
    bad = ~np.isfinite(weight)
    if bad.any():
        st.warning(f"{int(bad.sum()):,} of the {weight.size:,} first-layer weights are NaN or "
                   "infinite (training diverged?): they are drawn grey, as zero.",
                   icon=":material/warning:")
        weight = np.where(bad, 0.0, weight).astype(np.float32)
    if weight.shape[1] == 3:
        tiles = first_layer.kernels_to_images(weight)
    else:
        tiles = 0.5 + 0.5 * weight[:, 0] / max(float(np.abs(weight).max()), 1e-12)
        tiles = tiles[:, None]
    scale = max(1, 64 // weight.shape[-1])
    st.image(plots.png_bytes(plots.image_grid(tiles, columns=16, scale=scale)), width="stretch",
             caption=f"{loaded.first_conv}: {weight.shape[0]} kernels of "
                     f"{weight.shape[2]}x{weight.shape[3]}x{weight.shape[1]} (grey = 0)"
             + ("" if loaded.pretrained else ", untrained: random noise"), output_format="PNG")


def gradcam_panel(loaded: zoo.LoadedModel, image: np.ndarray, x,
                  prediction: predictions.Prediction | None) -> None:
    if loaded.gradcam_layer is None:
        st.info("No Grad-CAM layer is known for this network.")
        return
    if _not_shown(x, prediction, needs_prediction=True):
        return
    categories = list(loaded.categories)
    top_index = int(prediction.top_indices[0])
    index = st.selectbox("Class", range(len(categories)), format_func=lambda i: categories[i],
                         key=_seeded(f"class.{loaded.name}", top_index,
                                     _int_between(0, len(categories) - 1), "class"))
    try:
        cam = shared_results.grad_cam(loaded, x, image, loaded.gradcam_layer, index)
    except (ValueError, RuntimeError) as error:
        st.error(f"No Grad-CAM for '{categories[index]}': {error}", icon=":material/error:")
        return
    left, right = st.columns(2)
    left.image(plots.png_bytes(overlay(as_picture(x), cam.heatmap)), width="stretch",
               caption=f"Grad-CAM for '{categories[index]}' at {loaded.gradcam_layer} "
                       f"(score {cam.score:.3g})", output_format="PNG")
    right.markdown("Grad-CAM weighs each channel of the last convolutional block by how much "
                   "the class score grows with it (the mean gradient), sums them and keeps the "
                   "positive part: bright regions are where the network found evidence for the "
                   "class.")


def architecture_panel(loaded: zoo.LoadedModel) -> None:
    rows = shared_results.layer_table(loaded)
    total = layer_costs.table_totals(rows)
    table = pd.DataFrame([{"layer": r.name, "type": r.type, "output shape": str(r.output_shape),
                           "parameters": r.parameters, "multiply-adds": r.macs} for r in rows])
    st.markdown(f"{len(rows)} layers, **{total.parameters:,} parameters**, "
                f"**{total.macs / 1e9:.3g} G multiply-adds** for one "
                f"{loaded.input_shape[1]}x{loaded.input_shape[2]} image.")
    counts = st.column_config.NumberColumn(format="localized")  # 86,704,128, not 86704128
    st.dataframe(table, hide_index=True, width="stretch", height=420,
                 column_config={"parameters": counts, "multiply-adds": counts})


def families_panel() -> None:
    from explorer.networks import families

    rows = families.families_table()
    st.plotly_chart(families.families_figure(rows), width="stretch", key="families")
    st.dataframe(pd.DataFrame([{
        "network": r.label, "year": r.year, "parameters (M)": round(r.parameters_m, 1),
        "top-1 %": round(r.top1, 1), "top-5 %": round(r.top5, 1), "GFLOPS": round(r.gflops, 2),
        "file MB": round(r.file_mb),
    } for r in rows]), hide_index=True, width="stretch",
        column_config={"year": st.column_config.NumberColumn(format="%d")})
    st.caption("ImageNet figures from torchvision's weight metadata (no download needed). "
               "The lecture's point: GoogLeNet matches VGG16 with 20 times fewer parameters.")


def code(loaded: zoo.LoadedModel, layer: str | None) -> str:
    """torchvision and feature-extractor code for this network."""
    node = layer or "features.0"
    if loaded.name in model_registry.MODELS:
        return f'''import torch
import torchvision
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

weights = torchvision.models.get_model_weights("{loaded.name}").DEFAULT
model = torchvision.models.get_model("{loaded.name}", weights=weights).eval()
preprocess = weights.transforms()  # resize, crop, to tensor, normalise
x = preprocess(Image.open("cat.jpg").convert("RGB")).unsqueeze(0)  # (1, 3, H, W)

with torch.no_grad():
    probabilities = model(x).softmax(dim=1)
top = probabilities.topk(5)
for p, i in zip(top.values[0], top.indices[0]):
    print(weights.meta["categories"][i], round(p.item(), 3))

print(get_graph_node_names(model)[1][:10])  # layer names
extractor = create_feature_extractor(model, return_nodes={{"{node}": "maps"}})
with torch.no_grad():
    maps = extractor(x)["maps"].clone()  # (1, C, H, W) activations of {node}
print(maps.shape)
'''
    return nets.standalone_code(loaded.model, loaded.input_shape, node)
