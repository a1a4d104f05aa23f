"""The main window's actions, shortcuts and menus (window-wide, so they work wherever focus is).

Mixed into MainWindow.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QMenu, QPlainTextEdit, QTextEdit, QWidget

REPEAT_COUNTS = (2, 4, 8, 16)


class WindowActions:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

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
        self.rescan_action = self._action("Rescan Models", self.rescan_backend)
        self.backend_action = self._action("Backend...", self.backend_dialog, None,
                                           "Generate on this computer or on ComfyUI server(s)")
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.use_result_action = self._action("Use Image as Input", self.use_shown_as_input, "Ctrl+Shift+I")
        self.clear_canvas_action = self._action("Clear Canvas", self.clear_canvas, "Ctrl+Shift+N")
        self.extend_canvas_action = self._action("Extend Canvas...", self.extend_canvas_dialog, None,
                                                 "Outpaint: add pixels on any side, masked for the next Generate")
        self.random_seed_action = self._action("New Random Seed", self.controls.randomize_seed, "Ctrl+R")
        # The canvas's own actions, made window-wide so View/Edit shortcuts and the brush keys work
        # wherever focus is (a thumbnail, a slider). Text fields keep their letters and their own
        # Ctrl+Z: they claim those keys with ShortcutOverride, and the Undo item then says so.
        c = self.canvas
        for action in (c.fit_action, c.zoom_100_action, c.zoom_in_action, c.zoom_out_action, c.undo_action,
                       c.redo_action, c.brush_action, c.eraser_action, c.grow_brush_action, c.shrink_brush_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        for action, slot in ((c.undo_action, c.undo), (c.redo_action, c.redo)):
            action.triggered.disconnect(slot)
        c.undo_action.triggered.connect(self.undo)
        c.redo_action.triggered.connect(self.redo)
        QApplication.instance().focusChanged.connect(self.refresh_edit_actions)

    def _text_focus(self) -> QWidget | None:
        """The focused text field (prompt, seed, a spin box), if the user is typing in one."""
        widget = QApplication.focusWidget()
        if isinstance(widget, QAbstractSpinBox):
            return widget
        if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit) and not widget.isReadOnly():
            return widget
        return None

    def refresh_edit_actions(self, *_focus: object) -> None:
        """Edit > Undo/Redo name what they act on: the typing in a focused text field, else the mask."""
        typing = self._text_focus() is not None
        canvas = self.canvas
        canvas.undo_action.setText("Undo Typing" if typing else "Undo Mask Edit")
        canvas.redo_action.setText("Redo Typing" if typing else "Redo Mask Edit")
        canvas.undo_action.setEnabled(typing or canvas.can_undo())
        canvas.redo_action.setEnabled(typing or canvas.can_redo())

    def undo(self) -> None:
        self._edit_history("undo")

    def redo(self) -> None:
        self._edit_history("redo")

    def _edit_history(self, step: str) -> None:
        """Undo or redo in the focused text field (its own history), else in the mask."""
        widget = self._text_focus()
        if isinstance(widget, QAbstractSpinBox):
            widget = widget.lineEdit()
        getattr(widget if widget is not None else self.canvas, step)()

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for item in (self.open_action, self.save_as_action, None, self.copy_action, self.paste_action, None,
                     self.load_mask_action, self.export_mask_action, None, self.output_dir_action,
                     self.add_models_action, self.rescan_action, self.backend_action, None, self.quit_action):
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
        self.network_action = self.network_dock.toggleViewAction()
        self.network_action.setText("LoRAs && Embeddings")
        self.network_action.setShortcut(QKeySequence("Ctrl+L"))
        self.network_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        for item in (c.fit_action, c.zoom_100_action, c.zoom_in_action, c.zoom_out_action, None, c.show_mask_action,
                     None, self.explorer_action, self.network_action):
            view_menu.addSeparator() if item is None else view_menu.addAction(item)
        image_menu = bar.addMenu("&Image")
        self.trajectory_action = self._action("Generate with Trajectory", self._run_trajectory, "Ctrl+T",
                                              "Generate and keep every step to scrub and branch from")
        for item in (self.generate_action, self.trajectory_action, self.cancel_action, None, self.use_result_action,
                     self.extend_canvas_action, self.clear_canvas_action, self.random_seed_action):
            image_menu.addSeparator() if item is None else image_menu.addAction(item)
        image_menu.insertMenu(self.trajectory_action, self._repeat_menu())

    def _repeat_menu(self) -> QMenu:
        """Image > Generate N Times: N queued jobs, seed+1 each (or a new random seed each)."""
        menu = QMenu("Generate N Times", self)
        self.repeat_random_action = QAction("New random seed each time", self)
        self.repeat_random_action.setCheckable(True)
        for count in REPEAT_COUNTS:
            action = menu.addAction(f"{count} times")
            action.setData(count)
            action.triggered.connect(self._generate_repeated)
        menu.addSeparator()
        menu.addAction(self.repeat_random_action)
        return menu

    def _generate_repeated(self) -> None:
        action = self.sender()
        if isinstance(action, QAction) and isinstance(action.data(), int):
            self.generate_times(action.data(), next_seed=not self.repeat_random_action.isChecked())
