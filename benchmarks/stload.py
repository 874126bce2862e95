#!/usr/bin/env python3
# ruff: noqa
# A copy of the shared load generator (shared/tools/stload.py), kept in step with the app's
# widgets (keys starting with "keep.", the "tab" tabs) and link parameters. When they change,
# update the tables below and verify against a live server: --check-params N.
r"""stload.py - browserless load generator for the CNN Explorer Streamlit app.

It speaks Streamlit's own protocol (BackMsg / ForwardMsg protobufs over the websocket at
/_stcore/stream), so a simulated student costs a coroutine, not a Chromium. Run it with the
app's Python: it imports streamlit's generated protobuf classes and the `websockets` package
that streamlit's server already depends on (nothing else to install).

  .venv/bin/python ../shared/tools/stload.py --url http://127.0.0.1:8651 --sessions 50 --duration 120 \
      --think 2.0 --mix convolution=0.4,colour=0.2,pretrained=0.3,home=0.1 \
      [--fetch-media] [--mode browse|link] [--server-pid PID] [--workers N] --json out.json

One simulated student (a "session"): GET the page, GET /_stcore/health (sets the XSRF cookie)
and /_stcore/host-config, open the websocket with subprotocols ("streamlit", <xsrf token>),
load a page drawn from --mix with a random query string (the app seeds its widgets from the
link), then until --duration is over: think (exponential, mean --think seconds), then
  browse mode (default): with probability --stay (0.7) stay on the page and change one widget
      (a random valid value, tabs included; the rerun carries the whole widget state, as the
      browser sends it), else draw a page from --mix: another page -> navigate to it
      (page_script_hash, as a sidebar click) with a random query string; the same page ->
      a widget change (a plain rerun on Home). NB the app reads each link parameter name only
      once per session (explorer/ui/state.py), so after the first page most navigation
      parameters are ignored, exactly as in a browser; the variety comes from widget changes.
  link mode: close the session and open a new one on the drawn page with a new random query
      string (every action is a first visit: "everyone opens a different link").
Job buttons and live views (--jobs train=0.3,ablation=0.05,transfer=0.1,featurevis=0.05; off by
default): before each think step's action, a student presses one job's button with its
probability: train = Start and ablation = Lecture ablation (Train page), transfer = Compare all
four and transfer_one = Train (Transfer learning page), featurevis = Visualise (Pretrained page,
"What channels look for" tab). Elsewhere, the student first goes there (a nav, a tab change: both
browsing); --own-seed of the Start presses first set a seed of their own (a distinct run; the rest
share the run on the defaults). A press is a rerun whose WidgetStates carry the button's
trigger_value. Then the student watches (--watch, mean 15 s) before thinking and acting again.
Polling (on with --jobs, or --poll): every ForwardMsg auto_rerun (a fragment with run_every
drawn: the Train page's live view, the heartbeat on any page...) starts a timer, as the browser's
handleAutoRerun does; each tick sends BackMsg rerun_script with fragment_id and is_auto_rerun set,
whether or not the last one was answered. A full run's new_session (metadata.run.fragment_ids
empty) or a page change stops the timers (the full run draws the fragments again), as does
stop_auto_rerun; so a student who leaves the page stops polling it. A poll is done at the
script_finished of the fragment run that answers it (new_session naming its fragment; through
st.rerun() to the full run it asks for); a poll the server folds into a full run or drops with a
stopped run is "superseded" / "interrupted", not timed and not a failure. Presses and polls are
timed and counted apart from browsing ("press", "fragment"); the summary also splits browsing
into actions with and without some student's live view polled within 2 s.
A rerun is done at the script_finished message (and, with --fetch-media, when its /media/...
images are fetched). Errors: exception elements, compile errors, page_not_found, websocket
closed, timeout (--timeout), media HTTP errors, forward-message cache misses, connect errors.
It stops by itself: no new action after --duration; running ones end or time out; sessions
are closed with a websocket close frame.

Other modes (no load):
  --inspect 'convolution?kernel=sobel_x&mode=valid'   one session, one load, print what arrived
      (--then KEY=VALUE: a widget change; --then press=Start: a button, by key or label;
       --then wait=10: stay 10 s, polling the live fragments, and show what the polls got)
  --check-params N   N random query strings per page of --mix, each in a new session: is each
                     parameter accepted (echoed back unchanged in the app's URL)?
Output: a summary on stdout; --json FILE gets the summary, the server samples and every action.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing as mp
import os
import random
import resource
import signal
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict

try:
    import websockets
    from websockets.asyncio.client import connect as ws_connect
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.Common_pb2 import DoubleArray  # noqa: F401 (checks the proto set)
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.Slider_pb2 import Slider
    from streamlit.proto.NumberInput_pb2 import NumberInput
except ImportError as _error:  # pragma: no cover
    sys.exit(f"stload needs the app's Python (streamlit + websockets importable): {_error}")

VERSION = "1.0"
USER_AGENT = f"stload/{VERSION} (Streamlit protocol load generator)"
FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
            ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
FATAL = {"timeout", "ws_closed", "send_error"}  # the session is dropped and reopened
ORPHAN_S = 5.0  # a poll of a fragment a full run did not draw again, not started by then: dropped

# ----------------------------------------------------------------------------------------
# The app's pages and their link parameters (read from the app: explorer/ui/state.py seed(),
# explorer/ui/{image_picker,kernel_editor,convolution,colour_filters,pretrained_page}.py,
# explorer/{kernels,conv,images,colour,zoo}.py). Values outside these are rejected by the app
# (it falls back to the default); --check-params verifies the generator against a live server.
# ----------------------------------------------------------------------------------------

PAGE_URL = {"home": "", "convolution": "convolution", "colour": "colour", "train": "train",
            "pretrained": "pretrained", "transfer": "transfer", "generative": "generative",
            "lecture": "lecture", "architectures": "architectures", "playground": "playground",
            "layers": "layers", "deep": "deep"}
BUILTINS = ["cameraman", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "text",
            "brick", "grass", "gravel", "colour wheel", "immunohistochemistry"]
PATTERNS = {  # name: fixed size (no `size` parameter)
    "impulse": False, "step edge (vertical)": False, "step edge (horizontal)": False,
    "checkerboard": False, "bars": False, "disk": False, "gradient": False, "noise": False,
    "colour chart": False, "colour wheel": False, "lecture 5x5": True,
    "lecture 4x4 (pooling)": True}
PATTERN_SIZES = [5, 8, 16, 32, 64, 128, 256, 512]
_SIZE = ("size", "size", 1, 31, 1)
KERNELS = {  # preset: its slider parameters (name, kind, min, max, step); URL names are k_<name>
    "identity": [_SIZE], "box": [_SIZE],
    "gaussian": [_SIZE, ("sigma", "float", 0.1, 10.0, 0.1)],
    "sobel_x": [], "sobel_y": [], "prewitt_x": [], "prewitt_y": [], "scharr_x": [],
    "scharr_y": [], "laplacian_4": [], "laplacian_8": [],
    "log": [_SIZE, ("sigma", "float", 0.1, 10.0, 0.1)],
    "sharpen": [], "emboss": [],
    "motion_blur": [("length", "int", 1, 31, 1), ("angle", "float", 0.0, 180.0, 1.0)],
    "gabor": [_SIZE, ("sigma", "float", 0.5, 15.0, 0.5), ("theta", "float", 0.0, 180.0, 1.0),
              ("wavelength", "float", 2.0, 40.0, 0.5), ("phase", "float", -180.0, 180.0, 1.0),
              ("gamma", "float", 0.1, 2.0, 0.05)],
    "random": [_SIZE, ("seed", "int", 0, 9999, 1)],
}
CONV_MODES = ["valid", "same", "full"]
BOUNDARIES = ["fill", "wrap", "symm", "reflect", "replicate"]
COLOUR_MODES = ["same", "valid"]
COLOUR_TEMPLATES = [  # colour.FILTER_TEMPLATES as bank rows (label, R, G, B, bias, kernel)
    ["Red", 1.0, -0.5, -0.5, 0.0, "shared"], ["Green", -0.5, 1.0, -0.5, 0.0, "shared"],
    ["Blue", -0.5, -0.5, 1.0, 0.0, "shared"], ["Red-blue (magenta)", 0.5, -1.0, 0.5, 0.0, "shared"],
    ["Yellow", 0.5, 0.5, -1.0, 0.0, "shared"], ["Cyan", -1.0, 0.5, 0.5, 0.0, "shared"],
    ["Brightness", 1 / 3, 1 / 3, 1 / 3, 0.0, "shared"],
    ["Red edges (vertical)", 1.0, -0.5, -0.5, 0.0, "sobel_x"],
    ["Green edges (vertical)", -0.5, 1.0, -0.5, 0.0, "sobel_x"],
    ["Blue edges (vertical)", -0.5, -0.5, 1.0, 0.0, "sobel_x"],
    ["Brightness edges (vertical)", 1 / 3, 1 / 3, 1 / 3, 0.0, "sobel_x"]]
MAX_FILTERS = 8
# Pretrained page: select-box label prefix, first layer group (the `layer` link value is only
# valid there, it is read when the Activations tab opens), channels to stay below, classes.
_VGG16_FEATURES = [f"features.{i}" for i in range(31)]
MODELS = {
    "default": ("CNN Explorer's default network",
                ["conv1", "act1", "pool1", "conv2", "act2", "pool2"], 32, 10),
    "resnet18": ("ResNet-18 (", ["conv1", "bn1", "relu", "maxpool", "avgpool"], 64, 1000),
    "vgg16": ("VGG-16 (", _VGG16_FEATURES, 64, 1000),
    # the rest of the zoo: network choice only (layers not tabulated here)
    "alexnet": ("AlexNet (", [], 0, 1000), "vgg11": ("VGG-11 (", [], 0, 1000),
    "googlenet": ("GoogLeNet (", [], 0, 1000), "resnet50": ("ResNet-50 (", [], 0, 1000),
    "densenet121": ("DenseNet-121 (", [], 0, 1000),
    "squeezenet1_1": ("SqueezeNet 1.1 (", [], 0, 1000),
    "mobilenet_v2": ("MobileNet V2 (", [], 0, 1000),
    "mobilenet_v3_small": ("MobileNet V3 Small (", [], 0, 1000),
    "efficientnet_b0": ("EfficientNet-B0 (", [], 0, 1000),
}
GARBAGE = ["", "abc", "-1", "0", "1e309", "NaN", "Infinity", "[[1,2],[3]]", "{}", "null", "true",
           "99999999", "\u00fc\u00df", "<script>", "../../etc/passwd", "[1", "\"x\"", "1.5e-400"]


def _grid_value(rng: random.Random, low: float, high: float, step: float, integer: bool):
    n = int(round((high - low) / step))
    value = low + rng.randint(0, n) * step
    return int(round(value)) if integer else round(value, 6)


def _skewed_size(rng: random.Random) -> int:
    """Kernel sides: mostly small, as students use them (60% 1-9, 30% 10-19, 10% 20-31)."""
    r = rng.random()
    return rng.randint(1, 9) if r < 0.6 else rng.randint(10, 19) if r < 0.9 else rng.randint(20, 31)


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def gen_image(rng: random.Random, params: list) -> None:
    if rng.random() < 0.7:
        params += [("image", "builtin"), ("photo", rng.choice(BUILTINS))]
    else:
        name = rng.choice(list(PATTERNS))
        params += [("image", "pattern"), ("pattern", name)]
        if not PATTERNS[name]:
            params.append(("size", str(rng.choice(PATTERN_SIZES))))


def gen_kernel(rng: random.Random, params: list) -> None:
    preset = rng.choice(list(KERNELS))
    params += [("from", "preset"), ("kernel", preset)]
    for name, kind, low, high, step in KERNELS[preset]:
        if kind == "size":
            square = rng.random() < 0.8
            params += [("k_square", _json(square)), ("k_size", str(_skewed_size(rng)))]
            if not square:
                params.append(("k_cols", str(_skewed_size(rng))))
        else:
            params.append((f"k_{name}", _json(_grid_value(rng, low, high, step, kind == "int"))))
    if rng.random() < 0.2:
        params.append(("normalise", "true"))


def gen_convolution(rng: random.Random, cfg) -> list:
    params: list = []
    gen_image(rng, params)
    gen_kernel(rng, params)
    mode, boundary = rng.choice(CONV_MODES), rng.choice(BOUNDARIES)
    params += [("mode", mode), ("boundary", boundary)]
    if boundary == "fill" and rng.random() < 0.3:
        params.append(("fill", _json(round(rng.uniform(-1, 1), 1))))
    params.append(("stride", str(1 if rng.random() < 0.5 else rng.randint(2, 8))))
    params.append(("dilation", str(1 if rng.random() < 0.7 else rng.randint(2, 8))))
    return params


def gen_colour(rng: random.Random, cfg) -> list:
    params: list = []
    gen_image(rng, params)
    gen_kernel(rng, params)
    if rng.random() < 0.7:  # else: the lecture's bank (the default)
        rows = []
        for i in range(rng.randint(1, MAX_FILTERS)):
            if rng.random() < 0.6:
                rows.append(list(rng.choice(COLOUR_TEMPLATES)))
            else:
                kernel = "shared" if rng.random() < 0.8 else rng.choice(list(KERNELS))
                rows.append([f"filter {i + 1}", *(round(rng.uniform(-1, 1), 2) for _ in range(3)),
                             0.0 if rng.random() < 0.7 else round(rng.uniform(-0.5, 0.5), 2),
                             kernel])
        params.append(("bank", _json(rows)))
    params += [("mode", rng.choice(COLOUR_MODES)), ("relu", _json(rng.random() < 0.3)),
               ("shared", _json(rng.random() < 0.3))]
    return params


def gen_pretrained(rng: random.Random, cfg) -> list:
    name = rng.choice(cfg.models)
    _, layers, channels, classes = MODELS[name]
    params: list = [("model", name)]
    gen_image(rng, params)
    if layers:
        params.append(("layer", rng.choice(layers)))
        params.append(("channel", str(rng.randint(0, channels - 1))))
    params += [("strongest", _json(rng.random() < 0.3)), ("shared", _json(rng.random() < 0.3)),
               ("class", str(rng.randint(0, classes - 1)))]
    return params


# The Generative models page's tabs (pages/10_Generative_models.py) and the Diffusion tab's
# sampling settings (explorer/ui/generative/diffusion.py sample_panel: 10 Shapes classes + "every
# class in turn", guidance 0-15 by 0.5, 2-50 steps, COUNTS).
GENERATIVE_TABS = ["Autoencoder", "VAE", "GAN on 2-D points", "GAN on images", "Normalizing flow",
                   "Diffusion"]


def gen_generative(rng: random.Random, cfg) -> list:
    params: list = [("tab", rng.choice(GENERATIVE_TABS))]
    if params[0][1] == "Diffusion" and rng.random() < 0.5:  # else the shipped defaults
        params += [("df_class", str(rng.randint(0, 10))),
                   ("df_guidance", _json(rng.randint(0, 30) / 2))]
    return params


# The lazy tabs of the lecture's other pages (pages/6_CNN_layers.py ... 9_Architectures.py): a
# link opens one of them; the widgets are then changed like any other.
PAGE_TABS = {
    "layers": ["Backprop", "Receptive field", "Dense = 1x1 conv", "Parameters",
               "Pattern matching"],
    "playground": ["Network", "Half-spaces", "Data"],
    "deep": ["Vanishing gradients", "Residual vs plain"],
    "architectures": ["ILSVRC", "Inception"],
}


def _gen_tab(page: str):
    return lambda rng, cfg: [("tab", rng.choice(PAGE_TABS[page]))]


GENERATORS = {"home": lambda rng, cfg: [], "train": lambda rng, cfg: [],
              "lecture": lambda rng, cfg: [], **{page: _gen_tab(page) for page in PAGE_TABS},
              "transfer": lambda rng, cfg: [],
              "convolution": gen_convolution, "colour": gen_colour, "pretrained": gen_pretrained,
              "generative": gen_generative}

# The job buttons a student presses (--jobs): the page, the tab to open first (the page's
# lazy "tab" tabs) and the button, by key, else by label (explorer/ui/training/run.py
# controls(), explorer/ui/transfer/results.py controls(), explorer/ui/networks/channels.py
# featurevis_panel()). Each job's page then shows a live view, an st.fragment(run_every=...).
JOBS = {
    "train": ("train", None, "Start"),  # one run (3 epochs of Shapes on the defaults)
    "ablation": ("train", None, "Lecture ablation"),  # four runs in the tab's queue
    "transfer": ("transfer", None, "transfer.compare"),  # "Compare all four" strategies
    "transfer_one": ("transfer", None, "transfer.train"),  # "Train": the chosen strategy
    "featurevis": ("pretrained", "What channels look for", "pretrained.featurevis.go"),
    "sample": ("generative", "Diffusion", "generative.diffusion.sample"),  # no job: draws at once
}
SEED_KEY = "keep.train.seed"  # --own-seed: a seed of one's own, so the run is not shared
LIVE_INTERVAL = 5.0  # a fragment polled at most this far apart is a live view (the heartbeat: 20 s)


def spoil(rng: random.Random, params: list) -> list:
    """An invalid link: garbage in 1-3 values, plus an unknown parameter."""
    params = list(params)
    for i in rng.sample(range(len(params)), min(len(params), rng.randint(1, 3))):
        params[i] = (params[i][0], rng.choice(GARBAGE))
    params.append((rng.choice(["zzz", "k_bogus", "tab"]), rng.choice(GARBAGE)))
    return params


def make_query(params: list) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


# ----------------------------------------------------------------------------------------
# Widgets: what the browser keeps per widget and sends back in every rerun (WidgetStates)
# ----------------------------------------------------------------------------------------

WIDGET_TYPES = {"selectbox", "radio", "slider", "checkbox", "number_input", "color_picker"}


class Widget:
    """One widget of the last run. value: what the server set (set_value) or None."""

    __slots__ = ("id", "key", "kind", "label", "options", "server", "default", "disabled",
                 "low", "high", "step", "integer", "bounded")

    def __init__(self, wid: str, kind: str, label: str = ""):
        self.id, self.kind, self.label = wid, kind, label
        self.key = wid.split("-", 2)[2] if wid.startswith("$$ID-") and wid.count("-") >= 2 else ""
        self.options: list = []
        self.server = self.default = None
        self.disabled = False
        self.low = self.high = self.step = None
        self.integer = self.bounded = False

    @classmethod
    def from_element(cls, et: str, el) -> "Widget | None":
        if not el.id:
            return None
        if et in ("selectbox", "radio"):
            w = cls(el.id, et, el.label)
            w.options = list(el.options)
            w.server = el.raw_value if el.set_value else None
            w.default = w.options[el.default] if 0 <= el.default < len(w.options) else None
        elif et == "slider":
            if el.type == Slider.SELECT_SLIDER:
                w = cls(el.id, "select_slider", el.label)
                w.options = list(el.options)

                def labels(indices):
                    return [w.options[int(i)] for i in indices if 0 <= int(i) < len(w.options)]
                w.default = labels(el.default)
                if el.set_value:
                    w.server = list(el.raw_value) if len(el.raw_value) else labels(el.value)
            elif el.data_type in (Slider.INT, Slider.FLOAT):
                w = cls(el.id, "slider", el.label)
                w.low, w.high, w.step = el.min, el.max, el.step or 1.0
                w.integer, w.bounded = el.data_type == Slider.INT, True
                w.default = list(el.default)
                w.server = list(el.value) if el.set_value else None
            else:
                return None  # date/time sliders: not used by this app
        elif et == "checkbox":
            w = cls(el.id, "checkbox", el.label)
            w.default, w.server = el.default, (el.value if el.set_value else None)
        elif et == "number_input":
            w = cls(el.id, "number_input", el.label)
            w.integer = el.data_type == NumberInput.INT
            w.step = el.step or 1.0
            w.low = el.min if el.has_min else None
            w.high = el.max if el.has_max else None
            w.bounded = el.has_min and el.has_max
            w.default, w.server = el.default, (el.value if el.set_value else None)
        elif et == "color_picker":
            w = cls(el.id, "color_picker", el.label)
            w.default, w.server = el.default, (el.value if el.set_value else None)
        else:
            return None
        w.disabled = el.disabled
        return w

    def state(self, value) -> WidgetState:
        ws = WidgetState(id=self.id)
        if self.kind in ("selectbox", "radio", "tabs", "color_picker"):
            ws.string_value = value
        elif self.kind == "slider":
            ws.double_array_value.data.extend(float(v) for v in value)
        elif self.kind == "select_slider":
            ws.string_array_value.data.extend(value)
        elif self.kind == "checkbox":
            ws.bool_value = bool(value)
        elif self.kind == "number_input":
            ws.double_value = float(value)
        return ws

    def random_value(self, rng: random.Random, current, allowed: list | None = None):
        """A different valid value (None if there is none)."""
        if self.kind in ("selectbox", "radio", "tabs"):
            choices = [o for o in (allowed if allowed is not None else self.options) if o != current]
            return rng.choice(choices) if choices else None
        if self.kind == "checkbox":
            return not bool(current)
        if self.kind == "color_picker":
            return "#%06x" % rng.randrange(0x1000000)
        if self.kind == "select_slider":
            n = len(current) if current else 1
            for _ in range(8):
                value = sorted(rng.sample(range(len(self.options)), n)) if n <= len(self.options) else []
                value = [self.options[i] for i in value]
                if value and value != current:
                    return value
            return None
        if self.kind == "slider":
            n = len(current) if current else 1
            for _ in range(8):
                value = sorted(_grid_value(rng, self.low, self.high, self.step, self.integer)
                               for _ in range(n))
                if value != list(current or []):
                    return value
            return None
        if self.kind == "number_input":
            cur = float(current or 0.0)
            for _ in range(8):
                if self.bounded:
                    value = _grid_value(rng, self.low, self.high, self.step, self.integer)
                else:
                    value = cur + self.step * rng.choice([-5, -3, -2, -1, 1, 2, 3, 5])
                    if self.low is not None:
                        value = max(value, self.low)
                    if self.high is not None:
                        value = min(value, self.high)
                    value = int(round(value)) if self.integer else round(value, 6)
                if value != cur:
                    return value
            return None
        return None


def tweak_choices(page: str, w: Widget, models: list) -> list | None | bool:
    """Which widgets a simulated student moves: None = leave alone, True = any value,
    a list = only these option labels."""
    if page in ("home", "train", "transfer") or w.disabled:
        return None
    if w.kind == "tabs":
        return True if w.key == "tab" else None  # the page's main (lazy) tabs
    if not w.key.startswith("keep."):
        return None  # grid editor numbers, uploads, camera...: not simulated
    if w.kind == "radio" and "Built-in photo" in w.options:
        return ["Built-in photo", "Test pattern"]  # not Upload / Camera
    if w.key == "keep.pretrained.model":
        prefixes = [MODELS[m][0] for m in models]
        return [o for o in w.options if any(o.startswith(p) for p in prefixes)]
    return True


# ----------------------------------------------------------------------------------------
# A small async HTTP/1.1 client (keep-alive; what the page, health, host-config, media need)
# ----------------------------------------------------------------------------------------


class HttpConn:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str, headers: dict) -> tuple[int, list, int]:
        """(status, [(name, value)], body length); retries once on a stale keep-alive socket."""
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                     f"User-Agent: {USER_AGENT}", "Accept: */*",
                     "Accept-Encoding: gzip, deflate", "Connection: keep-alive"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            try:
                self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                await self.writer.drain()
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.close()
                if fresh or attempt:
                    raise
        raise ConnectionError("unreachable")

    async def _response(self) -> tuple[int, list, int]:
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("connection closed before the response")
        status = int(line.split(b" ", 2)[1])
        headers = []
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        h = dict(headers)
        size = 0
        if h.get("transfer-encoding", "").lower() == "chunked":
            while True:
                n = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                size += len(await self.reader.readexactly(n))
                await self.reader.readexactly(2)
        elif "content-length" in h:
            size = len(await self.reader.readexactly(int(h["content-length"])))
        else:
            size = len(await self.reader.read())
            self.close()
        if h.get("connection", "").lower() == "close":
            self.close()
        return status, headers, size


class HttpPool:
    """Up to `size` keep-alive connections per session (browsers use 6 per host)."""

    def __init__(self, host: str, port: int, size: int = 6):
        self.host, self.port = host, port
        self.idle: list[HttpConn] = []
        self.sem = asyncio.Semaphore(size)

    async def get(self, path: str, headers: dict) -> tuple[int, list, int]:
        async with self.sem:
            conn = self.idle.pop() if self.idle else HttpConn(self.host, self.port)
            try:
                result = await conn.get(path, headers)
            except BaseException:
                conn.close()
                raise
            if conn.writer is not None:
                self.idle.append(conn)
            return result

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# ----------------------------------------------------------------------------------------
# One browser tab: the websocket session and what the frontend keeps
# ----------------------------------------------------------------------------------------


class Run:
    """One rerun request, from the BackMsg sent to its run's script_finished (+ its media).
    kind "full": a page run (load, navigation, widget change, button press); "fragment": an
    auto-rerun of one fragment (fragment_id), as the browser's run_every timer sends it."""

    def __init__(self, t0: float, kind: str = "full", fragment_id: str = ""):
        self.t0 = t0
        self.kind, self.fragment_id = kind, fragment_id
        self.done = asyncio.Event()
        self.t_first = self.t_script = self.t_end = None
        self.status = None
        self.new_session = False  # a run of the server has started for it
        self.cont = False  # its run ended FINISHED_EARLY_FOR_RERUN: the next run carries on
        self.dropped = ""  # a poll the server will not answer on its own: superseded/interrupted
        self.cancelled = False  # we closed the session under it: not recorded
        self.live: list[float] = []  # run_every intervals of the fragments its runs registered
        self.errors: list[tuple[str, str]] = []
        self.media: list[asyncio.Task] = []
        self.media_urls: list[str] = []
        self.msgs = self.nbytes = self.deltas = self.media_bytes = self.media_fetched = 0
        self.cache_hits = 0
        self.headings: list[str] = []
        self.alerts: list[tuple[str, str]] = []
        self.progress: list[str] = []  # st.progress texts (a live view's "epoch 2 of 3...")
        self.elements = Counter()

    def error(self, kind: str, detail: str = "") -> None:
        self.errors.append((kind, detail[:300]))

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.done.set()

    @property
    def ok(self) -> bool:
        return not self.errors


class ServerRun:
    """One script run of the server, from its new_session (metadata.run: script_run_id and
    fragment_ids, empty for a full run) to its script_finished, and the requests it answers."""

    def __init__(self, fragment_ids: list):
        self.fragment_ids = fragment_ids
        self.full = not fragment_ids
        self.widgets: dict[str, Widget] = {}
        self.buttons: dict[str, Widget] = {}
        self.tab_paths: dict[tuple, Widget] = {}
        self.status = None  # script_finished status once it came
        self.t_finished = None  # when it came (monotonic)
        self.requests: list[Run] = []


class StClient:
    def __init__(self, base_url: str, *, fetch_media: bool, timeout: float, media_conns: int = 6,
                 fetch_page: bool = True, trace=None, poll: bool = False, on_poll=None,
                 poll_until: float = math.inf):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http":
            raise ValueError("only http:// URLs are supported")
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.prefix = (u.path or "/").rstrip("/") + "/"
        self.origin = f"http://{self.host}:{self.port}"
        self.fetch_media, self.fetch_page, self.timeout = fetch_media, fetch_page, timeout
        self.http = HttpPool(self.host, self.port, media_conns)
        self.trace = trace
        self.ws = None
        self.reader_task = None
        self.closed = False
        self.closing = False  # we closed it (vs. the server / the network)
        self.lost = ""  # why the websocket closed under us while no rerun was pending
        self.cookies: dict[str, str] = {}
        self.full_req: Run | None = None  # the page run asked for (one at a time, as a student)
        self.polls: list[Run] = []  # fragment auto-reruns sent and not answered yet
        self.srv: ServerRun | None = None  # the server's latest run
        self.pages: dict[str, str] = {}  # url_pathname -> page_script_hash
        self.page_hash = ""
        self.page_key: str | None = None
        self.query_string = ""
        self.values: dict[str, tuple[Widget, object]] = {}  # frontend widget state
        self.buttons: dict[str, Widget] = {}  # the page's buttons (no state: trigger values)
        self.cache: dict[str, list] = {}  # ForwardMsg hash -> [serialized msg, run count, fragment id]
        self.run_count = 0
        self.max_cache_age = 2
        self.fetched: set[str] = set()
        self.bytes_in = 0
        # fragment auto-reruns (the browser's handleAutoRerun): fragment id -> (timer task, s)
        self.poll, self.on_poll, self.poll_until = poll, on_poll, poll_until
        self.timers: dict[str, tuple[asyncio.Task, float]] = {}
        self.poll_tasks: set[asyncio.Task] = set()

    # -- connection -------------------------------------------------------------------
    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _take_cookies(self, headers: list) -> None:
        for name, value in headers:
            if name == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                self.cookies[k.strip()] = v.strip()

    async def connect(self, page_path: str = "", query: str = "") -> float:
        """What a browser does on opening a link: the page, health + host-config, websocket."""
        t0 = time.monotonic()
        if self.fetch_page:
            status, headers, _ = await self.http.get(
                self.prefix + page_path + (f"?{query}" if query else ""), self._cookie_header())
            if status != 200:
                raise ConnectionError(f"GET page: HTTP {status}")
        if page_path:  # the frontend probes its base URL candidates: the page path, then the root
            for probe in ("_stcore/health", "_stcore/host-config"):
                await self.http.get(f"{self.prefix}{page_path}/{probe}", self._cookie_header())
        status, headers, _ = await self.http.get(self.prefix + "_stcore/health", self._cookie_header())
        if status != 200:
            raise ConnectionError(f"health: HTTP {status}")
        self._take_cookies(headers)
        await self.http.get(self.prefix + "_stcore/host-config", self._cookie_header())
        xsrf = self.cookies.get("_streamlit_xsrf") or "PLACEHOLDER_AUTH_TOKEN"
        self.ws = await ws_connect(
            f"ws://{self.host}:{self.port}{self.prefix}_stcore/stream",
            subprotocols=["streamlit", xsrf], origin=self.origin,
            additional_headers=self._cookie_header(), user_agent_header=USER_AGENT,
            max_size=None, ping_interval=None, open_timeout=self.timeout, close_timeout=5,
            proxy=None)
        if self.ws.subprotocol != "streamlit":
            raise ConnectionError(f"server chose subprotocol {self.ws.subprotocol!r}")
        self.reader_task = asyncio.create_task(self._reader())
        return time.monotonic() - t0

    async def close(self) -> None:
        self.closing = True
        self.stop_polling()
        for run in self.polls:  # polls still waiting: the tab is gone, nobody waits for them
            run.cancelled = True
            run.done.set()
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        if self.reader_task is not None:
            self.reader_task.cancel()
            try:
                await self.reader_task
            except BaseException:
                pass
        for run in [self.full_req, *self.polls]:
            if run is not None:
                for task in run.media:
                    task.cancel()
        if self.poll_tasks:
            await asyncio.wait(list(self.poll_tasks), timeout=5)
        self.http.close()
        self.closed = True

    async def _reader(self) -> None:
        reason = "closed"
        try:
            async for data in self.ws:
                if isinstance(data, str):
                    reason = "text frame"
                    break
                self._on_message(data)
        except websockets.ConnectionClosed as e:
            reason = f"code {e.rcvd.code if e.rcvd else None}"
        except Exception as e:  # a parse error is a protocol failure for this session
            reason = f"{type(e).__name__}: {e}"
        finally:
            self.closed = True
            self.stop_polling()
            waiting = [r for r in [self.full_req, *self.polls] if r is not None and not r.done.is_set()]
            for run in waiting:
                if self.closing:
                    run.cancelled = True
                else:
                    run.error("ws_closed", reason)
                run.done.set()
            if not waiting and not self.closing:
                self.lost = reason

    # -- incoming messages --------------------------------------------------------------
    def _targets(self) -> list:
        """The requests the message belongs to: those of the run in progress; before any
        run started for it (page_not_found, cache misses...), the page run asked for."""
        if self.srv is not None and self.srv.status is None and self.srv.requests:
            return self.srv.requests
        if self.full_req is not None and not self.full_req.done.is_set():
            return [self.full_req]
        return []

    def _on_message(self, data: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(data)
        self.bytes_in += len(data)
        typ = msg.WhichOneof("type")
        if typ == "new_session":  # a run starts: the requests it answers come first
            self._on_new_session(msg)
        targets = self._targets()
        if typ == "ref_hash":  # the frontend's ForwardMsg cache (cached_message_hashes)
            entry = self.cache.get(msg.ref_hash)
            if entry is None:
                for run in targets:
                    run.error("cache_miss", msg.ref_hash)
                return
            entry[1] = self.run_count
            for run in targets:
                run.cache_hits += 1
            cached = ForwardMsg()
            cached.ParseFromString(entry[0])
            cached.metadata.CopyFrom(msg.metadata)
            msg, typ = cached, cached.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash and msg.hash not in self.cache:
            self.cache[msg.hash] = [data, self.run_count,
                                    msg.delta.fragment_id if typ == "delta" else ""]
        for run in targets:
            run.msgs += 1
            run.nbytes += len(data)
        if self.trace:
            self.trace(msg, typ, len(data))
        if typ == "delta":
            now = time.monotonic()
            for run in targets:
                run.deltas += 1
                if run.t_first is None:
                    run.t_first = now
            if self.srv is not None:
                self._on_delta(targets, self.srv, msg)
        elif typ == "new_session":
            self.max_cache_age = msg.new_session.config.max_cached_message_age or 2
        elif typ == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
        elif typ == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif typ == "page_config_changed":
            favicon = msg.page_config_changed.favicon
            if targets and favicon.startswith("/media/"):
                self._media(targets, favicon)
        elif typ == "page_not_found":
            for run in targets:
                run.error("page_not_found", msg.page_not_found.page_name)
        elif typ == "session_event":
            if msg.session_event.WhichOneof("type") == "script_compilation_exception":
                e = msg.session_event.script_compilation_exception
                for run in targets:
                    run.error("compile_error", f"{e.type}: {e.message}")
        elif typ == "auto_rerun":  # a fragment with run_every was drawn
            for run in targets:
                run.live.append(msg.auto_rerun.interval)
            self._auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif typ == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self._stop_timer(fid)
                for run in self.polls:
                    if run.fragment_id == fid and not run.new_session:
                        run.drop("superseded")
        elif typ == "script_finished":
            self._on_finished(msg.script_finished)

    def _on_new_session(self, msg: ForwardMsg) -> None:
        """A run starts. Which requests it answers: a full run answers the page run asked for
        (the one waiting, if any: a run stopped under it hands it on); a fragment run answers
        the polls of its fragments. Runs that end FINISHED_EARLY_FOR_RERUN hand their requests
        on. A full run supersedes the polls sent before it was asked for and not started (the server
        folds them into it, or loses them with the runner it stops; polls sent after it are
        queued behind it and answered by a fragment run after it); the browser's timers are
        reset too (cleanupAutoReruns). A run that ends without script_finished was stopped for
        a newer request (runner.fastReruns): its polls are interrupted."""
        prev = self.srv
        fragment_ids = list(msg.metadata.run.fragment_ids)
        srv = ServerRun(fragment_ids)
        carried = []
        if prev is not None:
            for run in prev.requests:
                if run.done.is_set():
                    continue
                if prev.status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    carried.append(run)
                elif run.kind == "fragment":
                    run.drop("interrupted")
        continuing = prev is not None and prev.status == ForwardMsg.FINISHED_EARLY_FOR_RERUN
        for run in carried:
            if run.kind == "fragment" or srv.full:
                srv.requests.append(run)
        full = self.full_req
        if srv.full:
            self.stop_polling()  # as the browser does for a full run: the run re-registers them
            # The page run asked for is this one, unless this one only carries on a poll's
            # st.rerun() and started before the request reached the server: then the server
            # stops it for the request (runner.fastReruns: no script_finished) and the request
            # moves on to the next run. (If that carried-on run finishes before the request
            # gets there, the request is timed to its end: a rare, short, harmless error.)
            if full is not None and not full.done.is_set() and full not in srv.requests:
                srv.requests.append(full)
                cutoff = full.t0
            elif continuing:  # st.rerun(): it took the polls the server had by then
                cutoff = prev.t_finished
            else:
                cutoff = time.monotonic()
            for run in self.polls:
                if not run.new_session and not run.done.is_set() and run.t0 < cutoff:
                    run.drop("superseded")
        else:
            for run in self.polls:
                if (not run.new_session and not run.done.is_set()
                        and run.fragment_id in fragment_ids and run not in srv.requests):
                    srv.requests.append(run)
        for run in srv.requests:
            run.new_session, run.cont = True, False
        self.srv = srv

    def _on_finished(self, status) -> None:
        srv = self.srv
        if srv is None or srv.status is not None:  # no run in progress (a server-side error)
            if status in FINISHED and self.full_req is not None and not self.full_req.done.is_set():
                self.full_req.status, self.full_req.t_script = status, time.monotonic()
                self.full_req.done.set()
            return
        srv.status, srv.t_finished = status, time.monotonic()
        if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            for run in srv.requests:  # st.rerun() or a superseded run: the next run goes on
                run.cont = True
            return
        # the browser's cache ages per finished run (for a fragment run: its fragments' entries)
        self.run_count += 1
        for h, e in list(self.cache.items()):
            if not srv.full and (not e[2] or e[2] not in srv.fragment_ids):
                continue
            if self.run_count - e[1] > self.max_cache_age:
                del self.cache[h]
        if status in FINISHED:
            self._keep_widget_state(srv)
        if srv.full:  # polls of fragments this run did not draw again: the server drops them
            orphans = [r for r in self.polls if not r.new_session and not r.done.is_set()
                       and r.fragment_id not in self.timers]
            if orphans:
                asyncio.get_running_loop().call_later(ORPHAN_S, self._drop_orphans, orphans)
        now = time.monotonic()
        for run in srv.requests:
            if run.done.is_set() or status not in FINISHED:
                continue
            run.status = status
            if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                run.error("compile_error", "script_finished: compile error")
            run.t_script = now
            run.done.set()

    @staticmethod
    def _drop_orphans(runs: list) -> None:
        for run in runs:
            if not run.new_session and not run.done.is_set():
                run.drop("superseded")

    def _on_delta(self, runs: list, srv: ServerRun, msg: ForwardMsg) -> None:
        delta = msg.delta
        dt = delta.WhichOneof("type")
        if dt == "new_element":
            et = delta.new_element.WhichOneof("type")
            el = getattr(delta.new_element, et)
            for run in runs:
                run.elements[et] += 1
                if et == "exception":
                    run.error("exception", f"{el.type}: {el.message}")
                elif et == "alert":
                    fmt = {Alert.ERROR: "error", Alert.WARNING: "warning"}.get(el.format, "info")
                    run.alerts.append((fmt, el.body[:200]))
                elif et == "heading":
                    run.headings.append(el.body)
                elif et == "progress" and el.text:
                    run.progress.append(el.text[:160])
            if et == "imgs":
                for img in el.imgs:
                    if img.url.startswith("/media/") or img.url.startswith(self.prefix + "media/"):
                        self._media(runs, img.url)
            elif et in ("video", "audio") and el.url.startswith("/media/"):
                self._media(runs, el.url)
            elif et in WIDGET_TYPES:
                w = Widget.from_element(et, el)
                if w is not None:
                    srv.widgets[w.id] = w
            elif et == "button" and el.id:
                w = Widget(el.id, "button", el.label)
                w.disabled = el.disabled
                srv.buttons[w.id] = w
        elif dt == "add_block":
            block = delta.add_block
            bt = block.WhichOneof("type")
            path = tuple(msg.metadata.delta_path)
            if bt == "tab_container" and block.tab_container.id:
                w = Widget(block.tab_container.id, "tabs")
                w.default = block.tab_container.default_tab_index
                srv.tab_paths[path] = w
                srv.widgets[w.id] = w
            elif bt == "tab" and path[:-1] in srv.tab_paths:
                w = srv.tab_paths[path[:-1]]
                w.options.append(block.tab.label)
                if len(w.options) - 1 == w.default:
                    w.server = block.tab.label  # the open tab: the server's choice

    def _media(self, runs: list, url: str) -> None:
        for run in runs:
            run.media_urls.append(url)
        if not self.fetch_media or url in self.fetched or not runs:
            return  # a browser's memory cache serves a URL it has already loaded
        self.fetched.add(url)
        task = asyncio.create_task(self._fetch(runs[0], url))
        for run in runs:
            run.media.append(task)

    async def _fetch(self, run: Run, url: str) -> None:
        try:
            status, _, size = await self.http.get(url, self._cookie_header())
        except Exception as e:
            run.error("media_error", f"{url}: {type(e).__name__}: {e}")
            return
        if status != 200:
            run.error(f"media_http_{status}", url)
        else:
            run.media_bytes += size
            run.media_fetched += 1

    # -- fragment auto-reruns (the browser's handleAutoRerun / cleanupAutoReruns) -----------
    def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        if not self.poll or not fragment_id or interval <= 0 or self.closing or self.closed:
            return
        current = self.timers.get(fragment_id)
        if current is not None and current[1] == interval:
            return  # the browser keeps a timer with the same interval
        self._stop_timer(fragment_id)
        task = asyncio.create_task(self._poll_timer(fragment_id, interval))
        self.timers[fragment_id] = (task, interval)

    def _stop_timer(self, fragment_id: str) -> None:
        current = self.timers.pop(fragment_id, None)
        if current is not None:
            current[0].cancel()

    def stop_polling(self) -> None:
        """Cancel every fragment timer (a full run starts, the page changes, the tab closes)."""
        for fragment_id in list(self.timers):
            self._stop_timer(fragment_id)

    async def _poll_timer(self, fragment_id: str, interval: float) -> None:
        """setInterval(interval): every tick sends a rerun for the fragment, whether or not
        the last one has been answered (the server coalesces them)."""
        due = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += interval
            if due < time.monotonic():  # a late tick: timers do not catch up
                due = time.monotonic() + interval
            if self.closed or self.closing or time.time() >= self.poll_until:
                return
            task = asyncio.create_task(self._poll_once(fragment_id, interval, self.page_key or ""))
            self.poll_tasks.add(task)
            task.add_done_callback(self.poll_tasks.discard)

    async def _poll_once(self, fragment_id: str, interval: float, page: str) -> None:
        run = await self.rerun(page_hash=self.page_hash, states=self.states(),
                               fragment_id=fragment_id)
        if not run.cancelled and self.on_poll is not None:
            self.on_poll(run, page, interval)

    # -- requests ---------------------------------------------------------------------
    async def rerun(self, *, page_hash: str = "", page_name: str = "", query: str | None = None,
                    states: list | None = None, fragment_id: str = "") -> Run:
        run = Run(time.monotonic(), "fragment" if fragment_id else "full", fragment_id)
        if self.closed:
            if self.closing:
                run.cancelled = True
            run.error("ws_closed", "before send")
            run.t_end = run.t0
            return run
        msg = BackMsg()
        cs = msg.rerun_script
        if query is not None:  # a link / page change: the address bar now shows this query
            self.query_string = query
        cs.query_string = self.query_string
        cs.page_script_hash, cs.page_name = page_hash, page_name
        if states:
            cs.widget_states.widgets.extend(states)
        else:
            cs.widget_states.SetInParent()
        if fragment_id:  # the browser's auto-rerun: sendUpdateWidgetsMessage(fragmentId, true)
            cs.fragment_id, cs.is_auto_rerun = fragment_id, True
        cs.cached_message_hashes.extend(self.cache)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url = f"{self.origin}{self.prefix}{PAGE_URL.get(self.page_key or '', page_name)}"  # no query: as Chromium
        ci.is_embedded, ci.color_scheme = False, "light"
        if fragment_id:
            self.polls.append(run)
        else:
            self.full_req = run
        try:
            await self.ws.send(msg.SerializeToString())
        except Exception as e:
            run.error("send_error", f"{type(e).__name__}: {e}")
            run.done.set()
        deadline = run.t0 + self.timeout
        try:
            await asyncio.wait_for(run.done.wait(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            run.error("timeout", f"no script_finished after {self.timeout:g} s")
        if run.media and not run.cancelled:
            left = max(0.001, deadline - time.monotonic())
            _, late = await asyncio.wait(run.media, timeout=left)
            if late:
                for task in late:
                    task.cancel()
                if not any(k == "timeout" for k, _ in run.errors):
                    run.error("timeout", f"{len(late)} media files after {self.timeout:g} s")
        run.t_end = time.monotonic()
        if fragment_id:
            if run in self.polls:
                self.polls.remove(run)
        elif self.full_req is run:
            self.full_req = None
        return run

    def _keep_widget_state(self, srv: ServerRun) -> None:
        """The frontend's widget state after a run: the server's value where it set one,
        else what the browser already had, else the widget's default; after a full run the
        widgets it did not draw are dropped (a fragment run only updates its own)."""
        values = {} if srv.full else dict(self.values)
        for wid, w in srv.widgets.items():
            if w.server is not None:
                value = w.server
            elif wid in self.values:
                value = self.values[wid][1]
            else:
                value = w.options[w.default] if w.kind == "tabs" and w.options else w.default
            if value is not None:
                values[wid] = (w, value)
        self.values = values
        if srv.full:
            self.buttons = dict(srv.buttons)
        else:
            self.buttons.update(srv.buttons)

    def states(self, change: tuple[str, object] | None = None) -> list:
        out = []
        for wid, (w, value) in self.values.items():
            if change is not None and wid == change[0]:
                value = change[1]
            out.append(w.state(value))
        return out

    async def load(self, page: str, query: str) -> Run:
        """First run of a new session: the page from the URL path (page_name), the link's query."""
        run = await self.rerun(page_name=PAGE_URL[page], query=query)
        if run.status in FINISHED:
            self.page_key = page
        return run

    async def navigate(self, page: str, query: str) -> Run:
        """A sidebar click (page_script_hash), carrying a link's parameters."""
        page_hash = self.pages.get(PAGE_URL[page], "")
        self.stop_polling()  # the browser's onPageChange: cleanupAutoReruns
        run = await self.rerun(page_hash=page_hash, page_name="" if page_hash else PAGE_URL[page],
                               query=query)
        if run.status in FINISHED:
            self.page_key = page
        return run

    def find_widget(self, key_or_label: str) -> tuple[Widget, object] | None:
        for w, value in self.values.values():
            if w.key == key_or_label or (w.label and w.label == key_or_label):
                return w, value
        return None

    def find_button(self, key_or_label: str) -> Widget | None:
        """A button of the page by its key (widget id "$$ID-<hash>-<key>"), else its label."""
        for w in self.buttons.values():
            if w.key == key_or_label:
                return w
        for w in self.buttons.values():
            if w.label == key_or_label:
                return w
        return None

    async def press(self, button: Widget) -> Run:
        """A click: a rerun whose widget states carry the button's trigger_value (true for this
        run only, as the browser's setTriggerValue)."""
        return await self.rerun(page_hash=self.page_hash,
                                states=self.states() + [WidgetState(id=button.id, trigger_value=True)])

    def pick_tweak(self, rng: random.Random, models: list, tab_weight: float = 3.0):
        """(widget, new value) for a random tweakable widget of the current page, or None."""
        pool, weights = [], []
        for w, value in self.values.values():
            allowed = tweak_choices(self.page_key or "", w, models)
            if allowed is None:
                continue
            new = w.random_value(rng, value, allowed if isinstance(allowed, list) else None)
            if new is None:
                continue
            pool.append((w, new))
            weights.append(tab_weight if w.kind == "tabs" else 1.0)
        return rng.choices(pool, weights)[0] if pool else None

    async def tweak(self, rng: random.Random, models: list) -> tuple[Run, str]:
        choice = self.pick_tweak(rng, models)
        if choice is None:  # nothing to move (Home): a plain rerun, as the "Rerun" menu item
            return await self.rerun(page_hash=self.page_hash, states=self.states()), ""
        w, value = choice
        run = await self.rerun(page_hash=self.page_hash, states=self.states((w.id, value)))
        return run, f"{w.key or w.kind}={value}"

    async def set_widget(self, w: Widget, value) -> Run:
        return await self.rerun(page_hash=self.page_hash, states=self.states((w.id, value)))


# ----------------------------------------------------------------------------------------
# Simulated students
# ----------------------------------------------------------------------------------------


def _named_numbers(text: str | None, option: str, known, default: float) -> dict:
    """NAME=NUMBER,... with every NAME in `known` (a missing number is `default`)."""
    values: dict = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, number = part.partition("=")
        name = name.strip()
        if name not in known:
            raise SystemExit(f"{option}: unknown name {name!r} (one of: {', '.join(known)})")
        try:
            values[name] = float(number) if number.strip() else default
        except ValueError:
            raise SystemExit(f"{option}: {part!r} is not NAME=NUMBER") from None
    return values


def parse_mix(text: str) -> dict:
    mix = _named_numbers(text, "--mix", GENERATORS, 1.0)
    if not mix or sum(mix.values()) <= 0:
        raise SystemExit("--mix: no page with a positive weight")
    return mix


def parse_jobs(text: str | None) -> dict:
    """--jobs train=0.3,ablation=0.05,...: per think step, the chance of pressing each."""
    jobs = _named_numbers(text, "--jobs", JOBS, 0.1)
    for name, p in jobs.items():
        if not 0 <= p <= 1:
            raise SystemExit(f"--jobs: {name}: a probability is between 0 and 1")
    if sum(jobs.values()) > 1 + 1e-9:
        raise SystemExit("--jobs: the probabilities add up to more than 1")
    return {k: v for k, v in jobs.items() if v > 0}


def record(session: int, t_ref: float, page: str, action: str, run: Run, detail: str = "",
           connect_s: float | None = None, query: str = "") -> dict:
    rec = {
        "session": session, "t": round(time.time() - t_ref - (time.monotonic() - run.t0), 3),
        "page": page, "action": action, "detail": detail[:160],
        "latency": round(run.t_end - run.t0, 4),
        "script": round(run.t_script - run.t0, 4) if run.t_script else None,
        "first_delta": round(run.t_first - run.t0, 4) if run.t_first else None,
        "connect": round(connect_s, 4) if connect_s is not None else None,
        "msgs": run.msgs, "bytes": run.nbytes, "deltas": run.deltas,
        "images": len(run.media_urls), "media_fetched": run.media_fetched,
        "media_bytes": run.media_bytes, "cache_hits": run.cache_hits,
        "error_alerts": sum(1 for f, _ in run.alerts if f == "error"),
        "errors": [k for k, _ in run.errors], "error_details": [d for _, d in run.errors][:3],
    }
    if query:
        rec["query"] = query[:300]
    if action in ("press", "fragment"):
        rec["live"] = sorted(set(run.live))  # run_every of the fragments the run drew
        rec["warnings"] = [body[:120] for f, body in run.alerts if f in ("warning", "error")][:3]
        rec["elements"] = dict(run.elements)
        if run.progress:  # the live view's status line: "**Running**: epoch 0.5, step ..."
            rec["progress"] = run.progress[-1]
    if run.dropped:
        rec["dropped"] = run.dropped
    return rec


async def student(idx: int, cfg, t_ref: float, start_at: float, deadline: float,
                  stop: asyncio.Event, out: list) -> None:
    rng = random.Random(cfg.seed * 1_000_003 + idx)
    pages, weights = list(cfg.mix), list(cfg.mix.values())
    jobs, job_p = list(cfg.jobs), list(cfg.jobs.values())
    client: StClient | None = None

    def draw_query(page: str) -> str:
        params = GENERATORS[page](rng, cfg)
        if cfg.invalid > 0 and params and rng.random() < cfg.invalid:
            params = spoil(rng, params)
        return make_query(params)

    async def pause(seconds: float) -> bool:
        """Sleep; False when the run is over (deadline or Ctrl-C)."""
        seconds = min(seconds, deadline - time.time())
        if seconds > 0:
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except asyncio.TimeoutError:
                pass
        return not stop.is_set() and time.time() < deadline

    def on_poll(run: Run, page: str, interval: float) -> None:
        rec = record(idx, t_ref, page, "fragment", run, f"{page or 'home'} every {interval:g} s")
        rec["interval"] = interval
        out.append(rec)

    def skipped(job: str, page: str, reason: str) -> None:
        out.append({"session": idx, "t": round(time.time() - t_ref, 3), "page": page,
                    "action": "skip", "detail": f"{job}: {reason}", "latency": None,
                    "errors": [], "error_details": []})

    async def press_job(job: str) -> Run | None:
        """Go to the job's page (and tab) if not there, as a student would, then press; the
        way there is browsing (nav / tweak records). None when nothing was pressed."""
        page, tab, button_name = JOBS[job]
        if client.page_key != page:
            query = draw_query(page)
            run = await client.navigate(page, query)
            out.append(record(idx, t_ref, page, "nav", run, f"to press {job}", query=query))
            if run.errors:
                return run
        if tab is not None:
            found = client.find_widget("tab")
            if found is None or tab not in found[0].options:
                skipped(job, page, f"no tab {tab!r}")
                return None
            if found[1] != tab:
                run = await client.set_widget(found[0], tab)
                out.append(record(idx, t_ref, page, "tweak", run, f"tab={tab}"))
                if run.errors:
                    return run
        if job == "train" and cfg.own_seed > 0 and rng.random() < cfg.own_seed:
            found = client.find_widget(SEED_KEY)
            if found is not None and not found[0].disabled:
                seed = rng.randint(1, 9999)
                run = await client.set_widget(found[0], seed)
                out.append(record(idx, t_ref, page, "tweak", run, f"{SEED_KEY}={seed}"))
                if run.errors:
                    return run
        button = client.find_button(button_name)
        if button is None or button.disabled:
            skipped(job, page, "button disabled" if button is not None else "no button")
            return None
        run = await client.press(button)
        out.append(record(idx, t_ref, page, "press", run, job))
        return run

    try:
        if not await pause(start_at - time.time()):
            return
        first = True
        while True:
            if not first and not await pause(rng.expovariate(1.0 / cfg.think) if cfg.think > 0 else 0):
                break
            first = False
            if jobs and client is not None and not client.closed and client.page_key is not None:
                r, job = rng.random(), None
                for name, p in zip(jobs, job_p, strict=True):
                    if r < p:
                        job = name
                        break
                    r -= p
                if job is not None:
                    run = await press_job(job)
                    if run is not None and any(k in FATAL for k, _ in run.errors):
                        await client.close()  # the student reloads the tab
                        client = None
                    elif run is not None and not run.errors and cfg.watch > 0:
                        # watch the live view for a while (the fragment is polled meanwhile)
                        if not await pause(rng.expovariate(1.0 / cfg.watch)):
                            break
                    continue
            if (cfg.mode == "browse" and client is not None and not client.closed and client.page_key
                    and rng.random() < cfg.stay and client.pick_tweak(rng, cfg.models) is not None):
                page = client.page_key  # stay and play with this page's widgets
            else:
                page = rng.choices(pages, weights)[0]
            if client is None or client.closed or cfg.mode == "link":
                if client is not None:
                    if client.lost:  # closed by the server while the student was thinking
                        run = Run(time.monotonic())
                        run.error("ws_closed", f"while idle: {client.lost}")
                        run.t_end = run.t0
                        out.append(record(idx, t_ref, client.page_key or page, "disconnect", run))
                    await client.close()
                client = StClient(cfg.url, fetch_media=cfg.fetch_media, timeout=cfg.timeout,
                                  media_conns=cfg.media_conns, fetch_page=not cfg.no_page,
                                  poll=cfg.poll, on_poll=on_poll, poll_until=deadline)
                query = draw_query(page)
                try:
                    connect_s = await asyncio.wait_for(client.connect(PAGE_URL[page], query), cfg.timeout)
                except Exception as e:
                    run = Run(time.monotonic())
                    run.error("connect_error", f"{type(e).__name__}: {e}")
                    run.t_end = time.monotonic()
                    out.append(record(idx, t_ref, page, "connect", run))
                    await client.close()
                    client = None
                    if not await pause(min(5.0, max(1.0, cfg.think))):
                        break
                    continue
                run = await client.load(page, query)
                out.append(record(idx, t_ref, page, "load", run, connect_s=connect_s, query=query))
            elif page != client.page_key:
                query = draw_query(page)
                run = await client.navigate(page, query)
                out.append(record(idx, t_ref, page, "nav", run, query=query))
            else:
                run, detail = await client.tweak(rng, cfg.models)
                out.append(record(idx, t_ref, page, "tweak" if detail else "rerun", run, detail))
            if any(k in FATAL for k, _ in run.errors):
                await client.close()  # the student reloads the tab
                client = None
    finally:
        if client is not None:
            await client.close()


async def run_sessions(cfg, ids: list, t_ref: float, start_at: float, deadline: float) -> list:
    out: list = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError):
        pass
    ramp = cfg.ramp / max(1, cfg.sessions)
    tasks = [asyncio.create_task(student(i, cfg, t_ref, start_at + i * ramp, deadline, stop, out))
             for i in ids]
    # bounded: after the deadline each session finishes its action (<= timeout) and closes
    hard = deadline + cfg.timeout + 20 - time.time()
    done, late = await asyncio.wait(tasks, timeout=max(1.0, hard))
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=10)
        out.append({"session": -1, "page": "", "action": "shutdown", "errors": ["shutdown_cancel"],
                    "error_details": [f"{len(late)} sessions cancelled at the hard stop"],
                    "latency": None, "t": round(time.time() - t_ref, 3)})
    for task in done:
        if task.exception() is not None:
            out.append({"session": -1, "page": "", "action": "crash", "errors": ["client_crash"],
                        "error_details": [repr(task.exception())[:300]], "latency": None,
                        "t": round(time.time() - t_ref, 3)})
    return out


def worker_main(cfg, ids, t_ref, start_at, deadline, queue) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # handled in the loop (stop event)
    try:
        records = asyncio.run(run_sessions(cfg, ids, t_ref, start_at, deadline))
    except BaseException as e:
        records = [{"session": -1, "page": "", "action": "crash", "errors": ["worker_crash"],
                    "error_details": [repr(e)[:300]], "latency": None, "t": None}]
    queue.put(records)


# ----------------------------------------------------------------------------------------
# Server and load-generator resource sampling (/proc)
# ----------------------------------------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def _proc_tree(root: int) -> list[int]:
    children = defaultdict(list)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children[ppid].append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return 0


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _system_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


class Monitor(threading.Thread):
    """Every `interval` s: server RSS (main process and its process tree), server CPU%, the
    load generator's own CPU%, machine CPU busy%."""

    def __init__(self, server_pid: int | None, interval: float, t_ref: float):
        super().__init__(daemon=True)
        self.pid, self.interval, self.t_ref = server_pid, interval, t_ref
        self.samples: list[dict] = []
        self.halt = threading.Event()
        self.hwm_start = _status_kb(server_pid, "VmHWM") if server_pid else 0

    def _cpu(self, pids) -> int:
        return sum(_cpu_ticks(p) for p in pids)

    def run(self) -> None:
        me = os.getpid()
        last = None
        while not self.halt.is_set():
            now = time.time()
            server_pids = _proc_tree(self.pid) if self.pid else []
            mine = _proc_tree(me)
            s_cpu, l_cpu = self._cpu(server_pids), self._cpu(mine)
            total, idle = _system_ticks()
            sample = {"t": round(now - self.t_ref, 2)}
            if self.pid:
                sample["rss_mb"] = round(_status_kb(self.pid, "VmRSS") / 1024, 1)
                sample["rss_tree_mb"] = round(sum(_status_kb(p, "VmRSS") for p in server_pids) / 1024, 1)
                sample["threads"] = _status_kb(self.pid, "Threads")
                sample["alive"] = os.path.exists(f"/proc/{self.pid}")
            if last is not None:
                dt = now - last[0]
                if self.pid:
                    sample["cpu_pct"] = round(100 * (s_cpu - last[1]) / CLK / dt, 1)
                sample["loadgen_cpu_pct"] = round(100 * (l_cpu - last[2]) / CLK / dt, 1)
                busy = (total - last[3]) - (idle - last[4])
                sample["machine_busy_pct"] = round(100 * busy / max(1, total - last[3]), 1)
            self.samples.append(sample)
            last = (now, s_cpu, l_cpu, total, idle)
            self.halt.wait(self.interval)


# ----------------------------------------------------------------------------------------
# Statistics and report
# ----------------------------------------------------------------------------------------


def percentile(sorted_values: list, q: float) -> float | None:
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_stats(values: list) -> dict:
    v = sorted(x for x in values if x is not None)
    if not v:
        return {"n": 0}
    out = {"n": len(v), "mean": round(sum(v) / len(v), 4)}
    for q in (50, 90, 95, 99):
        out[f"p{q}"] = round(percentile(v, q), 4)
    out["max"] = round(v[-1], 4)
    return out


BROWSE = ("load", "nav", "tweak", "rerun")
JOB_ACTIONS = ("press", "fragment", "skip")


def _errors(rs: list) -> dict:
    return dict(Counter(k for r in rs for k in r["errors"]))


def job_summary(cfg, records: list) -> dict:
    """Presses and fragment polls, apart from browsing; and browsing while live views poll."""
    window = [r for r in records if r.get("t") is not None and r["t"] >= cfg.warmup]
    presses = [r for r in records if r["action"] == "press"]
    polls = [r for r in records if r["action"] == "fragment"]
    answered = [r for r in polls if not r.get("dropped")]
    press_ok = [r for r in window if r["action"] == "press" and not r["errors"]]
    poll_ok = [r for r in window if r["action"] == "fragment" and not r["errors"]
               and not r.get("dropped")]
    out: dict = {
        "presses": len(presses), "presses_ok": sum(1 for r in presses if not r["errors"]),
        "presses_failed": sum(1 for r in presses if r["errors"]),
        "presses_live": sum(1 for r in presses if not r["errors"]
                            and any(i <= LIVE_INTERVAL for i in r.get("live", []))),
        "presses_with_warning": sum(1 for r in presses if r.get("warnings")),
        "warning_samples": list(dict.fromkeys(w for r in presses for w in r.get("warnings", [])))[:5],
        "skipped": dict(Counter(r["detail"] for r in records if r["action"] == "skip")),
        "press_errors": _errors(presses),
        "polls": len(answered), "polls_ok": sum(1 for r in answered if not r["errors"]),
        "polls_failed": sum(1 for r in answered if r["errors"]),
        "polls_dropped": dict(Counter(r["dropped"] for r in polls if r.get("dropped"))),
        "poll_errors": _errors(answered),
        "latency_s": {"press": latency_stats([r["latency"] for r in press_ok]),
                      "fragment": latency_stats([r["latency"] for r in poll_ok])},
        "by_job": {}, "by_fragment": {},
    }
    for job in sorted({r["detail"] for r in press_ok}):
        out["by_job"][job] = latency_stats([r["latency"] for r in press_ok if r["detail"] == job])
    for name in sorted({r["detail"] for r in poll_ok}):
        out["by_fragment"][name] = latency_stats([r["latency"] for r in poll_ok
                                                   if r["detail"] == name])
    # browsing while some student's live view is polled (a poll within 2 s of the action)
    live = sorted(r["t"] for r in polls if r.get("t") is not None
                  and r.get("interval", 99) <= LIVE_INTERVAL)
    browse_ok = [r for r in window if r["action"] in BROWSE and not r["errors"]]

    def during(t: float) -> bool:
        i = bisect.bisect_left(live, t - 2.0)
        return i < len(live) and live[i] <= t + 2.0
    busy = [r["latency"] for r in browse_ok if during(r["t"])]
    idle = [r["latency"] for r in browse_ok if not during(r["t"])]
    out["latency_s"]["browse, live views polled"] = latency_stats(busy)
    out["latency_s"]["browse, none polled"] = latency_stats(idle)
    return out


def summarise(cfg, records: list, monitor: Monitor | None, wall: float) -> dict:
    actions = [r for r in records if r["action"] in BROWSE]
    events = [r for r in records if r["action"] not in BROWSE + JOB_ACTIONS]
    window = [r for r in actions if r.get("t") is not None and r["t"] >= cfg.warmup]
    ok = [r for r in window if not r["errors"]]
    errors = Counter(k for r in records for k in r["errors"])
    samples = defaultdict(list)
    for r in records:
        for kind, detail in zip(r["errors"], r.get("error_details", []), strict=False):
            if len(samples[kind]) < 5:
                samples[kind].append(f"{r.get('page')}/{r.get('action')}: {detail}")
    measured = max(1e-9, cfg.duration - cfg.warmup)
    summary = {
        "reruns_total": len(actions), "reruns_ok": sum(1 for r in actions if not r["errors"]),
        "reruns_failed": sum(1 for r in actions if r["errors"]),
        "other_failures": dict(Counter(r["action"] for r in events if r["errors"])),
        "reruns_in_window": len(window), "ok_in_window": len(ok),
        "reruns_per_s": round(len(ok) / measured, 3),
        "errors": dict(errors), "error_samples": dict(samples),
        "error_alerts_shown": sum(r.get("error_alerts", 0) for r in actions),
        "latency_s": {"overall": latency_stats([r["latency"] for r in ok])},
        "script_latency_s": {"overall": latency_stats([r["script"] for r in ok])},
        "by_action": {}, "connect_s": latency_stats([r["connect"] for r in window if r.get("connect")]),
        "images_per_rerun": round(sum(r["images"] for r in ok) / max(1, len(ok)), 2),
        "media_fetched": sum(r["media_fetched"] for r in actions),
        "media_mb": round(sum(r["media_bytes"] for r in actions) / 2**20, 2),
        "ws_mb_received": round(sum(r["bytes"] for r in actions) / 2**20, 2),
        "cache_hits": sum(r.get("cache_hits", 0) for r in actions),
        "wall_s": round(wall, 1),
    }
    if cfg.jobs or cfg.poll:
        summary["jobs"] = job_summary(cfg, records)
    for page in sorted({r["page"] for r in ok}):
        rs = [r for r in ok if r["page"] == page]
        summary["latency_s"][page] = latency_stats([r["latency"] for r in rs])
        summary["script_latency_s"][page] = latency_stats([r["script"] for r in rs])
    for action in sorted({r["action"] for r in ok}):
        summary["by_action"][action] = latency_stats([r["latency"] for r in ok if r["action"] == action])
    if monitor is not None and monitor.samples:
        ms = monitor.samples
        srv: dict = {}
        if cfg.server_pid:
            rss = [s["rss_mb"] for s in ms if s.get("rss_mb")]
            cpu = [s["cpu_pct"] for s in ms if "cpu_pct" in s and s["t"] >= cfg.warmup]
            srv = {
                "pid": cfg.server_pid,
                "rss_mb_start": rss[0] if rss else None, "rss_mb_end": rss[-1] if rss else None,
                "rss_mb_peak_sampled": max(rss) if rss else None,
                "rss_tree_mb_peak": max((s.get("rss_tree_mb", 0) for s in ms), default=None),
                "vmhwm_mb_before": round(monitor.hwm_start / 1024, 1),
                "vmhwm_mb_after": round(_status_kb(cfg.server_pid, "VmHWM") / 1024, 1),
                "cpu_pct_mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
                "cpu_pct_p95": round(percentile(sorted(cpu), 95), 1) if cpu else None,
                "cpu_pct_max": max(cpu) if cpu else None,
                "threads_max": max((s.get("threads", 0) for s in ms), default=None),
                "alive_at_end": ms[-1].get("alive"),
            }
        lg = [s["loadgen_cpu_pct"] for s in ms if "loadgen_cpu_pct" in s]
        busy = [s["machine_busy_pct"] for s in ms if "machine_busy_pct" in s]
        srv["loadgen_cpu_pct_mean"] = round(sum(lg) / len(lg), 1) if lg else None
        srv["loadgen_cpu_pct_max"] = max(lg) if lg else None
        srv["machine_busy_pct_mean"] = round(sum(busy) / len(busy), 1) if busy else None
        srv["machine_cpus"] = os.cpu_count()
        summary["resources"] = srv
    return summary


def print_report(cfg, s: dict) -> None:
    p = print
    p(f"== stload {VERSION}: {cfg.sessions} sessions, {cfg.duration:g} s (warm-up {cfg.warmup:g} s), "
      f"think {cfg.think:g} s, mode {cfg.mode}, media {'fetched' if cfg.fetch_media else 'not fetched'}"
      f", mix {','.join(f'{k}={v:g}' for k, v in cfg.mix.items())}")
    p(f"reruns: {s['reruns_total']} total, {s['reruns_ok']} ok, {s['reruns_failed']} failed; "
      f"{s['ok_in_window']} ok after warm-up = {s['reruns_per_s']:.2f} reruns/s")
    if s["other_failures"]:
        p("failures outside reruns: " + ", ".join(f"{k}={v}" for k, v in s["other_failures"].items()))
    p("errors: " + (", ".join(f"{k}={v}" for k, v in sorted(s["errors"].items())) or "none"))
    for kind, examples in s["error_samples"].items():
        for e in examples[:2]:
            p(f"   {kind}: {e}")
    if s["error_alerts_shown"]:
        p(f"app error messages (st.error, not failures): {s['error_alerts_shown']}")

    def row(name, st):
        if not st.get("n"):
            return f"  {name:<14}{0:>6}"
        return (f"  {name:<14}{st['n']:>6}" + "".join(f"{st[k]:>8.3f}" for k in
                                                        ("p50", "p90", "p95", "p99", "max", "mean")))
    head = f"  {'':<14}{'n':>6}" + "".join(f"{k:>8}" for k in ("p50", "p90", "p95", "p99", "max", "mean"))
    title = "latency (s), send -> script_finished" + (" + media" if cfg.fetch_media else "")
    p(title + ", successful reruns after warm-up:")
    p(head)
    for name, st in s["latency_s"].items():
        p(row(name, st))
    p("  by action:")
    for name, st in s["by_action"].items():
        p(row(name, st))
    if cfg.fetch_media:
        p(row("script only", s["script_latency_s"]["overall"]))
    if s["connect_s"].get("n"):
        p(row("connect", s["connect_s"]) + "   (page + health + host-config + websocket)")
    j = s.get("jobs")
    if j:
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(j["skipped"].items()))
        p(f"jobs {','.join(f'{k}={v:g}' for k, v in cfg.jobs.items()) or 'none'}: {j['presses']} "
          f"presses, {j['presses_ok']} ok, {j['presses_failed']} failed, {j['presses_live']} "
          f"showed a live view, {j['presses_with_warning']} with an app warning"
          + (f"; not pressed: {skipped}" if skipped else ""))
        for w in j["warning_samples"][:3]:
            p(f"   warning: {w}")
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(j["polls_dropped"].items()))
        p(f"fragment polls: {j['polls']} answered, {j['polls_ok']} ok, {j['polls_failed']} failed"
          + (f"; not answered on their own (not failures): {dropped}" if dropped else ""))
        if j["press_errors"] or j["poll_errors"]:
            p(f"   errors: presses {j['press_errors'] or 'none'}, polls {j['poll_errors'] or 'none'}")
        wide = 30

        def row2(name, st):
            if not st.get("n"):
                return f"  {name:<{wide}}{0:>6}"
            return (f"  {name:<{wide}}{st['n']:>6}" + "".join(
                f"{st[k]:>8.3f}" for k in ("p50", "p90", "p95", "p99", "max", "mean")))
        p("latency (s) by kind, after warm-up (press: send -> script_finished of its run; "
          "fragment: one auto-rerun):")
        p(f"  {'':<{wide}}{'n':>6}" + "".join(f"{k:>8}" for k in ("p50", "p90", "p95", "p99", "max", "mean")))
        p(row2("browse (all pages)", s["latency_s"]["overall"]))
        p(row2("  browse, live views polled", j["latency_s"]["browse, live views polled"]))
        p(row2("  browse, none polled", j["latency_s"]["browse, none polled"]))
        p(row2("press", j["latency_s"]["press"]))
        for name, st in j["by_job"].items():
            p(row2(f"  press {name}", st))
        p(row2("fragment", j["latency_s"]["fragment"]))
        for name, st in j["by_fragment"].items():
            p(row2(f"  {name}", st))
    p(f"images/rerun {s['images_per_rerun']}, media fetched {s['media_fetched']} ({s['media_mb']} MB), "
      f"websocket received {s['ws_mb_received']} MB, wall {s['wall_s']} s")
    r = s.get("resources")
    if r:
        if cfg.server_pid:
            p(f"server pid {r['pid']}: RSS start {r['rss_mb_start']} MB, peak {r['rss_mb_peak_sampled']} MB "
              f"(1 s samples; process tree {r['rss_tree_mb_peak']} MB), end {r['rss_mb_end']} MB; "
              f"VmHWM {r['vmhwm_mb_before']} -> {r['vmhwm_mb_after']} MB; threads max {r['threads_max']}")
            p(f"server CPU: mean {r['cpu_pct_mean']}%, p95 {r['cpu_pct_p95']}%, max {r['cpu_pct_max']}% "
              f"(100% = one core)" + ("" if r["alive_at_end"] else "  SERVER GONE AT THE END"))
        p(f"load generator CPU: mean {r['loadgen_cpu_pct_mean']}%, max {r['loadgen_cpu_pct_max']}%; "
          f"machine busy mean {r['machine_busy_pct_mean']}% of {r['machine_cpus']} CPUs")


# ----------------------------------------------------------------------------------------
# Modes
# ----------------------------------------------------------------------------------------


def run_load(cfg) -> int:
    ids = list(range(cfg.sessions))
    t_ref = time.time() + 1.0  # everyone starts together
    start_at, deadline = t_ref, t_ref + cfg.duration
    monitor = Monitor(cfg.server_pid, cfg.sample, t_ref)
    records: list = []
    t0 = time.time()
    if cfg.workers <= 1:
        monitor.start()
        records = asyncio.run(run_sessions(cfg, ids, t_ref, start_at, deadline))
    else:
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        procs = [ctx.Process(target=worker_main,
                             args=(cfg, ids[w::cfg.workers], t_ref, start_at, deadline, queue))
                 for w in range(cfg.workers)]
        for proc in procs:
            proc.start()
        monitor.start()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers stop by themselves
        try:
            for _ in procs:
                records += queue.get(timeout=cfg.duration + cfg.timeout + 120)
        finally:
            signal.signal(signal.SIGINT, old)
            for proc in procs:
                proc.join(timeout=30)
    monitor.halt.set()
    monitor.join(timeout=5)
    wall = time.time() - t0
    summary = summarise(cfg, records, monitor, wall)
    print_report(cfg, summary)
    if cfg.json:
        config = {k: v for k, v in vars(cfg).items()}
        with open(cfg.json, "w") as f:
            json.dump({"tool": f"stload {VERSION}", "config": config, "summary": summary,
                       "server_samples": monitor.samples,
                       "records": sorted(records, key=lambda r: (r.get("t") or 0))}, f, indent=1)
        print(f"written: {cfg.json}")
    j = summary.get("jobs", {})
    return 1 if (summary["reruns_failed"] or summary["other_failures"] or j.get("presses_failed")
                 or j.get("polls_failed")) else 0


def _trace_printer(t0):
    def trace(msg, typ, size):
        extra = ""
        if typ == "delta":
            d = msg.delta
            dt = d.WhichOneof("type")
            extra = dt + ":" + str(d.new_element.WhichOneof("type") if dt == "new_element"
                                   else d.add_block.WhichOneof("type") if dt == "add_block" else "")
        elif typ == "script_finished":
            extra = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
        elif typ == "page_info_changed":
            extra = msg.page_info_changed.query_string[:100]
        elif typ == "new_session":
            extra = f"fragments={list(msg.metadata.run.fragment_ids)}"
        elif typ == "auto_rerun":
            extra = f"{msg.auto_rerun.fragment_id} every {msg.auto_rerun.interval:g} s"
        elif typ == "stop_auto_rerun":
            extra = str(list(msg.stop_auto_rerun.fragment_ids))
        print(f"  {time.monotonic() - t0:8.3f}s {size:8d} B {typ} {extra} "
              f"path={list(msg.metadata.delta_path)}", file=sys.stderr)
    return trace


async def inspect(cfg, target: str) -> dict:
    page_part, _, query = target.partition("?")
    page = {v: k for k, v in PAGE_URL.items()}.get(page_part.strip("/"), page_part.strip("/"))
    if page not in PAGE_URL:
        raise SystemExit(f"--inspect: unknown page {page_part!r}")
    polls: list = []
    client = StClient(cfg.url, fetch_media=cfg.fetch_media, timeout=cfg.timeout,
                      fetch_page=not cfg.no_page,
                      trace=_trace_printer(time.monotonic()) if cfg.trace else None,
                      poll=cfg.poll or any(s.startswith("wait=") for s in cfg.then or []),
                      on_poll=lambda run, page, interval: polls.append((run, interval)))
    connect_s = await client.connect(PAGE_URL[page], query)
    run = await client.load(page, query)
    result = {"page": page, "query_sent": query, "query_echo": client.query_string,
              "connect_s": round(connect_s, 3), **record(0, time.time(), page, "load", run),
              "status": ForwardMsg.ScriptFinishedStatus.Name(run.status) if run.status is not None else None,
              "headings": run.headings, "elements": dict(run.elements),
              "image_urls": run.media_urls, "alerts": run.alerts,
              "errors": run.errors,
              "widgets": [{"key": w.key, "kind": w.kind, "label": w.label, "value": v,
                           "disabled": w.disabled} for w, v in client.values.values()],
              "buttons": [{"key": w.key, "label": w.label, "disabled": w.disabled}
                          for w in client.buttons.values()],
              "live": run.live, "pages": client.pages, "page_script_hash": client.page_hash,
              "cached_hashes": len(client.cache)}
    for step in cfg.then or []:  # e.g. --then tab=Step\ through : a widget change by key=value
        key, _, raw = step.partition("=")
        if key == "press":  # --then press=Start (a button's key or label)
            button = client.find_button(raw)
            if button is None:
                result.setdefault("then", []).append({"step": step, "error": "no such button"})
                continue
            run2 = await client.press(button)
            result.setdefault("then", []).append(
                {"step": step, "disabled": button.disabled,
                 "latency": round(run2.t_end - run2.t0, 3), "errors": run2.errors,
                 "live": run2.live, "elements": dict(run2.elements), "alerts": run2.alerts,
                 "buttons": [(w.label, w.disabled) for w in client.buttons.values()]})
            continue
        if key == "wait":  # --then wait=10 : stay on the page; its live fragments are polled
            before = len(polls)
            await asyncio.sleep(float(raw))
            got = polls[before:]
            elements = Counter()
            for r, _ in got:
                elements.update(r.elements)
            result.setdefault("then", []).append(
                {"step": step, "polls": len(got),
                 "intervals": dict(Counter(i for _, i in got)),
                 "dropped": dict(Counter(r.dropped for r, _ in got if r.dropped)),
                 "latency": [round(r.t_end - r.t0, 3) for r, _ in got if not r.dropped][:40],
                 "errors": [e for r, _ in got for e in r.errors][:5],
                 "elements": dict(elements), "alerts": [a for r, _ in got for a in r.alerts][-3:],
                 "progress": [t for r, _ in got for t in r.progress][-4:],
                 "buttons": [(w.label, w.disabled) for w in client.buttons.values()]})
            continue
        match = [(w, v) for w, v in client.values.values() if w.key == key or w.label == key]
        if not match:
            result.setdefault("then", []).append({"step": step, "error": "no such widget"})
            continue
        w, _ = match[0]
        value = {"checkbox": lambda s: s.lower() == "true", "slider": lambda s: [float(s)],
                 "number_input": float, "select_slider": lambda s: [s]}.get(w.kind, str)(raw)
        run2 = await client.rerun(page_hash=client.page_hash, states=client.states((w.id, value)))
        result.setdefault("then", []).append(
            {"step": step, "latency": round(run2.t_end - run2.t0, 3), "errors": run2.errors,
             "headings": run2.headings, "elements": dict(run2.elements),
             "images": len(run2.media_urls), "query_echo": client.query_string,
             "alerts": run2.alerts})
    await client.close()
    return result


def _same(sent: str, echoed: str) -> bool:
    """Same value once both are JSON-decoded (the app writes json.dumps of non-strings)."""
    def norm(value):
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return round(float(value), 9)
        if isinstance(value, (list, tuple)):
            return [norm(v) for v in value]
        return value

    def decode(text):
        try:
            return json.loads(text)
        except ValueError:
            return text

    return norm(decode(sent)) == norm(decode(echoed))


async def check_params(cfg, n: int) -> dict:
    """For N random links per page: accepted (echoed unchanged) / rejected / not shown."""
    rng = random.Random(cfg.seed)
    report: dict = {}
    for page in cfg.mix:
        if page in ("home", "train", "transfer"):
            continue
        counts = defaultdict(Counter)
        rejected_examples = []
        failures = []
        for _ in range(n):
            params = GENERATORS[page](rng, cfg)
            if cfg.invalid > 0 and rng.random() < cfg.invalid:
                params = spoil(rng, params)
            query = make_query(params)
            client = StClient(cfg.url, fetch_media=cfg.fetch_media, timeout=cfg.timeout,
                              fetch_page=not cfg.no_page)
            await client.connect(PAGE_URL[page], query)
            run = await client.load(page, query)
            runs = [run]
            echoes = [dict(urllib.parse.parse_qsl(client.query_string, keep_blank_values=True))]
            # parameters read only inside a tab: open it (as a student would)
            for label in {"pretrained": ["Activations", "Grad-CAM"]}.get(page, []):
                tab = [(w, v) for w, v in client.values.values() if w.kind == "tabs" and w.key == "tab"]
                if tab and label in tab[0][0].options:
                    runs.append(await client.rerun(page_hash=client.page_hash,
                                                   states=client.states((tab[0][0].id, label))))
                    echoes.append(dict(urllib.parse.parse_qsl(client.query_string, keep_blank_values=True)))
            await client.close()
            for r in runs:
                if r.errors:
                    failures.append({"query": query, "errors": r.errors})
            for name, value in params:
                seen = [e[name] for e in echoes if name in e]
                if not seen:
                    counts[name]["not shown"] += 1
                elif any(_same(value, s) for s in seen):
                    counts[name]["accepted"] += 1
                else:
                    counts[name]["rejected"] += 1
                    if len(rejected_examples) < 8:
                        rejected_examples.append(f"{name}={value!r} -> {seen[-1]!r}")
        report[page] = {"links": n, "params": {k: dict(v) for k, v in counts.items()},
                        "rejected_examples": rejected_examples, "failures": failures[:10],
                        "n_failures": len(failures)}
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--url", default="http://127.0.0.1:8651", help="the app's base URL (http)")
    ap.add_argument("--sessions", type=int, default=10, help="simulated students (default 10)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    ap.add_argument("--think", type=float, default=2.0,
                    help="mean think time between actions, exponential (default 2.0 s; 0 = none)")
    ap.add_argument("--mix", default="convolution=0.4,colour=0.2,pretrained=0.3,home=0.1",
                    help="page weights: home, convolution, colour, pretrained, train, transfer, "
                    "generative, lecture, architectures, playground, layers, deep")
    ap.add_argument("--mode", choices=["browse", "link"], default="browse",
                    help="browse: one session per student, navigation + widget changes; "
                         "link: a new session per action (default browse)")
    ap.add_argument("--stay", type=float, default=0.7,
                    help="browse mode: chance that the next action is a widget change on the "
                         "current page rather than a page drawn from --mix (default 0.7; the "
                         "long-run share of pages still follows --mix)")
    ap.add_argument("--fetch-media", action="store_true", help="fetch /media images as a browser")
    ap.add_argument("--media-conns", type=int, default=6, help="HTTP connections per session (6)")
    ap.add_argument("--no-page", action="store_true", help="don't GET the page HTML on connect")
    ap.add_argument("--timeout", type=float, default=60, help="per rerun (+ media), s (default 60)")
    ap.add_argument("--ramp", type=float, default=5.0,
                    help="start the sessions evenly over this many seconds (default 5)")
    ap.add_argument("--warmup", type=float, default=0.0,
                    help="leave actions started in the first S seconds out of the statistics")
    ap.add_argument("--models", default="default,resnet18,vgg16",
                    help="networks the Pretrained page may use (default: default,resnet18,vgg16)")
    ap.add_argument("--jobs", metavar="JOB=P,...",
                    help="the class presses job buttons: per think step, the chance that a student "
                         "presses each (train = Start, ablation = Lecture ablation on the Train "
                         "page; transfer = Compare all four, transfer_one = Train on the Transfer "
                         "page; featurevis = Visualise in the Pretrained page's 'What channels "
                         "look for' tab; sample = Sample on the Generative models page's "
                         "Diffusion tab), going to its page first; e.g. train=0.3,ablation=0.05,"
                         "transfer=0.1,featurevis=0.05 (default: none). Implies --poll")
    ap.add_argument("--watch", type=float, default=15.0,
                    help="with --jobs: after a press the student watches the live view for an "
                         "exponential time of this mean (s; default 15; 0 = go on at once) "
                         "before thinking and acting again; polls go on while on the page")
    ap.add_argument("--own-seed", type=float, default=0.4,
                    help="with --jobs train: the fraction of Start presses preceded by a seed "
                         "of one's own (a distinct run; the others share the run on the "
                         "defaults, as the server trains identical runs once) (default 0.4)")
    ap.add_argument("--poll", action="store_true",
                    help="poll the fragments with run_every as the browser does (on with --jobs)")
    ap.add_argument("--invalid", type=float, default=0.0,
                    help="fraction of links with garbage parameter values (robustness)")
    ap.add_argument("--server-pid", type=int, help="sample this process (and its children)")
    ap.add_argument("--sample", type=float, default=1.0, help="sampling interval, s (default 1)")
    ap.add_argument("--workers", type=int, default=1,
                    help="client processes (use >1 when the load generator's CPU is the limit)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--json", help="write summary, samples and every action here")
    ap.add_argument("--inspect", metavar="PAGE?QUERY", help="one load; print what arrived (JSON)")
    ap.add_argument("--then", action="append", metavar="KEY=VALUE",
                    help="with --inspect: then set a widget (key or label) and rerun; repeatable")
    ap.add_argument("--trace", action="store_true", help="with --inspect: print every message")
    ap.add_argument("--check-params", type=int, metavar="N",
                    help="N random links per page of --mix: accepted / rejected per parameter")
    cfg = ap.parse_args(argv)
    cfg.mix = parse_mix(cfg.mix)
    cfg.jobs = parse_jobs(cfg.jobs)
    cfg.poll = cfg.poll or bool(cfg.jobs)
    if cfg.jobs and cfg.mode == "link":
        raise SystemExit("--jobs needs --mode browse (a live view is polled by its own tab)")
    cfg.models = [m.strip() for m in cfg.models.split(",") if m.strip()]
    for m in cfg.models:
        if m not in MODELS:
            raise SystemExit(f"--models: unknown network {m!r} ({', '.join(MODELS)})")
    host = urllib.parse.urlsplit(cfg.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: load against {host}, not this machine", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 64 + cfg.sessions * (cfg.media_conns + 2)))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if cfg.inspect:
        print(json.dumps(asyncio.run(inspect(cfg, cfg.inspect)), indent=1, default=str))
        return 0
    if cfg.check_params:
        report = asyncio.run(check_params(cfg, cfg.check_params))
        print(json.dumps(report, indent=1))
        if cfg.json:
            with open(cfg.json, "w") as f:
                json.dump(report, f, indent=1)
        return 0
    if cfg.sessions < 1 or cfg.duration <= 0:
        raise SystemExit("need --sessions >= 1 and --duration > 0")
    cfg.workers = max(1, min(cfg.workers, cfg.sessions))
    return run_load(cfg)


if __name__ == "__main__":
    sys.exit(main())
