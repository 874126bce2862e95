"""The Pretrained page's Attributions tab: five Captum maps side by side and the sanity check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.attributions import methods as attr
from explorer.attributions import script as attr_script
from explorer.attributions import shared as attr_shared
from explorer.images import plots
from explorer.networks import feature_maps, model_registry, predictions, zoo
from explorer.ui.state import Check, boolean, kept, one_of, seed
from explorer.ui.widgets import code_panel

PAGE = "pretrained"
IG_STEPS = (4, 8, 16, 32, 64)
SMOOTHGRAD_SAMPLES = (4, 8, 16, 32)
SHOWN = 128  # small maps are enlarged to this many pixels a side (nearest), so pixels stay sharp


def _method_list() -> Check:
    """A link's or widget's method set: known names, none twice, at least one."""
    def valid(value) -> bool:
        return (isinstance(value, list | tuple) and 0 < len(value) == len(set(value))
                and all(isinstance(m, str) and m in attr.METHODS for m in value))

    return Check(valid, lambda value: [m for m in attr.METHODS if m in value])


def _enlarged(rgb: np.ndarray) -> np.ndarray:
    factor = max(1, SHOWN // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1) if factor > 1 else rgb


def _picture(x) -> np.ndarray:
    """The preprocessed (1, C, H, W) input as an RGB image, each channel stretched to 0..1."""
    values = feature_maps.finite_values(x[0].detach().numpy()).transpose(1, 2, 0)
    low, high = values.min(axis=(0, 1)), values.max(axis=(0, 1))
    picture = (values - low) / np.where(high > low, high - low, 1.0)
    return np.repeat(picture, 3, axis=2) if picture.shape[2] == 1 else picture


def _settings() -> tuple[list[str], attr.AttributionSettings, bool]:
    """The tab's controls: which methods, how much work, the sanity check on or off."""
    top = st.columns([3, 1, 1, 1])
    methods = top[0].multiselect(
        "Methods", list(attr.METHODS), format_func=lambda m: attr.METHODS[m].label,
        key=seed(kept(f"{PAGE}.attr_methods"), list(attr.METHODS), valid=_method_list(),
                 url="methods"))
    steps = top[1].select_slider(
        "Integrated-gradient steps", IG_STEPS,
        key=seed(kept(f"{PAGE}.attr_steps"), 16, valid=one_of(IG_STEPS), url="ig_steps"))
    samples = top[2].select_slider(
        "SmoothGrad samples", SMOOTHGRAD_SAMPLES,
        key=seed(kept(f"{PAGE}.attr_samples"), 8, valid=one_of(SMOOTHGRAD_SAMPLES),
                 url="sg_samples"))
    sanity = top[3].toggle(
        "Sanity check", key=seed(kept(f"{PAGE}.attr_sanity"), False, valid=boolean(),
                                 url="sanity"),
        help="Randomise the network's weights from the top layer down and watch which maps "
             "change (Adebayo et al. 2018).")
    return methods, attr.AttributionSettings(ig_steps=steps, smoothgrad_samples=samples), sanity


def attributions_panel(loaded: zoo.LoadedModel, image: np.ndarray, x,
                       prediction: predictions.Prediction | None) -> None:
    """Five explanations of one class for one picture, on one diverging scale, and the test
    of whether they depend on the network at all."""
    if x is None or prediction is None:
        st.info("Nothing to explain for this picture: the message above says why.",
                icon=":material/image_not_supported:")
        return
    categories = list(loaded.categories)
    top_index = int(prediction.top_indices[0])
    index = st.selectbox(
        "Class", range(len(categories)), format_func=lambda i: categories[i],
        key=seed(kept(f"{PAGE}.class.{loaded.name}"), top_index,
                 valid=one_of(range(len(categories))), url="class"))
    methods, settings, sanity = _settings()
    if not methods:
        st.info("Pick at least one method.", icon=":material/checklist:")
        return
    if loaded.gradcam_layer is None and "gradcam" in methods:
        methods = [m for m in methods if m != "gradcam"]
        st.info("No Grad-CAM layer is known for this network: Grad-CAM is left out.")
        if not methods:
            return
    try:
        with st.spinner("Computing the maps with Captum..."):
            maps = attr_shared.maps(loaded, x, image, index, methods, settings)
    except (ValueError, RuntimeError) as error:
        st.error(f"No attributions for '{categories[index]}': {error}", icon=":material/error:")
        return
    _maps_row(categories[index], x, maps)
    if sanity:
        _sanity(loaded, x, image, index, methods, settings)
    torchvision_name = (model_registry.model_spec(loaded.name).torchvision
                        if loaded.name in model_registry.MODELS else None)
    code_panel(attr_script.attribution_script(
        loaded.label, loaded.model, loaded.input_shape, index, categories[index], methods,
        settings, loaded.gradcam_layer, mean=getattr(loaded.transforms, "mean", ()),
        std=getattr(loaded.transforms, "std", ()), torchvision_name=torchvision_name),
        title="Show the code: these maps with captum")


def _maps_row(label: str, x, maps: dict[str, attr.Attribution]) -> None:
    scaled = attr.on_one_scale({name: result.values for name, result in maps.items()})
    columns = st.columns(len(maps) + 1)
    columns[0].image(plots.png_bytes(_enlarged((_picture(x) * 255).astype(np.uint8))),
                     width="stretch", caption="What the network sees", output_format="PNG")
    for column, (name, result) in zip(columns[1:], maps.items(), strict=True):
        spec = attr.METHODS[name]
        problem = "" if result.finite else " (NaN or infinite values drawn white)"
        column.image(plots.png_bytes(_enlarged(plots.diverging_rgb(scaled[name], 1.0))),
                     width="stretch", caption=f"{spec.label}: {result.seconds:.2f} s{problem}",
                     output_format="PNG")
        column.caption(spec.sentence)
    st.caption(f"Explaining **'{label}'**. One diverging scale for all: red = for the class, "
               "blue = against, white = 0; each map is divided by its own 99.5th percentile of "
               "|value| (the methods' units differ: gradients, score shares, probabilities). "
               "Saliency and SmoothGrad are magnitudes, so never blue.")


def _sanity(loaded: zoo.LoadedModel, x, image: np.ndarray, index: int, methods: list[str],
            settings: attr.AttributionSettings) -> None:
    st.subheader("Sanity check: randomise the weights from the top down", anchor=False)
    try:
        with st.spinner("Randomising the network layer by layer and computing the maps again..."):
            check = attr_shared.check(loaded, x, image, index, methods, settings)
    except (ValueError, RuntimeError) as error:
        st.error(f"No sanity check: {error}", icon=":material/error:")
        return
    tiles = []
    for name in check.maps:
        scaled = attr.on_one_scale(dict(enumerate(check.maps[name])))
        tiles.extend(plots.diverging_rgb(scaled[step], 1.0) for step in range(len(check.steps)))
    scale = max(1, 64 // max(tiles[0].shape[:2]))
    grid = plots.image_grid(np.stack(tiles), columns=len(check.steps), pad=2, scale=scale)
    st.image(plots.png_bytes(grid), width="stretch", output_format="PNG",
             caption="Rows: " + ", ".join(attr.METHODS[m].label for m in check.maps)
                     + ". Columns: " + ", ".join(check.steps) + ".")
    table = pd.DataFrame(
        {step: [None if np.isnan(check.similarity[m][i]) else round(check.similarity[m][i], 2)
                for m in check.maps] for i, step in enumerate(check.steps)},
        index=[attr.METHODS[m].label for m in check.maps])
    st.dataframe(table, width="stretch")
    st.markdown(
        "**Rank similarity** (Spearman, of |map|) to the trained network's map. A map that "
        "stays similar while the weights it explains are destroyed shows the picture (its "
        "edges), not what the network learned: such an explanation fails the test. Empty: "
        "the map became constant (nothing left to rank).")
