"""`JobContext`: the small surface a job handler on the engine thread talks through.

A handler gets its job, the engine and this context: report progress and previews, check for its
own cancel, and save each finished image (on disk with its metadata before it is announced).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.messages import PreviewFrame, SavedImage
from sdstudio.bridge.qimage import pil_to_qimage
from sdstudio.engine.requests import GeneratedImage, LoadEvent, StepEvent
from sdstudio.errors import Cancelled


@dataclass
class JobContext:
    handle: JobHandle
    output_dir: Callable[[], Path] | None
    on_load: Callable[[LoadEvent], None]
    # The engine thread's lock, held while a finished image is written: quitting waits for it
    # and then keeps it, so the process exit never cuts a file (EngineThread.stop).
    writing: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.perf_counter)
    saved: list[SavedImage] = field(default_factory=list)  # this job's images on disk, in order

    @property
    def job_id(self) -> int:
        return self.handle.job_id

    @property
    def cancel(self) -> threading.Event:
        return self.handle.cancel_event

    def check(self) -> None:
        """Raise Cancelled if this job was cancelled (long handlers call it between frames)."""
        if self.cancel.is_set():
            raise Cancelled()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def progress(self, step: int, total: int) -> None:
        self.handle.report_progress(step, total, self.elapsed())

    def on_step(self, event: StepEvent) -> None:
        """An engine step listener: progress always, the preview when there is one."""
        image = pil_to_qimage(event.preview) if event.preview is not None else None
        self.handle.report_progress(event.step, event.total_steps, event.elapsed, event.warning)
        self.handle.report_preview(
            PreviewFrame(self.job_id, event.image_index, event.step, event.total_steps, event.elapsed, image)
        )

    def save(self, generated: GeneratedImage, extra_parameters: dict[str, str] | None = None) -> SavedImage | None:
        """Write one finished image into the outputs folder (atomically, with its parameters), then
        announce it. Returns None when this backend saves nothing (no output folder: tests)."""
        if self.output_dir is None:
            return None
        from sdstudio.io.images import save_output
        from sdstudio.io.metadata import format_parameters

        parameters = format_parameters(generated.request, generated.model_name)
        for key, value in (extra_parameters or {}).items():
            parameters += f", {key}: {value}"
        with self.writing:  # the name is claimed atomically
            path = save_output(generated.image, self.output_dir(), generated.seed, parameters)
        saved = SavedImage(path, pil_to_qimage(generated.image), generated.request, parameters, generated.seed,
                           generated.elapsed)
        self.saved.append(saved)
        self.handle.report_saved(saved)
        return saved
