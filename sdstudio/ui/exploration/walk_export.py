"""Render a walk (latent, refined, or seed/prompt) to GIF, WebP, MP4 or PNG frames, with progress
and cancel. The frames are made and written on the engine thread (atomically, by sdstudio.io);
this box only asks, shows progress, and says where the file went."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, QUrl, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import WalkJob
from sdstudio.bridge.messages import JobState, Progress, WalkResult
from sdstudio.bridge.protocol import Backend
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError
from sdstudio.ui.exploration.common import RequestProvider, default_request

WALK_KIND_LABELS = {
    "latent": "Latent A → B",
    "refined": "Refined A → B",
    "seed_prompt": "Seed + prompt walk",
}
FORMAT_LABELS = {"gif": "GIF", "webp": "WebP", "mp4": "MP4", "png": "PNG frames"}
FORMAT_FILTERS = {"gif": "GIF animation (*.gif)", "webp": "WebP animation (*.webp)", "mp4": "MP4 video (*.mp4)"}

# kind -> the payload of a latent walk (key, mode, model, refine); raises InputError when not ready
WalkPayload = Callable[[str], dict[str, Any]]


class WalkExportBox(QGroupBox):
    """The "Walk" group: what to walk, how many frames, where to write them."""

    exported = Signal(object)  # Path of the file or folder written
    frames_ready = Signal(list)  # the walk's frames (QImage), in order

    def __init__(self, backend: Backend, latent_payload: WalkPayload,
                 request_provider: RequestProvider | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Walk", parent)
        self._backend = backend
        self._latent_payload = latent_payload
        self._request_provider = request_provider or default_request
        self._job: JobHandle | None = None
        self._started = 0.0
        self.choose_path: Callable[[str], Path | None] = self._ask_path
        self.start_dir: Callable[[], Path] = Path.cwd  # where the export dialog opens (the window: its outputs)

        self.kind = QComboBox()
        for kind, label in WALK_KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.setToolTip("Latent: blend the VAE latents of A and B (with the mode above).\n"
                             "Refined: each blend denoised with the prompt at the refine strength.\n"
                             "Seed + prompt: new generations whose start noise is slerped between two seeds\n"
                             "and whose prompt embedding is lerped between two prompts.")
        self.frames = QSpinBox()
        self.frames.setRange(2, 480)
        self.frames.setValue(16)
        self.frames.setSuffix(" frames")
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(12)
        self.fps.setSuffix(" fps")
        self.format = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format.addItem(label, key)
        self.even_pace = QCheckBox("Even pace")
        self.even_pace.setChecked(True)
        self.even_pace.setToolTip("The VAE decoder is not linear: equal steps of t can give a still stretch, then a\n"
                                  "jump. A quick probe pass measures how far each step moves the image and re-times\n"
                                  "the frames so the walk moves at an even speed (the ends stay A and B). Refined\n"
                                  "walks snap from one picture to the other; pacing them probes with refined frames\n"
                                  "(twice the time) and spreads the snap over several frames.")

        self.prompt_a, self.prompt_b = QLineEdit(), QLineEdit()
        self.prompt_a.setPlaceholderText("start prompt (empty: canvas prompt)")
        self.prompt_b.setPlaceholderText("end prompt (empty: start prompt)")
        digits = QRegularExpressionValidator(QRegularExpression(r"\d{1,18}"))
        self.seed_a, self.seed_b = QLineEdit("1"), QLineEdit("2")
        for seed in (self.seed_a, self.seed_b):
            seed.setValidator(digits)
            seed.setMaximumWidth(110)
            seed.setPlaceholderText("seed")
        self.ends = QWidget()
        ends = QGridLayout(self.ends)
        ends.setContentsMargins(0, 0, 0, 0)
        ends.setHorizontalSpacing(6)
        ends.addWidget(QLabel("Start"), 0, 0)
        ends.addWidget(self.prompt_a, 0, 1)
        ends.addWidget(self.seed_a, 0, 2)
        ends.addWidget(QLabel("End"), 1, 0)
        ends.addWidget(self.prompt_b, 1, 1)
        ends.addWidget(self.seed_b, 1, 2)
        ends.setColumnStretch(1, 1)

        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Render the frames and write them as the chosen format")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")  # "frame %v / %m" while rendering
        self.status = QLabel("")
        self.status.setObjectName("dimLabel")
        self.status.setWordWrap(True)
        self.status.setOpenExternalLinks(True)

        form = QFormLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.kind, 1)
        kind_row.addWidget(self.even_pace)
        form.addRow("Kind", kind_row)
        length = QHBoxLayout()
        length.addWidget(self.frames)
        length.addWidget(self.fps)
        length.addWidget(self.format)
        form.addRow("Output", length)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.ends)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.export_button.clicked.connect(self.export)
        self.cancel_button.clicked.connect(self.cancel)
        self._kind_changed()

    # --- public ---

    @property
    def running(self) -> bool:
        return self._job is not None

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def set_ends(self, start: GenerationRequest | None, end: GenerationRequest | None) -> None:
        """Prefill the seed/prompt walk from two images' stored parameters (gallery picks)."""
        for request, prompt, seed in ((start, self.prompt_a, self.seed_a), (end, self.prompt_b, self.seed_b)):
            if request is not None:
                prompt.setText(request.prompt)
                seed.setText(str(request.seed))

    def export(self) -> None:
        """Ask where (file dialog), then export."""
        export_format = self.format.currentData()
        path = self.choose_path(export_format)
        if path is not None:
            self.export_to(path, export_format)

    def export_to(self, path: Path, export_format: str | None = None) -> JobHandle | None:
        """Render and write the walk to `path` (a .gif/.webp/.mp4 file, or a folder for PNG frames).
        Returns the job's handle, or None if the inputs are not ready (the status says why)."""
        if self.running:
            return None
        path = Path(path)
        export_format = export_format or (path.suffix.lower().lstrip(".") if path.suffix else "png")
        if export_format != "png" and path.suffix.lower() != f".{export_format}":
            path = path.with_suffix(f".{export_format}")
        try:
            payload = self._payload(self.kind.currentData())
        except InputError as error:
            self._say(str(error), error=True)
            return None
        frames = self.frames.value()
        handle = self._backend.submit(WalkJob(frames=frames, path=path, format=export_format,
                                              fps=float(self.fps.value()), **payload))
        handle.progress.connect(self._on_progress)
        handle.finished.connect(self._on_finished)
        handle.ended.connect(self._on_ended)
        self._job = handle
        self._started = time.perf_counter()
        self.progress.setRange(0, frames)
        self.progress.setValue(0)
        self.progress.setFormat("frame %v / %m")
        self._set_running(True)
        self._say(f"Rendering {frames} frames…")
        return self._job

    def cancel(self) -> None:
        """Stop the walk at the next frame (only this job: a queued generation goes on); nothing is written."""
        if self._job is not None:
            self._job.cancel()

    # --- internals ---

    def _payload(self, kind: str) -> dict[str, Any]:
        if kind != "seed_prompt":
            pacing = "even" if self.even_pace.isChecked() else "uniform"
            return {"walk": kind, "pacing": pacing, **self._latent_payload(kind)}
        base = replace(self._request_provider(), init_image=None, mask_image=None, batch_count=1)
        prompt_a = self.prompt_a.text().strip() or base.prompt
        prompt_b = self.prompt_b.text().strip() or prompt_a
        if not self.seed_a.text() or not self.seed_b.text():
            raise InputError("enter a start seed and an end seed")
        start = replace(base, prompt=prompt_a, seed=int(self.seed_a.text()))
        end = replace(base, prompt=prompt_b, seed=int(self.seed_b.text()))
        return {"walk": kind, "start": start, "end": end}

    def _kind_changed(self) -> None:
        seeds = self.kind.currentData() == "seed_prompt"
        self.ends.setVisible(seeds)
        self.even_pace.setVisible(not seeds)

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.kind.setEnabled(not running)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #e55b5b;" if error else "")
        self.status.setText(text)

    def _ask_path(self, export_format: str) -> Path | None:
        if export_format == "png":
            folder = QFileDialog.getExistingDirectory(self, "Folder for the PNG frames", str(self.start_dir()))
            return Path(folder) / time.strftime("walk-%Y%m%d-%H%M%S") if folder else None
        name, _ = QFileDialog.getSaveFileName(self, "Export walk", str(self.start_dir() / f"walk.{export_format}"),
                                              FORMAT_FILTERS[export_format])
        return Path(name) if name else None

    def _on_progress(self, progress: Progress) -> None:
        if self._job is None or progress.job_id != self._job.job_id:
            return
        done, total, elapsed = progress.step, progress.total, progress.elapsed
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        remaining = elapsed / max(done, 1) * (total - done)
        self._say(f"Frame {done}/{total} · {elapsed:.1f} s · about {remaining:.0f} s left")

    def _on_finished(self, result: object) -> None:
        if not isinstance(result, WalkResult) or self._job is None or result.job_id != self._job.job_id:
            return
        self._job = None
        self._set_running(False)
        self.progress.setValue(self.progress.maximum())
        if result.path is not None:
            url = QUrl.fromLocalFile(str(result.path)).toString()
            self._say(f'Wrote <a href="{url}">{result.path.name}</a> · {len(result.frames)} frames · '
                      f"{result.elapsed:.1f} s")
            self.exported.emit(result.path)
        self.frames_ready.emit(list(result.frames))

    def _on_ended(self, handle: JobHandle) -> None:
        if handle is not self._job or handle.state is JobState.DONE:
            return
        self._job = None
        self._set_running(False)
        if handle.state is JobState.FAILED:
            self._say(handle.error, error=True)
        else:
            self._set_running(False)
            self.progress.setValue(0)
            self.progress.setFormat("")
            self._say("Cancelled: nothing was written.")
