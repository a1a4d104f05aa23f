"""Generation in the main window: from Generate to the result on the canvas and in the gallery.

Mixed into MainWindow. Jobs go through `self.jobs` (GenerationJobs over the window's backend):
Generate while one runs queues another; Esc cancels only the running one; every image enters
the gallery the moment it is saved, so a cancelled batch keeps (and says) what it finished.
"""

from __future__ import annotations

from sdstudio.bridge.handle import JobFailed, JobHandle
from sdstudio.bridge.messages import JobResult, JobState, PreviewFrame, SavedImage
from sdstudio.bridge.qimage import qimage_to_mask, qimage_to_pil
from sdstudio.engine.requests import GenerationRequest, Mode
from sdstudio.errors import Cancelled, SdStudioError
from sdstudio.ui.canvas_view import CanvasView, Shown
from sdstudio.ui.gallery import GalleryEntry
from sdstudio.ui.generation_jobs import StepProgress
from sdstudio.ui.model_picker import model_reference


class GenerationFlow:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def start_generate(self) -> JobHandle | None:
        """Generate (button, Ctrl+Enter): a new job, queued behind the running one if there is one."""
        try:
            request = self.build_request()
        except SdStudioError as error:
            self.show_message(str(error))
            self.generation_failed.emit(str(error))
            return None
        if self.notice.level == "error":
            self.notice.dismiss()
        return self.jobs.submit(request)

    def generate_times(self, count: int, next_seed: bool = True) -> list[JobHandle]:
        """Queue `count` generations: seed, seed+1, ... (`next_seed`), or a new random seed each."""
        handles = []
        locked = self.generation.seed_locked
        for index in range(count):
            if index and next_seed:
                self.generation.seed_locked = True
                self.generation.seed = self.generation.seed + 1
            handle = self.start_generate()
            if handle is None:
                break
            handles.append(handle)
        self.generation.seed_locked = locked
        return handles

    async def generate(self) -> JobResult | None:
        """One job from start to finish: submit, await its end; the result is shown as it arrives."""
        handle = self.start_generate()
        if handle is None:
            return None
        try:
            return await handle.result()
        except (Cancelled, JobFailed):
            return None

    def cancel(self) -> None:
        """Esc: stop the running generation at its next step; queued ones go on."""
        if self.jobs.current is not None:
            self.controls.show_busy("Cancelling...")
            self.jobs.cancel_current()

    def build_request(self) -> GenerationRequest:
        """The request the controls and the canvas describe, validated (InputError says what to fix)."""
        self._choose_model()
        self.generation.next_seed()  # a new random seed unless locked, shown before the job runs
        init_image = mask = None
        mode = self.mode()
        if mode is not Mode.TXT2IMG:
            image = self.canvas.image()
            assert image is not None
            init_image = qimage_to_pil(image)
            mask = qimage_to_mask(self.canvas.mask()) if mode is Mode.INPAINT else None
        return self.generation.request(init_image=init_image, mask=mask).validated()

    def current_settings(self) -> GenerationRequest:
        """The controls' settings as they are shown, with no new seed and no canvas read: what the
        explorer's blends, refines and walks start from, asked for on every frame of a drag."""
        self._choose_model()
        return self.generation.request().validated()

    def _choose_model(self) -> None:
        info = self.controls.model_picker.current_info()
        if info is None:
            raise SdStudioError(
                "No model found: add a model folder (File > Add Model Folder...) or put a model in checkpoints/"
            )
        self.generation.model = model_reference(info)

    def _begin_job(self, handle: JobHandle) -> None:
        request = getattr(handle.job, "request", None)
        self.controls.set_running(True)
        self.cancel_action.setEnabled(True)
        self.controls.show_busy("Starting...")
        if request is not None:
            self.controls.show_used_seeds([request.seed + i for i in range(request.batch_count)])
            self.statusBar().showMessage(f"Generating ({request.mode.value}, seed {request.seed})...")
            self.canvas_info.setText(f"Generating {request.width} \u00d7 {request.height} ({request.mode.value}), "
                                     f"seed {request.seed}...")
        self.generation_started.emit(handle.job_id)

    def _end_job(self, handle: JobHandle) -> None:
        if self._closing:
            return
        state = handle.state
        if self.jobs.current is None:
            self.controls.set_running(False)
            self.cancel_action.setEnabled(False)
        if state is JobState.DONE and isinstance(handle.outcome, JobResult):
            self._show_result(handle.outcome, handle.job.request)
            self.generation_finished.emit(handle.outcome)
            return
        if state is JobState.DONE:  # a trajectory run: the explorer shows it
            self._note_speed(handle, len(getattr(handle.outcome, "steps", ()) or ()))
            self.controls.reset_progress("Done")
            return
        kept = f" \u00b7 {len(handle.saved)} of {handle.job.request.batch_count} saved" if handle.saved else ""
        outcome = ("Cancelled" if state is JobState.CANCELLED else "Failed") + kept
        self.controls.reset_progress(outcome)
        self.canvas_info.setText(self._describe_canvas())
        self.canvas.clear_preview()
        if handle.saved:
            self._show_saved(handle.saved[-1], handle.job.request)
        elif self.view.result is not None:
            self.canvas.show_preview(self.view.result)
        self.statusBar().showMessage(outcome, 5000)
        if state is JobState.FAILED:
            self.show_message(handle.error)
            self.generation_failed.emit(handle.error)
        else:
            self.generation_cancelled.emit()

    def _on_preview(self, frame: PreviewFrame) -> None:
        self.canvas.show_preview(frame.image)
        self.preview_shown.emit(frame)

    def _on_long_job(self, warning: str) -> None:
        self.show_message(f"{warning} - Esc stops it", "warning")

    def _on_progress(self, progress: StepProgress) -> None:
        self.controls.show_progress(progress.done, progress.total, progress.text, progress.eta)

    def _on_image_saved(self, handle: JobHandle, saved: SavedImage) -> None:
        """Each finished image enters the gallery as soon as it is on disk (a cancelled batch keeps it)."""
        entry = GalleryEntry(saved.path, saved.request, self.backend_model_name(), saved.parameters)
        self.gallery.add(entry, saved.image)
        self._saved_entries[saved.path] = entry

    def backend_model_name(self) -> str:
        return getattr(self.backend, "model_name", "") or self.generation.model

    def _on_queue_changed(self) -> None:
        self.controls.set_queue_count(self.jobs.pending_count)

    def _on_waiting_for_model(self, waiting: bool) -> None:
        if waiting:
            self.statusBar().showMessage("Queued: waiting for the model to finish loading...")

    def _show_result(self, result: JobResult, request: GenerationRequest) -> None:
        if not result.images:
            return
        self._show_saved(result.images[-1], request)  # the newest: the one at the front of the gallery
        steps = request.steps * len(result.images)
        per_step = result.elapsed / max(1, steps)
        self.timing_label.setText(f"Last: {len(result.images)} image(s) in {result.elapsed:.1f} s "
                                  f"({per_step:.2f} s/step)")
        self.model_label.setText(f"Model: {result.model}")
        self.device_label.setText(result.device)
        self.controls.show_used_seeds([saved.seed for saved in result.images])
        self.controls.reset_progress(f"Done in {result.elapsed:.1f} s")
        self.statusBar().showMessage(f"Saved {result.images[-1].path}", 8000)

    def _note_speed(self, handle: JobHandle, steps: int) -> None:
        if handle.last_progress is not None and steps:
            per_step = handle.last_progress.elapsed / max(1, handle.last_progress.step)
            self.timing_label.setText(f"Last: trajectory of {steps} steps ({per_step:.2f} s/step)")

    def _show_saved(self, shown: SavedImage, request: GenerationRequest) -> None:
        """A result on the canvas: txt2img as the thing to look at, img2img/inpaint over its input."""
        self.gallery.select(shown.path)
        entry = self._saved_entries.get(shown.path)
        if request.mode is Mode.TXT2IMG:
            self.set_view(CanvasView(Shown.RESULT, shown.path.name, entry), shown.image)
        else:
            input_name = self.view.name if self.view.shown is not Shown.RESULT else "input"
            self.set_view(CanvasView(Shown.RESULT_OVER_INPUT, input_name, entry, shown.image, self.view.source))
