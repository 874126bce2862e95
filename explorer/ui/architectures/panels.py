"""The Architectures page's tabs: the ILSVRC story (error, parameters, GFLOPS, links to the
Pretrained page) and GoogLeNet's inception module (its branches counted and seen on a picture)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.architectures import ilsvrc, inception
from explorer.catalogue import PAGES_BY_KEY
from explorer.codegen.architectures import ilsvrc_code, inception_code
from explorer.images import plots
from explorer.images.pictures import builtin_image
from explorer.lecture import reference as lecture
from explorer.ui.presenter import presenting
from explorer.ui.state import kept, one_of, seed
from explorer.ui.widgets import code_panel

PAGE = "architectures"
PICTURES = ("chelsea", "astronaut", "coffee", "rocket")  # built-in colour photos


def _seeded(name: str, default, valid, url: str | None = None) -> str:
    return seed(kept(f"{PAGE}.{name}"), default, valid=valid, url=url)


def _command(text: str) -> None:
    st.caption(f"The numbers from a terminal: `{text}`")


# ---------------------------------------------------------------- ILSVRC


@st.cache_data(show_spinner=False)
def _rows() -> list[ilsvrc.Row]:
    return ilsvrc.rows()


def ilsvrc_panel() -> None:
    st.markdown(
        "ImageNet's challenge (ILSVRC, 1000 classes, five guesses per image) before and after "
        "deep networks: the lecture's **top-5 error** beside each winner's **parameters** and "
        "**compute** from torchvision's weights. Click a network's name to look inside it on "
        "the Pretrained page.")
    rows = _rows()
    st.plotly_chart(ilsvrc.story_figure(rows, height=340 if presenting() else 380),
                    width="stretch", key="ilsvrc_figure", config={"displayModeBar": False})
    pretrained = PAGES_BY_KEY["pretrained"].script
    links = st.columns(len([r for r in rows if r.link]))
    for column, entry_row in zip(links, [r for r in rows if r.link], strict=True):
        model = ilsvrc.ENTRIES[entry_row.key].pretrained
        column.page_link(pretrained, label=f"{entry_row.label} ({model})",
                         icon=":material/hub:", query_params={"model": model,
                                                              "tab": "Architecture"})
    alexnet, resnet = (next(r for r in rows if r.key == k) for k in ("alexnet", "resnet"))
    vgg, google = (next(r for r in rows if r.key == k) for k in ("vgg16", "googlenet"))
    st.markdown(
        f"In three years the error fell from {alexnet.top5_error} % to {resnet.top5_error} %. "
        f"Depth cost parameters (VGG16 {vgg.parameters_m:.0f} M, about "
        f"{vgg.parameters_m / alexnet.parameters_m:.1f}x AlexNet) until GoogLeNet's inception "
        f"modules won with {google.parameters_m:.1f} M, {vgg.gflops / google.gflops:.0f}x less "
        "compute than VGG16 (see the **Inception** tab).")
    table = pd.DataFrame([{
        "network": r.label, "year": r.year, "ILSVRC top-5 error %": r.top5_error,
        "parameters (M)": None if r.parameters_m is None else round(r.parameters_m, 1),
        "GFLOPS": r.gflops, "open": r.link, "torchvision network": r.network or "-",
        "its top-5 error % (1 crop)": r.torchvision_top5_error} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "open": st.column_config.LinkColumn("open", display_text="Pretrained page")})
    st.caption("The competition's errors are the lecture's (test set, often several crops and "
               "models); the diamonds are torchvision's weights today on one 224x224 crop of "
               "the validation set. GFLOPS count multiply-adds. The 2015 winner was "
               "ResNet-152; the Pretrained page's deepest ResNet is ResNet-50.")
    code_panel(ilsvrc_code(dict(lecture.ILSVRC_TOP5_ERROR),
                           {e.label: e.torchvision for e in ilsvrc.ENTRIES.values()},
                           ilsvrc.WEIGHTS))
    _command("python -m explorer.architectures --json")


# ---------------------------------------------------------------- Inception


@st.cache_data(show_spinner=False, max_entries=32)
def _costs(block: str, variant: str) -> list[inception.BranchCost]:
    return inception.branch_costs(inception.BLOCKS[block], variant)


@st.cache_data(show_spinner=False, max_entries=8)
def _picture(name: str) -> np.ndarray:
    from skimage.transform import resize

    return resize(builtin_image(name, mode="RGB"), (224, 224), anti_aliasing=True)


@st.cache_data(show_spinner="Running GoogLeNet up to the block...", max_entries=16)
def _outputs(picture: str, block: str) -> tuple[dict[str, np.ndarray], bool, str]:
    from explorer.ui.networks.page import zoo_model  # the Pretrained page's cached GoogLeNet

    loaded = zoo_model("googlenet")
    maps = inception.branch_outputs(loaded.model, _picture(picture), block)
    shown = {}
    for branch, values in maps.items():  # (C_b, side, side): the 4 strongest, each stretched
        picked = values[inception.strongest_channels(values)]
        top = np.maximum(picked.max(axis=(1, 2), keepdims=True), 1e-12)
        shown[branch] = plots.image_grid((picked / top)[:, None], columns=2, pad=2, scale=4)
    return shown, loaded.pretrained, loaded.message


def inception_panel() -> None:
    st.markdown(
        "GoogLeNet's **inception module** runs 1x1, 3x3, 5x5 convolutions and a pooling in "
        "parallel and concatenates their maps. Its key idea: **for bigger kernels, use fewer "
        "channels**, after a cheap 1x1 convolution that reduces them. Counted on torchvision's "
        "real `Inception` block.")
    names = list(inception.BLOCKS)
    controls = st.columns([2, 3, 2])
    block = controls[0].selectbox("Block", names, key=_seeded(
        "block", "inception3a", one_of(names), "block"))
    variants = list(inception.VARIANTS)
    variant = controls[1].radio("Third branch", variants, horizontal=True,
                                format_func=lambda v: {"torchvision": "torchvision's 3x3",
                                                       "paper": "the paper's 5x5"}[v],
                                key=_seeded("variant", "torchvision", one_of(variants),
                                            "variant"))
    picture = controls[2].selectbox("Picture", PICTURES, key=_seeded(
        "picture", PICTURES[0], one_of(PICTURES), "ipic"))
    if variant == "torchvision":
        st.caption("torchvision's GoogLeNet builds its third ('5x5') branch with a 3x3 kernel, "
                   "as its ImageNet weights were trained; pick the paper's 5x5 to count that.")
    spec = inception.BLOCKS[block]
    costs = _costs(block, variant)
    st.plotly_chart(inception.module_figure(spec, costs, height=300 if presenting() else 330),
                    width="stretch", key="inception_figure", config={"displayModeBar": False})
    _comparison(spec, costs, variant)
    _branch_pictures(picture, block, costs)
    code_panel(inception_code(spec.arguments, spec.side, paper=variant == "paper"))
    _command(f"python -m explorer.architectures --block {block} --variant {variant}")


def _comparison(spec: inception.BlockSpec, costs: list[inception.BranchCost],
                variant: str) -> None:
    weights = sum(c.conv_weights for c in costs)
    macs = sum(c.macs for c in costs)
    singles = {s.kernel: s for s in inception.single_convs(spec)}
    metrics = st.columns(4)
    metrics[0].metric(f"{spec.name}: conv weights", f"{weights:,}",
                      help=f"{sum(c.parameters for c in costs):,} parameters with batch norm")
    metrics[1].metric("its multiply-adds", f"{macs / 1e6:.0f} M")
    for column, k in zip(metrics[2:], (3, 5), strict=True):
        single = singles[k]
        column.metric(f"one {k}x{k} conv {spec.in_channels}→{spec.out_channels}",
                      f"{single.conv_weights:,}",
                      delta=f"{single.conv_weights / weights:.1f}x the block's weights",
                      delta_color="off", help=f"{single.macs / 1e6:.0f} M multiply-adds")
    reductions = inception.reductions(spec, variant)
    st.markdown("**For bigger kernels, use fewer channels**: " + "; ".join(
        f"the {r.branch} branch ({r.kernel}x{r.kernel} kernels) makes {r.out_channels} channels "
        f"from a 1x1 reduction to {r.reduced_to}: {r.with_reduction:,} weights instead of "
        f"{r.without:,} ({r.without / r.with_reduction:.1f}x)" for r in reductions) + ".")
    st.dataframe(pd.DataFrame([{
        "branch": c.branch, "layers": c.layers, "output channels": c.out_channels,
        "parameters": c.parameters, "multiply-adds (M)": round(c.macs / 1e6, 2),
        "weights per output channel": c.conv_weights // c.out_channels} for c in costs]),
        hide_index=True, width="stretch")


def _branch_pictures(picture: str, block: str, costs: list[inception.BranchCost]) -> None:
    try:
        shown, pretrained, message = _outputs(picture, block)
    except (ValueError, RuntimeError) as error:
        st.error(f"The branch outputs could not be computed: {error}", icon=":material/error:")
        return
    st.markdown(f"**The branches' outputs on a picture** ({block}, torchvision's GoogLeNet): "
                "each branch's four strongest channels.")
    if not pretrained:
        st.info("GoogLeNet's ImageNet weights are not cached on this server, so these maps come "
                f"from **untrained** (random) weights: they show the structure, not what the "
                f"network learned. {message}", icon=":material/info:")
    columns = st.columns(len(costs) + 1)
    columns[0].image(_picture(picture), caption="The picture (224x224)", output_format="PNG")
    for column, cost in zip(columns[1:], costs, strict=True):
        column.image(shown[cost.branch], caption=f"{cost.branch} branch ({cost.out_channels} "
                     "channels)", output_format="PNG")
