"""The Generative models page's "Show the code": every model's script, run in a fresh Python that
cannot import explorer, prints the losses the app's own trainer gets step by step with the same
settings and seed, and writes the samples the trainer draws; it is ruff-clean and compiles for
every dataset."""

from __future__ import annotations

import ast
import functools
import io
import math
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.generative import autoencoder, flow
from explorer.generative import data as image_sets
from explorer.generative.plots import image_grid
from explorer.generative.registry import MODELS, make_trainer, module_of
from explorer.generative.script import SAMPLES, generative_script
from explorer.training.data import shapes_dataset

N_TRAIN, N_TEST = 40, 12  # Shapes images (the page's are 20,000 and 4,000)
STEPS = 4
EPS32 = float(torch.finfo(torch.float32).eps)
PRINTED = 0.5e-5  # the script prints 6 significant digits: half a unit of the 6th, relative
DRAWN = tuple((0.3 * k - 1.5, math.sin(k)) for k in range(12))

# name -> (model, settings, the numbers summed into one step's loss: batch x values per example)
CASES = {
    "ae": ("ae", dict(latent=2, width=4, batch_size=8, noise=0.1), 8 * 3 * 32 * 32),
    "ae-zip": ("ae", dict(latent=3, width=4, batch_size=8), 8 * 3 * 32 * 32),
    "vae": ("vae", dict(latent=2, width=4, batch_size=8, beta=0.5), 8 * 3 * 32 * 32),
    "gan": ("gan", dict(latent=4, width=4, batch_size=8), 8 * 3 * 32 * 32),
    "gan2d": ("gan2d", dict(hidden=8, batch_size=16, d_steps=2, g_loss="minimax"), 16 * 8),
    "flow": ("flow", dict(points=50, couplings=2, hidden=8, batch_size=16), 16 * 8),
    "flow-drawn": ("flow", dict(dataset=flow.DRAWN, drawn=DRAWN, couplings=2, hidden=8,
                                batch_size=8), 8 * 8),
    "diffusion": ("diffusion", dict(width=8, batch_size=4, timesteps=10, sample_steps=2,
                                    train_images=100), 4 * 3 * 32 * 32),
    "diffusion-zip": ("diffusion", dict(width=8, batch_size=4, timesteps=10, sample_steps=2,
                                        train_images=100), 4 * 3 * 32 * 32),
}

# Runs every script in one fresh Python (torch and its optimisers' first-use imports cost
# seconds; once is enough): each in its own folder, explorer made unimportable.
RUNNER = """import os, runpy, sys, traceback
sys.modules["explorer"] = None
for folder in sys.argv[1:]:
    os.chdir(folder)
    print("==== " + folder, flush=True)
    try:
        runpy.run_path("script.py", run_name="__main__")
    except BaseException:
        traceback.print_exc(file=sys.stdout)
    sys.stdout.flush()
"""


def tiny_zip() -> bytes:
    """Two classes of five 20 x 20 pictures (resized to 32 x 32 by the app and the script)."""
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in ("dark", "light"):
            for k in range(5):
                pixels = rng.integers(0, 128, (20, 20, 3)) + (127 if name == "light" else 0)
                png = io.BytesIO()
                Image.fromarray(pixels.astype(np.uint8)).save(png, format="PNG")
                archive.writestr(f"{name}/{k}.png", png.getvalue())
    return out.getvalue()


@functools.cache
def settings_of(case: str):
    key, fields, _ = CASES[case]
    extra = {"dataset": image_sets.register_zip(tiny_zip(), "tiny.zip")} \
        if case.endswith("-zip") else {}
    return module_of(key).Settings(**fields, **extra, max_steps=STEPS, max_seconds=600.0)


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[str, str]:
    """case -> what its script printed (a traceback if it failed), and its folder."""
    folders = {}
    for case, (key, _, _) in CASES.items():
        folder = tmp_path_factory.mktemp(case)
        code = generative_script(key, settings_of(case), n_train=N_TRAIN, n_test=N_TEST)
        (folder / "script.py").write_text(code)
        if case.endswith("-zip"):
            (folder / re.search(r'ZIP_PATH = "(.+?)"', code).group(1)).write_bytes(tiny_zip())
        folders[case] = folder
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", RUNNER, *map(str, folders.values())],
                         capture_output=True, text=True, timeout=600, env=env).stdout
    parts = dict(re.findall(r"^==== (.+)\n((?:(?!==== ).*\n)*)", out, re.M))
    return {case: (parts.get(str(folder), "(nothing printed)"), folder)
            for case, folder in folders.items()}


@pytest.fixture
def app_data(monkeypatch):
    """The app's Shapes at the test's size, on one thread like the scripts."""
    monkeypatch.setattr(image_sets, "SHAPES_TRAIN", N_TRAIN)
    monkeypatch.setattr(image_sets, "shapes_dataset",
                        functools.partial(shapes_dataset, n_test=N_TEST))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def losses(text: str) -> list[dict[str, float]]:
    """The printed lines "step 3: loss 1.23, kl 0.5" as [{"loss": 1.23, "kl": 0.5}, ...]."""
    return [{name: float(value) for name, value in (part.rsplit(" ", 1)
                                                    for part in line.split(", "))}
            for line in re.findall(r"^step \d+: (.*)$", text, re.M)]


@pytest.mark.parametrize("case", CASES)
def test_the_script_prints_the_apps_losses_and_writes_its_samples(case, printed, app_data):
    key, _, terms = CASES[case]
    text, folder = printed[case]
    assert "Traceback" not in text, text
    settings = settings_of(case)
    trainer = make_trainer(key, settings)
    expected = [trainer.step() for _ in range(STEPS)]
    got = losses(text)
    assert len(got) == STEPS, text  # fewer than 20 steps: every step is printed
    # The same operations in the same order on one thread give the same floats; the bound is the
    # printing plus float32 rounding of a sum of `terms` numbers (a random walk: sqrt(terms)
    # ulps of the value), and one ulp of the whole loss for a term that sums to near 0.
    for step, (mine, app) in enumerate(zip(got, expected, strict=True), start=1):
        assert set(mine) == set(app), (mine, app)
        for name, value in app.items():
            bound = (PRINTED + EPS32 * math.sqrt(terms)) * abs(value) + EPS32 * abs(app["loss"])
            assert abs(mine[name] - value) <= bound, (step, name, mine[name], value)
    # the samples: the same z's through the same weights (pictures as 8-bit grey levels)
    drawn = trainer.sample(SAMPLES[key], seed=0)
    if key in ("gan2d", "flow"):
        saved = np.loadtxt(folder / f"{key}_samples.csv", delimiter=",", skiprows=1)
        np.testing.assert_allclose(saved, drawn, rtol=0,
                                   atol=EPS32 * math.sqrt(terms) * np.abs(drawn).max())
        assert (folder / f"{key}_samples.png").exists()  # matplotlib is installed here
    else:
        saved = np.asarray(Image.open(folder / f"{key}_samples.png").convert("RGB"))
        columns = 10 if key == "diffusion" else 8
        difference = np.abs(saved.astype(int) - image_grid(drawn, columns).astype(int))
        assert difference.max() <= 1  # a value within float32 of a rounding edge may flip


def test_every_tab_has_a_script_and_every_dataset_compiles(tmp_path):
    """Default settings of every model, and the image models on MNIST (downloaded by the script)
    and a zip: Python compiles them, no line imports explorer, and ruff finds nothing with the
    project's rules (line length apart: the copied code keeps its lines)."""
    scripts = {key: generative_script(key, module_of(key).Settings()) for key in MODELS}
    for key in ("ae", "vae", "gan", "diffusion"):
        settings = module_of(key).Settings(dataset="mnist")
        scripts[f"{key}-mnist"] = generative_script(key, settings)
        assert 'torchvision.datasets.MNIST("data", train=True, download=True)' in \
            scripts[f"{key}-mnist"]
    scripts["ae-zip"] = generative_script("ae", settings_of("ae-zip"))
    scripts["flow-drawn"] = generative_script("flow", settings_of("flow-drawn"))
    for name, code in scripts.items():
        tree = ast.parse(code)
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names}
        modules |= {node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}
        assert not any(m.split(".")[0] == "explorer" for m in modules), name
        assert "explorer" not in code and "import torch" in code, name
        compile(code, name, "exec")
        (tmp_path / f"{name.replace('-', '_')}.py").write_text(code)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                           "--line-length", "100", "--target-version", "py310",
                           "--select", "E,F,W,I,B,UP,SIM,NPY", "--ignore", "E501", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_settings_are_the_pages(tmp_path):
    """The constants at the top are the settings' values; the data is the page's size."""
    settings = autoencoder.Settings(latent=5, noise=0.2, learning_rate=0.003, max_steps=300)
    code = generative_script("ae", settings)
    for line in ("LATENT = 5", "NOISE_LEVEL = 0.2", "LEARNING_RATE = 0.003", "MAX_STEPS = 300",
                 f"N_TRAIN = {image_sets.SHAPES_TRAIN:_}"):
        assert f"\n{line}" in code, line
    with pytest.raises(ValueError, match="Unknown model"):
        generative_script("nope", settings)
