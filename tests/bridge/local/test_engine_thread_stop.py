"""Stopping the engine thread on quit: a file being written is finished before stop() returns, and
once stop() has given up waiting (the thread is inside a model load or a long step, which the
process exit will end) the thread writes nothing more, so no half-written image is left."""

from __future__ import annotations

import threading
from pathlib import Path

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import JobKind, LoadJob
from sdstudio.bridge.local.engine_thread import EngineThread

WAIT_S = 10


def run_handler(handler) -> EngineThread:
    thread = EngineThread({JobKind.LOAD: handler}, output_dir=None, engine_factory=object)
    thread.start()
    thread.enqueue(JobHandle(LoadJob("none")))
    return thread


def test_stop_returns_only_after_the_file_being_written_is_complete(qtbot, tmp_path: Path) -> None:
    target = tmp_path / "image.png"
    inside, finish = threading.Event(), threading.Event()

    def writes_slowly(engine, job, context) -> None:
        with context.writing:
            inside.set()
            finish.wait(WAIT_S)
            target.write_bytes(b"\x89PNG" + bytes(4096))

    thread = run_handler(writes_slowly)
    assert inside.wait(WAIT_S)
    threading.Timer(0.2, finish.set).start()  # the write takes a while yet
    ended = thread.stop(10)  # gives up waiting for the thread, not for the file
    assert target.stat().st_size == 4100
    assert ended or thread.wait(WAIT_S * 1000)


def test_after_stop_gave_up_the_thread_writes_nothing_more(qtbot, tmp_path: Path) -> None:
    target = tmp_path / "late.png"
    stepping, step_done, wrote = threading.Event(), threading.Event(), threading.Event()

    def long_step_then_write(engine, job, context) -> None:
        stepping.set()
        step_done.wait(WAIT_S)  # a step that does not look at cancel
        with context.writing:
            target.write_bytes(b"late")
        wrote.set()

    thread = run_handler(long_step_then_write)
    assert stepping.wait(WAIT_S)
    assert not thread.stop(10)  # still stepping: stop gives up, holding off writes
    step_done.set()
    assert not wrote.wait(0.3)  # the write waits on the held lock (the process would exit here)
    assert not target.exists()
    thread.writing.release()  # only this test process lives on: let the thread finish
    assert thread.wait(WAIT_S * 1000) and target.exists()
