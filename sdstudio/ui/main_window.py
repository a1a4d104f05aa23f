"""The main window: layout and wiring. Canvas in the centre, controls on the right, history below.

What the window does lives in mixins of their own: actions and menus (window_actions), files in
and out (file_actions), models (model_actions), generation (generation_flow, over GenerationJobs
and the window's Backend), what the canvas shows (canvas_view) and the latent explorer dock
(explorer_wiring), LoRAs/embeddings/VAEs and outpainting (network_wiring). The window owns the
backend and closes it on close.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.backends import local_backend
from sdstudio.bridge.protocol import Backend, Capability
from sdstudio.ui.backend_actions import BackendActions
from sdstudio.ui.canvas import Canvas
from sdstudio.ui.canvas_view import CanvasView, CanvasViewing
from sdstudio.ui.controls import ControlsPanel
from sdstudio.ui.dialogs import Dialogs
from sdstudio.ui.elided_label import ElidedLabel
from sdstudio.ui.explorer_wiring import ExplorerWiring
from sdstudio.ui.file_actions import FileActions
from sdstudio.ui.gallery import Gallery, GalleryEntry
from sdstudio.ui.generation_flow import GenerationFlow
from sdstudio.ui.generation_jobs import GenerationJobs
from sdstudio.ui.mask_tools import MaskToolbar
from sdstudio.ui.model import GenerationModel
from sdstudio.ui.model_actions import ModelActions
from sdstudio.ui.network_wiring import NetworkWiring
from sdstudio.ui.notices import NoticeBar
from sdstudio.ui.queue_view import QueueButton
from sdstudio.ui.settings import SettingsStore
from sdstudio.ui.startup import after_first_paint
from sdstudio.ui.window_actions import WindowActions
from sdstudio.ui.window_geometry import place_window

PANEL_WIDTH = 370
STOP_TIMEOUT_MS = 60000


class MainWindow(WindowActions, FileActions, ModelActions, BackendActions, GenerationFlow, CanvasViewing,
                 ExplorerWiring, NetworkWiring,
                 QMainWindow):
    """The app window; `generation_finished/failed/cancelled` report each job's end (after the UI updated)."""

    generation_started = Signal(int)  # job id
    generation_finished = Signal(object)  # JobResult
    generation_failed = Signal(str)
    generation_cancelled = Signal()
    preview_shown = Signal(object)  # PreviewFrame
    error_shown = Signal(str)
    image_opened = Signal(str)
    interpolation_a_chosen = Signal(str)  # a gallery image chosen as latent-interpolation start
    interpolation_b_chosen = Signal(str)

    def __init__(
        self,
        store: SettingsStore | None = None,
        generation: GenerationModel | None = None,
        backend: Backend | None = None,
        dialogs: Dialogs | None = None,
        preload: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        """`backend`: where jobs run (default: the engine in a thread of this process)."""
        super().__init__(parent)
        self.setWindowTitle("sdstudio")
        self.setAcceptDrops(True)
        self.store = store or SettingsStore(parent=self)
        self.settings = self.store.settings
        # The generation parameters: the controls bind to it, requests are built from it.
        self.generation = self.store.attach(generation or GenerationModel(self))
        self.dialogs = dialogs or Dialogs()
        self.backend = backend or local_backend(self.output_dir, parent=self)
        # The explorer's jobs (latents, walks, trajectories) run on this computer's engine.
        self.local_backend = (self.backend if self.backend.capabilities.has(Capability.LATENT_BLEND)
                              else local_backend(self.output_dir, parent=self))
        self._comfy_token = ""
        self.jobs = GenerationJobs(self.backend, self)

        self._saved_entries: dict[Path, GalleryEntry] = {}  # images saved in this session, by path
        self.view = CanvasView()  # what the canvas shows; changed only through set_view
        self._closing = False
        self.stop_timeout_ms = STOP_TIMEOUT_MS  # how long closing waits for the engine (the app lowers it)

        self._build()
        self._make_actions()
        self._make_menus()
        self._connect()
        self._restore_geometry()
        self._update_mode()
        self.canvas.set_canvas_size(*self.generation.size)
        if self.store.load_warning:
            self.show_message(self.store.load_warning, "warning")
        self.gallery.load_folder(self.output_dir(), self.settings.gallery_limit)
        if not self.backend.capabilities.has(Capability.MODEL_FOLDERS):
            self.rescan_models()  # the server's checkpoints
        if self.settings.backend == "comfyui" and self.settings.comfy_urls and backend is None:
            after_first_paint(self, self._reconnect_comfy)
        elif preload and (info := self.controls.model_picker.current_info()) is not None:
            self.model_label.setText(f"Model: {info.name} (loading...)")
            after_first_paint(self, lambda: self._preload(info))  # torch's import must not slow the first frame

    def _build(self) -> None:
        self.canvas = Canvas()
        self.notice = NoticeBar()
        self.mask_tools = MaskToolbar(self.canvas, self.settings)
        self.gallery = Gallery()
        self.controls = ControlsPanel(self.generation, self.settings)

        self.use_result_button = QToolButton()
        self.use_result_button.setText("Use as input")
        self.use_result_button.setToolTip("Start img2img / inpainting from the image shown (Ctrl+Shift+I)")
        self.back_to_input_button = QToolButton()
        self.back_to_input_button.setText("Show input")
        self.back_to_input_button.setToolTip("Hide the result and show the input image again")
        self.clear_canvas_button = QToolButton()
        self.clear_canvas_button.setText("Clear canvas")
        self.clear_canvas_button.setToolTip("Remove the image: back to text-to-image")
        self.zoom_label = QLabel("100%")
        self.zoom_label.setObjectName("dimLabel")
        self.zoom_label.setMinimumWidth(44)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.canvas_info = ElidedLabel()
        self.canvas_info.setObjectName("dimLabel")
        fit_button, actual_button = QToolButton(), QToolButton()
        fit_button.setText("Fit")
        fit_button.setToolTip("Fit the image to the window (Ctrl+0)")
        fit_button.clicked.connect(self.canvas.fit_to_window)
        actual_button.setText("1:1")
        actual_button.setToolTip("Actual size, 100% (Ctrl+1)")
        actual_button.clicked.connect(self.canvas.zoom_100)
        self.canvas_bar = QWidget()
        self.canvas_bar.setObjectName("canvasBar")
        bar = QHBoxLayout(self.canvas_bar)
        bar.setContentsMargins(10, 3, 8, 3)
        bar.setSpacing(5)
        bar.addWidget(self.canvas_info, 1)
        for widget in (self.back_to_input_button, self.use_result_button, self.clear_canvas_button, fit_button,
                       actual_button, self.zoom_label):
            bar.addWidget(widget)

        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.mask_tools)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Plain)
        line.setStyleSheet("color: #38383e;")
        column.addWidget(line)
        column.addWidget(self.notice)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.canvas_bar)
        column.addWidget(self.gallery)

        scroll = QScrollArea()
        scroll.setObjectName("sidePanel")
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        self.controls.setObjectName("sidePanelContents")

        side = QWidget()
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(0, 0, 0, 0)
        side_column.setSpacing(0)
        side_column.addWidget(scroll, 1)
        side_column.addWidget(self.controls.run_box)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([1400 - PANEL_WIDTH, PANEL_WIDTH])
        self.setCentralWidget(self.splitter)
        self._build_explorer()
        self._build_networks()

        status = self.statusBar()
        self.model_label = QLabel("No model loaded")
        self.device_label = QLabel("")
        self.timing_label = QLabel("")
        self.queue_button = QueueButton(self.jobs.queue)
        self.backend_label = QLabel("")
        self.backend_label.setObjectName("dimLabel")
        status.addPermanentWidget(self.backend_label)
        status.addPermanentWidget(self.queue_button)
        status.addPermanentWidget(self.timing_label)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_label)

    def _connect(self) -> None:
        c = self.controls
        c.changed.connect(self.store.changed)
        c.generate_clicked.connect(self.start_generate)
        c.cancel_clicked.connect(self.cancel)
        c.add_model_clicked.connect(self.add_model_folder_dialog)
        c.model_changed.connect(self._on_model_changed)
        c.size_changed.connect(self._on_size_changed)
        c.fit_policy_changed.connect(self._on_fit_policy)
        self.mask_tools.changed.connect(self.store.changed)
        self.mask_tools.save_mask_clicked.connect(self.export_mask_dialog)
        self.mask_tools.load_mask_clicked.connect(self.load_mask_dialog)
        self.canvas.image_changed.connect(self._update_mode)
        self.canvas.mask_changed.connect(self._on_mask_changed)
        self.canvas.zoom_changed.connect(self._on_zoom)
        self.use_result_button.clicked.connect(self.use_shown_as_input)
        self.back_to_input_button.clicked.connect(self.show_input)
        self.clear_canvas_button.clicked.connect(self.clear_canvas)
        self.gallery.entry_clicked.connect(self.show_entry)
        self.gallery.use_as_input.connect(self.use_entry_as_input)
        self.gallery.export_requested.connect(self.export_entry_dialog)
        self.gallery.interpolation_a_chosen.connect(self.interpolation_a_chosen)
        self.gallery.interpolation_b_chosen.connect(self.interpolation_b_chosen)
        self.gallery.interpolation_a_chosen.connect(self._explore_a)
        self.gallery.interpolation_b_chosen.connect(self._explore_b)
        self.explorer.image_for_canvas.connect(self._on_explored_image)
        self.explorer.image_saved.connect(self._on_explorer_saved)
        self.explorer.walk_exported.connect(self._on_walk_exported)
        self.gallery.delete_requested.connect(self.delete_entry)
        self.jobs.started.connect(self._begin_job)
        self.jobs.preview.connect(self._on_preview)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.image_saved.connect(self._on_image_saved)
        self.jobs.ended.connect(self._end_job)
        self.jobs.queue_changed.connect(self._on_queue_changed)
        self.jobs.waiting_for_model.connect(self._on_waiting_for_model)
        self.jobs.load_failed.connect(self._on_load_failed)
        self.jobs.long_job.connect(self._on_long_job)
        self._attach_backend(self.backend)
        self.explorer.trajectory.job_started.connect(self.jobs.track)
        self.store.save_failed.connect(self._on_settings_save_failed)

    def _restore_geometry(self) -> None:
        place_window(self, self.settings.window_geometry)
        if self.settings.window_state:
            self.splitter.restoreState(QByteArray.fromBase64(self.settings.window_state.encode("ascii")))

    def output_dir(self) -> Path:
        """Where the worker saves images (read on the engine thread: a plain str -> Path)."""
        return Path(self.settings.output_dir).expanduser()

    def show_message(self, text: str, level: str = "error") -> None:
        """A message in the notice strip and the status bar; never modal, the app keeps working."""
        self.notice.show_message(text, level)
        self.statusBar().showMessage(text, 10000)
        if level == "error":
            self.error_shown.emit(text)

    def _on_settings_save_failed(self, message: str) -> None:
        self.show_message(message, "warning")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, stop the engine thread (a running job stops at its next step), then close."""
        if not self._closing:
            self._closing = True
            self.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
            self.settings.window_state = bytes(self.splitter.saveState().toBase64().data()).decode("ascii")
            self.settings.explorer_visible = self.explorer_dock.isVisible()
            self.settings.networks_visible = self.network_dock.isVisible()
            self.store.save()
            self.jobs.shutdown(self.stop_timeout_ms)
            if self.local_backend is not self.backend:
                self.local_backend.close(self.stop_timeout_ms / 1000)
        event.accept()
        super().closeEvent(event)
