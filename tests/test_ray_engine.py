"""Both job engines run every kind of job the same way: threads here, and actors on a Ray head
on loopback that these tests start (issue #19's distributed engine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import ray
import torch

from explorer.jobs import engines
from explorer.jobs.registry import JobRegistry
from explorer.training.job import submit_training
from tests.test_training import HANG_SECONDS, quadrant_dataset, tiny_settings, wait_for

A, B, C = "a" * 32, "b" * 32, "c" * 32  # owner tokens of three tabs
KINDS = ("training", "transfer", "featurevis", "gradients", "playground")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address():
    """A Ray head with 2 CPUs on 127.0.0.1, its own temp dir, stopped with its process group."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a limit
    ray_cli = Path(sys.executable).with_name("ray")
    # loopback only: no token (Ray turns token auth on when ~/.ray/auth_token exists)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--num-cpus=2", "--num-gpus=0",
         "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    wait_for(lambda: engines.reachable(address, 0.5) is None or head.poll() is not None,
             what="the Ray head to listen")
    assert head.poll() is None, "ray start --head ended"
    yield address
    ray.shutdown()
    os.killpg(head.pid, signal.SIGKILL)  # the head, its raylet and workers: one process group
    head.wait()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_engine(ray_address):
    engine = engines.connect(ray_address)
    assert engine.remote, getattr(engine, "note", "")
    engine.orphan_seconds = 20.0  # a test that drops its registry leaves no run going for long
    return engine


@pytest.fixture(scope="module")
def tiny():
    return quadrant_dataset()


@pytest.fixture(scope="module")
def makers(tiny):
    """kind -> submit(registry, owner) -> job id: a small job of each kind."""
    from explorer.featurevis.job import VisJob
    from explorer.featurevis.optimise import VisSettings
    from explorer.training import app_networks
    from explorer.transfer.adapt import TransferSettings
    from explorer.transfer.backbones import default_backbone
    from explorer.transfer.job import TransferJob
    from explorer.transfer.tasks import builtin_task

    backbone = default_backbone()
    task = builtin_task("letters", train_per_class=6, test_per_class=3)
    network = app_networks.default_network()
    norm = {"mean": network.transforms.mean, "std": network.transforms.std}

    def training(registry, owner, **changes):
        settings = tiny_settings(**{"epochs": 2, **changes})
        return submit_training(registry, settings, tiny, owner=owner, share=False)

    def transfer(registry, owner, **changes):
        return registry.submit_job(
            lambda threads, on_done: TransferJob(
                TransferSettings(**{"epochs": 2, **changes}), backbone, task, owner=owner,
                threads=threads, on_done=on_done), threads=1, owner=owner)

    def featurevis(registry, owner, **changes):
        settings = VisSettings(**{"steps": 8, "size": 32, "jitter": 2, **changes})
        return registry.submit_job(
            lambda threads, on_done: VisJob(network.model, "default", "conv1", [0, 1],
                                            settings=settings, owner=owner, threads=threads,
                                            on_done=on_done, **norm), threads=1, owner=owner)

    def gradients(registry, owner, **changes):
        from explorer.gradients.identity import submit_steps
        from explorer.gradients.settings import DeepSettings

        settings = DeepSettings(**{"depth": 3, "width": 4, "batch_size": 8, "steps": 3,
                                   **changes})
        return submit_steps(registry, settings, owner=owner)

    def playground(registry, owner, **changes):
        from explorer.playground.job import submit_playground
        from explorer.playground.settings import PlaygroundSettings

        settings = PlaygroundSettings(**{"points": 100, "max_steps": 40, **changes})
        return submit_playground(registry, settings, owner=owner)

    return {"training": training, "transfer": transfer, "featurevis": featurevis,
            "gradients": gradients, "playground": playground}


def progress(job):
    snapshot = job.snapshot()
    return (job.state, getattr(snapshot, "step", None), getattr(snapshot, "epoch", None))


def training_started(registry, makers, owner=A, **changes):
    """A long training run (1,000 epochs) that has made its first steps."""
    job = registry.get(makers["training"](registry, owner, epochs=1000, **changes))
    wait_for(lambda: job.snapshot().step > 0, progress=lambda: progress(job),
             what="the first steps")
    return job


def run_to_the_end(registry, job_id):
    job = registry.get(job_id)
    wait_for(lambda: job.done, progress=lambda: progress(job), what=f"job {job_id}")
    assert job.join(HANG_SECONDS)
    return job


def outcome(job) -> dict:
    """What a job leaves behind, to compare the engines."""
    snapshot = job.snapshot()
    result = {"state": job.state, "kind": job.KIND}
    if job.KIND == "training":
        result["steps"] = snapshot.step
        result["weights"] = job.state_dict()
    elif job.KIND == "transfer":
        result["epochs"] = snapshot.epoch
        result["accuracy"] = snapshot.test_accuracy
    elif job.KIND == "gradients":  # the same seed and one torch thread: the same numbers
        result["steps"] = snapshot.step
        result["losses"] = snapshot.losses.tolist()
    elif job.KIND == "playground":
        result["steps"] = snapshot.step
        result["losses"] = list(snapshot.curve_train)
    else:
        result["steps"] = snapshot.step
        result["images"] = snapshot.images
    return result


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_job_runs_on_both_engines_with_the_same_result(kind, makers,
                                                                       ray_engine):
    here = JobRegistry(engine=engines.InProcessEngine())
    there = JobRegistry(engine=ray_engine)
    local = run_to_the_end(here, makers[kind](here, A))
    remote = run_to_the_end(there, makers[kind](there, A))
    assert type(remote).__name__ == "RemoteJob" and remote.KIND == local.KIND == kind
    expected, got = outcome(local), outcome(remote)
    assert got["state"] == expected["state"] == "finished"
    for name, value in expected.items():
        if name == "weights":  # the same seed and one torch thread: the same training
            assert value.keys() == got[name].keys()
            for key, tensor in value.items():
                torch.testing.assert_close(got[name][key], tensor)
        elif name == "images":
            assert got[name].shape == value.shape and (got[name] >= 0).all()
        else:
            assert got[name] == value, name
    if kind in ("training", "transfer"):  # the ended job's network came back, for the model lists
        assert isinstance(remote.model, torch.nn.Module)
        assert there.finished_visible_to(A, kind) == [remote]
    assert here.stop_all() and there.stop_all()


def test_pause_resume_and_stop_reach_the_actor(makers, ray_engine):
    registry = JobRegistry(engine=ray_engine)
    job = training_started(registry, makers)
    job.pause()
    wait_for(lambda: job.state == "paused", progress=lambda: progress(job), what="a pause")
    assert job.pause_requested
    job.resume()
    wait_for(lambda: job.state == "running", progress=lambda: progress(job), what="resuming")
    assert registry.stop_for(job.job_id, A) is True
    job = run_to_the_end(registry, job.job_id)
    assert job.state == "stopped" and 0 < job.snapshot().step < 1000 * 8
    assert job.model is not None  # a stopped run keeps the weights it had
    assert registry.stop_all()


def test_another_replica_finds_a_run_by_its_owner_and_by_its_id(makers, ray_engine):
    """A run outlives the replica that started it: a tab reloaded on another replica claims
    its token there and follows the same run; a view-only link finds it by id."""
    first = JobRegistry(engine=ray_engine)  # C: a tab with no earlier runs on the cluster
    job_id = training_started(first, makers, C).job_id
    second = JobRegistry(engine=ray_engine)  # another replica: it never saw this run
    assert not second.claim(C, "another browser")  # the token is bound to its own browser
    assert second.claim(C, None)
    followed = second.owned(job_id, C)
    assert followed is not None and [job.job_id for job in second.jobs_of(C)] == [job_id]
    step = followed.snapshot().step
    wait_for(lambda: followed.snapshot().step > step, progress=lambda: progress(followed),
             what="the adopted run to move")
    third = JobRegistry(engine=ray_engine)
    viewed = third.view(job_id, B)
    assert viewed is not None and third.owned(job_id, B) is None  # read-only for others
    assert second.stop_for(job_id, C) is True
    for registry in (first, second, third):
        job = run_to_the_end(registry, job_id)
        assert job.state == "stopped"
    assert third.view("0" * 12, B) is None
    for registry in (first, second, third):
        assert registry.stop_all()


def test_a_lost_worker_is_reported_and_the_run_can_start_again(makers, ray_engine):
    registry = JobRegistry(engine=ray_engine)
    job = training_started(registry, makers)
    ray.kill(job.actor)  # the worker process goes away (a machine lost, an OOM kill)
    job = run_to_the_end(registry, job.job_id)
    assert job.state == "failed" and job.snapshot().state == "failed"
    assert "Ray worker" in job.snapshot().message and "Start it again" in job.error
    again = run_to_the_end(registry, makers["training"](registry, A))
    assert again.state == "finished"
    assert registry.stop_all()


def test_a_job_waiting_for_a_worker_says_so_and_stops_at_once(makers, ray_address):
    """Jobs of 2 CPUs on a 2-CPU cluster: the second waits for the first, the page says so,
    the first still reports, and Stop ends the waiting one without a worker."""
    from explorer.jobs.remote import WAITING

    engine = engines.connect(ray_address)
    engine.cpus_per_job = 2.0
    registry = JobRegistry(engine=engine)
    first = training_started(registry, makers)
    second = registry.get(makers["training"](registry, A, epochs=1000, seed=7))
    assert second.snapshot().message == WAITING and second.state == "queued"
    step = first.snapshot().step
    wait_for(lambda: first.snapshot().step > step, progress=lambda: progress(first),
             what="the first run to go on while the second waits")
    assert second.snapshot().message == WAITING
    second.stop()
    assert second.done and second.state == "stopped"
    first.stop()
    assert run_to_the_end(registry, first.job_id).state == "stopped"
    assert registry.stop_all()


def test_a_job_asks_ray_for_its_cpus_and_gpus(makers, ray_address, monkeypatch):
    """EXPLORER_RAY_CPUS_PER_JOB / _GPUS_PER_JOB reach the actor's options (a GPU worker takes
    the runs that ask for a GPU); on a cluster without GPUs such a run waits, and Stop ends it."""
    from explorer.jobs.remote import WAITING

    engine = engines.connect(ray_address)
    engine.cpus_per_job, engine.gpus_per_job = 0.5, 0.25
    asked = []
    options = engine._actor_class.options
    monkeypatch.setattr(engine, "_actor_class", type("Spy", (), {
        "options": staticmethod(lambda **kw: asked.append(kw) or options(**kw))}))
    registry = JobRegistry(engine=engine)
    job = registry.get(makers["training"](registry, A, epochs=1000, seed=11))
    assert asked[0]["num_cpus"] == 0.5 and asked[0]["num_gpus"] == 0.25
    assert asked[0]["lifetime"] == "detached" and asked[0]["name"].endswith("." + job.job_id)
    assert job.snapshot().message == WAITING and job.threads == 1
    # The poller's question to the waiting actor is answered "actor died" as soon as Stop kills
    # it; on a busy machine that answer once came before Stop had ended the job, which then read
    # "failed". Here it comes at once, inside the kill.
    from explorer.jobs import remote

    kill = remote.ray.kill
    monkeypatch.setattr(remote.ray, "kill",
                        lambda actor: (kill(actor), job.finish(None, remote.LOST)))
    job.stop()
    assert job.done and job.state == "stopped"
    assert registry.stop_all()


def test_a_job_nobody_follows_stops_on_its_worker(makers, ray_address):
    engine = engines.connect(ray_address)
    engine.orphan_seconds = 2.0
    registry = JobRegistry(engine=engine)
    job = training_started(registry, makers)
    engine.forget(job)  # this replica stops polling (as if it had gone away)
    actor = job.actor  # status() is not following: the watchdog goes on counting the silence
    wait_for(lambda: ray.get(actor.status.remote()) == "stopped", what="the orphaned run to stop")


def test_an_unreachable_address_runs_jobs_here_and_says_why(monkeypatch):
    engine = engines.connect(f"127.0.0.1:{_free_port()}")
    assert not engine.remote and "Jobs run on this server" in engine.note
    assert "EXPLORER_RAY_ADDRESS" in engine.note
    assert not engines.connect("not an address").remote
    monkeypatch.setattr(engines, "_ENGINE", None)
    monkeypatch.delenv("EXPLORER_RAY_ADDRESS", raising=False)
    assert engines.get_engine().name == "in-process"


def test_the_train_page_runs_on_ray_as_it_does_here(ray_engine, monkeypatch):
    """The page does not know the engine: Start, a live curve, the finished run's results and
    downloads, and a caption that says where runs train."""
    from explorer.jobs import registry as job_registry
    from explorer.training import data
    from explorer.ui import training_session
    from explorer.ui.training import setup as training_setup

    small = data.shapes_dataset(n_train=512, n_test=256)
    spec = data.DATASETS["shapes"]
    monkeypatch.setitem(data.DATASETS, "shapes", data.DatasetSpec(
        spec.label, spec.description, False, lambda root, download, progress: small))
    training_setup._dataset_store()[0].clear()
    registry = JobRegistry(engine=ray_engine)
    monkeypatch.setattr(job_registry, "_REGISTRY", registry)
    training_session.registry.clear()  # the page keeps its registry in st.cache_resource
    try:
        page_on(registry)
    finally:
        training_session.registry.clear()  # later tests get the process's own again
        training_setup._dataset_store()[0].clear()


def page_on(registry: JobRegistry) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.helpers import run

    at = AppTest.from_file("../explorer/Home.py", default_timeout=HANG_SECONDS)
    at.run()
    at.switch_page("../pages/3_Train_a_CNN.py").run()
    at.slider(key="keep.train.epochs").set_value(1)
    next(b for b in run(at).button if b.label == "Start").click()
    run(at)
    assert not at.exception, at.exception
    assert any("Runs train on the Ray cluster at" in caption.value for caption in at.caption)
    job = registry.get(at.session_state["train.job"])
    assert type(job).__name__ == "RemoteJob"
    wait_for(lambda: job.done, progress=lambda: progress(job), what="the page's run")
    run(at)
    assert not at.exception, at.exception
    assert job.state == "finished"
    assert any("Test accuracy on all" in s.value for s in at.success)
    assert len(at.get("download_button")) == 3
    assert registry.stop_all()


def test_one_batch_steps_reach_the_actor(ray_engine):
    """The playground's Step: a paused run trains exactly one batch per press on its worker."""
    from explorer.playground.job import submit_playground
    from explorer.playground.settings import PlaygroundSettings

    registry = JobRegistry(engine=ray_engine)
    job = registry.get(submit_playground(registry, PlaygroundSettings(points=100, seed=5),
                                         owner=A, paused=True))
    job.step_once()  # before its worker took it: the step travels with the job's copy
    wait_for(lambda: job.snapshot().step == 1, progress=lambda: progress(job),
             what="the first step on the worker")
    job.step_once()
    wait_for(lambda: job.snapshot().step == 2, progress=lambda: progress(job),
             what="the second step on the worker")
    assert job.state == "paused" and job.snapshot().step == 2
    assert registry.stop_all()
