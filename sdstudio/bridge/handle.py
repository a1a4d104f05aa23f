"""`JobHandle`: one submitted job's own state, result future, progress/preview stream and cancel.

Backends report into a handle from any thread through its `report_*` methods; the handle turns
them into signals on the thread it lives on (the GUI thread), so listeners never see another
thread. Previews are coalesced: only the newest frame waits, a slow GUI skips stale ones.
Cancelling a handle touches only its job: a queued job is dropped, a running one stops at its
next step; other jobs go on.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from sdstudio.bridge.messages import JobState, PreviewFrame, Progress, SavedImage
from sdstudio.errors import Cancelled, SdStudioError

_ids = itertools.count(1)


class JobFailed(SdStudioError):
    """The backend reported a one-line failure for this job (bad model, bad input, engine error)."""


class JobHandle(QObject):
    """Listen to the public signals; `await handle.result()` gives the job's result or raises
    JobFailed / Cancelled."""

    state_changed = Signal(object)  # JobState
    progress = Signal(object)  # Progress
    preview = Signal(object)  # PreviewFrame (the newest one)
    image_saved = Signal(object)  # SavedImage: on disk before it is announced
    finished = Signal(object)  # the result, once, when the job is DONE
    ended = Signal(object)  # this handle, once, at any end (done, failed, cancelled): see .state

    # reported from any thread, delivered on the handle's thread (queued when they differ)
    _state_reported = Signal(object, object)  # JobState, outcome (result or message)
    _progress_reported = Signal(object)
    _preview_reported = Signal()
    _saved_reported = Signal(object)

    def __init__(self, job: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.job_id = next(_ids)
        self.state = JobState.QUEUED
        self.saved: list[SavedImage] = []
        self.error = ""
        self.outcome: Any = None
        self.last_progress: Progress | None = None
        self._cancel = threading.Event()
        self._on_cancel: Callable[[JobHandle], None] | None = None
        self._preview_lock = threading.Lock()
        self._pending_preview: PreviewFrame | None = None
        self._future: asyncio.Future | None = None
        self._state_reported.connect(self._apply_state)
        self._progress_reported.connect(self._apply_progress)
        self._preview_reported.connect(self._apply_preview)
        self._saved_reported.connect(self._apply_saved)

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} {self.job.kind.value} {self.state.value}>"

    @property
    def kind(self):
        return self.job.kind

    def describe(self) -> str:
        return self.job.describe()

    # --- for the listener -----------------------------------------------------------------

    @property
    def cancel_event(self) -> threading.Event:
        """Set once this job is cancelled; the backend checks it between (and inside) steps."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop this job (drop it if it waits, stop it at its next step if it runs). Idempotent."""
        if self.state.ended or self._cancel.is_set():
            return
        self._cancel.set()
        if self._on_cancel is not None:
            self._on_cancel(self)

    def future(self) -> asyncio.Future:
        """An asyncio future of the result on the running loop (resolved already if the job ended)."""
        if self._future is None:
            self._future = asyncio.get_event_loop().create_future()
            if self.state.ended:
                self._resolve()
        return self._future

    async def result(self) -> Any:
        return await self.future()

    # --- for the backend (any thread) --------------------------------------------------------

    def set_cancel_hook(self, hook: Callable[[JobHandle], None]) -> None:
        self._on_cancel = hook

    def report_started(self) -> None:
        self._state_reported.emit(JobState.RUNNING, None)

    def report_progress(self, step: int, total: int, elapsed: float, warning: str = "") -> None:
        self._progress_reported.emit(Progress(self.job_id, step, total, elapsed, warning))

    def report_preview(self, frame: PreviewFrame) -> None:
        with self._preview_lock:
            fresh = self._pending_preview is None
            self._pending_preview = frame
        if fresh:
            self._preview_reported.emit()

    def report_saved(self, image: SavedImage) -> None:
        self._saved_reported.emit(image)

    def report_done(self, result: Any) -> None:
        self._state_reported.emit(JobState.DONE, result)

    def report_failed(self, message: str) -> None:
        self._state_reported.emit(JobState.FAILED, message)

    def report_cancelled(self) -> None:
        self._state_reported.emit(JobState.CANCELLED, None)

    # --- on the handle's thread ----------------------------------------------------------------

    def _apply_state(self, state: JobState, outcome: Any) -> None:
        if self.state.ended:
            return  # e.g. cancelled while queued, then reported again by the worker
        self.state = state
        if state is JobState.DONE:
            self.outcome = outcome
        elif state is JobState.FAILED:
            self.error = str(outcome)
        self.state_changed.emit(state)
        if state.ended:
            with self._preview_lock:
                self._pending_preview = None
            if self._future is not None:
                self._resolve()
            if state is JobState.DONE:
                self.finished.emit(outcome)
            self.ended.emit(self)

    def _resolve(self) -> None:
        future = self._future
        if future is None or future.done():
            return
        if self.state is JobState.DONE:
            future.set_result(self.outcome)
        elif self.state is JobState.FAILED:
            future.set_exception(JobFailed(self.error))
        else:
            future.set_exception(Cancelled())

    def _apply_progress(self, progress: Progress) -> None:
        if not self.state.ended:
            self.last_progress = progress
            self.progress.emit(progress)

    def _apply_preview(self) -> None:
        with self._preview_lock:
            frame, self._pending_preview = self._pending_preview, None
        if frame is not None and not self.state.ended:
            self.preview.emit(frame)

    def _apply_saved(self, image: SavedImage) -> None:
        self.saved.append(image)
        self.image_saved.emit(image)
