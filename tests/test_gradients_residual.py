"""Residual vs plain: the three networks, the unravelled view's path counts, the comparison
jobs (shared when identical, bounded), and the command line's --compare."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from explorer.gradients import __main__ as cli
from explorer.gradients.data import deep_dataset
from explorer.gradients.identity import compare_key, submit_comparison
from explorer.gradients.job import CompareJob
from explorer.gradients.residual import (
    VARIANTS,
    Block,
    CompareSettings,
    build_variant,
    central_paths,
    path_lengths,
    weight_layers,
)
from explorer.jobs.registry import JobRegistry, QueueFull

TINY = CompareSettings(shallow_blocks=1, deep_blocks=2, width=4, steps=4, batch_size=8,
                       eval_every=2, eval_images=20)


@pytest.fixture(scope="module")
def data():
    return deep_dataset()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_have_their_depth(variant):
    settings = CompareSettings()
    model = build_variant(variant, settings)
    weights = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(weights) == weight_layers(settings.blocks(variant))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert all(block.residual == VARIANTS[variant].residual for block in model.blocks)


def test_a_residual_block_can_be_the_identity():
    """The lecture's idea: with its last batch norm's scale and shift at 0, a residual block
    passes its (non-negative, post-ReLU) input unchanged; a plain block cannot."""
    x = torch.rand(2, 4, 8, 8)
    for residual in (True, False):
        block = Block(4, residual=residual).eval()
        torch.nn.init.zeros_(block.bn2.weight)
        torch.nn.init.zeros_(block.bn2.bias)
        with torch.no_grad():
            out = block(x)
        assert torch.equal(out, x) == residual


@pytest.mark.parametrize("blocks", [1, 3, 10, 54])
def test_path_counts_are_binomial(blocks):
    lengths, counts = path_lengths(blocks)
    assert sum(counts) == 2**blocks
    assert list(lengths) == list(range(blocks + 1))
    assert counts[0] == counts[-1] == 1 and counts[1] == blocks
    assert int(np.argmax(counts)) == blocks // 2  # most paths are about L/2 long


def test_the_lectures_110_layer_numbers():
    """A 110-layer ResNet has 54 blocks; 95 % of its 2^54 paths are 20 to 34 blocks long
    (the lecture: only paths of length 10-34 matter for the gradient)."""
    low, high = central_paths(54)
    assert 18 <= low <= 22 and 32 <= high <= 36


def test_settings_refuse_bad_values():
    for change in ({"deep_blocks": 1000}, {"shallow_blocks": 0}, {"shallow_blocks": 5,
                                                                  "deep_blocks": 5},
                   {"width": 10**5}, {"steps": 10**7}, {"learning_rate": float("inf")},
                   {"batch_size": 0}, {"eval_images": 10**9}, {"steps": 2.5}):
        with pytest.raises(ValueError):
            CompareSettings(**change)
    with pytest.raises(ValueError):
        build_variant("wide", CompareSettings())
    with pytest.raises(ValueError):
        path_lengths(10**6)


def test_compare_job_reports_training_error(data):
    job = CompareJob("residual", TINY, dataset=data)
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == 4
    assert list(snap.eval_steps) == [0, 2, 4] and len(snap.losses) == 4
    assert all(0 <= e <= 1 for e in snap.train_errors)
    # the error is the model's on the fixed subset: 20 images, so multiples of 1/20
    assert all(math.isclose(e * 20, round(e * 20)) for e in snap.train_errors)


def test_comparison_is_shared_and_bounded(data):
    registry = JobRegistry(max_running=1, cores=2, max_per_owner=4)
    a, b = "a" * 32, "b" * 32
    first = submit_comparison(registry, TINY, owner=a)
    assert [variant for variant, _ in first] == list(VARIANTS)
    assert submit_comparison(registry, TINY, owner=b) == first  # identical: joined
    assert len({compare_key(v, TINY) for v in VARIANTS}) == 3
    other = CompareSettings(**{**TINY.__dict__, "seed": 1})
    with pytest.raises(QueueFull):  # 3 more would take tab a past 4 unfinished runs
        submit_comparison(registry, other, owner=a)
    for _, job_id in first:
        assert registry.get(job_id).join(60)
    registry.stop_all()


def test_command_line_compare(capsys):
    assert cli.main(["--compare", "--blocks", "2", "--steps", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == list(VARIANTS)
    assert result["plain"]["layers"] == result["residual"]["layers"] == 6
    assert result["shallow"]["layers"] == 4


def test_the_pages_script_trains_the_same_networks(tmp_path, data):
    """"Show the code": the script, without explorer, prints the jobs' training errors."""
    import re
    import subprocess
    import sys

    from explorer.gradients.script import compare_script

    settings = CompareSettings(shallow_blocks=1, deep_blocks=2, width=4, steps=12,
                               batch_size=16, eval_every=6, eval_images=50)
    path = tmp_path / "compare.py"
    path.write_text(compare_script(settings))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env={"PATH": ""}, check=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line, variant in zip(lines, VARIANTS, strict=True):
        job = CompareJob(variant, settings, dataset=data)
        job.start()
        assert job.join(60)
        printed = [float(v) for v in re.findall(r"\d\.\d{3}", line.split(":")[1])]
        # errors on 50 images: multiples of 0.02; the same batches, seeds and weights
        np.testing.assert_allclose(printed, job.snapshot().train_errors, atol=1e-9)


def test_the_deep_plain_nets_gradients_do_not_vanish():
    """The page's honesty check: with batch norm the untrained deep plain network's first
    layer gets a gradient at least as large as its last (so what it shows is degradation, not
    vanishing gradients)."""
    from explorer.gradients.residual import first_over_last

    ratios = first_over_last(CompareSettings())
    assert set(ratios) == set(VARIANTS)
    assert all(ratio > 0.1 for ratio in ratios.values()), ratios


def test_the_comparison_figure_spans_the_planned_steps_with_curves_drawn():
    """The axis covers the whole run from the start, also once curves are drawn (a curve's own
    steps once shadowed the planned length)."""
    import numpy as np

    from explorer.gradients.plots import compare_figure

    curves = [("shallow", "shallow plain", np.array([0, 10, 20]), np.array([0.9, 0.7, 0.6]))]
    figure = compare_figure(curves, planned_steps=300)
    assert tuple(figure.layout.xaxis.range) == (0, 300)
    assert list(figure.data[0].y) == [90.0, 70.0, 60.0]
