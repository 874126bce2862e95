"""The Architectures page (ILSVRC, Inception) and the three Lecture cards of issue #23 items 4-6,
through AppTest: widgets driven, link parameters (good and hostile), presenter mode; and in a
real browser: each card's page in presenter mode at 1280x720 with its figure above the fold."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from explorer.architectures import inception
from explorer.catalogue import PAGES_BY_KEY
from explorer.lecture.demos import DEMOS_BY_KEY
from tests.helpers import run

HOME = "../explorer/Home.py"
PAGE = PAGES_BY_KEY["architectures"].script


def _open(params: dict[str, str], page: str = PAGE) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=120)
    at.run()
    at.query_params.update(params)
    at.switch_page(page)
    return run(at)


def _text(at: AppTest) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "info", "error")
                    for e in at.get(kind) if isinstance(getattr(e, "value", None), str))


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if key in c.proto.id).proto.spec)


@pytest.fixture(scope="module")
def inception_tab() -> AppTest:
    return _open({"tab": "Inception"})


def test_ilsvrc_tab_shows_the_lectures_errors_with_links_to_the_pretrained_page():
    at = _open({"tab": "ILSVRC"})
    bars = [t for t in _chart(at, "ilsvrc_figure")["data"] if t["type"] == "bar"]
    assert bars[0]["y"] == [25.6, 15.3, 7.5, 6.7, 3.6]
    table = at.dataframe[0].value.set_index("network")
    assert table.loc["VGG16", "parameters (M)"] == 138.4
    assert table.loc["GoogLeNet", "GFLOPS"] == pytest.approx(1.498)
    assert table.loc["ResNet", "open"] == "/pretrained?model=resnet50&tab=Architecture"
    links = [e.proto for e in at.get("page_link")]
    assert [link.label for link in links] == ["AlexNet (alexnet)", "VGG16 (vgg16)",
                                              "GoogLeNet (googlenet)", "ResNet (resnet50)"]
    assert "python -m explorer.architectures --json" in _text(at)
    assert "get_model_weights" in at.code[0].value


def test_inception_tab_counts_the_block_against_one_convolution(inception_tab: AppTest):
    at = inception_tab
    metrics = _metrics(at)
    assert metrics["inception3a: conv weights"] == "155,136"
    assert metrics["one 3x3 conv 192→256"] == "442,368"
    assert metrics["one 5x5 conv 192→256"] == "1,228,800"
    assert "a 1x1 reduction to 16: 7,680 weights instead of 55,296" in _text(at)
    table = at.dataframe[0].value.set_index("branch")
    assert list(table["output channels"]) == [64, 128, 32, 32]
    assert "untrained" in _text(at)  # no cached weights in tests: said, not hidden
    assert len(at.get("imgs")) == 5 or len(at.get("image")) == 5  # the picture + 4 branches
    assert "Inception(192, 64, 96, 128, 16, 32, 32)" in at.code[0].value


def test_inception_tab_block_and_variant_widgets(inception_tab: AppTest):
    at = inception_tab
    at.radio(key="keep.architectures.variant").set_value("paper")
    run(at)
    assert "5x5 conv 16→32" in list(at.dataframe[0].value["layers"])[2]
    assert "--variant paper" in _text(at)
    at.selectbox(key="keep.architectures.block").set_value("inception4e")
    run(at)
    spec = inception.BLOCKS["inception4e"]
    assert _metrics(at)[f"one 3x3 conv {spec.in_channels}→{spec.out_channels}"] == \
        f"{spec.out_channels * spec.in_channels * 9:,}"
    figure_text = " ".join(a["text"] for a in _chart(at, "inception_figure")["layout"]
                           ["annotations"])
    assert "(528, 14, 14)" in figure_text
    at.selectbox(key="keep.architectures.picture").set_value("coffee")
    run(at)


@pytest.mark.parametrize("params", [
    {"tab": "Inception", "block": "inception9z"},
    {"tab": "Inception", "variant": "[1, 2]"},
    {"tab": "Inception", "ipic": "../../etc/passwd"},
    {"tab": "Nowhere"},
])
def test_hostile_links_are_ignored_with_a_note(params):
    at = _open(params)
    assert any("Ignored the link" in t.value for t in at.toast)
    assert at.get("plotly_chart")  # the page still draws with its defaults


# ---------------------------------------------------------------- the Lecture cards


@pytest.mark.parametrize("key, check", [
    ("23.6", lambda at: _chart(at, "ilsvrc_figure")["data"][0]["y"] == [25.6, 15.3, 7.5, 6.7,
                                                                        3.6]),
    ("23.4", lambda at: _metrics(at)["inception3a: conv weights"] == "155,136"),
    ("23.5", lambda at: ("**40**" in _text(at) and "**32**" in _text(at)
                         and list(_metrics(at).values()) == ["6.1 × 10^5", "2.2 × 10^11"]
                         and "misses it" in _text(at))),
])
def test_each_card_opens_its_demo_in_presenter_mode(key, check):
    demo = DEMOS_BY_KEY[key]
    at = _open({**demo.params, "present": "1"}, PAGES_BY_KEY[demo.page].script)
    assert at.toggle(key="keep.present").value is True
    assert check(at), key

# Every card's presenter-mode figure at 1280x720 in a real browser: tests/test_browser_lecture.py
# (all cards, one session), not repeated here.
