"""Results shared across sessions: keyed by the model object and every pixel, bounded."""

from __future__ import annotations

import numpy as np
import torch

from explorer.networks import activations, custom, gradcam, layer_costs, shared_results, zoo
from explorer.training.nets import ModelSettings, build_model


def loaded_net(seed: int) -> zoo.LoadedModel:
    torch.manual_seed(seed)
    model = build_model(ModelSettings(), in_channels=3, num_classes=10, image_size=(32, 32))
    return custom.custom_model("same name", model, [f"c{i}" for i in range(10)])


def test_two_models_with_one_name_do_not_share_results():
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    first, second = loaded_net(0), loaded_net(1)
    _, p1 = shared_results.prediction(first, image)
    _, p2 = shared_results.prediction(second, image)
    assert not np.allclose(p1.probabilities, p2.probabilities)


def test_a_one_pixel_change_is_a_new_result():
    net = loaded_net(0)
    image = np.zeros((600, 600, 3), np.float32)  # over streamlit's sampled-hash size
    x1, _ = shared_results.prediction(net, image)
    changed = image.copy()
    changed[300, 300] = 1.0
    x2, _ = shared_results.prediction(net, changed)
    assert not torch.equal(x1, x2)
    assert shared_results.prediction(net, image)[0] is x1  # cached


def test_captured_matches_a_direct_capture():
    net = loaded_net(2)
    image = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    x, _ = shared_results.prediction(net, image)
    maps = shared_results.captured(net, x, image)
    direct = activations.capture(net.model, x, list(maps))
    assert maps.keys() == direct.keys()
    for name in maps:
        torch.testing.assert_close(maps[name], direct[name])
    assert shared_results.captured(net, x, image) is maps


def test_grad_cam_and_the_layer_table_are_computed_once_per_server(monkeypatch):
    net = loaded_net(3)
    image = np.random.default_rng(2).random((32, 32, 3)).astype(np.float32)
    x, prediction = shared_results.prediction(net, image)
    layer = net.gradcam_layer
    cam = shared_results.grad_cam(net, x, image, layer, 4)
    direct = gradcam.grad_cam(net.model, x, layer, 4)
    np.testing.assert_allclose(cam.heatmap, direct.heatmap, atol=1e-6)
    assert cam.class_index == 4 and shared_results.grad_cam(net, x, image, layer, 4) is cam
    assert shared_results.grad_cam(net, x, image, layer, 5).class_index == 5
    rows = shared_results.layer_table(net)
    assert rows == layer_costs.layer_table(net.model, (1, *net.input_shape))
    monkeypatch.setattr(layer_costs, "layer_table", lambda *a: 1 / 0)  # never again
    assert shared_results.layer_table(net) is rows


def test_capture_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_CAPTURE_CACHE_MB", "100")
    assert shared_results.capture_budget_bytes() == 100 * 2**20
    monkeypatch.setenv("EXPLORER_CAPTURE_CACHE_MB", "lots")
    assert shared_results.capture_budget_bytes() == 768 * 2**20
