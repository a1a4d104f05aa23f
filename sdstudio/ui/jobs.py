"""The asyncio face of the engine worker: `await jobs.generate(request)` instead of callbacks.

Each submitted job gets an asyncio future, resolved by the worker's finished/failed/cancelled
signal for that job id (all queued onto the GUI thread). Callers write a straight-line coroutine:
submit, await, then update the window; a failure arrives as an exception where it can be shown.
Previews and progress are not per-await events, so they stay signals, filtered to the live job.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import Cancelled, SdStudioError
from sdstudio.worker import EngineWorker, JobResult, PreviewFrame


class JobFailed(SdStudioError):
    """The engine reported a one-line failure for this job (bad model, bad input, engine error)."""


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    elapsed: float


class JobRunner(QObject):
    """Owns the futures of running jobs; relays the worker's other signals for the window."""

    preview = Signal(object)  # PreviewFrame of a job that is still awaited
    progress = Signal(object)  # Progress
    model_loading = Signal(object)  # LoadEvent
    model_ready = Signal(str, str)  # name, device
    load_failed = Signal(str)  # a background model load failed (no one awaits those)

    def __init__(self, worker: EngineWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self._futures: dict[int, asyncio.Future] = {}
        self._loads: set[int] = set()
        signals = worker.signals
        signals.preview_ready.connect(self._on_preview_ready)
        signals.progress.connect(self._on_progress)
        signals.finished.connect(self._on_finished)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        signals.model_loading.connect(self.model_loading)
        signals.model_ready.connect(self.model_ready)

    @property
    def busy(self) -> bool:
        return bool(self._futures)

    def submit(self, request: GenerationRequest) -> tuple[int, asyncio.Future]:
        """Queue a generation; its future resolves to a JobResult or raises JobFailed/Cancelled."""
        job_id = self.worker.submit(request)
        future = asyncio.get_event_loop().create_future()
        self._futures[job_id] = future
        return job_id, future

    async def generate(self, request: GenerationRequest) -> JobResult:
        _, future = self.submit(request)
        return await future

    def preload(self, model: str) -> int:
        """Load a model in the background so the first Generate does not wait for it."""
        job_id = self.worker.submit_job("load", model=model)
        self._loads.add(job_id)
        return job_id

    def cancel(self) -> None:
        self.worker.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the engine thread; every awaited job ends as Cancelled so no coroutine hangs."""
        stopped = self.worker.stop(timeout_ms)
        for future in self._futures.values():
            if not future.done():
                future.set_exception(Cancelled())
        self._futures.clear()
        return stopped

    # --- worker signals (queued to the GUI thread) -------------------------------------------

    def _on_preview_ready(self) -> None:
        if not self._futures:
            return  # not ours: another job kind (e.g. an exploration panel's) takes its own frames
        frame: PreviewFrame | None = self.worker.take_preview()
        if frame is not None and frame.job_id in self._futures:
            self.preview.emit(frame)

    def _on_progress(self, job_id: int, step: int, total: int, elapsed: float) -> None:
        if job_id in self._futures:
            self.progress.emit(Progress(job_id, step, total, elapsed))

    def _resolve(self, job_id: int) -> asyncio.Future | None:
        future = self._futures.pop(job_id, None)
        return future if future is not None and not future.done() else None

    def _on_finished(self, result: object) -> None:
        if isinstance(result, JobResult) and (future := self._resolve(result.job_id)):
            future.set_result(result)

    def _on_failed(self, job_id: int, message: str) -> None:
        if job_id in self._loads:
            self._loads.discard(job_id)
            self.load_failed.emit(message)
        elif future := self._resolve(job_id):
            future.set_exception(JobFailed(message))

    def _on_cancelled(self, job_id: int) -> None:
        self._loads.discard(job_id)
        if future := self._resolve(job_id):
            future.set_exception(Cancelled())
