"""The job registry: queue and cap, per-tab limit, heartbeats and the reaper timer, settings."""

from __future__ import annotations

import time

import pytest

from explorer.jobs import registry as job_registry
from explorer.jobs import tokens
from explorer.jobs.fair_share import Turns
from explorer.jobs.registry import JobRegistry, QueueFull
from explorer.training.data import Dataset
from explorer.training.job import TrainingJob, submit_training
from tests.test_training import (
    HANG_SECONDS,
    finish,
    progress_of,
    quadrant_dataset,
    tiny_settings,
    training_threads,
    wait_for,
)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return quadrant_dataset()


@pytest.fixture(autouse=True)
def no_threads_left_behind():
    yield
    for thread in training_threads():
        thread.join(HANG_SECONDS)
    assert not training_threads()


def distinct_run(registry, settings, dataset, **kwargs) -> str:
    """A run that never joins an identical one: these tests count slots and queue places."""
    return submit_training(registry, settings, dataset, share=False, **kwargs)


def test_queue_runs_jobs_one_after_another(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    first_id = distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="a")
    second_id = distinct_run(registry, tiny_settings(epochs=1), tiny, owner="b")
    first, second = registry.get(first_id), registry.get(second_id)
    assert second.snapshot().state == "queued" and second.snapshot().queue_position == 1
    assert registry.queued() == [second] and registry.running() == [first]
    wait_for(lambda: first.snapshot().step > 0, progress=lambda: progress_of(first))
    assert second.snapshot().step == 0
    first.stop()
    finish(first, second)
    assert second.snapshot().state == "finished" and second.snapshot().queue_position is None
    assert registry.jobs_of("a") == [first] and registry.jobs_of("b") == [second]
    assert registry.get("nope") is None
    assert registry.stop_all()


def test_threads_per_job_follow_the_cap(tiny):
    registry = JobRegistry(max_running=2, max_live=2, cores=2)
    job = registry.get(distinct_run(registry, tiny_settings(threads=2, epochs=1), tiny))
    assert job.threads == 1
    assert registry.stop_all()


def test_stopping_a_queued_job_removes_it_from_the_queue(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    running = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny))
    waiting = [registry.get(distinct_run(registry, tiny_settings(), tiny)) for _ in range(2)]
    assert [job.snapshot().queue_position for job in waiting] == [1, 2]
    waiting[0].stop()
    assert waiting[0].snapshot().state == "stopped"
    assert waiting[1].snapshot().queue_position == 1
    running.stop()
    finish(running, waiting[1])
    assert waiting[1].snapshot().state == "finished"
    assert registry.stop_all()


def test_reap_stops_jobs_of_silent_owners(tiny):
    registry = JobRegistry(max_running=2, max_live=2)
    gone = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="gone"))
    here = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="here"))
    registry.heartbeat("here")
    registry._heartbeats["gone"] -= 1000  # its tab fell silent long ago (no sleeping here)
    assert registry.reap(grace_seconds=100) == [gone.job_id]
    finish(gone)
    assert gone.snapshot().state == "stopped"
    assert not here.done
    assert registry.stop_all()
    assert not training_threads()


def test_forget_keeps_the_registry_small(tiny):
    registry = JobRegistry(max_running=1, max_live=1, keep_per_owner=2)
    ids = []
    for _ in range(4):
        ids.append(distinct_run(registry, tiny_settings(epochs=1, eval_every=100), tiny, owner="o"))
        finish(registry.get(ids[-1]))
    assert [job.job_id for job in registry.jobs_of("o")] == ids[-2:]
    registry.forget(ids[-1])
    assert registry.get(ids[-1]) is None


def test_finished_runs_are_bounded_over_all_tabs(tiny):
    registry = JobRegistry(max_running=1, max_live=1, keep_total=3)
    ids = []
    for owner in "abcde":
        ids.append(distinct_run(registry, tiny_settings(epochs=1, eval_every=100), tiny, owner=owner))
        finish(registry.get(ids[-1]))
    assert [job.job_id for job in registry.jobs()] == ids[-3:]
    assert set(registry._heartbeats) <= {"c", "d", "e"}
    assert registry.stop_all()


def test_a_closed_tabs_run_is_stopped_by_the_timer_without_any_other_visitor(tiny):
    """Nobody polls, nobody submits: the reaper thread alone stops the orphaned run."""
    registry = JobRegistry(max_running=1, max_live=1, grace_seconds=0.2)
    job = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="closed tab"))
    finish(job)  # 1000 epochs: the reaper ends it long before (else state is "finished")
    assert job.snapshot().state == "stopped"
    reaper = registry._reaper  # this registry's own (other tests' registries have theirs)
    wait_for(lambda: reaper is None or not reaper.is_alive(), what="the reaper to end")
    assert registry.stop_all()


def test_heartbeats_keep_a_run_alive_past_the_grace_period(tiny):
    registry = JobRegistry(max_running=1, max_live=1, grace_seconds=1.0)
    job = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="open tab"))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # three grace periods, beating as the page does
        registry.heartbeat("open tab")
        time.sleep(0.05)
    assert not job.done
    assert registry.stop_all()


def test_one_tab_cannot_fill_the_queue(tiny):
    registry = JobRegistry(max_running=1, max_live=1, max_per_owner=4)
    for _ in range(4):  # the ablation: four runs
        distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="tab")
    assert registry.free_places("tab") == 0
    with pytest.raises(QueueFull, match="already has 4 runs"):
        distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="tab")
    assert len(registry.jobs_of("tab")) == 4
    distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="another tab")  # others still may
    registry.jobs_of("tab")[0].stop()
    wait_for(lambda: registry.free_places("tab") == 1)  # a queued job stops at once
    distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="tab")  # a place was freed
    assert registry.stop_all()


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 2), (16, 8)])
def test_default_concurrent_runs_are_one_per_two_cores(monkeypatch, cores, expected):
    monkeypatch.delenv("EXPLORER_MAX_JOBS", raising=False)
    assert job_registry.default_max_running(cores) == expected
    assert JobRegistry(cores=cores).max_running == expected


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "3")
    monkeypatch.setenv("EXPLORER_MAX_JOBS_PER_TAB", "2")
    monkeypatch.setenv("EXPLORER_JOB_GRACE_S", "30")
    registry = JobRegistry(cores=2)
    assert (registry.max_running, registry.max_per_owner, registry.grace_seconds) == (3, 2, 30.0)
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "-1")  # nonsense: the default
    assert JobRegistry(cores=2).max_running == 1


# -- who may do what ------------------------------------------------------------

A, B = "a" * 32, "b" * 32  # owner tokens of two tabs


def test_tokens_and_browser_keys():
    token = tokens.new_token()
    assert tokens.is_token(token) and token != tokens.new_token()
    for bad in (None, "", "x" * 32, token.upper(), token + "0", 42, ["a"] * 32, {"a": 1}):
        assert not tokens.is_token(bad)
    # Streamlit's XSRF cookie is re-masked on every response; the browser key must not change
    raw = bytes(range(16))

    def cookie(mask: bytes) -> str:
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(raw))
        return f"2|{mask.hex()}|{masked.hex()}|1700000000"

    first, again = cookie(b"\x01\x02\x03\x04"), cookie(b"\xff\x00\xaa\x55")
    assert first != again
    key = tokens.browser_key(first)
    assert key == tokens.browser_key(again) == tokens.browser_key(f'"{again}"')
    other = bytes(range(1, 17))
    assert key != tokens.browser_key(f"2|00000000|{other.hex()}|1")
    assert raw.hex() not in key  # the key does not reveal the cookie's token
    for nothing in (None, "", '""', 7):
        assert tokens.browser_key(nothing) is None
    for odd in ("2|zz|zz|1", "2|||", "v1-token", "|" * 50, "2|" + "a" * 10_000 + "|b|1"):
        assert isinstance(tokens.browser_key(odd), str)  # odd cookies are still ids


def test_only_the_owner_controls_a_run(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    job_id = distinct_run(registry, tiny_settings(epochs=1000), tiny, owner=A, browser="browser a")
    assert registry.owned(job_id, A) is registry.get(job_id)
    for other in (B, None, "", A.upper(), A + " "):
        assert registry.owned(job_id, other) is None
    assert registry.owned("nope", A) is None and registry.owned(None, A) is None
    assert registry.view(job_id, B) is registry.get(job_id)  # anyone with the id may look
    assert registry.view("x" * 5000, B) is None and registry.view({"a": 1}, B) is None
    assert registry.stop_all()


def test_a_token_is_claimed_back_only_from_its_own_browser(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    distinct_run(registry, tiny_settings(epochs=1), tiny, owner=A, browser="browser a")
    assert registry.claim(A, "browser a")  # the same tab reloaded
    assert not registry.claim(A, "browser b")  # its address pasted into another browser
    assert not registry.claim(A, None)
    assert not registry.claim(B, "browser a")  # a token with no runs here: nothing to find
    assert not registry.claim("not a token", "browser a")
    distinct_run(registry, tiny_settings(epochs=1), tiny, owner=B)  # no browser key (no cookie)
    assert registry.claim(B, None) and not registry.claim(B, "browser a")
    assert registry.stop_all()


def test_model_lists_show_own_runs_and_runs_shared_with_the_viewer(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    mine = distinct_run(registry, tiny_settings(epochs=1), tiny, owner=A)
    theirs = distinct_run(registry, tiny_settings(epochs=1), tiny, owner=B)
    stopped = distinct_run(registry, tiny_settings(epochs=1000), tiny, owner=A)
    failed = distinct_run(registry, tiny_settings(epochs=1), tiny, owner=A)  # marked failed below
    finish(registry.get(mine), registry.get(theirs))
    wait_for(lambda: registry.get(stopped).snapshot().step > 0,
             progress=lambda: progress_of(*registry.jobs()))
    registry.get(stopped).stop()
    finish(*registry.jobs())
    registry.get(failed)._set_state("failed", "broken on purpose")

    def ids(owner):
        return [job.job_id for job in registry.finished_visible_to(owner)]

    assert ids(A) == [mine, stopped]  # finished and stopped runs have weights; failed not
    assert ids(B) == [theirs]
    assert ids(None) == [] and ids("c" * 32) == []
    assert not registry.share(theirs, A)  # only the owner shares
    registry.view(theirs, A)  # a look at an unshared run adds nothing to A's list
    assert ids(A) == [mine, stopped]
    assert registry.share(theirs, B) and registry.is_shared(theirs)
    assert ids(A) == [mine, stopped]  # shared, but A has not opened its link
    registry.view(theirs, A)
    assert ids(A) == [mine, theirs, stopped]
    assert registry.visible_to(theirs, A) is registry.get(theirs)
    assert registry.visible_to(mine, B) is None
    assert ids("c" * 32) == []  # sharing is with those who open the link, not everyone
    registry.forget(theirs)
    assert ids(A) == [mine, stopped] and not registry.is_shared(theirs)
    assert registry.stop_all()


def test_watching_a_run_keeps_nothing_alive(tiny):
    """A viewer's page beats for its own (empty) token: no entry, no effect on the owner's."""
    registry = JobRegistry(max_running=1, max_live=1)
    distinct_run(registry, tiny_settings(epochs=1000), tiny, owner=A)
    registry.heartbeat(B)
    assert B not in registry._heartbeats
    assert registry.stop_all()


def test_transfer_jobs_share_the_slots_and_the_tab_limit(tiny):
    from explorer.training.job import TrainingJob
    from explorer.transfer.adapt import TransferSettings
    from explorer.transfer.backbones import default_backbone
    from explorer.transfer.job import TransferJob
    from explorer.transfer.tasks import builtin_task

    registry = JobRegistry(max_running=1, max_live=1, cores=2, max_per_owner=2)
    backbone, task = default_backbone(), builtin_task("letters", train_per_class=10,
                                                      test_per_class=5)

    def transfer(threads, on_done):
        return TransferJob(TransferSettings(epochs=2), backbone, task, owner="a",
                           threads=threads, on_done=on_done)

    training = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="a"))
    adapted = registry.get(registry.submit_job(transfer, threads=4, owner="a"))
    assert isinstance(adapted, TransferJob) and adapted.threads == 2  # cores // max_running
    assert adapted.state != "queued"  # training takes turns: the compute slot is free
    with pytest.raises(QueueFull):  # both kinds count towards the tab's limit
        registry.submit_job(transfer, threads=1, owner="a")
    assert registry.jobs_of("a", TrainingJob.KIND) == [training]
    assert registry.jobs_of("a", TransferJob.KIND) == [adapted]
    wait_for(lambda: adapted.done, progress=lambda: adapted.snapshot().epoch)
    assert adapted.join(HANG_SECONDS) and adapted.state == "finished"
    assert not training.done  # the run took turns beside it and goes on
    training.stop()
    finish(training)
    assert registry.finished_visible_to("a", TransferJob.KIND) == [adapted]
    assert set(registry.finished_visible_to("a")) == {training, adapted}
    assert registry.stop_all()


# -- identical runs are trained once ----------------------------------------------------------


def test_identical_runs_share_one_job_and_different_ones_do_not(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    first = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="a")
    joined = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="b")
    again = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="b")
    other_seed = submit_training(registry, tiny_settings(epochs=1000, seed=7), tiny, owner="c")
    more_threads = submit_training(registry, tiny_settings(epochs=1000, threads=2), tiny,
                                   owner="d")  # threads change the speed, not the result
    assert joined == first == again == more_threads
    assert other_seed != first
    assert len(registry.jobs()) == 2
    assert registry.members(first) == {"a", "b", "d"}
    assert [job.job_id for job in registry.jobs_of("b")] == [first]
    assert registry.owned(first, "b") is registry.get(first)  # a member controls it
    assert registry.owned(first, "c") is None
    registry.stop_all()


def test_stop_detaches_a_member_and_the_last_one_stops_the_run(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    job_id = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="a")
    submit_training(registry, tiny_settings(epochs=1000), tiny, owner="b")
    job = registry.get(job_id)
    wait_for(lambda: job.snapshot().step > 0, progress=lambda: progress_of(job))
    assert registry.leave(job_id, "a") is False  # it goes on for b
    assert not job.stop_requested and registry.members(job_id) == {"b"}
    assert registry.owned(job_id, "a") is None and registry.jobs_of("a") == []
    assert registry.leave(job_id, "a") is None  # not a member any more
    assert registry.leave(job_id, "b") is True
    assert job.join(HANG_SECONDS) and job.state == "stopped"
    # a stopped run is not joined: the same settings train anew
    fresh = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="b")
    assert fresh != job_id
    registry.stop_all()


def test_a_finished_run_is_joined_at_once_with_its_results(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    job = registry.get(submit_training(registry, tiny_settings(epochs=1), tiny, owner="a"))
    finish(job)
    late = submit_training(registry, tiny_settings(epochs=1), tiny, owner="late")
    assert late == job.job_id and registry.jobs_of("late") == [job]
    assert registry.finished_visible_to("late") == [job]


def test_the_reaper_keeps_a_shared_run_while_one_member_is_alive(tiny):
    registry = JobRegistry(max_running=1, max_live=1, grace_seconds=60)
    job_id = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="closed")
    submit_training(registry, tiny_settings(epochs=1000), tiny, owner="open")
    registry._heartbeats["closed"] -= 120  # silent for two minutes
    assert registry.reap() == []
    registry._heartbeats["open"] -= 120
    assert registry.reap() == [job_id]
    registry.stop_all()


def test_joining_counts_against_the_tab_limit(tiny):
    registry = JobRegistry(max_running=1, max_live=1, max_per_owner=1)
    shared = submit_training(registry, tiny_settings(epochs=1000), tiny, owner="a")
    distinct_run(registry, tiny_settings(epochs=1000, seed=3), tiny, owner="b")
    with pytest.raises(QueueFull):
        submit_training(registry, tiny_settings(epochs=1000), tiny, owner="b")
    assert registry.members(shared) == {"a"}
    registry.stop_all()


# -- every run live at once ---------------------------------------------------------------------


def test_distinct_training_runs_all_progress_at_once_taking_turns(tiny):
    turns = Turns(slots=1, slice_seconds=0.05)
    registry = JobRegistry(max_running=1)  # max_live: the default, far above four
    jobs = []
    for seed in range(4):
        jobs.append(registry.get(registry.submit_job(
            lambda threads, on_done, seed=seed: TrainingJob(
                tiny_settings(epochs=1000, seed=seed), tiny, owner=f"tab{seed}", threads=threads,
                on_done=on_done, turns=turns),
            threads=1, owner=f"tab{seed}")))
    assert not registry.queued() and len(registry.running()) == 4
    wait_for(lambda: all(job.snapshot().step > 0 for job in jobs),
             progress=lambda: progress_of(*jobs), what="every run's first step")
    first = [job.snapshot().step for job in jobs]
    wait_for(lambda: all(job.snapshot().step > s for job, s in zip(jobs, first, strict=True)),
             progress=lambda: progress_of(*jobs), what="every run to keep moving")
    shares = [turns.share(job.job_id) for job in jobs]
    registry.stop_all()
    assert all(share is None or share < 0.75 for share in shares)  # nobody had the cores alone
    assert turns.live() == 0


def test_runs_past_max_live_wait_in_the_queue(tiny):
    registry = JobRegistry(max_running=1, max_live=1)
    training = registry.get(distinct_run(registry, tiny_settings(epochs=1000), tiny, owner="a"))
    queued = registry.get(distinct_run(registry, tiny_settings(epochs=1000, seed=5), tiny,
                                       owner="b"))
    assert training.state != "queued" and queued.state == "queued"  # past max_live
    registry.stop_all()
