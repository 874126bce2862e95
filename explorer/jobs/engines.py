"""Where jobs run: in this process (threads, the default) or on a Ray cluster (EXPLORER_RAY_ADDRESS).

Both engines build a job the same way (`make(factory, threads, on_done, browser)` returns an
unstarted job with the registry's interface); the registry never asks which one it has, except
to find jobs another web replica started (`find`, `find_for_owner`, `adopt`: nothing in-process).

Configured from the environment, read once when the registry is made:
- EXPLORER_RAY_ADDRESS: a running Ray cluster ("10.0.0.5:6379", "auto", or "ray://host:10001");
  unset (the default) runs jobs in this process. An address that does not answer within 2 s
  gives the in-process engine and a logged message that the pages show.
- EXPLORER_RAY_CPUS_PER_JOB (default 1; also the job's torch threads) and
  EXPLORER_RAY_GPUS_PER_JOB (default 0; 1 trains each run on a GPU worker's GPU).
- EXPLORER_JOB_GRACE_S: a job nobody polls for that long stops (default 120), as in-process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)
CONNECT_SECONDS = 2.0


class InProcessEngine:
    """Jobs as daemon threads of this process (jobs.control)."""

    remote = False
    name = "in-process"

    def __init__(self, note: str | None = None) -> None:
        self.note = note  # why Ray was asked for and not used, for the pages

    def describe(self) -> str:
        return "this server's own threads"

    def make(self, factory: Callable[[int, Any], Any], threads: int,
             on_done: Callable[[Any], None], browser: str | None = None) -> Any:
        return factory(threads, on_done)

    def find(self, job_id: str) -> str | None:
        return None

    def find_for_owner(self, owner: str) -> list[str]:
        return []

    def adopt(self, name: str, on_done: Callable[[Any], None]) -> None:
        return None


def _float_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if 0 <= value < 1e6 else default


def reachable(address: str, timeout: float = CONNECT_SECONDS) -> str | None:
    """None when something answers at the address's host:port within `timeout`, else why not.
    "auto" (a cluster started on this machine by `ray start`) is left to Ray."""
    if address == "auto":
        return None
    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not host:port"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as error:
        return f"nothing answered at {host_port} within {timeout:g} s ({error})"


def connect(address: str) -> Any:
    """A RayEngine on the cluster at `address`, or an InProcessEngine with a note why not."""
    problem = reachable(address)
    if problem is None:
        try:
            # a call after a disconnect must fail, not start a private cluster in this process
            os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
            import ray

            from explorer.jobs.remote import NAMESPACE, RayEngine

            ray.init(address=address, namespace=NAMESPACE, ignore_reinit_error=True,
                     log_to_driver=False, logging_level=logging.WARNING)
            grace = _float_env("EXPLORER_JOB_GRACE_S", 120.0) or 120.0
            return RayEngine(address, cpus_per_job=_float_env("EXPLORER_RAY_CPUS_PER_JOB", 1.0)
                             or 1.0,
                             gpus_per_job=_float_env("EXPLORER_RAY_GPUS_PER_JOB", 0.0),
                             orphan_seconds=grace, linger_seconds=grace)
        except Exception as error:  # noqa: BLE001 - any failure to connect means: run here
            problem = f"Ray could not connect to {address} ({type(error).__name__}: {error})"
    note = (f"Jobs run on this server: {problem}. Set EXPLORER_RAY_ADDRESS to a running Ray "
            "cluster's address, or leave it unset.")
    LOG.warning(note)
    return InProcessEngine(note)


_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> Any:
    """The process's engine: Ray when EXPLORER_RAY_ADDRESS is set and answers, else threads."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            address = os.environ.get("EXPLORER_RAY_ADDRESS", "").strip()
            _ENGINE = connect(address) if address else InProcessEngine()
        return _ENGINE
