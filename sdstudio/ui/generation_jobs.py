"""The window's generations: submitted in order to the backend, the running one streamed to the UI.

Generate while a job runs queues the new one; each is its own `JobHandle` (sdstudio.bridge), so
Esc cancels only the running generation and the queue view cancels one queued job or clears the
rest. Trajectory runs of the explorer are tracked the same way, so their steps appear on the
canvas and their speed in the status bar like any generation's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import GenerateJob, LoadJob
from sdstudio.bridge.messages import JobState, PreviewFrame, Progress
from sdstudio.bridge.protocol import Backend
from sdstudio.bridge.queue import JobQueue
from sdstudio.engine.requests import GenerationRequest


@dataclass(frozen=True)
class StepProgress:
    """What the progress bar shows for the running job: steps over the whole batch, and speed."""

    done: int
    total: int
    text: str
    eta: str
    seconds_per_step: float | None


class ProgressClock:
    """Turns per-image step reports into batch-wide progress and a measured speed / ETA."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.image_index = 0
        self.last_step = 0
        self.step_total = 0
        self._base: tuple[float, int] | None = None

    def update(self, progress: Progress) -> StepProgress:
        if progress.step < self.last_step:
            self.image_index += 1
        self.last_step, self.step_total = progress.step, progress.total
        total = self.batch * progress.total
        done = self.image_index * progress.total + progress.step
        now = time.monotonic()
        if self._base is None:
            self._base = (now, done)
        base_time, base_done = self._base
        per_step = (now - base_time) / (done - base_done) if done > base_done else None
        eta = f"about {per_step * (total - done):.0f} s left \u00b7 {per_step:.2f} s/step" if per_step else ""
        text = f"Step {progress.step}/{progress.total}"
        if self.batch > 1:
            text += f" \u00b7 image {self.image_index + 1}/{self.batch}"
        return StepProgress(done, total, text, eta or "Measuring speed...", per_step)


class GenerationJobs(QObject):
    started = Signal(object)  # JobHandle that began running
    preview = Signal(object)  # PreviewFrame of the running job
    progress = Signal(object)  # StepProgress of the running job
    image_saved = Signal(object, object)  # JobHandle, SavedImage (on disk already)
    ended = Signal(object)  # JobHandle (its .state says how)
    queue_changed = Signal()
    waiting_for_model = Signal(bool)  # a generation waits behind a model load
    load_failed = Signal(str)  # a background model load failed (no generation awaits it)
    long_job = Signal(str)  # the running job will take very long on this device: say so (Esc stops it)

    def __init__(self, backend: Backend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.queue = JobQueue(self)
        self.queue.changed.connect(self.queue_changed)
        self.current: JobHandle | None = None
        self.clock: ProgressClock | None = None
        self._load: JobHandle | None = None

    @property
    def busy(self) -> bool:
        return len(self.queue) > 0

    @property
    def pending_count(self) -> int:
        return len(self.queue.pending)

    def submit(self, request: GenerationRequest) -> JobHandle:
        return self.track(self.backend.submit(GenerateJob(request)))

    def track(self, handle: JobHandle) -> JobHandle:
        """Show this job's run like a generation's (also trajectory runs and branches)."""
        handle.state_changed.connect(self._on_state)
        handle.preview.connect(self._on_preview)
        handle.progress.connect(self._on_progress)
        handle.image_saved.connect(self._on_saved)
        handle.ended.connect(self._on_ended)
        self.queue.add(handle)
        if self._load is not None and not self._load.state.ended:
            self.waiting_for_model.emit(True)
        return handle

    def preload(self, model: str) -> JobHandle:
        """Load a model in the background so the first Generate does not wait for it."""
        self._load = self.backend.submit(LoadJob(model))
        self._load.ended.connect(self._on_load_ended)
        return self._load

    @property
    def loading(self) -> bool:
        return self._load is not None and not self._load.state.ended

    def cancel_current(self) -> None:
        if self.current is not None:
            self.current.cancel()

    def cancel_all(self) -> None:
        self.queue.cancel_all()

    def shutdown(self, timeout_ms: int) -> bool:
        """On close: cancel every job (finished images are on disk already) and stop the backend."""
        self.cancel_all()
        return self.backend.close(timeout_ms / 1000)

    # --- handles (GUI thread) ---------------------------------------------------------------

    def _on_state(self, state: JobState) -> None:
        handle = self.sender()
        if state is JobState.RUNNING and isinstance(handle, JobHandle):
            self.current = handle
            request = getattr(handle.job, "request", None)
            self.clock = ProgressClock(request.batch_count if request is not None else 1)
            self.started.emit(handle)

    def _on_preview(self, frame: PreviewFrame) -> None:
        if self.current is not None and frame.job_id == self.current.job_id and frame.image is not None:
            self.preview.emit(frame)

    def _on_progress(self, progress: Progress) -> None:
        if progress.warning:
            self.long_job.emit(progress.warning)
        current = self.current is not None and progress.job_id == self.current.job_id
        if current and self.clock is not None and progress.step > 0:  # step 0 only carries an estimate
            self.progress.emit(self.clock.update(progress))

    def _on_saved(self, saved: object) -> None:
        handle = self.sender()
        if isinstance(handle, JobHandle):
            self.image_saved.emit(handle, saved)

    def _on_ended(self, handle: JobHandle) -> None:
        if handle is self.current:
            self.current = None
        self.ended.emit(handle)

    def _on_load_ended(self, handle: JobHandle) -> None:
        if handle is self._load:
            self.waiting_for_model.emit(False)
            if handle.state is JobState.FAILED:
                self.load_failed.emit(handle.error)
