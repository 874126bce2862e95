"""Warm a server up before the class arrives: heavy imports, the default network, its first pass.

Without it the first students pay for everything at once: `import torch` (about 2.5 s), plotly,
scipy, scikit-image, the default network and torch's first-call set-up, all queued behind one
interpreter lock while fifty sessions connect (measured: the first loads' p50 was 11 s).
`start()` does it once per process in a background thread; `python -m explorer.ui.serve` starts it
with the server, and Home calls it on the first visit when the app was started with plain
`streamlit run`.
"""

from __future__ import annotations

import threading
import time

from explorer.jobs import engines, memory

_STARTED = threading.Event()
_DONE = threading.Event()
_ELAPSED: list[float] = []


def warm() -> float:
    """Import what the pages need and run the default network once; returns the seconds taken."""
    start = time.perf_counter()
    import pandas  # noqa: F401
    import plotly.express  # noqa: F401
    import scipy.signal  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    from explorer.convolution import conv, kernels
    from explorer.images import pictures as images
    from explorer.networks import shared_results
    from explorer.training import app_networks

    network = app_networks.default_network()
    image = images.builtin_image("chelsea", mode="RGB")  # the Pretrained page's default picture
    x, _ = shared_results.prediction(network, image)
    shared_results.captured(network, x, image)
    conv.filter2d(images.builtin_image("cameraman", mode="L"), kernels.make_kernel("gaussian"))
    engines.get_engine()  # connects to Ray when EXPLORER_RAY_ADDRESS is set (up to ~20 s if refused)
    memory.note_long_lived()
    memory.freeze_long_lived()  # all of the above lives as long as the process
    return time.perf_counter() - start


def _run() -> None:
    try:
        _ELAPSED.append(warm())
    finally:
        _DONE.set()


def start() -> None:
    """Warm up in a daemon thread, once per process (later calls return at once)."""
    if _STARTED.is_set():
        return
    _STARTED.set()
    memory.limit_malloc_arenas()  # before the threads that allocate: a class's runs live at once
    threading.Thread(target=_run, name="explorer-warm-up", daemon=True).start()


def wait(timeout: float | None = None) -> bool:
    """Block until the warm-up has finished (True) or `timeout` passed (False)."""
    return _DONE.wait(timeout)
