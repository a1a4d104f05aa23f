"""The denoising trajectory: run a generation with its per-step latents kept (on the engine
thread), scrub through the model's clean-image estimate at each step, and branch from any step
with a changed prompt or seed. Runs and branches are saved like every generation."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import BranchJob, StepJob, TrajectoryJob
from sdstudio.bridge.messages import JobState, Progress, StepFrame, TrajectoryResult
from sdstudio.bridge.protocol import Backend
from sdstudio.engine.requests import GenerationRequest
from sdstudio.ui.exploration.common import ImageView, LatestOnly, RequestProvider, default_request
from sdstudio.ui.exploration.interpolation_tab import SETTLE_MS


def _short(text: str, length: int = 28) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


class TrajectoryTab(QWidget):
    """Run with the trajectory kept, scrub its steps, branch from one."""

    image_for_canvas = Signal(QImage)
    image_saved = Signal(object)  # Path of a run or branch written to the output folder
    job_started = Signal(object)  # the JobHandle of a run or branch: the window shows its previews

    def __init__(self, backend: Backend, request_provider: RequestProvider | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._request_provider = request_provider or default_request
        self._job: JobHandle | None = None
        self.trajectories: dict[int, TrajectoryResult] = {}
        self._full_steps: dict[tuple[int, int], QImage] = {}  # (trajectory, step) -> full decode
        self.last_shown: tuple[int, int, str] | None = None  # (trajectory id, step, quality) on view

        self.run_button = QPushButton("Run with trajectory")
        self.run_button.setToolTip("Generate with the current settings and keep every step's latent,\n"
                                   "so you can scrub through the denoising and branch from any step.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("step %v / %m")
        self.runs = QComboBox()
        self.runs.setPlaceholderText("no run yet")
        self.view = ImageView("Run a generation with its trajectory kept;\nthen scrub through its steps.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 1)
        self.slider.setEnabled(False)
        self.step_label = QLabel("")
        self.step_label.setObjectName("valueLabel")
        self.step_label.setMinimumWidth(150)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("prompt from this step on")
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{1,18}")))
        self.seed.setMaximumWidth(140)
        self.seed.setPlaceholderText("seed")
        self.seed.setToolTip("Same seed: the denoising continues from the exact latent of this step.\n"
                             "New seed: the step's clean estimate is re-noised with the new seed's noise,\n"
                             "so what was settled by this step stays and the rest is re-rolled.")
        self.branch_button = QPushButton("Branch from here")
        self.branch_button.setEnabled(False)
        self.send_button = QPushButton("Send to canvas")
        self.send_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setObjectName("dimLabel")
        self.status.setWordWrap(True)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self.steps = LatestOnly(backend, StepJob, self)
        self._build_layout()

        self.run_button.clicked.connect(self._run_clicked)
        self.cancel_button.clicked.connect(self._cancel)
        self.runs.currentIndexChanged.connect(self._run_chosen)
        self.slider.valueChanged.connect(self._scrubbed)
        self.slider.sliderReleased.connect(self._settle)
        self._settle_timer.timeout.connect(self._settle)
        self.branch_button.clicked.connect(self.branch_from_here)
        self.send_button.clicked.connect(self._send_to_canvas)
        self.steps.result.connect(self._on_step_frame)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.run_button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)
        scrub = QHBoxLayout()
        scrub.setSpacing(8)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.step_label)
        branch = QFormLayout()
        branch.setHorizontalSpacing(8)
        branch.addRow("Prompt", self.prompt)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed)
        seed_row.addStretch(1)
        seed_row.addWidget(self.branch_button)
        branch.addRow("Seed", seed_row)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.runs)
        layout.addWidget(self.view, 1)
        layout.addLayout(scrub)
        layout.addLayout(branch)
        layout.addLayout(bottom)

    # --- public ---

    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def current(self) -> TrajectoryResult | None:
        trajectory_id = self.runs.currentData()
        return self.trajectories.get(trajectory_id) if trajectory_id is not None else None

    def run_trajectory(self, request: GenerationRequest | None = None) -> int | None:
        """Generate `request` (default: the host window's current one) with the trajectory kept."""
        if self.running:
            return None
        request = request or self._request_provider()
        request = replace(request, batch_count=1, keep_trajectory=True)
        return self._start(TrajectoryJob(request), request.steps,
                           f"Running {request.steps} steps with the trajectory kept…")

    def branch_from_here(self) -> int | None:
        """Resume the shown trajectory after the slider's step with the prompt and seed fields."""
        current = self.current
        if self.running or current is None:
            return None
        step = self.slider.value()
        prompt = self.prompt.text().strip()
        seed = int(self.seed.text()) if self.seed.text() else current.request.seed
        job = BranchJob(current.trajectory_id, step, prompt=None if prompt in ("", current.request.prompt) else prompt,
                        seed=None if seed == current.request.seed else seed)
        return self._start(job, current.request.steps - step, f"Branching after step {step}…")

    def _run_clicked(self) -> None:
        self.run_trajectory()

    def set_step(self, step: int) -> None:
        """Scrub to `step` (1-based) and settle there."""
        self.slider.setValue(step)
        self._settle()

    # --- running ---

    def _start(self, job: TrajectoryJob | BranchJob, steps: int, message: str) -> JobHandle:
        handle = self._backend.submit(job)
        handle.progress.connect(self._on_progress)
        handle.finished.connect(self._on_finished)
        handle.ended.connect(self._on_ended)
        self._job = handle
        self.job_started.emit(handle)
        self.progress.setRange(0, max(steps, 1))
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.branch_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(message)
        return handle

    def _done(self, message: str) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._update_branch_button()
        self.status.setText(message)

    def _cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_progress(self, progress: Progress) -> None:
        if self._job is not None and progress.job_id == self._job.job_id:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.step)

    def _on_finished(self, result: object) -> None:
        if not isinstance(result, TrajectoryResult) or self._job is None or result.job_id != self._job.job_id:
            return
        self.trajectories[result.trajectory_id] = result
        request = result.request
        if result.parent_id is None:
            label = f"#{result.trajectory_id} · “{_short(request.prompt)}” · seed {request.seed}"
        else:
            label = (f"#{result.trajectory_id} · branch of #{result.parent_id} after step {result.branch_step} · "
                     f"“{_short(request.prompt)}” · seed {request.seed}")
        self.runs.addItem(label, result.trajectory_id)
        self.runs.setCurrentIndex(self.runs.count() - 1)  # shows it at the last step (the image)
        saved = f"Saved {result.path.name}" if result.path else "Done"
        self._done(f"{saved} · {len(result.steps)} steps · {result.elapsed:.1f} s")
        if result.path is not None:
            self.image_saved.emit(result.path)

    def _on_ended(self, handle: JobHandle) -> None:
        if handle is not self._job:
            return
        if handle.state is JobState.FAILED:
            self._done(handle.error)
        elif handle.state is JobState.CANCELLED:
            self.progress.setValue(0)
            self._done("Cancelled.")

    # --- scrubbing ---

    def _run_chosen(self, _index: int) -> None:
        current = self.current
        if current is None:
            return
        self.prompt.setText(current.request.prompt)
        self.seed.setText(str(current.request.seed))
        self.slider.blockSignals(True)
        self.slider.setRange(1, len(current.steps))
        self.slider.setValue(len(current.steps))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(current.steps) > 1)
        self._show_step(len(current.steps))
        self._update_branch_button()

    def _scrubbed(self, step: int) -> None:
        self._show_step(step)
        self._update_branch_button()
        self._settle_timer.start()

    def _settle(self) -> None:
        """A cheap (latent-sized) step preview is replaced by its full decode once the slider rests."""
        self._settle_timer.stop()
        current, step = self.current, self.slider.value()
        if current is None or current.preview_quality == "full" or step == len(current.steps):
            return
        if (current.trajectory_id, step) not in self._full_steps:
            self.steps.request(trajectory_id=current.trajectory_id, step=step)

    def _show_step(self, step: int) -> None:
        current = self.current
        if current is None or not current.steps:
            return
        total = len(current.steps)
        if step == total:
            image, quality, what = current.image, "full", "final image"
        elif (current.trajectory_id, step) in self._full_steps:
            image, quality, what = self._full_steps[(current.trajectory_id, step)], "full", "x0 estimate"
        else:
            image, quality = current.steps[step - 1], current.preview_quality
            what = "x0 estimate" if quality == "full" else "x0 preview"
        self.view.set_image(image)
        self.last_shown = (current.trajectory_id, step, quality)
        self.step_label.setText(f"step {step}/{total} · {what}")
        self.send_button.setEnabled(True)

    def _on_step_frame(self, frame: object) -> None:
        if not isinstance(frame, StepFrame):
            return
        self._full_steps[(frame.trajectory_id, frame.step)] = frame.image
        current = self.current
        if current is not None and current.trajectory_id == frame.trajectory_id and self.slider.value() == frame.step:
            self._show_step(frame.step)

    def _update_branch_button(self) -> None:
        current = self.current
        can = not self.running and current is not None and 1 <= self.slider.value() < len(current.steps)
        self.branch_button.setEnabled(can)
        self.branch_button.setToolTip("Resume the denoising after this step with the prompt and seed above"
                                      if can else "Choose a step before the last one to branch from")

    def _send_to_canvas(self) -> None:
        if not self.view.image().isNull():
            self.image_for_canvas.emit(self.view.image())

