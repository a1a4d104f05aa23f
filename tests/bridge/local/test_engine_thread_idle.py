"""An idle engine thread gives the heap's free memory back (engine.allocator keeps it while jobs
run), and still takes the next job after that."""

from __future__ import annotations

import threading

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import JobKind, LoadJob
from sdstudio.bridge.local import engine_thread
from sdstudio.bridge.local.engine_thread import EngineThread

WAIT_S = 10


def test_idle_engine_releases_free_memory_then_runs_the_next_job(qtbot, monkeypatch) -> None:
    released, ran = threading.Event(), []
    monkeypatch.setattr(engine_thread, "IDLE_RELEASE_S", 0.05)
    monkeypatch.setattr(engine_thread, "release_free_memory", released.set)
    thread = EngineThread({JobKind.LOAD: lambda engine, job, context: ran.append(job.model)}, None, object)
    thread.start()
    try:
        thread.enqueue(JobHandle(LoadJob("first")))
        assert released.wait(WAIT_S)
        released.clear()
        thread.enqueue(JobHandle(LoadJob("second")))
        assert released.wait(WAIT_S)  # ran, then went idle again
        assert ran == ["first", "second"]
    finally:
        assert thread.stop(WAIT_S * 1000)
