"""The main window: canvas in the centre, generation controls on the right, history below.

The window owns the engine worker (and stops it on close) and orchestrates jobs as asyncio
coroutines on the qasync loop: `generate()` builds a request from the settings and the canvas,
awaits the job's future, then shows the result. Previews and progress stream in meanwhile.

The mode follows the canvas: no image is txt2img; an image is img2img; an image with a painted
mask is inpaint. A generated txt2img image is shown on the canvas as a *result*, not an input:
Generate again makes a new image; "Use as input" (or painting a mask on it) starts from it. An
img2img/inpaint result is shown over its input, which stays (with its mask) for another try.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QMimeData, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
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
from sdstudio.bridge.handle import JobFailed, JobHandle
from sdstudio.bridge.messages import JobResult, JobState, PreviewFrame, SavedImage
from sdstudio.bridge.protocol import Backend
from sdstudio.bridge.qimage import mask_to_qimage, pil_to_qimage, qimage_to_mask, qimage_to_pil
from sdstudio.engine.discovery import ModelInfo, describe
from sdstudio.engine.requests import GenerationRequest, LoadEvent, Mode
from sdstudio.errors import Cancelled, SdStudioError
from sdstudio.io.images import load_image, load_mask, read_parameters
from sdstudio.io.metadata import ParsedParameters, format_parameters
from sdstudio.ui import export
from sdstudio.ui.canvas import Canvas
from sdstudio.ui.controls import ControlsPanel
from sdstudio.ui.dialogs import Dialogs
from sdstudio.ui.elided_label import ElidedLabel
from sdstudio.ui.exploration.panel import ExplorationPanel
from sdstudio.ui.gallery import Gallery, GalleryEntry, entry_from_file
from sdstudio.ui.generation_jobs import GenerationJobs, StepProgress
from sdstudio.ui.image_fit import describe_fit, fit_to_multiple_of_8, limit_size
from sdstudio.ui.mask_tools import MaskToolbar
from sdstudio.ui.model import GenerationModel
from sdstudio.ui.notices import NoticeBar
from sdstudio.ui.queue_view import QueueButton
from sdstudio.ui.settings import SettingsStore
from sdstudio.ui.startup import after_first_paint
from sdstudio.ui.window_geometry import DOCK_MINIMUM_WIDTH, place_window, scrollable

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_INPUT_SIDE = 2048
PANEL_WIDTH = 370
STOP_TIMEOUT_MS = 60000


class MainWindow(QMainWindow):
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
        self.jobs = GenerationJobs(self.backend, self)

        self._saved_entries: dict[Path, GalleryEntry] = {}  # images saved in this session, by path
        self._result_view = False  # the canvas image is a txt2img result, not an input
        self._result_over_input: QImage | None = None  # an img2img/inpaint result shown over its input
        self._shown_entry: GalleryEntry | None = None
        self._source_image: QImage | None = None  # an opened image before fitting (re-fit on policy change)
        self._input_name = ""
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
        if preload and (info := self.controls.model_picker.current_info()) is not None:
            self.model_label.setText(f"Model: {info.name} (loading...)")
            after_first_paint(self, lambda: self._preload(info))  # torch's import must not slow the first frame

    # ---- construction ------------------------------------------------------------------------

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

        status = self.statusBar()
        self.model_label = QLabel("No model loaded")
        self.device_label = QLabel("")
        self.timing_label = QLabel("")
        self.queue_button = QueueButton(self.jobs.queue)
        status.addPermanentWidget(self.queue_button)
        status.addPermanentWidget(self.timing_label)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_label)

    def _build_explorer(self) -> None:
        """The latent explorer (interpolate, plane, trajectory) in a dock left of the canvas."""
        self.explorer = ExplorationPanel(self.backend, self.displayed_image, self.build_request)
        self.explorer.interpolation.walk.start_dir = self.output_dir
        self.explorer_dock = QDockWidget("Latent explorer", self)
        self.explorer_dock.setObjectName("latent-explorer")
        self.explorer_dock.setWidget(scrollable(self.explorer, name="explorerScroll"))
        self.explorer_dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                                           | Qt.DockWidgetArea.RightDockWidgetArea
                                           | Qt.DockWidgetArea.BottomDockWidgetArea)
        self.explorer_dock.setMinimumWidth(DOCK_MINIMUM_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.explorer_dock)
        self.explorer_dock.setVisible(self.settings.explorer_visible)

    def show_explorer(self) -> None:
        self.explorer_dock.show()
        self.explorer_dock.raise_()

    def _run_trajectory(self) -> None:
        self.show_explorer()
        self.explorer.run_trajectory()

    def _explore_a(self, path: str) -> None:
        self.show_explorer()
        self.explorer.set_image_a(path)

    def _explore_b(self, path: str) -> None:
        self.show_explorer()
        self.explorer.set_image_b(path)

    def _on_explored_image(self, image: QImage) -> None:
        """An explorer frame sent to the canvas becomes the input image (img2img / inpaint from it)."""
        self.set_input_image(image, "explored")

    def _on_explorer_saved(self, path: object) -> None:
        self.gallery.add(entry_from_file(Path(str(path))), newest=True)
        self.statusBar().showMessage(f"Saved {path}", 10000)

    def _on_walk_exported(self, path: object) -> None:
        self.show_message(f"Walk exported to {path}", "info")

    def _action(self, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.generate_action = self._action("Generate", self.start_generate, None, "Generate with the current settings")
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.cancel_action = self._action("Cancel", self.cancel, "Esc", "Stop the running job at its next step")
        self.cancel_action.setEnabled(False)
        self.open_action = self._action("Open Image...", self.open_image_dialog, QKeySequence.StandardKey.Open)
        self.save_as_action = self._action("Save Image As...", self.save_as_dialog, QKeySequence.StandardKey.SaveAs)
        self.save_as_action.setShortcuts([QKeySequence("Ctrl+S"), QKeySequence("Ctrl+Shift+S")])
        self.copy_action = self._action("Copy Image", self.copy_image, QKeySequence.StandardKey.Copy)
        self.paste_action = self._action("Paste Image", self.paste, QKeySequence.StandardKey.Paste)
        self.export_mask_action = self._action("Export Mask...", self.export_mask_dialog)
        self.load_mask_action = self._action("Load Mask...", self.load_mask_dialog)
        self.output_dir_action = self._action("Set Output Folder...", self.choose_output_dir)
        self.add_models_action = self._action("Add Model Folder...", self.add_model_folder_dialog)
        self.rescan_action = self._action("Rescan Models", self.rescan_models)
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.use_result_action = self._action("Use Image as Input", self.use_shown_as_input, "Ctrl+Shift+I")
        self.clear_canvas_action = self._action("Clear Canvas", self.clear_canvas, "Ctrl+Shift+N")
        self.random_seed_action = self._action("New Random Seed", self.controls.randomize_seed, "Ctrl+R")
        # The canvas's own actions, made window-wide so View/Edit shortcuts work wherever focus is
        # (text fields still get their own Ctrl+Z: they claim it with ShortcutOverride).
        c = self.canvas
        for action in (c.fit_action, c.zoom_100_action, c.zoom_in_action, c.zoom_out_action, c.undo_action,
                       c.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for item in (self.open_action, self.save_as_action, None, self.copy_action, self.paste_action, None,
                     self.load_mask_action, self.export_mask_action, None, self.output_dir_action,
                     self.add_models_action, self.rescan_action, None, self.quit_action):
            file_menu.addSeparator() if item is None else file_menu.addAction(item)
        c = self.canvas
        edit_menu = bar.addMenu("&Edit")
        for item in (c.undo_action, c.redo_action, None, c.clear_mask_action, c.fill_mask_action,
                     c.invert_mask_action, None, c.brush_action, c.eraser_action):
            edit_menu.addSeparator() if item is None else edit_menu.addAction(item)
        view_menu = bar.addMenu("&View")
        self.explorer_action = self.explorer_dock.toggleViewAction()
        self.explorer_action.setText("Latent Explorer")
        self.explorer_action.setShortcut(QKeySequence("Ctrl+E"))
        self.explorer_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        for item in (c.fit_action, c.zoom_100_action, c.zoom_in_action, c.zoom_out_action, None, c.show_mask_action,
                     None, self.explorer_action):
            view_menu.addSeparator() if item is None else view_menu.addAction(item)
        image_menu = bar.addMenu("&Image")
        self.trajectory_action = self._action("Generate with Trajectory", self._run_trajectory, "Ctrl+T",
                                              "Generate and keep every step to scrub and branch from")
        for item in (self.generate_action, self.trajectory_action, self.cancel_action, None, self.use_result_action,
                     self.clear_canvas_action, self.random_seed_action):
            image_menu.addSeparator() if item is None else image_menu.addAction(item)

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
        self.backend.model_loading.connect(self._on_model_loading)
        self.backend.model_ready.connect(self._on_model_ready)
        self.explorer.trajectory.job_started.connect(self.jobs.track)
        self.store.save_failed.connect(self._on_settings_save_failed)

    def _restore_geometry(self) -> None:
        place_window(self, self.settings.window_geometry)
        if self.settings.window_state:
            self.splitter.restoreState(QByteArray.fromBase64(self.settings.window_state.encode("ascii")))

    # ---- helpers -------------------------------------------------------------------------------

    def output_dir(self) -> Path:
        """Where the worker saves images (read on the engine thread: a plain str -> Path)."""
        return Path(self.settings.output_dir).expanduser()

    def show_message(self, text: str, level: str = "error") -> None:
        """A message in the notice strip and the status bar; never modal, the app keeps working."""
        self.notice.show_message(text, level)
        self.statusBar().showMessage(text, 10000)
        if level == "error":
            self.error_shown.emit(text)

    def mode(self) -> Mode:
        if not self.canvas.has_image():
            return Mode.TXT2IMG
        if self.canvas.has_mask():
            return Mode.INPAINT
        return Mode.TXT2IMG if self._result_view else Mode.IMG2IMG

    def displayed_image(self) -> QImage | None:
        """What the user sees: a result shown over its input, else the canvas image."""
        return self._result_over_input if self._result_over_input is not None else self.canvas.image()

    def _update_mode(self) -> None:
        image = self.canvas.image()
        size = (image.width(), image.height()) if image is not None else None
        mode = self.mode()
        hint = None
        if self._result_view and mode is Mode.TXT2IMG and image is not None:
            hint = "Showing a result. Use it as input, or paint on it to inpaint."
        elif self._result_over_input is not None:
            hint = "Showing the result over its input. Generate again to retry."
        self.controls.set_mode(mode, size, hint)
        shown_is_result = self._result_over_input is not None or (self._result_view and image is not None)
        self.use_result_button.setVisible(shown_is_result)
        self.use_result_action.setEnabled(shown_is_result)
        self.back_to_input_button.setVisible(self._result_over_input is not None)
        self.clear_canvas_button.setVisible(image is not None)
        self.clear_canvas_action.setEnabled(image is not None)
        has_image = self.displayed_image() is not None
        self.save_as_action.setEnabled(has_image)
        self.copy_action.setEnabled(has_image)
        self.canvas_info.setText(self._describe_canvas())
        masks = image is not None
        self.mask_tools.setEnabled(masks)
        self.export_mask_action.setEnabled(masks)
        self.load_mask_action.setEnabled(masks)

    def _describe_canvas(self) -> str:
        """One line under the canvas saying what is shown: an empty frame, a result, or an input."""
        image = self.canvas.image()
        if image is None:
            return f"Empty canvas \u00b7 generates {self.generation.width} \u00d7 {self.generation.height}"
        size = f"{image.width()} \u00d7 {image.height()}"
        entry = self._shown_entry
        seed = f" \u00b7 seed {entry.seed}" if entry is not None and entry.seed is not None else ""
        name = entry.path.name if entry is not None else self._input_name
        if self._result_over_input is not None:
            return f"Result{seed} \u00b7 {name} \u00b7 shown over the input ({size})"
        if self._result_view:
            text = f"Result \u00b7 {name} \u00b7 {size}{seed}"
            return text + (" \u00b7 mask painted: inpaints this image" if self.canvas.has_mask() else "")
        mask = " \u00b7 mask painted" if self.canvas.has_mask() else ""
        return f"Input \u00b7 {self._input_name or 'image'} \u00b7 {size}{mask}"

    def _on_mask_changed(self) -> None:
        if self.canvas.has_mask() and self._result_over_input is not None and not self.controls.is_running():
            self.show_input()  # painting edits the input: show it rather than the result on top
        self._update_mode()

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    # ---- generation ------------------------------------------------------------------------------

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
        info = self.controls.model_picker.current_info()
        if info is None:
            raise SdStudioError(
                "No model found: add a model folder (File > Add Model Folder...) or put a model in checkpoints/"
            )
        self.generation.model = str(info.path)
        self.generation.next_seed()  # a new random seed unless locked, shown before the job runs
        init_image = mask = None
        mode = self.mode()
        if mode is not Mode.TXT2IMG:
            image = self.canvas.image()
            assert image is not None
            init_image = qimage_to_pil(image)
            mask = qimage_to_mask(self.canvas.mask()) if mode is Mode.INPAINT else None
        return self.generation.request(init_image=init_image, mask=mask).validated()

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
        elif self._result_over_input is not None:
            self.canvas.show_preview(self._result_over_input)
        self.statusBar().showMessage(outcome, 5000)
        if state is JobState.FAILED:
            self.show_message(handle.error)
            self.generation_failed.emit(handle.error)
        else:
            self.generation_cancelled.emit()

    def _on_preview(self, frame: PreviewFrame) -> None:
        self.canvas.show_preview(frame.image)
        self.preview_shown.emit(frame)

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
        self.gallery.select(shown.path)
        self._shown_entry = self._saved_entries.get(shown.path)
        if request.mode is Mode.TXT2IMG:
            self._show_result_image(shown.image)
        else:
            self._result_over_input = shown.image
            self.canvas.show_preview(shown.image)
            self._update_mode()

    def _show_result_image(self, image: QImage) -> None:
        """A result on the canvas as the thing to look at (txt2img stays the mode)."""
        self._result_over_input = None
        self._source_image = None
        self._result_view = True
        self.canvas.set_image(image)
        self._update_mode()

    # ---- model --------------------------------------------------------------------------------

    def _preload(self, info: ModelInfo) -> None:
        self.model_label.setText(f"Model: {info.name} (loading...)")
        self.statusBar().showMessage(f"Loading model {info.name}... 0 %")  # until ready (or failed)
        self.jobs.preload(str(info.path))

    def _on_model_changed(self, info: ModelInfo) -> None:
        self._on_size_changed(*self.generation.size)
        self._preload(info)

    def _on_model_loading(self, event: LoadEvent) -> None:
        self.statusBar().showMessage(f"Loading model {event.model}... {event.fraction * 100:.0f} % ({event.stage})")
        if self.controls.is_running():
            self.controls.show_busy(f"Loading model: {event.stage}")

    def _on_model_ready(self, name: str, device: str) -> None:
        self.model_label.setText(f"Model: {name}")
        self.device_label.setText(device)
        self.statusBar().showMessage(f"Model {name} ready on {device}", 5000)

    def _on_load_failed(self, message: str) -> None:
        self.model_label.setText("Model: not loaded")
        self.show_message(message)

    def _on_size_changed(self, width: int, height: int) -> None:
        self.canvas.set_canvas_size(width, height)
        self.canvas_info.setText(self._describe_canvas())

    def select_model(self, path: str | Path) -> ModelInfo:
        """Use the model at `path` (a diffusers folder or a checkpoint file), listing it if needed."""
        info = describe(Path(path))
        if info is None:
            raise SdStudioError(f"'{path}' is not a model: expected a diffusers folder or a .safetensors/.ckpt file")
        if str(info.path) not in self.settings.model_paths and not self.controls.model_picker.select(str(info.path)):
            self.settings.model_paths.append(str(info.path))
        self.controls.model_picker.add_model(info)
        self.store.changed()
        return info

    def add_model_folder(self, folder: str | Path) -> None:
        """A folder of models joins the search path; a model folder itself is listed directly."""
        folder = Path(folder)
        if describe(folder) is not None:
            self.select_model(folder)
            return
        if str(folder) not in self.settings.extra_model_dirs:
            self.settings.extra_model_dirs.append(str(folder))
            self.store.changed()
        before = len(self.controls.model_picker.infos())
        self.rescan_models()
        found = len(self.controls.model_picker.infos()) - before
        self.show_message(f"Added {folder}: {found} new model(s) found", "info" if found else "warning")

    def add_model_folder_dialog(self) -> None:
        folder = self.dialogs.folder(self, "Add model folder")
        if folder:
            self.add_model_folder(folder)

    def rescan_models(self) -> None:
        """Re-read the model folders, keeping the chosen model (or adopting the first one found)."""
        picker = self.controls.model_picker
        current = picker.current_info()
        picker.refresh(self.settings.extra_model_dirs, self.settings.model_paths,
                       str(current.path) if current else self.generation.model)
        chosen = picker.current_info()
        if chosen is not None and (current is None or chosen.path != current.path):
            self.controls.model_selected(chosen)

    # ---- images in ------------------------------------------------------------------------------

    def open_image(self, path: str | Path, ask_restore: bool = True) -> bool:
        """Open an image file as the canvas input; offer to restore the settings it carries."""
        try:
            pil = load_image(path)
        except SdStudioError as error:
            self.show_message(str(error))
            return False
        self.set_input_image(pil_to_qimage(pil), Path(path).name)
        if ask_restore:
            self._offer_restore(Path(path))
        self.image_opened.emit(str(path))
        return True

    def _offer_restore(self, path: Path) -> None:
        try:
            parsed = read_parameters(path)
        except SdStudioError:
            parsed = None
        if parsed is None or not (parsed.prompt or parsed.settings):
            return
        prompt = parsed.prompt if len(parsed.prompt) < 160 else parsed.prompt[:157] + "..."
        question = f"This image carries generation settings:\n\n{prompt}\n\nRestore its prompt and settings?"
        if self.dialogs.ask(self, "Restore settings?", question):
            self.restore_parameters(parsed)

    def restore_parameters(self, parsed: ParsedParameters) -> None:
        request = parsed.apply_to(self.generation.request())
        self.controls.apply_request(request, parsed.model)
        self.show_message("Restored the image's prompt and settings", "info")

    def set_input_image(self, image: QImage, name: str = "image") -> None:
        """Fit an image to the model's needs (multiple of 8, not huge) and make it the input."""
        self._source_image = image
        self._input_name = name
        self._apply_fit(name)

    def _apply_fit(self, name: str = "image") -> None:
        if self._source_image is None:
            return
        source = self._source_image
        limited = limit_size(source, MAX_INPUT_SIDE)
        fitted = fit_to_multiple_of_8(limited, self.generation.fit_policy)
        note = describe_fit(limited.size(), self.generation.fit_policy)
        if limited.size() != source.size():
            note = f"{source.width()}x{source.height()} scaled to {limited.width()}x{limited.height()}, then {note}"
        self._result_view = False
        self._result_over_input = None
        self._shown_entry = None
        self.canvas.set_image(fitted)
        self._update_mode()
        self.controls.size_note.setText(f"Input {name}: {note}")
        self.statusBar().showMessage(f"Opened {name}: {note}", 8000)

    def _on_fit_policy(self, _policy: str) -> None:
        if self._source_image is not None and not self._result_view:
            self._apply_fit()

    def open_image_dialog(self) -> None:
        path = self.dialogs.open_image(self)
        if path:
            self.open_image(path)

    def paste(self) -> bool:
        """Paste an image (or an image file copied in a file manager) as the input."""
        return self.open_mime(QGuiApplication.clipboard().mimeData(), "pasted image")

    def open_mime(self, mime: QMimeData | None, name: str) -> bool:
        if mime is None:
            return False
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES:
                return self.open_image(url.toLocalFile())
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.set_input_image(image.convertToFormat(QImage.Format.Format_RGB32), name)
                return True
        self.show_message("The clipboard has no image to paste", "warning")
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        files = [u for u in mime.urls() if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]
        if files or mime.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.open_mime(event.mimeData(), "dropped image"):
            event.acceptProposedAction()

    # ---- canvas state ------------------------------------------------------------------------------

    def use_shown_as_input(self) -> None:
        """Make the image on screen (a result) the img2img/inpaint input; keeps the mask of an inpaint."""
        if self._result_over_input is not None:
            image, keep = self._result_over_input, True
        elif self._result_view and self.canvas.image() is not None:
            image, keep = self.canvas.image(), True
        else:
            return
        self._input_name = self._shown_entry.path.name if self._shown_entry is not None else "result"
        self._result_over_input = None
        self._result_view = False
        self._source_image = None
        self.canvas.set_image(image, keep_mask=keep)
        self._update_mode()

    def show_input(self) -> None:
        """Hide a result shown over its input."""
        self._result_over_input = None
        self.canvas.clear_preview()
        self._update_mode()

    def clear_canvas(self) -> None:
        self._result_over_input = None
        self._result_view = False
        self._source_image = None
        self._shown_entry = None
        self.canvas.set_image(None)
        self.canvas.set_canvas_size(*self.generation.size)
        self._update_mode()

    # ---- gallery -----------------------------------------------------------------------------------

    def show_entry(self, entry: GalleryEntry) -> None:
        """Show a past image and restore the settings that made it."""
        image = QImage(str(entry.path))
        if image.isNull():
            self.show_message(f"Could not read {entry.path}; it may have been moved or deleted")
            return
        if entry.request is not None:
            self.controls.apply_request(entry.request, entry.model)
        self._show_result_image(image)
        self._shown_entry = entry

    def use_entry_as_input(self, entry: GalleryEntry) -> None:
        self.open_image(entry.path, ask_restore=False)

    def export_entry_dialog(self, entry: GalleryEntry) -> None:
        target = self.dialogs.save_image(self, str(entry.path.with_suffix(".png").name))
        if target:
            try:
                export.export_file(entry.path, target)
            except SdStudioError as error:
                self.show_message(str(error))
                return
            self.show_message(f"Exported {Path(target).name}", "info")

    def delete_entry(self, entry: GalleryEntry) -> None:
        if not self.dialogs.ask(self, "Delete image?", f"Delete {entry.path.name} from disk? This cannot be undone."):
            return
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as error:
            self.show_message(f"Could not delete {entry.path}: {error.strerror or error}")
            return
        self.gallery.remove(entry.path)
        if self._shown_entry is not None and self._shown_entry.path == entry.path:
            self._shown_entry = None
        self.statusBar().showMessage(f"Deleted {entry.path.name}", 5000)

    # ---- files out -----------------------------------------------------------------------------------

    def shown_parameters(self) -> str | None:
        entry = self._shown_entry
        if entry is None or entry.request is None:
            return None
        return entry.parameters or format_parameters(entry.request, entry.model or "")

    def save_as(self, path: str | Path) -> bool:
        image = self.displayed_image()
        if image is None:
            self.show_message("There is no image to save", "warning")
            return False
        try:
            export.save_qimage(image, path, self.shown_parameters())
        except (SdStudioError, OSError) as error:
            self.show_message(f"Could not save {path}: {error}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def save_as_dialog(self) -> None:
        entry = self._shown_entry
        suggested = entry.path.name if entry is not None else "image.png"
        path = self.dialogs.save_image(self, suggested)
        if path:
            self.save_as(path)

    def copy_image(self) -> None:
        image = self.displayed_image()
        if image is not None:
            QGuiApplication.clipboard().setImage(image)
            self.statusBar().showMessage("Image copied", 3000)

    def export_mask(self, path: str | Path) -> bool:
        try:
            export.save_mask(self.canvas.mask(), path)
        except (SdStudioError, OSError) as error:
            self.show_message(f"Could not save the mask to {path}: {error}")
            return False
        self.statusBar().showMessage(f"Mask saved to {path}", 5000)
        return True

    def export_mask_dialog(self) -> None:
        path = self.dialogs.save_mask(self, "mask.png")
        if path:
            self.export_mask(path)

    def load_mask_file(self, path: str | Path) -> bool:
        if not self.canvas.has_image():
            self.show_message("Open an image before loading a mask", "warning")
            return False
        try:
            mask = load_mask(path)
        except SdStudioError as error:
            self.show_message(str(error))
            return False
        self.canvas.set_mask(mask_to_qimage(mask))
        return True

    def load_mask_dialog(self) -> None:
        path = self.dialogs.open_mask(self)
        if path:
            self.load_mask_file(path)

    def choose_output_dir(self) -> None:
        folder = self.dialogs.folder(self, "Output folder", self.settings.output_dir)
        if folder:
            self.set_output_dir(folder)

    def set_output_dir(self, folder: str | Path) -> None:
        self.settings.output_dir = str(folder)
        self.store.changed()
        self.gallery.clear()
        self.gallery.load_folder(self.output_dir(), self.settings.gallery_limit)
        self.statusBar().showMessage(f"Images will be saved to {folder}", 5000)

    def _on_settings_save_failed(self, message: str) -> None:
        self.show_message(message, "warning")

    # ---- closing ---------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, stop the engine thread (a running job stops at its next step), then close."""
        if not self._closing:
            self._closing = True
            self.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
            self.settings.window_state = bytes(self.splitter.saveState().toBase64().data()).decode("ascii")
            self.settings.explorer_visible = self.explorer_dock.isVisible()
            self.store.save()
            self.jobs.shutdown(self.stop_timeout_ms)
        event.accept()
        super().closeEvent(event)
