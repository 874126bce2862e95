"""The Generative models page's autoencoder tab: a conv autoencoder trained live (bottleneck
size, denoising), its reconstructions, the latent space (a click decodes a point) and the
anomaly score of an odd image."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from explorer.generative import autoencoder as ae
from explorer.generative.data import image_data
from explorer.generative.plots import image_grid, scatter_figure
from explorer.generative.registry import MODELS
from explorer.generative.script import generative_script
from explorer.ui.generative import live
from explorer.ui.generative.verdicts import reconstructions_verdict
from explorer.ui.presenter import presenting
from explorer.ui.state import kept, number_in, one_of, seed
from explorer.ui.widgets import code_panel

TAB = "ae"
STEPS = (100, 300, 1000, 3000, 10000)
NOISE = (0.0, 0.1, 0.2, 0.3, 0.5)
ODD = ("a Shapes test image", "random noise", "a checkerboard", "a blank grey image",
       "a photo (cameraman)", "your drawing")
DEFAULTS = ae.Settings()


def _key(name: str, default, valid, url: str) -> str:
    return seed(kept(f"generative.{TAB}.{name}"), default, valid=valid, url=url)


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped() -> ae.AutoEncoderTrainer | None:
    """The shipped weights as a trainer (one per process)."""
    return ae.pretrained_trainer(ae, TAB)


@st.cache_data(max_entries=1, show_spinner=False)
def shipped_preview():
    trainer = shipped()
    return None if trainer is None else trainer.preview()


def _trained_model(snap) -> tuple[ae.AutoEncoder | None, str]:
    """The model the clicks and the anomaly score use: the finished run's, else the shipped."""
    weights = live.weights(TAB)
    if snap is not None and snap.done and weights is not None:
        try:
            model = ae.AutoEncoder(image_data(snap.settings.dataset).shape,
                                   snap.settings.width, snap.settings.latent)
            model.load_state_dict(weights)
            return model.eval(), "your finished run"
        except Exception:  # the zip was forgotten meanwhile: fall back to the shipped weights
            pass
    trainer = shipped()
    return (None, "") if trainer is None else (trainer.model.eval(), "the shipped weights")


def _draw(snap) -> None:
    st.caption(live.status(snap))
    preview = snap.preview if snap is not None and snap.preview is not None else shipped_preview()
    left, right = st.columns([3, 2])
    with left:
        live.loss_chart(snap, ["loss"], key="gen_ae_loss")
    if preview is None:
        right.info("No shipped weights: press Train.")
        return
    rows = [preview.originals]
    caption = "Top: test images; "
    if not np.array_equal(preview.inputs, preview.originals):
        rows.append(preview.inputs)
        caption += "middle: with noise (what the encoder sees); "
    rows.append(preview.reconstructions)
    right.image(image_grid(np.concatenate(rows), columns=len(preview.originals)),
                caption=caption + f"bottom: reconstructions (per-pixel squared error "
                                  f"{preview.test_error:.4f}).", width="stretch", output_format="PNG")
    right.caption(reconstructions_verdict(preview.originals, preview.reconstructions,
                                          preview.labels[:len(preview.originals)], preview.classes))
    st.session_state[f"generative.{TAB}.preview"] = preview


def _latent_section(snap) -> None:
    preview = (snap.preview if snap is not None and snap.preview is not None
               else shipped_preview())
    if preview is None:
        return
    two = preview.mean.shape[0] == 2
    fig = scatter_figure(preview.points, preview.labels, preview.classes,
                         title="Latent space of test images" + ("" if two else
                                                               " (first two principal axes)"))
    left, right = st.columns([3, 1])
    event = left.plotly_chart(fig, width="stretch", key="gen_ae_latent", on_select="rerun",
                              selection_mode="points", config={"displayModeBar": False})
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    model, source = _trained_model(snap)
    with right:
        if not points:
            st.caption("Click a point to decode its code z (with latent > 2: the point on the plane of the first two principal axes).")
            return
        p = np.array([points[0]["x"], points[0]["y"]], dtype=np.float32)
        z = preview.mean + p @ preview.axes  # (D,)
        if model is None or model.decoder.project[0].in_features != z.shape[0]:
            st.caption("Decoding needs the trained model: wait for the run to end.")
            return
        with torch.inference_mode():
            image = model.decoder(torch.from_numpy(z)[None]).numpy()
        st.image(image_grid(image, 1, 0), width=160,
                 caption=f"D(z) at ({p[0]:.2f}, {p[1]:.2f}), with {source}", output_format="PNG")


def _drawn_image(shape: tuple[int, int, int]) -> np.ndarray:
    """The drawing pad's picture at the data's size, (C, H, W) in [0, 1] (grey for grey data)."""
    from skimage.transform import resize

    from explorer.images import drawing
    from explorer.ui.drawing_pad import drawing_pad

    c, h, w = shape
    pixels = drawing.rasterise(drawing_pad(f"generative.{TAB}.pad"), size=max(h, w))
    pixels = resize(pixels, (h, w), anti_aliasing=True).astype(np.float32)  # (H, W, 3)
    if c == 1:
        return pixels.mean(axis=2)[None]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[:c])


def _odd_image(kind: str, shape: tuple[int, int, int], data) -> np.ndarray:
    """(C, H, W) in [0, 1]."""
    c, h, w = shape
    rng = np.random.default_rng(0)
    if kind == ODD[5]:
        return _drawn_image(shape)
    if kind == ODD[0]:
        return data.test_batch(1, start=9)[0][0].numpy()
    if kind == ODD[1]:
        return rng.random(shape, dtype=np.float32)
    if kind == ODD[2]:
        board = ((np.add.outer(np.arange(h) // 4, np.arange(w) // 4)) % 2).astype(np.float32)
        return np.broadcast_to(board, shape).copy()
    if kind == ODD[3]:
        return np.full(shape, 0.5, np.float32)
    from skimage import data as skdata
    from skimage.transform import resize

    photo = resize(skdata.camera().astype(np.float32) / 255, (h, w), anti_aliasing=True)
    return np.broadcast_to(photo, shape).astype(np.float32).copy()


def _anomaly_section(snap) -> None:
    model, source = _trained_model(snap)
    if model is None:
        return
    dataset = snap.settings.dataset if snap is not None and snap.done else "shapes"
    data = image_data(dataset)
    kind = st.radio("Odd image", ODD, horizontal=True,
                    key=_key("odd", ODD[1], one_of(ODD), "ae_odd"))
    x, _ = data.test_batch(500)
    errors = ae.per_image_error(model, x)  # (500,) the normal range
    left, right = st.columns([1, 3])
    with left:
        odd = torch.from_numpy(_odd_image(kind, data.shape, data))[None]  # (1, C, H, W)
    score = float(ae.per_image_error(model, odd)[0])
    rank = float((errors < score).mean())
    with torch.inference_mode():
        rebuilt = model(odd).numpy()
    left.image(image_grid(np.concatenate([odd.numpy(), rebuilt]), 2), width=160,
               caption="the image and its reconstruction", output_format="PNG")
    right.metric("Anomaly score (per-pixel squared error)", f"{score:.4f}",
                 f"higher than {rank:.0%} of 500 test images", delta_color="off")
    right.caption(f"Test images' scores: median {np.median(errors):.4f}, 99th percentile "
                  f"{np.quantile(errors, 0.99):.4f} ({source}). An image far above them is "
                  "one the autoencoder never learnt to compress: an anomaly.")


def panel() -> None:
    info = MODELS[TAB]
    if not presenting():
        st.markdown(f"**{info.label}.** {info.summary} Trained on ||x - D(E(x))||², the "
                    "lecture's reconstruction term; with noise added to the input (denoising) "
                    "the target stays the clean image.")
    columns = st.columns(4)
    with columns[0]:
        dataset = live.dataset_picker(TAB, url="ae_data")
    latent = columns[1].slider("Bottleneck size", 2, 32, key=_key(
        "latent", DEFAULTS.latent, number_in(2, 32, integer=True), "ae_latent"))
    noise = columns[2].select_slider("Denoising: noise added", NOISE, key=_key(
        "noise", DEFAULTS.noise, one_of(NOISE), "ae_noise"))
    steps = columns[3].select_slider("Steps", STEPS, key=_key(
        "steps", 1000, one_of(STEPS), "ae_steps"))
    settings = ae.Settings(dataset=dataset, latent=latent, noise=noise, max_steps=steps,
                           max_seconds=120.0)
    live.controls(TAB, TAB, settings)
    snap = live.live(TAB, _draw)
    _latent_section(snap)
    st.markdown("**Anomaly detection**: the reconstruction error of an image unlike the data.")
    _anomaly_section(snap)
    code_panel(generative_script(TAB, settings), title=f"Show the code: {info.label} as a script")
    st.caption(f"From a terminal: `python -m explorer.generative --model ae --dataset {dataset if not dataset.startswith('zip:') else 'shapes'} "
               f"--max-steps {steps} --set latent={latent} --set noise={noise} --json`")
