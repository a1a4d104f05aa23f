"""The local backend's job system: each job its own handle, result, stream and cancel."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from sdstudio.bridge.handle import JobFailed
from sdstudio.bridge.jobs import EncodeJob, GenerateJob, WalkJob
from sdstudio.bridge.messages import JobResult, JobState
from sdstudio.bridge.queue import JobQueue
from sdstudio.errors import Cancelled
from sdstudio.io.images import read_parameters

TIMEOUT_MS = 120_000


def wait_ended(qtbot, *handles) -> None:
    for handle in handles:
        if not handle.state.ended:
            with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
                pass


def hold_engine(backend, shared_engine):
    """Block the engine thread inside its next job until `release` is set, so jobs queue up."""
    release = threading.Event()
    original = shared_engine.generate

    def gated(request, *args, **kwargs):
        release.wait(60)
        return original(request, *args, **kwargs)

    return release, gated


def test_three_generates_give_three_results_in_order(qtbot, backend, base_request, output_dir):
    handles = [backend.submit(GenerateJob(replace(base_request, seed=seed))) for seed in (11, 12, 13)]
    order: list[int] = []
    for handle in handles:
        handle.finished.connect(lambda result, h=handle: order.append(h.job_id))
    wait_ended(qtbot, *handles)
    assert [handle.state for handle in handles] == [JobState.DONE] * 3
    assert order == [handle.job_id for handle in handles]
    seeds = [handle.outcome.images[0].seed for handle in handles]
    assert seeds == [11, 12, 13]
    for handle in handles:
        saved = handle.outcome.images[0]
        assert saved.path.parent == output_dir and read_parameters(saved.path).settings["Seed"] == str(saved.seed)


def test_cancelling_the_second_leaves_the_first_and_third(qtbot, backend, base_request, shared_engine, monkeypatch):
    release, gated = hold_engine(backend, shared_engine)
    monkeypatch.setattr(shared_engine, "generate", gated)
    first, second, third = (backend.submit(GenerateJob(replace(base_request, seed=s))) for s in (1, 2, 3))
    with qtbot.waitSignal(first.state_changed, timeout=TIMEOUT_MS):
        pass  # the first one runs (and waits at the gate); the others are queued
    second.cancel()
    assert second.state is JobState.CANCELLED and third.state is JobState.QUEUED
    release.set()
    wait_ended(qtbot, first, third)
    assert first.state is JobState.DONE and third.state is JobState.DONE
    assert [image.seed for image in third.outcome.images] == [3]


def test_cancelling_a_walk_export_never_touches_a_queued_generation(
    qtbot, backend, base_request, tmp_path, shared_engine
):
    from PIL import Image

    images = (Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (64, 64), (30, 30, 200)))
    encode = backend.submit(EncodeJob(images, model=base_request.model))
    walk = backend.submit(WalkJob(frames=40, pacing="uniform", path=tmp_path / "walk.gif"))
    generation = backend.submit(GenerateJob(base_request))
    with qtbot.waitSignal(walk.progress, timeout=TIMEOUT_MS):
        pass  # the walk is under way
    walk.cancel()
    wait_ended(qtbot, encode, walk, generation)
    assert encode.state is JobState.DONE
    assert walk.state is JobState.CANCELLED and not (tmp_path / "walk.gif").exists()
    assert generation.state is JobState.DONE and isinstance(generation.outcome, JobResult)


def test_each_image_is_saved_as_it_is_decoded_and_cancel_keeps_them(qtbot, backend, base_request, output_dir):
    handle = backend.submit(GenerateJob(replace(base_request, batch_count=6)))
    with qtbot.waitSignal(handle.image_saved, timeout=TIMEOUT_MS) as saved:
        pass
    assert saved.args[0].path.is_file()  # on disk when announced
    handle.cancel()
    wait_ended(qtbot, handle)
    assert handle.state is JobState.CANCELLED
    kept = sorted(output_dir.glob("*.png"))
    assert 1 <= len(handle.saved) < 6 and len(kept) == len(handle.saved)
    assert [image.path for image in handle.saved] == sorted(image.path for image in handle.saved)


def test_results_are_awaitable_and_failures_are_one_line(qtbot, backend, base_request, event_loop):
    good = backend.submit(GenerateJob(base_request))
    bad = backend.submit(GenerateJob(replace(base_request, model="no-such-model")))
    result = event_loop.run_until_complete(good.result())
    assert isinstance(result, JobResult) and len(result.images) == 1
    with pytest.raises(JobFailed) as failed:
        event_loop.run_until_complete(bad.result())
    assert "\n" not in str(failed.value) and "no-such-model" in str(failed.value)
    cancelled = backend.submit(GenerateJob(base_request))
    cancelled.cancel()
    with pytest.raises(Cancelled):
        event_loop.run_until_complete(cancelled.result())


def test_queue_lists_waiting_jobs_and_clear_cancels_only_those(
    qtbot, backend, base_request, shared_engine, monkeypatch
):
    release, gated = hold_engine(backend, shared_engine)
    monkeypatch.setattr(shared_engine, "generate", gated)
    queue = JobQueue()
    handles = [queue.add(backend.submit(GenerateJob(replace(base_request, seed=s)))) for s in (1, 2, 3)]
    with qtbot.waitSignal(handles[0].state_changed, timeout=TIMEOUT_MS):
        pass
    assert queue.running == [handles[0]] and queue.pending == handles[1:]
    queue.clear()
    assert queue.handles == [handles[0]]
    release.set()
    wait_ended(qtbot, handles[0])
    assert handles[0].state is JobState.DONE and len(queue) == 0


def test_a_job_submitted_after_close_fails_where_its_listener_hears_it(qtbot, backend, base_request):
    backend.close(60.0)
    handle = backend.submit(GenerateJob(base_request))
    assert handle.state is JobState.QUEUED  # not yet: the caller connects first
    with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
        pass
    assert handle.state is JobState.FAILED and "shut down" in handle.error
