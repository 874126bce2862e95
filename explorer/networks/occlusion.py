"""Occlusion sensitivity: how much a class's probability drops when a grey patch hides each place."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.jobs.priority import lower_this_thread
from explorer.networks import activations

MAX_POSITIONS = 256  # patches per map (forward passes): every button's work is bounded before it starts
MAX_MULTIPLY_ADDS = 8e11  # per map: VGG16 at 224 x 224 (15.5 G per pass) gets 51 positions,
# its default 7 x 7 grid (about 10 s of one 2-core server); smaller networks get MAX_POSITIONS
BATCH = 32  # occluded copies per forward pass at most
CHUNK_SECONDS = 0.25  # ... and fewer when a pass is slow: each chunk takes the server's heavy-work
# slot on its own, so another student's single prediction waits for one chunk, not the whole map


BACKGROUND_RUNS = 2  # maps computed in background threads at once; more wait their turn
MAX_PENDING = 8  # running and waiting together; beyond that a new map is refused
ABANDON_AFTER_S = 5.0  # a map nobody has looked at for this long stops (a moved slider)
_RUN_SLOTS = threading.BoundedSemaphore(BACKGROUND_RUNS)
_pending = 0
_PENDING_LOCK = threading.Lock()
_SHUTDOWN = threading.Event()  # set at interpreter exit: background runs stop at their next chunk
_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


@atexit.register
def _stop_background_runs() -> None:
    """A daemon thread killed inside a torch operator at exit aborts the process ("terminate
    called without an active exception"): let each run finish its chunk first."""
    _SHUTDOWN.set()
    for thread in list(_THREADS):
        thread.join(timeout=10)


def position_limit(multiply_adds: float) -> int:
    """Patch positions allowed for a network that needs `multiply_adds` per image."""
    if not multiply_adds > 0:
        return MAX_POSITIONS
    return int(max(1, min(MAX_POSITIONS, MAX_MULTIPLY_ADDS // multiply_adds)))


@dataclass(frozen=True)
class OcclusionMap:
    drop: np.ndarray  # (rows, cols) probability of the class without occlusion minus with it
    base_probability: float  # the class's probability for the whole image
    class_index: int
    patch: int
    stride: int
    upsampled: np.ndarray  # (H, W) each pixel: the mean drop of the patches that covered it


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the patches along one side: every stride, the last flush."""
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def position_count(height: int, width: int, patch: int, stride: int) -> int:
    """Patch positions (forward passes) of a map over a height x width input."""
    return len(positions(height, patch, stride)) * len(positions(width, patch, stride))


def _plan(x: torch.Tensor, patch: int, stride: int,
          max_positions: int) -> tuple[list[int], list[int]]:
    """Patch rows and columns for x (1, C, H, W); ValueError for settings that do not fit."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"Give one image (1, C, H, W); got {tuple(x.shape)}.")
    _, _, height, width = x.shape
    if not 1 <= patch <= max(height, width):
        raise ValueError(f"The patch must be 1 to {max(height, width)} pixels; got {patch}.")
    if not 1 <= stride <= max(height, width):
        raise ValueError(f"The stride must be 1 to {max(height, width)} pixels; got {stride}.")
    rows, cols = positions(height, patch, stride), positions(width, patch, stride)
    limit = min(max_positions, MAX_POSITIONS)
    if len(rows) * len(cols) > limit:
        raise ValueError(f"{len(rows) * len(cols):,} patch positions; at most {limit:,} for this "
                         "network: use a larger stride.")
    return rows, cols


def _assemble(drop: np.ndarray, spots: list[tuple[int, int]], base: float, class_index: int,
              patch: int, stride: int, shape: tuple[int, int]) -> OcclusionMap:
    """The map from the drops (rows, cols) measured so far (NaN: not yet); a pixel that no
    measured patch covered is NaN in `upsampled` too."""
    total = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.float64)
    for (r, c), value in zip(spots, drop.ravel(), strict=True):
        if np.isfinite(value):
            total[r:r + patch, c:c + patch] += value
            count[r:r + patch, c:c + patch] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        upsampled = np.where(count > 0, total / count, np.nan).astype(np.float32)
    return OcclusionMap(drop.astype(np.float32), base, class_index, patch, stride, upsampled)


class OcclusionRun:
    """One map computed a chunk of passes at a time (each chunk takes the server's heavy-work
    slot on its own). `step()` computes the next chunk; `start()` runs them all in a daemon
    thread so that a page can show the map as it fills in. Readable from any thread."""

    def __init__(self, model: nn.Module, x: torch.Tensor, class_index: int, *, patch: int,
                 stride: int, fill: torch.Tensor | float = 0.0,
                 max_positions: int = MAX_POSITIONS) -> None:
        rows, cols = _plan(x, patch, stride, max_positions)
        self._model, self._x, self._fill = model, x, fill
        self.class_index, self.patch, self.stride = class_index, patch, stride
        self.shape = (len(rows), len(cols))
        self._spots = [(r, c) for r in rows for c in cols]
        self._drop = np.full(len(self._spots), np.nan)  # filled in order, chunk by chunk
        self._done = 0
        self._base: float | None = None
        self._batch = 1
        self.error: str | None = None
        self.abandoned = False
        self._seen = time.monotonic()
        self._lock = threading.Lock()  # one chunk at a time
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._has_slot = False

    @property
    def total(self) -> int:
        return len(self._spots)

    @property
    def completed(self) -> int:
        return self._done

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def step(self) -> bool:
        """Compute the next chunk (the unoccluded pass first); True while more remain."""
        with self._lock, torch.no_grad():
            if self.finished:
                return False
            try:
                if self._base is None:
                    started = time.perf_counter()
                    logits = activations.forward(self._model, self._x)
                    one_pass = time.perf_counter() - started
                    if not 0 <= self.class_index < logits.shape[1]:
                        raise ValueError(f"Class {self.class_index} does not exist "
                                         f"(0 to {logits.shape[1] - 1}).")
                    self._base = float(torch.softmax(logits.double(), 1)[0, self.class_index])
                    self._batch = int(max(1, min(BATCH, CHUNK_SECONDS // max(one_pass, 1e-9))))
                else:
                    chunk = self._spots[self._done:self._done + self._batch]
                    batch = self._x.repeat(len(chunk), 1, 1, 1)
                    for i, (r, c) in enumerate(chunk):
                        batch[i, :, r:r + self.patch, c:c + self.patch] = self._fill
                    logits = activations.forward(self._model, batch)
                    probabilities = torch.softmax(logits.double(), 1)[:, self.class_index]
                    self._drop[self._done:self._done + len(chunk)] = (
                        self._base - probabilities).numpy()
                    self._done += len(chunk)
            except ValueError:
                self._finished.set()
                raise
            except Exception as error:  # a background run reports, it never raises
                self.error = f"{type(error).__name__}: {error}"
                self._finished.set()
                return False
            if self._done == len(self._spots):
                self._finished.set()
            return not self.finished

    def start(self) -> OcclusionRun:
        """Compute every chunk in a daemon thread (once); returns self. ValueError when
        MAX_PENDING maps are already running or waiting: the server's work stays bounded."""
        global _pending
        with self._lock:
            if self._thread is None:
                with _PENDING_LOCK:
                    if _pending >= MAX_PENDING:
                        raise ValueError(f"The server is already computing {_pending} occlusion "
                                         "maps; try again in a moment.")
                    _pending += 1
                self._thread = threading.Thread(target=self._run, name="occlusion", daemon=True)
                _THREADS.add(self._thread)
                self._thread.start()
        return self

    def touch(self) -> None:
        """Someone is looking at this map: keep computing it."""
        self._seen = time.monotonic()

    def _run(self) -> None:
        global _pending
        lower_this_thread()  # a background map computes below the pages' priority, as jobs do
        try:
            with _RUN_SLOTS:  # at most BACKGROUND_RUNS maps at once; the others wait here
                self._has_slot = True
                while not _SHUTDOWN.is_set() and not self._unwatched() and self.step():
                    pass
        except ValueError as error:
            self.error = str(error)
        finally:
            with _PENDING_LOCK:
                _pending -= 1

    def _unwatched(self) -> bool:
        if time.monotonic() - self._seen <= ABANDON_AFTER_S:
            return False
        self.abandoned = True
        self.error = "Stopped: nobody was looking at this map any more."
        self._finished.set()
        return True

    @property
    def waiting(self) -> bool:
        """Started but waiting for a place: other maps hold every one."""
        return self._thread is not None and not self._has_slot and not self.finished

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def current(self) -> OcclusionMap | None:
        """The map so far (NaN where not measured yet); None before the unoccluded pass."""
        if self._base is None:
            return None
        _, _, height, width = self._x.shape
        return _assemble(self._drop.reshape(self.shape).copy(), self._spots, self._base,
                         self.class_index, self.patch, self.stride, (height, width))


def occlusion_map(model: nn.Module, x: torch.Tensor, class_index: int, *, patch: int,
                  stride: int, fill: torch.Tensor | float = 0.0,
                  max_positions: int = MAX_POSITIONS) -> OcclusionMap:
    """Slide a patch x patch square of `fill` (the network input's value for grey: 0 for a
    normalised input at the dataset mean) over x (1, C, H, W) and record the drop in softmax
    probability of class_index at each position. ValueError for settings that do not fit,
    among them more than max_positions positions (see position_limit)."""
    run = OcclusionRun(model, x, class_index, patch=patch, stride=stride, fill=fill,
                       max_positions=max_positions)
    while run.step():
        pass
    if run.error:
        raise RuntimeError(run.error)
    return run.current()
