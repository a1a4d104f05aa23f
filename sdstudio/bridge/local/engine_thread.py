"""The engine thread: runs one job at a time from a queue; the only thread that touches torch.

Python threads cannot be killed, so cancel is cooperative: each job's handle carries its own
flag, checked between steps. A job cancelled while it waits is skipped when its turn comes (the
handle already reported it cancelled). Errors are reported as one line and the engine stays
usable for the next job.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from sdstudio.bridge.gui_gc import collect_on_gui_thread
from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import JobKind
from sdstudio.bridge.local.context import JobContext
from sdstudio.engine.allocator import release_free_memory
from sdstudio.engine.requests import LoadEvent
from sdstudio.errors import Cancelled, SdStudioError

Handler = Callable[[Any, Any, JobContext], Any]  # (engine, typed job, context) -> result

_STOP = object()
IDLE_RELEASE_S = 20.0  # how long the engine waits for a job before it gives freed memory back


class EngineThread(QThread):
    """Only `run` executes on the engine thread; `enqueue`/`stop` are for the GUI thread."""

    model_loading = Signal(object)  # LoadEvent
    model_ready = Signal(str, str)  # model name, device description
    # The engine thread is done with this handle. Carrying it hands the last reference back to
    # the GUI thread, so a handle (a QObject of the GUI thread) is never destroyed on this one.
    released = Signal(object)

    def __init__(
        self,
        handlers: dict[JobKind, Handler],
        output_dir: Callable[[], Path] | None,
        engine_factory: Callable[[], Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._handlers = handlers
        self._output_dir = output_dir
        self._engine_factory = engine_factory
        self._jobs: queue.Queue = queue.Queue()
        self.current: JobHandle | None = None
        self.writing = threading.Lock()  # held by a job while it writes a finished file (see stop)
        self._writes_held = False

    def enqueue(self, handle: JobHandle) -> None:
        if handle.kind not in self._handlers:
            raise ValueError(f"no handler for job kind {handle.kind}")
        self._jobs.put(handle)

    def start(self, *args) -> None:
        """From now on cyclic garbage is collected on the GUI thread only (see gui_gc)."""
        collect_on_gui_thread()
        super().start(*args)

    def stop(self, timeout_ms: int) -> bool:
        """End the thread after the running job (which the caller has cancelled). True if it ended.

        False means it is still inside a model load or a long step; it then writes nothing more
        (a file being written is finished first), so a quitting process may exit under it."""
        self._jobs.put(_STOP)
        if not self.isRunning() or self.wait(timeout_ms):
            return True
        if not self._writes_held:
            self.writing.acquire()
            self._writes_held = True
        return False

    # --- engine thread ----------------------------------------------------------------------

    def run(self) -> None:
        engine = self._make_engine()
        while True:
            handle = self._next_job()
            if handle is _STOP:
                return
            if handle.cancelled:  # cancelled while it waited: its handle has said so already
                self.released.emit(handle)
                continue
            self.current = handle
            try:
                self._run_job(engine, handle)
            finally:
                self.current = None
                self.released.emit(handle)
            del handle

    def _next_job(self) -> Any:
        """The next job; after IDLE_RELEASE_S without one, the heap's free memory goes back to the
        system first (jobs in a row keep reusing it: see engine.allocator)."""
        try:
            return self._jobs.get(timeout=IDLE_RELEASE_S)
        except queue.Empty:
            release_free_memory()
            return self._jobs.get()

    def _make_engine(self):
        if self._engine_factory is not None:
            return self._engine_factory()
        from sdstudio.engine.engine import Engine

        return Engine()

    def _run_job(self, engine, handle: JobHandle) -> None:
        handle.report_started()
        context = JobContext(handle, self._output_dir, self._report_load, writing=self.writing)
        previous_model = getattr(engine, "model", None)
        try:
            result = self._handlers[handle.kind](engine, handle.job, context)
            context.check()
        except Cancelled:
            handle.report_cancelled()
        except SdStudioError as error:
            handle.report_failed(str(error))
        except Exception as error:  # a bug or a torch failure: report it, keep the engine
            traceback.print_exc()
            handle.report_failed(f"engine error: {type(error).__name__}: {error}")
        else:
            handle.report_done(result)
        model = getattr(engine, "model", None)
        if model is not None and model is not previous_model:
            self.model_ready.emit(model.name, engine.device_name)

    def _report_load(self, event: LoadEvent) -> None:
        self.model_loading.emit(event)
