"""The one bridge between the Qt UI and the engine: a thread that owns the engine.

The GUI thread calls `submit`/`cancel`; the engine thread runs one job at a time from a queue
and reports through Qt signals (queued across threads). It builds `QImage`s (never `QPixmap`)
and writes every finished image to disk *before* announcing it, so nothing shown is unsaved.

Previews are coalesced: the thread keeps only the newest one and signals that it is ready;
the GUI takes it when it gets there. A slow GUI skips stale frames instead of queueing them.
"""

from __future__ import annotations

import itertools
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtGui import QImage

from sdstudio.engine.requests import GenerationRequest, LoadEvent, StepEvent
from sdstudio.errors import Cancelled, SdStudioError
from sdstudio.gui_gc import collect_on_gui_thread
from sdstudio.qimage import pil_to_qimage


@dataclass(frozen=True)
class PreviewFrame:
    job_id: int
    image_index: int
    step: int
    total_steps: int
    elapsed: float
    image: QImage | None


@dataclass(frozen=True)
class SavedImage:
    path: Path
    image: QImage
    request: GenerationRequest
    parameters: str
    seed: int
    elapsed: float


@dataclass(frozen=True)
class JobResult:
    job_id: int
    images: list[SavedImage]
    elapsed: float
    device: str
    model: str


@dataclass
class Job:
    """A unit of engine work. `kind` picks the handler; generation is the main one."""

    job_id: int
    kind: str
    request: GenerationRequest | None = None
    payload: dict[str, Any] = field(default_factory=dict)


class WorkerSignals(QObject):
    """Signals of the engine thread. Connect them to bound methods of GUI-thread QObjects."""

    model_loading = Signal(object)  # LoadEvent
    model_ready = Signal(str, str)  # model name, device description
    preview_ready = Signal()  # take the newest frame with EngineWorker.take_preview()
    progress = Signal(int, int, int, float)  # job id, step, total, elapsed seconds
    finished = Signal(object)  # JobResult
    failed = Signal(int, str)  # job id, one-line message
    cancelled = Signal(int)  # job id


_STOP = object()


class EngineWorker(QThread):
    """Runs engine jobs on its own thread; all talking is through `signals` and a queue.

    Only `run` executes on the engine thread; every other method is for the GUI thread.
    """

    def __init__(
        self,
        output_dir: Callable[[], Path],
        engine_factory: Callable[[], Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.signals = WorkerSignals()
        self._output_dir = output_dir
        self._engine_factory = engine_factory
        self._jobs: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._ids = itertools.count(1)
        self._preview_lock = threading.Lock()
        self._preview: PreviewFrame | None = None
        self._current_job: int | None = None
        self._handlers: dict[str, Callable[[Any, Job], Any]] = {}

    # --- GUI thread -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> int:
        """Queue a generation; returns its job id."""
        return self.submit_job("generate", request=request)

    def submit_job(self, kind: str, request: GenerationRequest | None = None, **payload: Any) -> int:
        job = Job(next(self._ids), kind, request, payload)
        self._jobs.put(job)
        return job.job_id

    def register(self, kind: str, handler: Callable[[Any, Job], Any]) -> None:
        """Add a job kind: `handler(engine, job)` runs on the engine thread; its return value is
        emitted as `finished` (wrapped in JobResult if it is not one). Register before start()."""
        self._handlers[kind] = handler

    def cancel(self) -> None:
        """Stop the running job at its next step and drop the queued ones."""
        dropped = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                self._jobs.put(_STOP)
                break
            dropped.append(job.job_id)
        self._cancel.set()
        for job_id in dropped:
            self.signals.cancelled.emit(job_id)

    def start(self, *args) -> None:
        """Start the engine thread; from now on cyclic garbage is collected on the GUI thread only."""
        collect_on_gui_thread()
        super().start(*args)

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and end the thread (on window close). True if it ended in time."""
        self.cancel()
        self._jobs.put(_STOP)
        return self.wait(timeout_ms)

    def take_preview(self) -> PreviewFrame | None:
        """The newest preview frame not yet taken (older ones were dropped)."""
        with self._preview_lock:
            frame, self._preview = self._preview, None
        return frame

    @property
    def cancel_event(self) -> threading.Event:
        """The flag `cancel()` sets: long job handlers (walks, branches) check it between frames."""
        return self._cancel

    @property
    def busy(self) -> bool:
        return self._current_job is not None or not self._jobs.empty()

    # --- engine thread ------------------------------------------------------------------------

    def run(self) -> None:
        engine = self._make_engine()
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            self._cancel.clear()
            self._current_job = job.job_id
            try:
                self._run_job(engine, job)
            except Cancelled:
                self.signals.cancelled.emit(job.job_id)
            except SdStudioError as error:
                self.signals.failed.emit(job.job_id, str(error))
            except Exception as error:  # a bug or a torch failure: report it, keep the engine
                traceback.print_exc()
                self.signals.failed.emit(job.job_id, f"engine error: {type(error).__name__}: {error}")
            finally:
                self._current_job = None

    def _make_engine(self):
        if self._engine_factory is not None:
            return self._engine_factory()
        from sdstudio.engine.engine import Engine

        return Engine()

    def _run_job(self, engine, job: Job) -> None:
        if job.kind == "load":
            model = engine.load(job.payload.get("model", ""), on_load=self.signals.model_loading.emit)
            self.signals.model_ready.emit(model.name, engine.device_name)
            return
        if job.kind != "generate":
            result = self._handlers[job.kind](engine, job)
            if self._cancel.is_set():
                raise Cancelled()
            self.signals.finished.emit(result)
            return
        self._generate(engine, job)

    def _generate(self, engine, job: Job) -> None:
        from sdstudio.io.images import next_output_path, save_image
        from sdstudio.io.metadata import format_parameters

        def on_load(event: LoadEvent) -> None:
            self.signals.model_loading.emit(event)

        def on_step(event: StepEvent) -> None:
            image = pil_to_qimage(event.preview) if event.preview is not None else None
            frame = PreviewFrame(job.job_id, event.image_index, event.step, event.total_steps, event.elapsed, image)
            with self._preview_lock:
                fresh = self._preview is None
                self._preview = frame
            self.signals.progress.emit(job.job_id, event.step, event.total_steps, event.elapsed)
            if fresh:
                self.signals.preview_ready.emit()

        previous_model = engine.model
        result = engine.generate(job.request, on_step=on_step, cancel=self._cancel, on_load=on_load)
        model = engine.model
        if model is not previous_model:
            self.signals.model_ready.emit(model.name, engine.device_name)
        saved = []
        for generated in result.images:
            parameters = format_parameters(generated.request, generated.model_name)
            path = next_output_path(self._output_dir(), generated.seed)
            save_image(generated.image, path, parameters)  # saved before it is shown
            saved.append(
                SavedImage(path, pil_to_qimage(generated.image), generated.request, parameters, generated.seed,
                           generated.elapsed)
            )
        self.signals.finished.emit(JobResult(job.job_id, saved, result.elapsed, result.device, model.name))
