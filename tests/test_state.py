"""explorer.ui.state: link values decoded safely, validators that never raise, kept widget values."""

from __future__ import annotations

import functools
import json
import types
from unittest import mock

import pytest
import streamlit.testing.v1.local_script_runner as local_script_runner
from streamlit.testing.v1 import AppTest

from explorer.ui import heartbeat, state
from explorer.ui.state import INVALID, _decode, accepts, boolean, number_in, one_of
from tests.test_training import wait_for

HOME = "../explorer/Home.py"
CONV = "../pages/1_Convolution.py"
COLOUR = "../pages/2_Colour_filters.py"
TRAIN = "../pages/3_Train_a_CNN.py"
PRETRAINED = "../pages/5_Pretrained_networks.py"


# ---------------------------------------------------------------- decoding link values


@pytest.mark.parametrize("text, expected", [
    ("gaussian", "gaussian"),  # a bare word is the text itself
    ("7", 7),
    ("2.5", 2.5),
    ("true", True),
    ("null", None),
    ('"3"', "3"),
    ("", ""),
    ("[[1, 2], [3, 4]]", ((1, 2), (3, 4))),  # lists as tuples: hashable
    ('[["a", 1.0, 0, 0, 0, "shared"]]', (("a", 1.0, 0, 0, 0, "shared"),)),
])
def test_decode_keeps_what_a_widget_may_take(text: str, expected) -> None:
    assert _decode(text) == expected


def _hostile_texts() -> dict[str, str]:
    return {
        "object": '{"a": 1}',
        "object in a list": '[{"a": 1}]',
        "too deep": "[[[1]]]",
        "5,000 [": "[" * 5000,
        "5,000 balanced": "[" * 5000 + "]" * 5000,
        "deep inside the limit": "[" * 3000 + "]" * 3000,
        "NaN": "NaN",
        "Infinity": "Infinity",
        "-Infinity": "-Infinity",
        "NaN in a grid": "[[1, NaN]]",
        "overflowing float": "1e999",
        "overflow in a list": "[[1e999]]",
        "huge string": "x" * 100_000,
        "huge number list": "[" + ",".join(["1"] * 5000) + "]",
    }


@pytest.mark.parametrize("name", list(_hostile_texts()))
def test_decode_refuses_hostile_values_without_raising(name: str) -> None:
    value = _decode(_hostile_texts()[name])
    assert value is INVALID or isinstance(value, str)
    assert not any(accepts(check, value) for check in (
        number_in(-1e308, 1e308), one_of(["a", 1, True]), boolean(), lambda v: len(v) > 0 and
        all(isinstance(r, tuple) for r in v)))


# ---------------------------------------------------------------- validators


def _values() -> list:
    """Every kind of decoded value, and a few Python ones a session could hold."""
    return [INVALID, None, True, False, 0, 1, -1, 1.0, 0.0, 2.5, 10**400, 1e308, -1e308,
            float("nan"), float("inf"), "", "1", "true", "ü\u202e", (1, 2), ((1,), (2,)),
            [[1], [2]], {"a": 1}, {1, 2}, object()]


@pytest.mark.parametrize("check", [
    one_of(["a", "b"]), one_of({"preset": "x", "grid": "y"}), one_of((True, False)),
    one_of(range(5)), one_of((8, 16)), one_of((1e-4, 1e-3, 1.0)), boolean(),
    number_in(1, 8, integer=True), number_in(-1e6, 1e6), number_in(0.0, 1.0),
    lambda v: 0 <= v <= 1, lambda v: v in {"a": 1}, lambda v: 1 / 0,
], ids=lambda c: getattr(c, "__name__", type(c).__name__))
def test_no_validator_raises(check) -> None:
    for value in _values():
        assert accepts(check, value) in (True, False)


def test_booleans_are_not_numbers_and_numbers_not_booleans() -> None:
    flag = boolean()
    assert flag(True) and flag(False)
    for value in (1, 0, 1.0, 0.0, "true", "True", (True,), None):
        assert not flag(value), value
    size = number_in(1, 8, integer=True)
    assert not size(True) and not size(2.5) and not size("3")
    assert size(3) and size.coerce(3.0) == 3 and isinstance(size.coerce(3.0), int)
    assert one_of((8, 16, 32))(16.0) and not one_of((8, 16, 32))(True)


def test_coercion_gives_the_widget_its_own_type() -> None:
    sigma = number_in(0.1, 10.0)
    assert sigma(2) and isinstance(sigma.coerce(2), float)
    rates = one_of((1e-3, 1.0))
    assert rates(1) and rates.coerce(1) == 1.0 and isinstance(rates.coerce(1), float)
    assert not number_in(1, 8, integer=True)(10**400)  # no OverflowError from float()


# ---------------------------------------------------------------- one note per bad link value


def test_a_bad_link_value_is_ignored_once_with_a_note() -> None:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.query_params.update({"stride": "[[1],[2]]", "mode": "[" * 5000, "image": '{"a":1}'})
    at.switch_page(CONV).run()
    assert not at.exception, at.exception
    notes = " ".join(t.value for t in at.toast)
    for name in ("stride", "mode", "image"):
        assert f"`{name}`" in notes
    assert at.slider(key="keep.convolution.stride").value == 1
    assert at.query_params["stride"] == "1" and at.query_params["mode"] == "same"  # replaced
    at.run()
    assert not at.exception and not at.toast  # read once: no second note


def test_a_link_followed_inside_an_open_session_applies_its_values() -> None:
    """A lecture card's link opens a page that this session has already set up otherwise:
    the link's values win; the page's own echo of a value never overrides the user."""
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page(CONV).run()
    stride = at.slider(key="keep.convolution.stride")
    assert stride.value == 1 and at.query_params["stride"] == "1"
    stride.set_value(2).run()  # the user's own change, echoed to the address bar
    assert at.query_params["stride"] == "2"
    at.run()
    assert at.slider(key="keep.convolution.stride").value == 2
    at.query_params["stride"] = "3"  # a link to the same page, followed in this session
    at.run()
    assert not at.exception and not at.toast
    assert at.slider(key="keep.convolution.stride").value == 3
    at.slider(key="keep.convolution.stride").set_value(1).run()  # the user moves on
    assert at.slider(key="keep.convolution.stride").value == 1
    assert at.query_params["stride"] == "1"


# ---------------------------------------------------------------- kept values and fragments


class _BusyRegistry:
    """Stands in for the job registry: this tab owns an unfinished run, so the heartbeat
    fragment is drawn on every page."""

    def __init__(self) -> None:
        self.beats = 0

    def jobs_of(self, owner: str) -> list:
        return [types.SimpleNamespace(done=False)]

    def heartbeat(self, owner: str) -> None:
        self.beats += 1


def run_fragments(at: AppTest) -> None:
    """What run_every does in a browser: rerun only the fragments (AppTest cannot by itself)."""
    fragment_ids = list(at._fragment_storage._fragments)
    assert fragment_ids, "no fragment on the page"
    pages = at._registered_pages  # a fragment run does not call st.navigation
    rerun_data = functools.partial(local_script_runner.RerunData, fragment_id_queue=fragment_ids)
    with mock.patch.object(local_script_runner, "RerunData", rerun_data):
        at.run()
    at._registered_pages = pages
    assert not at.exception, at.exception


@pytest.fixture
def busy(monkeypatch) -> _BusyRegistry:
    registry = _BusyRegistry()
    monkeypatch.setattr(heartbeat, "_registry", lambda: registry)
    return registry


def test_kept_values_survive_a_heartbeat_then_a_page_switch(busy: _BusyRegistry) -> None:
    """Issue 12: the heartbeat fragment (run_every) ran while another page was shown; the next
    page switch then dropped every kept widget value (Train sidebar back to 3 epochs)."""
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.switch_page(CONV).run()
    at.slider(key="keep.convolution.stride").set_value(3)
    at.selectbox(key="keep.convolution.mode").set_value("full")
    at.run()
    at.switch_page(COLOUR).run()
    at.radio(key="keep.colour.source").set_value("pattern")
    at.session_state[heartbeat.OWNER_KEY] = "a" * 32
    at.run()
    assert not at.exception, at.exception
    beats = busy.beats
    run_fragments(at)
    run_fragments(at)
    assert busy.beats == beats + 2  # only the fragment ran, twice
    at.switch_page(CONV).run()
    assert at.slider(key="keep.convolution.stride").value == 3
    assert at.selectbox(key="keep.convolution.mode").value == "full"
    run_fragments(at)
    at.switch_page(COLOUR).run()
    assert at.radio(key="keep.colour.source").value == "pattern"
    assert not at.exception, at.exception


def test_train_sidebar_and_network_survive_heartbeats_on_other_pages(busy: _BusyRegistry) -> None:
    """The reported case: Train sidebar (epochs 30, lr 0.003) and the Pretrained network."""
    at = AppTest.from_file(HOME, default_timeout=120)
    at.run()
    at.switch_page(TRAIN).run()
    at.slider(key="keep.train.epochs").set_value(30)
    at.select_slider(key="keep.train.lr").set_value(3e-3)
    at.run()
    at.switch_page(PRETRAINED).run()
    at.selectbox(key="keep.pretrained.model").set_value("mobilenet_v3_small").run()
    assert not at.exception, at.exception
    for _ in range(3):  # about a minute on another page: three heartbeats
        run_fragments(at)
    at.switch_page(CONV).run()
    run_fragments(at)
    at.switch_page(TRAIN).run()
    assert at.slider(key="keep.train.epochs").value == 30
    assert at.select_slider(key="keep.train.lr").value == 3e-3
    run_fragments(at)
    at.switch_page(PRETRAINED).run()
    assert at.selectbox(key="keep.pretrained.model").value == "mobilenet_v3_small"
    assert not at.exception, at.exception


def test_values_set_by_a_callback_are_kept_too(busy: _BusyRegistry) -> None:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    at.session_state[heartbeat.OWNER_KEY] = "b" * 32
    at.switch_page(CONV).run()
    at.session_state["tab"] = "Step through"
    at.run()
    at.button[0].click().run()  # "Load the lecture's 5x5 example": an on_click callback
    assert at.selectbox(key="keep.convolution.mode").value == "valid"
    run_fragments(at)
    at.switch_page(COLOUR).run()
    run_fragments(at)
    at.switch_page(CONV).run()
    assert at.selectbox(key="keep.convolution.mode").value == "valid"
    assert at.radio(key="keep.convolution.kernel.source").value == "grid"
    assert not at.exception, at.exception


def test_the_longest_real_link_values_fit() -> None:
    grid = json.dumps([[-0.0010283800774253524] * 9] * 9)  # 9x9, full precision
    bank = json.dumps([["x" * 40, -0.123456789012345, 0.5, 99.99999999, -1e-05, "shared"]] * 8)
    for text in (grid, bank):
        assert len(text) <= state.MAX_LINK_TEXT and _decode(text) is not INVALID


def waiting_in_import(thread) -> bool:
    """Whether the thread is inside importlib's own code (e.g. waiting on a module's lock)."""
    import sys

    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_filename == "<frozen importlib._bootstrap>":
            return True
        frame = frame.f_back
    return False


def test_a_module_half_imported_by_another_session_is_waited_for(tmp_path, monkeypatch) -> None:
    """Found under load (12 sessions): one session's thread was importing explorer.jobs.registry
    while another's heartbeat found it in sys.modules and called get_registry on the half-built
    module (AttributeError: partially initialized module). The heartbeat waits for the import."""
    import sys
    import threading
    import types

    gate = types.ModuleType("half_import_gate")
    gate.started, gate.release = threading.Event(), threading.Event()
    monkeypatch.setitem(sys.modules, "half_import_gate", gate)
    (tmp_path / "half_imported.py").write_text(
        "import half_import_gate\n"
        "half_import_gate.started.set()\n"
        "half_import_gate.release.wait(60)\n"
        "def get_registry():\n"
        "    return 'built'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importer = threading.Thread(target=__import__, args=("half_imported",))
    importer.start()
    try:
        assert gate.started.wait(60)
        assert "half_imported" in sys.modules  # half-built: get_registry not yet defined
        assert not hasattr(sys.modules["half_imported"], "get_registry")
        found = []
        finder = threading.Thread(  # calls into the module as soon as it gets it
            target=lambda: found.append(heartbeat.imported_already("half_imported").get_registry()))
        finder.start()
        # the import stays half done until the finder has either returned (a finder that does
        # not wait: it fails) or is waiting inside the import machinery for the module's lock
        wait_for(lambda: not finder.is_alive() or waiting_in_import(finder),
                 what="the finder to return or to wait for the import")
        gate.release.set()
        finder.join(60)
        assert found == ["built"]
        assert heartbeat.imported_already("never_imported_module") is None
    finally:
        gate.release.set()
        importer.join(60)
        sys.modules.pop("half_imported", None)
