"""Many sessions at once: FX tracing beside other threads' forward passes, heavy-work slots, GC."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn

from explorer.jobs import concurrency, memory
from explorer.networks import activations, model_registry, private_copy, zoo
from explorer.training.nets import ModelSettings, build_model


def small_cnn() -> nn.Module:
    return build_model(ModelSettings(), in_channels=3, num_classes=10, image_size=(32, 32)).eval()


def run_beside_tracing(rounds: int) -> list[BaseException]:
    """Trace fresh models in one thread while two others call another model directly."""
    errors: list[BaseException] = []
    stop = threading.Event()
    other = small_cnn()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = other(x)

    def call_other() -> None:
        while not stop.is_set():
            try:
                with torch.no_grad():
                    out = other(x)
                torch.testing.assert_close(out, expected)
            except BaseException as error:  # noqa: BLE001 - collected and reported by the test
                errors.append(error)
                return

    workers = [threading.Thread(target=call_other) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(rounds):
            assert activations.layer_names(small_cnn())  # a new model: traced again
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    return errors


def test_tracing_does_not_capture_other_threads_module_calls():
    assert run_beside_tracing(rounds=20) == []


def test_without_the_own_thread_tracer_other_threads_fail(monkeypatch):
    """The failure the fix removes (seen under load as NameError in another session)."""
    monkeypatch.setattr(private_copy, "_thread_safe_tracing", contextlib.nullcontext)
    errors = run_beside_tracing(rounds=40)
    assert errors, "expected another thread's module call to be captured by the tracer"
    assert any("not installed as a submodule" in str(e) or isinstance(e, Exception)
               for e in errors)


def test_tracer_swap_is_restored():
    from torchvision.models import feature_extraction

    original = feature_extraction.NodePathTracer
    activations.layer_names(small_cnn())
    assert feature_extraction.NodePathTracer is original


def test_captures_from_many_threads_agree_with_one_thread():
    model = small_cnn()
    x = torch.randn(1, 3, 32, 32)
    layer = activations.layer_names(model)[0]
    reference = activations.capture(model, x, [layer])[layer]
    results: list[torch.Tensor] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(activations.capture(model, x, [layer])[layer])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 30
    for result in results:
        torch.testing.assert_close(result, reference)


def test_heavy_work_runs_at_most_the_slots_at_once(monkeypatch):
    monkeypatch.setattr(concurrency, "_SLOTS", concurrency.FairSlots(2))
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with concurrency.heavy_work():
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            with lock:
                running -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2


def test_heavy_work_is_reentrant_in_one_thread(monkeypatch):
    monkeypatch.setattr(concurrency, "_SLOTS", concurrency.FairSlots(1))
    with concurrency.heavy_work(), concurrency.heavy_work():  # would deadlock if not re-entrant
        pass
    assert concurrency._SLOTS.acquire(blocking=False)  # released again
    concurrency._SLOTS.release()


def test_a_released_slot_goes_to_the_first_waiter_not_back_to_its_holder():
    """A job that works in steps releases its slot and asks again at once: a page's pass that
    was waiting gets it first (a plain semaphore let the job take it straight back)."""
    slots = concurrency.FairSlots(1)
    assert slots.acquire()
    order: list[str] = []
    waiting = threading.Event()

    def page() -> None:
        waiting.set()
        slots.acquire()
        order.append("page")
        slots.release()

    thread = threading.Thread(target=page)
    thread.start()
    waiting.wait()
    while not slots._waiters:  # the page queues
        time.sleep(0.001)
    slots.release()
    assert not slots.acquire(blocking=False)  # handed to the page, not free
    slots.acquire()  # the job's next step: after the page's pass
    order.append("job")
    slots.release()
    thread.join()
    assert order == ["page", "job"]
    assert slots.acquire(blocking=False)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("0", None), ("x", None), ("", None)])
def test_heavy_slots_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("EXPLORER_HEAVY_SLOTS", value)
    import os

    default = max(1, (os.cpu_count() or 1) // 2)
    assert concurrency.heavy_slots() == (expected or default)


def test_seeded_builds_in_parallel_threads_match_a_sequential_build():
    """Seeding and drawing happen under one lock, so parallel seeded builds do not interleave."""
    reference = [p.detach().clone() for p in zoo._build(model_registry.model_spec("alexnet"),
                                                        pretrained=False).parameters()]
    built: list[nn.Module] = []

    def build() -> None:
        built.append(zoo._build(model_registry.model_spec("alexnet"), pretrained=False))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 4
    for model in built:
        for a, b in zip(model.parameters(), reference, strict=True):
            assert torch.equal(a, b)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freeze_collects_garbage_first_and_only_when_something_new_appeared():
    memory.freeze_long_lived()  # whatever the earlier tests imported
    assert memory.freeze_long_lived() is False  # nothing new since

    garbage = _Cycle()
    ref = weakref.ref(garbage)
    del garbage  # a cycle: only the collector can free it
    memory.note_long_lived()
    assert memory.freeze_long_lived() is True
    assert ref() is None  # collected, not frozen

    kept = _Cycle()
    memory.note_long_lived()
    memory.freeze_long_lived()
    stats = memory.stats()
    assert stats.frozen > 0 and stats.freezes >= 2
    assert not any(obj is kept for obj in gc.get_objects())  # moved out of the collector's way
    gc.unfreeze()  # leave the collector as other tests expect it


def test_full_collections_after_script_runs_are_rate_limited(monkeypatch):
    import tomllib

    config = tomllib.loads((Path(__file__).parent.parent / ".streamlit" / "config.toml")
                           .read_text())
    assert config["runner"]["postScriptGC"] is False  # Streamlit's own, after every run, is off
    memory.collect_if_needed()
    assert memory.collect_if_needed() is False  # no script ran since
    garbage = _Cycle()
    ref = weakref.ref(garbage)
    del garbage
    was_enabled = gc.isenabled()
    gc.disable()  # only the collector may free the cycle
    try:
        monkeypatch.setattr(memory, "COLLECT_INTERVAL_S", 0.01)
        memory.collect_soon()  # a script ran: the collector thread frees it within the interval
        deadline = time.monotonic() + 60
        while ref() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ref() is None
        assert any(thread.name == "explorer-gc" and thread.daemon
                   for thread in threading.enumerate())
    finally:
        if was_enabled:
            gc.enable()


def test_malloc_arenas_are_capped_in_a_fresh_process_unless_the_environment_says_so():
    code = ("from explorer.jobs.memory import limit_malloc_arenas; "
            "print(limit_malloc_arenas())")
    root = Path(__file__).parent.parent
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    capped = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert capped == ("True" if sys.platform.startswith("linux") else "False")
    kept = subprocess.run([sys.executable, "-c", code], cwd=root,
                          env={**env, "MALLOC_ARENA_MAX": "4"}, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert kept == "False"
