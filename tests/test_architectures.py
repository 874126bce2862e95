"""explorer.architectures against torchvision: the ILSVRC rows against the lecture and the
networks themselves, the inception counts against the real GoogLeNet's blocks and hand formulas,
the command line and the "Show the code" scripts (nothing downloaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import GoogLeNet, get_model

from explorer.architectures import __main__ as cli
from explorer.architectures import ilsvrc, inception
from explorer.codegen.architectures import ilsvrc_code, inception_code
from explorer.lecture import reference as lecture
from explorer.networks.model_registry import MODELS


@pytest.fixture(scope="module")
def googlenet() -> GoogLeNet:
    return GoogLeNet(aux_logits=False, init_weights=True).eval()  # random weights, no download


# ---------------------------------------------------------------- ILSVRC


def test_rows_carry_the_lectures_errors_in_order():
    rows = ilsvrc.rows()
    assert [(r.label, r.top5_error) for r in rows] == list(lecture.ILSVRC_TOP5_ERROR.items())
    assert [r.year for r in rows] == sorted(r.year for r in rows)
    assert [r.top5_error for r in rows] == sorted((r.top5_error for r in rows), reverse=True)


@pytest.mark.parametrize("key", [k for k, e in ilsvrc.ENTRIES.items() if e.torchvision])
def test_parameters_are_the_networks_own_and_links_open_the_pretrained_page(key):
    entry = ilsvrc.ENTRIES[key]
    row = next(r for r in ilsvrc.rows() if r.key == key)
    extra = {"aux_logits": False, "init_weights": False} if key == "googlenet" else {}
    with torch.device("meta"):  # the architecture, no memory, no weights (GoogLeNet's file
        model = get_model(entry.torchvision, weights=None, **extra)  # has no aux heads' weights)
    assert round(row.parameters_m * 1e6) == sum(p.numel() for p in model.parameters())
    assert row.gflops > 0 and 0 < row.torchvision_top5_error < 25
    assert entry.pretrained in MODELS  # the Pretrained page offers it
    assert row.link == f"/pretrained?model={entry.pretrained}&tab=Architecture"


def test_the_lectures_claims_hold_in_torchviews_numbers():
    rows = {r.key: r for r in ilsvrc.rows()}
    assert 2.0 < rows["vgg16"].parameters_m / rows["alexnet"].parameters_m < 3.0  # "3x AlexNet"
    assert rows["googlenet"].parameters_m < 7  # "only 5 million" (6.6 M with its classifier)
    assert rows["resnet"].gflops < rows["vgg16"].gflops  # "slightly lower complexity than VGG16"


def test_story_figure_has_three_panels_and_links_in_its_labels():
    figure = ilsvrc.story_figure(ilsvrc.rows())
    bars = [t for t in figure.data if t.type == "bar"]
    assert len(bars) == 3 and list(bars[0].y) == list(lecture.ILSVRC_TOP5_ERROR.values())
    ticks = figure.layout.xaxis.ticktext
    assert 'href="/pretrained?model=googlenet&tab=Architecture"' in ticks[3]
    assert "href" not in ticks[0]  # the runner-up has no network


# ---------------------------------------------------------------- inception


def test_blocks_are_googlenets_and_3a_is_the_papers_table():
    assert list(inception.BLOCKS) == ["inception3a", "inception3b", "inception4a", "inception4b",
                                      "inception4c", "inception4d", "inception4e", "inception5a",
                                      "inception5b"]
    spec = inception.BLOCKS["inception3a"]  # Szegedy et al. 2014, table 1
    assert spec.arguments == (192, 64, 96, 128, 16, 32, 32) and spec.out_channels == 256
    assert inception.BLOCKS["inception5b"].out_channels == 1024


@pytest.mark.parametrize("name", list(inception.BLOCKS))
def test_branch_counts_match_the_real_block_and_the_formula(name, googlenet):
    spec = inception.BLOCKS[name]
    real = getattr(googlenet, name)
    costs = inception.branch_costs(spec)
    for cost, branch in zip(costs, (real.branch1, real.branch2, real.branch3, real.branch4),
                            strict=True):
        assert cost.parameters == sum(p.numel() for p in branch.parameters())
        convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        # a stride-1 "same" convolution: C_out C_in K^2 multiply-adds at each of side^2 places
        assert cost.macs == sum(c.weight.numel() * spec.side ** 2 for c in convs)
    assert sum(c.out_channels for c in costs) == spec.out_channels


def test_the_papers_5x5_and_the_single_convolution():
    spec = inception.BLOCKS["inception3a"]
    tv, paper = inception.branch_costs(spec), inception.branch_costs(spec, "paper")
    assert tv[2].conv_weights == 192 * 16 + 16 * 32 * 9  # torchvision's "5x5" is a 3x3
    assert paper[2].conv_weights == 192 * 16 + 16 * 32 * 25
    assert paper[2].layers == "1x1 conv 192→16, 5x5 conv 16→32"
    singles = {s.kernel: s for s in inception.single_convs(spec)}
    assert singles[3].conv_weights == 256 * 192 * 9 and singles[3].macs == 256 * 192 * 9 * 28 ** 2
    assert singles[5].conv_weights > 7 * sum(c.conv_weights for c in paper)  # the point
    five = next(r for r in inception.reductions(spec, "paper") if r.branch == "5x5")
    assert (five.with_reduction, five.without) == (192 * 16 + 16 * 32 * 25, 192 * 32 * 25)
    with pytest.raises(ValueError, match="Unknown variant"):
        inception.build_block(spec, "mine")


def test_branch_outputs_on_a_picture(googlenet):
    picture = np.random.default_rng(0).uniform(size=(224, 224, 3))
    maps = inception.branch_outputs(googlenet, picture, "inception3a")
    assert {k: v.shape for k, v in maps.items()} == {
        "1x1": (64, 28, 28), "3x3": (128, 28, 28), "5x5": (32, 28, 28), "pool": (32, 28, 28)}
    assert all(v.min() >= 0 for v in maps.values())  # each branch ends in a ReLU
    # the same as the block's own forward pass: its output is the four maps concatenated
    with torch.no_grad():
        x = torch.from_numpy(((picture - inception.MEAN) / inception.STD).astype(np.float32))
        x = x.permute(2, 0, 1)[None]
        for name in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2"):
            x = getattr(googlenet, name)(x)
        whole = googlenet.inception3a(x)[0].numpy()
    np.testing.assert_allclose(np.concatenate(list(maps.values())), whole, atol=1e-5)
    assert len(inception.strongest_channels(maps["3x3"])) == 4
    for bad in (np.zeros((10, 10, 3)), np.full((224, 224, 3), np.nan)):
        with pytest.raises(ValueError, match="224 x 224 x 3 finite"):
            inception.branch_outputs(googlenet, bad)
    with pytest.raises(ValueError, match="Unknown block"):
        inception.branch_outputs(googlenet, picture, "inception9z")


def test_module_figure_names_every_branch():
    spec = inception.BLOCKS["inception4a"]
    figure = inception.module_figure(spec, inception.branch_costs(spec))
    texts = " ".join(a.text for a in figure.layout.annotations)
    assert "(480, 14, 14)" in texts and "512 = 192 + 208 + 48 + 64" in texts


# ---------------------------------------------------------------- command line and scripts


def test_cli_json(capsys):
    assert cli.main(["--json", "--block", "inception3a"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [r["top5_error"] for r in found["ilsvrc"]] == [25.6, 15.3, 7.5, 6.7, 3.6]
    assert sum(b["conv_weights"] for b in found["inception"]["branches"]) == 155_136


def test_cli_text_and_bad_arguments(capsys):
    assert cli.main(["--variant", "paper"]) == 0
    out = capsys.readouterr().out
    assert "GoogLeNet        2014      6.7" in out and "5x5 conv 16→32" in out
    with pytest.raises(SystemExit):
        cli.main(["--block", "inception9z"])


def test_scripts_print_the_pages_numbers(capsys):
    code = ilsvrc_code(dict(lecture.ILSVRC_TOP5_ERROR),
                       {e.label: e.torchvision for e in ilsvrc.ENTRIES.values()})
    exec(compile(code, "<ilsvrc>", "exec"), {})
    out = capsys.readouterr().out
    assert "VGG16            top-5   7.5 %   138.4 M parameters   15.47 GFLOPS" in out
    spec = inception.BLOCKS["inception3a"]
    exec(compile(inception_code(spec.arguments, spec.side, paper=True), "<inc>", "exec"), {})
    out = capsys.readouterr().out
    paper = inception.branch_costs(spec, "paper")
    assert "output (1, 256, 28, 28)" in out
    assert f"branch3: {paper[2].parameters:,} parameters, {paper[2].macs:,} multiply-adds" in out
    assert "one 3x3 conv: 442,368 weights" in out
