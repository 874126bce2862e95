"""The Pretrained page's Occlusion tab: small maps at once, big ones filled in live."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from explorer.images import plots
from explorer.networks import feature_maps, layer_costs, occlusion, predictions, shared_results, zoo

PAGE = "pretrained"
INLINE_MULTIPLY_ADDS = 5e10  # maps up to this much work (~0.6 s here) are computed in the rerun;
# bigger ones (ResNet-18, VGG16) run in the background while the tab shows them filling in
NOT_YET = np.array([205, 205, 205], np.uint8)  # grey: a place no patch has hidden yet


@st.cache_data(max_entries=16, show_spinner="Sliding the grey patch over the picture...")
def _occlusion(_model, model_id: int, x: np.ndarray, index: int, patch: int,
               stride: int, max_positions: int) -> occlusion.OcclusionMap:
    """A small map: once per (network, picture, class, patch, stride), not on every rerun."""
    return occlusion.occlusion_map(_model, torch.from_numpy(x), index, patch=patch,
                                   stride=stride, max_positions=max_positions)


def occlusion_panel(loaded: zoo.LoadedModel, image: np.ndarray, x,
                    prediction: predictions.Prediction | None) -> None:
    """Grey patches slid over the picture: where hiding it costs the class most."""
    if x is None or prediction is None:
        st.info("Nothing to occlude for this picture: the message above says why.")
        return
    categories = list(loaded.categories)
    height, width = x.shape[-2:]
    left, middle, right = st.columns(3)
    index = left.selectbox("Class", range(len(categories)), format_func=lambda i: categories[i],
                           index=int(prediction.top_indices[0]),
                           key=f"{PAGE}.occlusion.class.{loaded.name}")
    patch = middle.slider("Patch (pixels)", 2, max(height, width) // 2,
                          max(2, min(height, width) // 6), key=f"{PAGE}.occlusion.patch")
    stride = right.slider("Stride (pixels)", 1, max(height, width) // 2, patch,
                          key=f"{PAGE}.occlusion.stride")
    view = _View(categories[index], _picture(x), patch, stride)
    try:
        macs = layer_costs.table_totals(shared_results.layer_table(loaded)).macs
        limit = occlusion.position_limit(macs)
        count = occlusion.position_count(height, width, patch, stride)
        if count * macs <= INLINE_MULTIPLY_ADDS:
            view.draw(_occlusion(loaded.model, id(loaded.model), x.numpy(), index, patch, stride,
                                 limit))
            return
        run = shared_results.occlusion_run(loaded, x, image, index, patch, stride, limit)
    except (ValueError, RuntimeError) as error:
        st.error(str(error), icon=":material/error:")
        return
    if run.finished:
        view.finished(run)
    else:
        _live(run, view)


class _View:
    """What the tab draws for one map: the picture the network sees beside the drops."""

    def __init__(self, label: str, picture: np.ndarray, patch: int, stride: int) -> None:
        self.label, self.picture, self.patch, self.stride = label, picture, patch, stride

    def draw(self, result: occlusion.OcclusionMap) -> None:
        values = np.nan_to_num(result.upsampled)
        limit = plots.signed_limit(values)
        drops = plots.diverging_rgb(values, limit)
        drops[np.isnan(result.upsampled)] = NOT_YET
        a, b = st.columns(2)
        a.image(plots.png_bytes(self.picture), width="stretch",
                caption=f"What the network sees ({self.label}: {result.base_probability:.1%})",
                output_format="PNG")
        b.image(plots.png_bytes(drops), width="stretch",
                caption=f"Drop in probability when hidden: red = evidence for '{self.label}', "
                        f"blue = hiding it helps, white = 0 (scale ±{limit:.2g})"
                        + ("; grey = not measured yet" if np.isnan(result.drop).any() else ""),
                output_format="PNG")
        st.caption(f"{result.drop.size} positions of a {self.patch} x {self.patch} grey patch "
                   f"(the input's mean) every {self.stride} pixels. Occlusion asks the network "
                   "directly, one forward pass per position; Grad-CAM reads gradients at one "
                   "layer in one pass: slower and coarser here, but it needs nothing inside "
                   "the network.")

    def finished(self, run: occlusion.OcclusionRun) -> None:
        if run.error:
            st.error(f"The occlusion map failed: {run.error}", icon=":material/error:")
        else:
            self.draw(run.current())


@st.fragment(run_every=0.5)
def _live(run: occlusion.OcclusionRun, view: _View) -> None:
    """A big network's map while the server computes it (one pass after another); the whole
    page redraws once it is complete."""
    if run.finished:
        st.rerun()
    run.touch()  # still on screen: keep computing
    st.progress(run.completed / run.total,
                text=f"Hiding the patch at position {run.completed} of {run.total}"
                     + (" (waiting: other maps are being computed)" if run.waiting else ""))
    current = run.current()
    if current is not None:
        view.draw(current)


def _picture(x: torch.Tensor) -> np.ndarray:
    """The preprocessed (1, C, H, W) input as an image, stretched to 0..1."""
    picture = np.asarray(feature_maps.finite_values(x[0].detach().numpy()))
    low, high = picture.min(), picture.max()
    shown = ((picture - low) / max(high - low, 1e-12)).transpose(1, 2, 0)
    return shown if shown.shape[2] == 3 else shown[..., 0]
