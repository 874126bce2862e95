"""AppTest of the Lecture page and of every demo it links to: each card's link opens its page
set up, and the page shows the lecture's numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.catalogue import PAGES_BY_KEY
from explorer.lecture import reference as lecture
from explorer.lecture.demos import DEMOS, DEMOS_BY_KEY, SECTIONS
from tests.helpers import captions, heatmaps

HOME = "../explorer/Home.py"
LECTURE = "../pages/0_Lecture.py"


def text(at: AppTest) -> str:
    return " ".join(e.value for kind in ("markdown", "success", "warning", "caption")
                    for e in at.get(kind) if isinstance(getattr(e, "value", None), str))


def charts(at: AppTest) -> dict[str, dict]:
    """Line charts by their key: name -> (x, y) of each trace."""
    found = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if "z" not in spec["data"][0]:
            found[chart.proto.id] = {trace.get("name"): (trace["x"], trace["y"])
                                     for trace in spec["data"]}
    return found


def open_demo(key: str, at: AppTest | None = None) -> AppTest:
    """Follow a card's link: in a fresh session, or inside `at` (an open session)."""
    demo = DEMOS_BY_KEY[key]
    if at is None:
        at = AppTest.from_file(HOME, default_timeout=180)
        at.run()
    at.query_params.clear()
    at.query_params.update(demo.params)
    at.switch_page(PAGES_BY_KEY[demo.page].script).run()
    assert not at.exception, at.exception[0].value
    return at


def _decode(values) -> list:
    if isinstance(values, dict):  # plotly's typed arrays
        import base64
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


# ---------------------------------------------------------------- what each demo must show


def s1(at: AppTest) -> None:
    shapes = {c.split(":")[0]: c for c in captions(at) if c.startswith("Mode ")}
    for mode, (rows, cols) in lecture.CAMERAMAN_SHAPES_9X9.items():
        assert f"shape ({rows}, {cols})" in shapes[f"Mode {mode}"]
    assert len({c.split("; ")[1] for c in shapes.values()}) == 1  # one grey scale


def s2(at: AppTest) -> None:
    shown = captions(at)
    for title in ("Uniform kernel, 9x9", "Gaussian kernel, 9x9", "Uniform kernel, 15x15",
                  "Gaussian kernel, 15x15"):
        assert any(c.startswith(title) for c in shown), title
    assert len({c.split("; ")[1] for c in shown if "kernel, " in c}) == 1  # one grey scale


def s3(at: AppTest) -> None:
    maps = heatmaps(at)
    correlation, convolution = maps["Correlation (= torch Conv2d)"], maps["Convolution (kernel flipped)"]
    assert correlation.min() == -4 and correlation.max() == 0  # dark -> light: negative
    assert convolution.max() == 4 and convolution.min() == 0
    np.testing.assert_array_equal(correlation, -convolution)


def s5(at: AppTest) -> None:
    np.testing.assert_array_equal(heatmaps(at)["Output (click a cell)"], lecture.CONV_VALID_OUTPUT)
    assert "= **12**" in text(at)  # cell (0, 0) stepped through


def s6(at: AppTest) -> None:
    np.testing.assert_array_equal(heatmaps(at)["Max pooling"], lecture.POOL_MAX_2X2_OUTPUT)
    np.testing.assert_array_equal(heatmaps(at)["Input"], lecture.POOL_INPUT_4X4)


def s15(at: AppTest) -> None:
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Convolutional layer: weights"] == "6.1 × 10^5"
    assert metrics["Dense layer: weights"] == "2.2 × 10^11"
    assert "256 biases" in text(at) and "774,400 biases" in text(at)
    totals = at.dataframe[0].value.set_index("network")
    assert totals.loc["VGG16", "convolutional"] == "14,714,688"
    assert totals.loc["VGG16", "dense"] == "123,642,856"


def s19(at: AppTest) -> None:
    maps = heatmaps(at)
    np.testing.assert_array_equal(maps["nn.Linear(A.flatten(1))"],
                                  maps["nn.Conv2d 1x1 (A)[:, :, 0, 0]"])
    assert "Largest |dense − conv| = 0." in text(at)


def s4(at: AppTest) -> None:
    difference = float(re.search(r"max difference \*\*([^*]+)\*\*", text(at)).group(1))
    assert difference < 1e-3
    shown = captions(at)
    assert any(c.startswith("y[0, 0] (Gx): shape (510, 510)") for c in shown)
    assert any(c.startswith("y[0, 1] (Gy): shape (510, 510)") for c in shown)


def s7(at: AppTest) -> None:
    shown = captions(at)
    for name in ("Red", "Green", "Blue", "Red-blue"):
        assert any(c.startswith(name + ":") or c.startswith(name + " (") for c in shown), name


def s8(at: AppTest) -> None:
    # Offline the weights are not cached: the page must say the kernels are random, not pretend.
    assert any("64 kernels of 11x11x3" in c for c in captions(at))
    assert "Untrained AlexNet" in text(at)


def s17(at: AppTest) -> None:
    assert "dJ/dW 0, dJ/dA 0, dJ/db 0" in text(at)
    maps = heatmaps(at)
    np.testing.assert_array_equal(maps["dJ/dW by autograd"], maps["correlate(A[0], dJ/dZ[0])"])


def s10(at: AppTest) -> None:
    (rates,) = charts(at)[next(k for k in charts(at) if "schedule_preview" in k)].values()
    y = np.array(_decode(rates[1]))
    assert y.max() == pytest.approx(0.003)  # up to the learning rate ...
    assert y[0] == pytest.approx(0.003 / 25)  # from lr / 25 (one-cycle's warm-up) ...
    assert 0.25 < np.argmax(y) / len(y) < 0.35  # peaking at 30 % ...
    assert y[-1] < 1e-5  # ... and down to almost 0


def s11(at: AppTest) -> None:
    curves = charts(at)[next(k for k in charts(at) if "activation_preview" in k)]
    assert set(curves) == {"ReLU", "Leaky ReLU", "PReLU", "ELU (chosen)"}
    z, h = (np.array(_decode(v)) for v in curves["ELU (chosen)"])
    np.testing.assert_allclose(h, np.where(z >= 0, z, np.expm1(z)), atol=1e-6)


def s9(at: AppTest) -> None:
    table = next(d.value for d in at.dataframe if "lecture (CIFAR-10, 100 epochs)" in d.value)
    assert list(table["lecture (CIFAR-10, 100 epochs)"]) == ["67 %", "72.5 %", "79.5 %", "79 %"]
    assert "overfitting" in text(at)  # and why the regime is what it is


def s16(at: AppTest) -> None:
    assert any(b.label == "Compare all four" for b in at.button)


def s12(at: AppTest) -> None:
    assert "138,357,544 parameters" in text(at)


def s18(at: AppTest) -> None:
    assert "= 11` pixels" in text(at)
    table = at.dataframe[0].value.set_index("network")
    assert table.loc["VGG16", "receptive field (pixels)"] == 212


def s13(at: AppTest) -> None:
    assert "Untrained VGG-16" in text(at)  # offline: said in the main area, not only the sidebar


def s14(at: AppTest) -> None:
    assert "features.1" in text(at)


def d23_1(at: AppTest) -> None:  # the half-space view: boundary, w arrow, b's shift
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    unit = specs[0]["layout"]
    assert unit["title"]["text"].startswith("unit 1: z =")
    assert any(a.get("text") == "<b>w</b>" for a in unit["annotations"])
    assert any("−b/‖w‖" in a.get("text", "") for a in unit["annotations"])
    assert specs[1]["layout"]["title"]["text"].startswith("output = combination")


def d23_2(at: AppTest) -> None:  # depth 12, sigmoid: the first layer gets < 1 % of the last's
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "deep_gradients" in c.proto.id)
    norms = np.array(_decode(spec["data"][0]["y"]))
    assert len(norms) == 12 and norms[0] / norms[-1] < 1e-2


def d23_3(at: AppTest) -> None:
    assert list(at.dataframe[0].value["weight layers"]) == [4, 42, 42]


def d23_4(at: AppTest) -> None:
    assert {m.label: m.value for m in at.metric}["inception3a: conv weights"] == "155,136"


def d23_5(at: AppTest) -> None:  # the slide's "Big" and "Small" cells, and conv vs dense
    assert "**40**" in text(at) and "**32**" in text(at)
    assert [m.value for m in at.metric] == ["6.1 × 10^5", "2.2 × 10^11"]


def d23_6(at: AppTest) -> None:
    assert "25.6" in at.get("plotly_chart")[0].proto.spec


def d24_3(at: AppTest) -> None:  # D's heat map, the ring's 8 modes counted, J_D / J_G
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "generative.gan2d.plane" in c.proto.id)
    assert [d["type"] for d in spec["data"]][:2] == ["heatmap", "scatter"]
    assert "of 8** clusters" in " ".join(c.value for c in at.caption)
    assert "J_G = −E ln D(G(z))" in text(at)


def d24_4(at: AppTest) -> None:  # the flow's density, the NLL split, one Gaussian beside it
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "generative.flow.density" in c.proto.id)
    assert spec["data"][0]["type"] == "heatmap"
    assert any("−log |det ∂f/∂x|" in c.value and "one Gaussian" in c.value for c in at.caption)


def d24_5(at: AppTest) -> None:  # x_t at t = 50, the schedules, class 9's samples and chain
    captions = [c for image in at.get("image") for c in image.captions]
    assert any("x_t at t = " in c and "**50**" in c for c in captions)
    assert any(c.startswith("Reverse chain of the first sample") for c in captions)
    assert at.session_state["keep.generative.diffusion.class"] == 9
    assert any("generative.diffusion.schedule" in c.proto.id for c in at.get("plotly_chart"))


def d24_1(at: AppTest) -> None:  # reconstructions, the latent scatter, noise's anomaly score
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("Top: test images") for c in captions)
    assert any("gen_ae_latent" in c.proto.id for c in at.get("plotly_chart"))
    assert "higher than 100% of 500 test images" in [m.delta for m in at.metric]


def d24_2(at: AppTest) -> None:  # samples from N(0, I), z = mu + sigma eps, the walk
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "gen_vae_reparam" in c.proto.id)
    assert [d["name"] for d in spec["data"]] == ["mu", "sigma", "z = mu + sigma * eps"]
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("Samples: D(z) with z ~ N(0, I)") for c in captions)
    assert any(c.startswith("A latent walk (the shipped weights)") for c in captions)
    assert any("The default Shapes network recognises" in c.value for c in at.caption)


CHECKS: dict[str, Callable[[AppTest], None]] = {
    "24.1": d24_1, "24.2": d24_2, "24.3": d24_3, "24.4": d24_4, "24.5": d24_5,
    "23.1": d23_1, "23.2": d23_2, "23.3": d23_3, "23.4": d23_4, "23.5": d23_5, "23.6": d23_6,
    "S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5, "S6": s6, "S7": s7, "S8": s8, "S9": s9,
    "S10": s10, "S11": s11, "S12": s12, "S13": s13, "S14": s14, "S15": s15, "S16": s16,
    "S17": s17, "S18": s18, "S19": s19,
}


def test_every_demo_has_a_check_and_a_known_page() -> None:
    assert set(CHECKS) == set(DEMOS_BY_KEY)
    for demo in DEMOS:
        assert demo.section in SECTIONS and demo.page in PAGES_BY_KEY
        assert demo.link.startswith(f"/{demo.page}")


@pytest.mark.parametrize("key", [demo.key for demo in DEMOS])
def test_each_card_opens_its_demo_with_the_lectures_numbers(key: str) -> None:
    CHECKS[key](open_demo(key))


def test_the_lecture_page_lists_every_demo_in_order_with_a_link() -> None:
    at = AppTest.from_file(HOME, default_timeout=120)
    at.run()
    at.switch_page(LECTURE).run()
    assert not at.exception
    shown = text(at)
    positions = [shown.index(f"**{demo.key} · {demo.title}**") for demo in DEMOS]
    assert positions == sorted(positions)
    assert [s.value for s in at.subheader] == [
        section for section in SECTIONS if any(demo.section == section for demo in DEMOS)]
    links = at.get("page_link")
    assert len(links) == len(DEMOS)
    for link, demo in zip(links, DEMOS, strict=True):
        assert dict(link.proto.query_string and [p.split("=", 1) for p in
                                                 link.proto.query_string.split("&")] or []) \
            or not demo.params


def test_links_followed_inside_one_session_each_apply() -> None:
    """A lecturer clicks card after card in one tab: each link's settings win over what the
    previous card (or the student) set."""
    at = open_demo("S1")
    at = open_demo("S5", at)  # the grid, the 5x5 pattern and valid mode replace S1's
    s5(at)
    at = open_demo("S3", at)  # back to a preset kernel on a step edge
    s3(at)
    at = open_demo("S6", at)
    s6(at)
    at = open_demo("S5", at)
    s5(at)


def test_presenter_mode_from_the_link_hides_the_intro_and_keeps_the_numbers() -> None:
    at = AppTest.from_file(HOME, default_timeout=120)
    at.run()
    at.query_params.update({**DEMOS_BY_KEY["S5"].params, "present": "1"})
    at.switch_page(PAGES_BY_KEY["convolution"].script).run()
    assert not at.exception
    assert at.toggle(key="keep.present").value is True
    assert "Slide a small kernel" not in text(at)  # the intro paragraph, hidden
    s5(at)
    at.toggle(key="keep.present").set_value(False).run()
    assert "Slide a small kernel" in text(at)


@pytest.mark.parametrize("key, expected", [
    ("S5", "[[12. 12. 17.]\n [10. 17. 19.]\n [ 9.  6. 14.]]"),
    ("S6", "[[5. 4.]\n [4. 6.]]"),
])
def test_the_demos_code_prints_the_pages_numbers_without_the_app(key: str, expected: str,
                                                                  tmp_path) -> None:
    """Show the code: the script runs in a fresh Python that cannot import explorer, and
    prints the numbers the page shows."""
    from tests.test_codegen import run_fresh

    at = open_demo(key)
    scripts = [block.value for block in at.code]
    assert scripts and all("explorer" not in script for script in scripts)
    for script in scripts:
        assert expected in run_fresh(script, tmp_path)
