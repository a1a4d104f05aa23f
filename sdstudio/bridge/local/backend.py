"""`LocalBackend`: the engine in a thread of this process, behind the `Backend` protocol.

Jobs run one at a time in submission order. Each gets its own `JobHandle`; cancelling a queued
handle drops only that job, cancelling the running one stops it at its next step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import JobKind, LoadJob
from sdstudio.bridge.local import generation
from sdstudio.bridge.local.engine_thread import EngineThread
from sdstudio.bridge.local.exploration import ExplorationJobs
from sdstudio.bridge.messages import JobState
from sdstudio.bridge.protocol import Capabilities, ModelEntry
from sdstudio.engine.requests import SAMPLER_NAMES


class LocalBackend(QObject):
    name = "This computer"

    status_changed = Signal(str)
    model_loading = Signal(object)  # LoadEvent
    model_ready = Signal(str, str)  # name, device
    models_changed = Signal()

    def __init__(
        self,
        output_dir: Callable[[], Path] | None,
        engine_factory: Callable[[], Any] | None = None,
        extra_model_dirs: Callable[[], list[Path]] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.exploration = ExplorationJobs()
        handlers = {JobKind.GENERATE: generation.generate, JobKind.LOAD: generation.load,
                    **self.exploration.handlers()}
        self._thread = EngineThread(handlers, output_dir, engine_factory, self)
        self._thread.model_loading.connect(self.model_loading)
        self._thread.model_ready.connect(self._on_model_ready)
        self._thread.released.connect(self._release)
        self._extra_model_dirs = extra_model_dirs or (lambda: [])
        self._handles: list[JobHandle] = []
        self.device = ""
        self.model_name = ""
        self._closed = False

    # --- Backend -------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities.everything()

    def models(self) -> list[ModelEntry]:
        from sdstudio.engine.discovery import discover_models

        return [ModelEntry(info.name, info.kind, str(info.path), info.path)
                for info in discover_models(self._extra_model_dirs())]

    def samplers(self) -> tuple[str, ...]:
        return SAMPLER_NAMES

    def networks(self, kind: str) -> None:
        return None  # files on this computer: the UI's catalog scans the folders

    def refresh(self) -> None:
        self.models_changed.emit()  # the folders are read by whoever lists them

    async def network_metadata(self, kind: str, name: str) -> dict[str, str]:
        return {}  # the catalog reads this computer's files itself

    def submit(self, job: Any, parent: QObject | None = None) -> JobHandle:
        """Queue `job` (a typed job of sdstudio.bridge.jobs); the engine thread starts on first use.
        The backend keeps the handle until the engine thread is done with it."""
        handle = JobHandle(job, parent)
        if self._closed:  # said on the next turn of the event loop, once the caller listens
            QTimer.singleShot(0, handle, lambda: handle.report_failed("the engine has been shut down"))
            return handle
        handle.set_cancel_hook(self._on_cancel)
        self._handles.append(handle)
        if not self._thread.isRunning():
            self._thread.start()
        self._thread.enqueue(handle)
        return handle

    def preload(self, model: str) -> JobHandle:
        return self.submit(LoadJob(model))

    def close(self, timeout: float = 2.0) -> bool:
        """Cancel every job and end the engine thread (the running step finishes first)."""
        self._closed = True
        for handle in list(self._handles):
            handle.cancel()
        return self._thread.stop(int(timeout * 1000))

    # --- state ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(not handle.state.ended for handle in self._handles)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def _on_cancel(self, handle: JobHandle) -> None:
        if handle.state is JobState.QUEUED:
            handle.report_cancelled()  # the engine thread skips it when its turn comes

    def _release(self, handle: JobHandle) -> None:
        if handle in self._handles:
            self._handles.remove(handle)

    def _on_model_ready(self, name: str, device: str) -> None:
        self.model_name, self.device = name, device
        self.model_ready.emit(name, device)
        self.status_changed.emit(f"{name} on {device}")
