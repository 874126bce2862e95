"""The playground's figures: neurons over the plane, decision surface, network graph, half-spaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.playground.figures import (
    decision_figure,
    loss_figure,
    network_figure,
    neuron_images,
    plane_grid,
    plane_view,
    predict,
)
from explorer.playground.halfspace import (
    CIRCLE,
    combination_figure,
    first_units,
    halfspace_figure,
    output_terms,
    unit_values,
)
from explorer.playground.model import Trainer, get_weights
from explorer.playground.settings import ACTIVATIONS, SCALE, PlaygroundSettings

TOLERANCE = 1e-5  # float32 sums of at most 16 terms of magnitude <= 10


@pytest.fixture(scope="module")
def trained():
    settings = PlaygroundSettings(dataset="xor", hidden=(4,), points=200)
    trainer = Trainer(settings)
    for _ in range(30):
        trainer.step()
    return settings, trainer


def test_plane_view_is_the_network_on_a_grid(trained):
    settings, trainer = trained
    weights = get_weights(trainer.model)
    view = plane_view(settings, weights, resolution=21)
    assert view.output.shape == (21, 21) and view.hidden[0].shape == (4, 21, 21)
    grid = plane_grid(21)
    with torch.no_grad():
        logits = trainer.model(trainer.train_x[:0].new_tensor(
            np.stack([grid[:, 0] / SCALE, grid[:, 1] / SCALE], axis=1)))
    np.testing.assert_allclose(view.output.ravel(), torch.tanh(logits / 2).squeeze(1),
                               atol=TOLERANCE)
    np.testing.assert_allclose(predict(settings, weights, grid), view.output.ravel(),
                               atol=TOLERANCE)
    # row r of the view is x2 = axis[r]: the grid runs x1 fastest
    assert grid[1, 0] > grid[0, 0] and grid[1, 1] == grid[0, 1]


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_neuron_images_and_network_graph(activation):
    settings = PlaygroundSettings(dataset="circle", hidden=(3, 2), activation=activation,
                                  features=("x1", "x2", "x1^2"))
    weights = get_weights(Trainer(settings).model)
    view = plane_view(settings, weights, resolution=9)
    images = neuron_images(settings, view)
    assert [len(layer) for layer in images] == [3, 2, 1]
    assert all(img.shape == (9, 9, 3) and img.dtype == np.uint8 for layer in images
               for img in layer)
    figure = network_figure(settings, weights, images)
    assert len(figure.layout.images) == 6
    hover = next(t for t in figure.data if t.text is not None and "w =" in str(t.text[0]))
    assert len(hover.text) == 3 * 3 + 3 * 2 + 2 * 1  # one per weight


def test_decision_figure_marks_test_points(trained):
    settings, trainer = trained
    view = plane_view(settings, get_weights(trainer.model), resolution=11)
    figure = decision_figure(settings, view, trainer.data)
    names = [trace.name for trace in figure.data]
    assert "train" in names and "test" in names
    test = figure.data[names.index("test")]
    assert test.marker.line.color == "black" and len(test.x) == len(trainer.data.test_points)
    assert figure.data[0].zmin == -1 and figure.data[0].zmax == 1  # white = 0
    assert len(loss_figure((0, 1), (0.7, 0.6), (0.7, 0.65)).data) == 2


def test_halfspace_line_arrow_and_colinear_maximum(trained):
    settings, trainer = trained
    for unit in first_units(settings, get_weights(trainer.model)):
        assert unit.straight
        foot = unit.foot
        z, _a = unit_values(settings, unit, foot[None].astype(np.float32))
        assert abs(z[0]) < 1e-4  # the foot lies on w·x + b = 0
        along = foot + 0.1 * np.array([-unit.u[1], unit.u[0]])
        z_along, _ = unit_values(settings, unit, along[None].astype(np.float32))
        assert abs(z_along[0]) < 1e-4  # the line is perpendicular to w
        # on a circle, a is largest where x is colinear with w (Cauchy-Schwarz)
        angles = np.linspace(0, 2 * np.pi, 3601)
        circle = CIRCLE * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        _z, a = unit_values(settings, unit, circle.astype(np.float32))
        best = circle[np.argmax(a)]
        np.testing.assert_allclose(best / CIRCLE, unit.u / np.linalg.norm(unit.u), atol=2e-3)
        assert unit.shift == pytest.approx(-unit.bias / np.linalg.norm(unit.u))
    figure = halfspace_figure(settings, first_units(settings, get_weights(trainer.model))[0])
    assert any(a.text == "<b>w</b>" for a in figure.layout.annotations)


def test_output_is_the_sum_of_weighted_half_spaces(trained):
    settings, trainer = trained
    weights = get_weights(trainer.model)
    terms = output_terms(settings, weights, resolution=15)
    assert len(terms) == 4 + 2 and terms[-1][0] == "= z_out"
    grid = plane_grid(15)
    with torch.no_grad():
        logits = trainer.model(torch.as_tensor(grid / SCALE, dtype=torch.float32)).squeeze(1)
    np.testing.assert_allclose(terms[-1][1].ravel(), logits.numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(sum(values for _, values in terms[:-1]), terms[-1][1],
                               atol=TOLERANCE)
    view = plane_view(settings, weights, resolution=11)
    figure = combination_figure(settings, weights, view, trainer.data)
    assert sum(trace.name.startswith("unit") for trace in figure.data
               if trace.name) == 4


def test_no_hidden_layer_shows_the_output_unit_and_curved_boundaries():
    settings = PlaygroundSettings(dataset="xor", hidden=(), activation="linear")
    weights = get_weights(Trainer(settings).model)
    (unit,) = first_units(settings, weights)
    assert unit.activation == "sigmoid" and unit.straight
    assert output_terms(settings, weights) is None
    curved = PlaygroundSettings(features=("x1", "x2", "x1^2"), hidden=(2,))
    units = first_units(curved, get_weights(Trainer(curved).model))
    assert not any(u.straight for u in units)
    assert "curved" in halfspace_figure(curved, units[0]).layout.title.text
