"""AppTest of the Generative models page: every tab renders; the autoencoder and the VAE train
live (shared runs, curves, pictures, the anomaly score, the latent walk); bad links get a note."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from explorer.generative.judge import judge, named_correctly
from explorer.jobs import registry as job_registry
from tests.helpers import captions, run

PAGE = "../pages/10_Generative_models.py"
TABS = ("Autoencoder", "VAE", "GAN on 2-D points", "GAN on images", "Normalizing flow",
        "Diffusion")
HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    job_registry.get_registry().stop_all()


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.query_params.update(params)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if key in c.proto.id)


def train(at: AppTest, tab: str) -> object:
    """Press Train, wait for the run (a hang guard, not a budget), rerun; the job."""
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    job = job_registry.get_registry().get(at.session_state[f"generative.{tab}.run"])
    assert job.join(HANG_SECONDS), job.snapshot()
    run(at)
    assert not at.exception, at.exception
    return job


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders(tab: str) -> None:
    at = open_page(tab=tab)
    assert not at.exception


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_shows_its_script(tab: str) -> None:
    """"Show the code": a plain PyTorch script (tests/test_generative_script.py runs them)."""
    at = open_page(tab=tab)
    panels = [e for e in at.expander if e.label.startswith("Show the code")]
    assert len(panels) == 1
    code = panels[0].code[0].value
    assert "import torch" in code and "explorer" not in code


def test_autoencoder_trains_live_and_scores_an_odd_image() -> None:
    at = open_page(tab="Autoencoder", ae_steps="100", ae_latent="2", ae_noise="0.2")
    job = train(at, "ae")
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 100
    assert snap.settings.latent == 2 and snap.settings.noise == 0.2
    curve = chart(at, "gen_ae_loss")["data"][0]
    assert curve["name"] == "loss"
    assert snap.preview.points.shape == (600, 2)
    assert any("middle: with noise" in c for c in captions(at))
    named = named_correctly(snap.preview.reconstructions, snap.preview.labels[:8],
                            snap.preview.classes)
    assert any(f"names the class of **{named} of 8** reconstructions" in c.value
               for c in at.caption)
    at.radio(key="keep.generative.ae.odd").set_value("random noise")
    run(at)
    noise_score = float(next(m for m in at.metric if "Anomaly score" in m.label).value)
    # a drawn image: a blank pad is all black, a big white stroke raises the score above it
    at.radio(key="keep.generative.ae.odd").set_value("your drawing")
    run(at)
    blank = float(next(m for m in at.metric if "Anomaly score" in m.label).value)
    at.session_state["generative.ae.pad"] = {"strokes": [
        {"size": 60, "colour": "#ffffff", "points": [[20, 20], [236, 236], [20, 236]]}]}
    run(at)
    drawn = float(next(m for m in at.metric if "Anomaly score" in m.label).value)
    assert drawn > blank and noise_score > 0
    # a second tab asking for the same run joins it
    other = open_page(tab="Autoencoder", ae_steps="100", ae_latent="2", ae_noise="0.2")
    next(b for b in other.button if b.label == "Train").click()
    run(other)
    assert other.session_state["generative.ae.run"] == job.job_id


def test_vae_trains_live_with_both_terms_and_a_walk() -> None:
    at = open_page(tab="VAE", vae_steps="100", vae_beta="0.1", vae_latent="4")
    job = train(at, "vae")
    snap = job.snapshot()
    assert snap.state == "finished" and set(snap.losses) == {"loss", "reconstruction", "kl"}
    names = [trace["name"] for trace in chart(at, "gen_vae_loss")["data"]]
    assert names == ["reconstruction", "kl", "loss"]
    assert snap.preview.samples.shape[1:] == (3, 32, 32) and snap.preview.mu.shape == (4,)
    assert chart(at, "gen_vae_reparam")["data"][0]["name"] == "mu"
    at.number_input(key="keep.generative.vae.walk_b").set_value(7)
    run(at)
    assert not at.exception
    assert any(c.startswith("A latent walk (your finished run)") for c in captions(at))
    assert any(c.startswith("Samples: D(z)") for c in captions(at))
    # what the Shapes network makes of the samples and the reconstructions, as the judge says
    shown = snap.preview
    verdict = judge(shown.samples)
    named = named_correctly(shown.reconstructions, shown.labels, shown.classes)
    texts = [c.value for c in at.caption]
    assert any(f"recognises **{verdict.recognised} of {verdict.count}**" in t for t in texts)
    assert any(f"names the class of **{named} of 8** reconstructions" in t for t in texts)


def test_stop_ends_a_run() -> None:
    at = open_page(tab="VAE", vae_steps="10000")
    next(b for b in at.button if b.label == "Train").click()
    run(at)
    job = job_registry.get_registry().get(at.session_state["generative.vae.run"])
    next(b for b in at.button if b.label == "Stop").click()
    run(at)
    assert job.join(HANG_SECONDS) and job.state == "stopped"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and job.snapshot().state != "stopped":
        time.sleep(0.05)
    assert not at.exception


@pytest.mark.parametrize("params", [{"ae_latent": "1e9"}, {"ae_steps": "123456789"},
                                    {"ae_noise": "nan"}, {"ae_data": "../../etc/passwd"}])
def test_bad_links_are_ignored_with_a_note(params: dict[str, str]) -> None:
    at = open_page(tab="Autoencoder", **params)
    assert any(next(iter(params)) in t.value for t in at.toast)
