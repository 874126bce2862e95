"""Captum's attributions against their references (autograd, the completeness axiom, Grad-CAM's
formula, the hand-written occlusion), the randomisation sanity check, the command line, the
"Show the code" script and the Pretrained page's Attributions tab."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from streamlit.testing.v1 import AppTest

from explorer.attributions import __main__ as cli
from explorer.attributions import methods as M
from explorer.attributions import sanity as S
from explorer.attributions import script as attr_script
from explorer.featurevis.inputs import example_images, loaded_network
from explorer.networks import activations, gradcam, occlusion
from tests.helpers import run

ROOT = Path(__file__).resolve().parents[1]
SMALL = M.AttributionSettings(ig_steps=8, smoothgrad_samples=4)  # cheap: for shape-level checks


@pytest.fixture(scope="module")
def default():
    return loaded_network("default")


@pytest.fixture(scope="module")
def sample(default):
    """Shapes test picture 0 as the default network sees it, and its top class."""
    pictures, _ = example_images("default", 32)
    x = default.transforms(pictures[0])[None]  # (1, 3, 32, 32)
    return x, int(activations.forward(default.model, x).argmax())


@pytest.fixture(scope="module")
def every_map(default, sample):
    x, top = sample
    return M.attribute(default.model, x, top, settings=SMALL, layer=default.gradcam_layer)


def logits_and_gradient(model, x, index):
    """Autograd's reference: the class score and d score / dx (1, C, H, W)."""
    inputs = x.clone().requires_grad_(True)
    with torch.enable_grad():
        score = activations.eval_model(model)(inputs)[0, index]
        (gradient,) = torch.autograd.grad(score, inputs)
    return float(score.detach()), gradient


# ---------------------------------------------------------------- the maps


def test_every_method_gives_one_finite_map_per_pixel(every_map, sample):
    x, _ = sample
    assert list(every_map) == list(M.METHODS)
    for name, result in every_map.items():
        assert result.values.shape == (32, 32) and result.values.dtype == np.float32, name
        assert result.finite and result.values.std() > 0 and result.seconds >= 0, name
    assert every_map["saliency"].values.min() >= 0 and every_map["gradcam"].values.min() >= 0


def test_saliency_is_the_absolute_gradient(default, sample, every_map):
    x, top = sample
    _, gradient = logits_and_gradient(default.model, x, top)
    expected = gradient.abs()[0].sum(0).numpy()  # a pixel: the L1 norm over its channels
    np.testing.assert_allclose(every_map["saliency"].values, expected, rtol=1e-5, atol=1e-7)


def test_smoothgrad_without_noise_is_saliency_and_its_noise_is_seeded(default, sample, every_map):
    x, top = sample
    quiet = M.attribute(default.model, x, top, methods=["smoothgrad"],
                        settings=M.AttributionSettings(smoothgrad_samples=2, noise=0.0))
    np.testing.assert_allclose(quiet["smoothgrad"].values, every_map["saliency"].values,
                               rtol=1e-5, atol=1e-7)
    again = M.attribute(default.model, x, top, methods=["smoothgrad"], settings=SMALL)
    np.testing.assert_array_equal(again["smoothgrad"].values, every_map["smoothgrad"].values)


@pytest.mark.parametrize("steps", [32, 64])
def test_integrated_gradients_add_up_to_the_score_difference(default, sample, steps):
    """Completeness: sum of attributions = f(x) - f(baseline). Along the path the integrand of
    a ReLU network is piecewise linear, with kinks Gauss-Legendre does not integrate exactly:
    the error shrinks at least like 1 / steps (measured on Shapes pictures: < 0.15 / steps of
    the difference); float32 round-off over 3,072 terms is far below that."""
    x, top = sample
    score, _ = logits_and_gradient(default.model, x, top)
    base, _ = logits_and_gradient(default.model, torch.zeros_like(x), top)
    result = M.attribute(default.model, x, top, methods=["integrated_gradients"],
                         settings=M.AttributionSettings(ig_steps=steps))
    total = float(result["integrated_gradients"].values.astype(np.float64).sum())
    assert total == pytest.approx(score - base, abs=0.5 / steps * abs(score - base))


def hand_grad_cam(model, x, layer, index):
    """Grad-CAM's formula with autograd: ReLU(sum_c mean(dy/dA_c) A_c), upsampled bilinearly."""
    kept = {}
    module = model.get_submodule(layer)
    handle = module.register_forward_hook(lambda _m, _i, out: kept.setdefault("A", out))
    try:
        inputs = x.clone().requires_grad_(True)
        with torch.enable_grad():
            score = model(inputs)[0, index]
            (gradient,) = torch.autograd.grad(score, kept["A"])  # (1, C, h, w)
    finally:
        handle.remove()
    cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * kept["A"]).sum(1, keepdim=True))
    return F.interpolate(cam.detach(), size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]


def test_grad_cam_by_captum_is_the_formula_and_the_tabs_map(default, sample, every_map):
    x, top = sample
    own = copy.deepcopy(default.model).eval()  # the test's hook goes on a copy, not the model
    expected = hand_grad_cam(own, x, default.gradcam_layer, top).numpy()
    np.testing.assert_allclose(every_map["gradcam"].values, expected, rtol=1e-5, atol=1e-6)
    tab = gradcam.grad_cam(default.model, x, default.gradcam_layer, top)  # the Grad-CAM tab's
    np.testing.assert_allclose(tab.heatmap, expected / expected.max(), rtol=1e-5, atol=1e-6)
    assert tab.layer_shape == (64, 8, 8) and tab.class_index == top


@pytest.mark.parametrize("patch, stride", [(8, 8), (8, 4), (4, 4)])
def test_occlusion_by_captum_is_the_hand_written_map_where_the_grids_agree(default, sample,
                                                                           patch, stride):
    """Captum's windows and the hand-written patches coincide when stride divides 32 - patch
    (the hand-written map then needs no flush last patch): the same mean drop per pixel."""
    x, top = sample
    settings = M.AttributionSettings(occlusion_patch=patch, occlusion_stride=stride)
    ours = M.attribute(default.model, x, top, methods=["occlusion"], settings=settings)
    hand = occlusion.occlusion_map(default.model, x, top, patch=patch, stride=stride)
    # float32 softmax (Captum) against float64 (hand-written): probabilities differ by ~1e-7
    np.testing.assert_allclose(ours["occlusion"].values, hand.upsampled, atol=1e-6)


def test_one_scale_is_symmetric_with_white_at_zero():
    values = np.array([[0.0, 1.0], [-4.0, np.nan]])
    scaled = M.on_one_scale({"a": values, "zero": np.zeros((2, 2))}, percentile=100)
    np.testing.assert_allclose(scaled["a"], [[0.0, 0.25], [-1.0, 0.0]])
    np.testing.assert_array_equal(scaled["zero"], 0.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"ig_steps": 1}, "ig_steps"), ({"ig_steps": 10**6}, "ig_steps"),
    ({"smoothgrad_samples": 0}, "smoothgrad_samples"), ({"noise": float("nan")}, "noise"),
    ({"ig_steps": 2.5}, "whole number"), ({"ig_steps": True}, "ig_steps"),
    ({"occlusion_patch": -1}, "occlusion_patch"), ({"seed": "0"}, "seed"),
])
def test_settings_refuse_what_does_not_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.AttributionSettings(**kwargs)


def test_bad_requests_get_messages(default, sample):
    x, top = sample
    for methods, match in [(["nope"], "Unknown method"), ([], "at least one"), ([["a"]], "names")]:
        with pytest.raises(ValueError, match=match):
            M.check_methods(methods)
    with pytest.raises(ValueError, match="class must be 0 to 9"):
        M.attribute(default.model, x, 10, methods=["saliency"])
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.attribute(default.model, x * float("nan"), top, methods=["saliency"])
    with pytest.raises(ValueError, match="occlusion positions"):
        M.AttributionSettings(occlusion_patch=1).occlusion_grid(32, 32)
    with pytest.raises(ValueError, match="No Grad-CAM layer"):
        M.attribute(default.model, x, top, methods=["gradcam"])
    with pytest.raises(ValueError, match="multiply-adds"):  # VGG16-sized work is refused
        M.check_work(15.5e9, M.passes(list(M.METHODS), M.AttributionSettings(), (224, 224)))


def test_a_train_page_network_gets_every_map_and_the_cascade(default):
    """A run of the Train page: grey 28 x 28 input, batch norm, PReLU, dropout, three blocks."""
    from explorer.networks import custom
    from explorer.training.nets import ModelSettings, build_model

    settings = ModelSettings(blocks=3, channels=4, activation="prelu", batch_norm=True,
                             dropout=0.3, hidden=16)
    torch.manual_seed(0)
    model = build_model(settings, in_channels=1, num_classes=3, image_size=28).eval()
    loaded = custom.custom_model("run", model, ["a", "b", "c"], image_size=(28, 28))
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    maps = M.attribute(loaded.model, x, 1, settings=SMALL, layer=loaded.gradcam_layer)
    assert all(m.values.shape == (28, 28) and m.finite for m in maps.values())
    names = S.layers_top_down(loaded.model)
    assert names[:3] == ["fc2", "act_fc1", "fc1"] and names[-2:] == ["bn1", "conv1"]
    check = S.sanity_check(loaded.model, x, 1, methods=["saliency"], settings=SMALL, steps=3)
    assert len(check.steps) == 4 and check.randomised[-1] == tuple(names)


# ---------------------------------------------------------------- the sanity check


def test_cascade_randomises_from_the_top_down(default):
    names = S.layers_top_down(default.model)
    assert names == ["fc2", "fc1", "conv2", "conv1"]
    assert S.cascade(names) == [["fc2"], ["fc2", "fc1"], ["fc2", "fc1", "conv2"], names]
    assert S.cascade(names, 2) == [["fc2", "fc1"], names]
    copied = copy.deepcopy(default.model)
    S.randomise(copied, ["fc2"])
    before, after = default.model.state_dict(), copied.state_dict()
    assert not torch.equal(before["fc2.weight"], after["fc2.weight"])
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("fc2."))


def test_rank_similarity_is_spearman_of_absolute_values():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    assert S.rank_similarity(a, -a) == pytest.approx(1.0)
    assert S.rank_similarity(a, b) == pytest.approx(spearmanr(np.abs(a).ravel(),
                                                              np.abs(b).ravel()).statistic)
    assert np.isnan(S.rank_similarity(a, np.zeros((8, 8))))


def test_the_sanity_check_shows_which_maps_depend_on_the_weights(default, sample):
    x, top = sample
    state = {k: v.clone() for k, v in default.model.state_dict().items()}
    check = S.sanity_check(default.model, x, top, methods=["saliency", "gradcam"],
                           settings=SMALL, layer=default.gradcam_layer)
    assert check.steps == ("trained", "down to fc2", "down to fc1", "down to conv2",
                           "down to conv1")
    for name, values in check.similarity.items():
        assert len(values) == 5 and values[0] == pytest.approx(1.0), name
        assert len(check.maps[name]) == 5
    # Grad-CAM explains the class through the last layers: randomising them changes its map
    assert check.similarity["gradcam"][1] < 0.9 and check.similarity["saliency"][-1] < 0.5
    assert all(torch.equal(state[k], v) for k, v in default.model.state_dict().items())


# ---------------------------------------------------------------- the command line


def test_the_command_line_prints_one_json_line_per_method(capsys):
    assert cli.main(["--network", "default", "--sample", "0", "--json", "--randomised",
                     "--methods", "saliency,gradcam,occlusion", "--steps", "4",
                     "--samples", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["method"] for row in rows] == ["saliency", "gradcam", "occlusion"]
    for row in rows:
        assert row["finite"] is True and row["std"] > 0
        value = row["randomised_similarity"]
        assert value is None or -1 <= value <= 1
    assert rows[0]["randomised_similarity"] < 0.9  # saliency depends on the weights
    assert all(row["pretrained"] is True for row in rows)


def test_the_command_line_says_when_the_network_is_untrained(capsys, monkeypatch, default):
    """A torchvision network whose weights are not cached runs untrained: the maps are a random
    network's, and the command says so (stderr, and "pretrained": false on every line)."""
    import dataclasses

    untrained = dataclasses.replace(default, pretrained=False,
                                    message="resnet18 is not cached: random weights.")
    monkeypatch.setattr(cli, "loaded_network", lambda name: untrained)
    assert cli.main(["--sample", "0", "--methods", "saliency", "--json"]) == 0
    captured = capsys.readouterr()
    assert "Note: resnet18 is not cached: random weights." in captured.err
    assert json.loads(captured.out)["pretrained"] is False


@pytest.mark.parametrize("argv, message", [
    (["--sample", "1000000"], "--sample must be 0 to 999"),
    (["--methods", "saliency,nope"], "Unknown method"),
    (["--steps", "0"], "ig_steps"),
    (["--network", "nope"], "Unknown network"),
    (["--class", "10"], "--class must be 0 to 9"),
])
def test_the_command_line_refuses_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--json"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


# ---------------------------------------------------------------- Show the code


def test_the_script_reproduces_the_maps_with_captum(default, monkeypatch, tmp_path):
    code = attr_script.attribution_script(
        default.label, default.model, default.input_shape, 4, "triangle", list(M.METHODS),
        SMALL, default.gradcam_layer, mean=default.transforms.mean, std=default.transforms.std)
    assert "from captum.attr import" in code and "import explorer" not in code
    path = tmp_path / "attributions_script.py"
    path.write_text(code)
    monkeypatch.chdir(ROOT)  # the script reads assets/default_net.pt
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        runpy.run_path(str(path), run_name="__main__")
    lines = printed.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == list(M.METHODS)
    # the same picture in the app (the script rounds mean and std to 4 decimals)
    torch.manual_seed(0)
    picture = torch.rand(1, 3, 32, 32)
    mean = torch.tensor(default.transforms.mean).view(1, -1, 1, 1)
    std = torch.tensor(default.transforms.std).view(1, -1, 1, 1)
    ours = M.attribute(default.model, (picture - mean) / std, 4, methods=["saliency"])
    printed_std = float(lines[0].split("std ")[1])
    assert printed_std == pytest.approx(float(ours["saliency"].values.std()), rel=1e-2)


def test_hooked_module_stands_for_functional_nodes():
    from torchvision.models import resnet18

    model = resnet18()
    assert attr_script.hooked_module(model, "layer4.1.relu_1") == "layer4.1"
    assert attr_script.hooked_module(model, "layer4") == "layer4"


# ---------------------------------------------------------------- the Pretrained page's tab


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # offline: no ImageNet weights
    at = AppTest.from_file("../explorer/Home.py", default_timeout=180)
    at.run()
    return at


def open_tab(at: AppTest, params: dict[str, str]) -> AppTest:
    at.query_params.update({"tab": "Attributions", **params})
    at.switch_page("../pages/5_Pretrained_networks.py")
    return run(at)


def test_the_tab_shows_the_maps_and_the_sanity_check(app):
    open_tab(app, {"methods": '["saliency","gradcam"]', "ig_steps": "8", "sg_samples": "4",
                   "sanity": "true", "pattern": "disk", "image": "pattern"})
    captions = [c for image in app.get("image") for c in image.captions]
    assert captions[0] == "What the network sees"
    assert captions[1].startswith("Saliency:") and captions[2].startswith("Grad-CAM:")
    assert any(c.startswith("Rows: Saliency, Grad-CAM. Columns: trained, down to fc2") for c in captions)
    table = app.dataframe[-1].value
    assert list(table.index) == ["Saliency", "Grad-CAM"] and (table["trained"] == 1.0).all()
    assert any("captum" in code.value for code in app.code)
    app.multiselect(key="keep.pretrained.attr_methods").set_value(["occlusion"])
    run(app)
    assert any(c.startswith("Occlusion:") for i in app.get("image") for c in i.captions)


def test_the_tab_explains_an_untrained_torchvision_network(app):
    open_tab(app, {"model": "mobilenet_v3_small", "methods": '["saliency","gradcam"]'})
    assert any("not cached" in w.value for w in app.warning)  # random weights, said so
    captions = [c for image in app.get("image") for c in image.captions]
    assert captions[1].startswith("Saliency:") and captions[2].startswith("Grad-CAM:")
    assert any("torchvision.models.get_model" in code.value for code in app.code)


def test_hostile_links_to_the_tab_get_a_note(app):
    open_tab(app, {"methods": '["saliency","rm -rf"]', "ig_steps": "100000",
                   "sg_samples": "-3", "sanity": "1", "class": "99999"})
    notes = " ".join(t.value for t in app.toast)
    for name in ("methods", "ig_steps", "sg_samples", "sanity", "class"):
        assert f"`{name}`" in notes, name
    captions = [c for image in app.get("image") for c in image.captions]
    assert sum(c.split(":")[0] in {s.label for s in M.METHODS.values()} for c in captions) == 5
