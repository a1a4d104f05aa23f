"""The toolbar over the canvas: brush/eraser, brush size, hardness and overlay opacity, mask edits.

It drives the canvas through the canvas's own actions and setters (one shortcut per action,
no duplicates), and keeps the brush settings in `Settings` so they survive a restart. Until the
user picks a brush size, the brush follows the image (`default_brush_size`): a fixed 32 px would
cover half of a 64-px image.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QSlider, QToolButton, QWidget

from sdstudio.ui.canvas import MAX_BRUSH, MIN_BRUSH, Canvas
from sdstudio.ui.flow_layout import FlowLayout
from sdstudio.ui.settings import Settings

BRUSH_FRACTION = 16
"""The default brush is 1/16 of the image's shorter side: 32 px at 512, 4 px at 64."""
SLIDER_MAX = min(MAX_BRUSH, 256)


def default_brush_size(width: int, height: int) -> int:
    return max(2, min(SLIDER_MAX, round(min(width, height) / BRUSH_FRACTION)))


def _slider(minimum: int, maximum: int, width: int = 96) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(minimum, maximum)
    slider.setFixedWidth(width)
    return slider


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def _group(widgets: tuple[QWidget, ...]) -> QWidget:
    group = QWidget()
    row = QHBoxLayout(group)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(5)
    for widget in widgets:
        row.addWidget(widget)
    return group


class MaskToolbar(QWidget):
    """Mask painting controls bound to a Canvas and to the brush fields of Settings."""

    changed = Signal()
    save_mask_clicked = Signal()
    load_mask_clicked = Signal()

    def __init__(self, canvas: Canvas, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas, self.settings = canvas, settings
        self._applying_default = False

        self.brush_button = self._action_button(canvas.brush_action, "Brush (B): paint the region to repaint")
        self.eraser_button = self._action_button(canvas.eraser_action, "Eraser (E): remove from the mask")
        self.size_slider = _slider(MIN_BRUSH, SLIDER_MAX, 80)
        self.size_slider.setToolTip("Brush size in image pixels ([ and ] change it)")
        self.size_label = QLabel()
        self.size_label.setObjectName("valueLabel")
        self.hardness_slider = _slider(0, 100, 64)
        self.hardness_slider.setToolTip("Brush hardness: lower values feather the edge")
        self.hardness_label = QLabel()
        self.hardness_label.setObjectName("valueLabel")
        self.opacity_slider = _slider(0, 100, 64)
        self.opacity_slider.setToolTip("How strongly the mask overlay tints the image")
        self.opacity_label = QLabel()
        self.opacity_label.setObjectName("valueLabel")
        self.show_button = self._action_button(canvas.show_mask_action, "Show or hide the mask overlay (H)")
        self.show_button.setText("Show")
        self.clear_button = self._action_button(canvas.clear_mask_action, "Clear the mask (Delete)", "Clear")
        self.undo_button = self._action_button(canvas.undo_action, "Undo the last mask edit (Ctrl+Z)", "Undo")
        self.redo_button = self._action_button(canvas.redo_action, "Redo (Ctrl+Shift+Z)", "Redo")
        self.more_button = QToolButton()
        self.more_button.setText("More")
        self.more_button.setToolTip("Invert or fill the mask, load or save a mask file")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.more_button)
        menu.addAction(canvas.invert_mask_action)
        menu.addAction(canvas.fill_mask_action)
        menu.addSeparator()
        self.load_action = QAction("Load Mask...", self)
        self.load_action.triggered.connect(self.load_mask_clicked)
        self.save_action = QAction("Save Mask...", self)
        self.save_action.triggered.connect(self.save_mask_clicked)
        menu.addAction(self.load_action)
        menu.addAction(self.save_action)
        self.more_button.setMenu(menu)

        # Groups that stay whole and wrap onto a second row when the canvas column is narrow.
        layout = FlowLayout(self, spacing=7)
        layout.setContentsMargins(6, 4, 6, 4)
        for group in ((self.brush_button, self.eraser_button),
                      (QLabel("Size"), self.size_slider, self.size_label),
                      (QLabel("Hardness"), self.hardness_slider, self.hardness_label),
                      (QLabel("Opacity"), self.opacity_slider, self.opacity_label),
                      (_separator(), self.show_button, self.clear_button),
                      (self.undo_button, self.redo_button, self.more_button)):
            layout.addWidget(_group(group))

        self.size_slider.valueChanged.connect(self._on_size)
        self.hardness_slider.valueChanged.connect(self._on_hardness)
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        canvas.brush_size_changed.connect(self._show_size)
        canvas.image_changed.connect(self._follow_image)
        self.apply_settings()

    def _action_button(self, action: QAction, tip: str, text: str | None = None) -> QToolButton:
        """A button for a canvas action: the action itself for toggles, a short-labelled trigger
        (enabled with the action) for commands whose menu text is longer."""
        button = QToolButton()
        if text is None:
            button.setDefaultAction(action)
        else:
            button.setText(text)
            button.setEnabled(action.isEnabled())
            button.clicked.connect(action.trigger)
            action.enabledChanged.connect(button.setEnabled)
        button.setToolTip(tip)
        return button

    def apply_settings(self) -> None:
        """Push the saved brush settings into the canvas and the sliders."""
        s = self.settings
        if s.brush_size > 0:
            self.canvas.brush_size = s.brush_size
        else:
            self._follow_image()
        self.canvas.brush_hardness = s.brush_hardness
        self.canvas.mask_opacity = s.mask_opacity
        with QSignalBlocker(self.size_slider), QSignalBlocker(self.hardness_slider), \
                QSignalBlocker(self.opacity_slider):
            self.size_slider.setValue(self.canvas.brush_size)
            self.hardness_slider.setValue(round(self.canvas.brush_hardness * 100))
            self.opacity_slider.setValue(round(self.canvas.mask_opacity * 100))
        self._mirror_size(self.canvas.brush_size)
        self.hardness_label.setText(f"{self.hardness_slider.value()}%")
        self.opacity_label.setText(f"{self.opacity_slider.value()}%")

    def _follow_image(self) -> None:
        """A new image on the canvas: the brush takes its default size for it, unless the user
        has chosen a size (then that size stays, as in any paint program)."""
        image = self.canvas.image()
        if self.settings.brush_size > 0 or image is None:
            return
        self._applying_default = True
        try:
            self.canvas.brush_size = default_brush_size(image.width(), image.height())
        finally:
            self._applying_default = False

    def _on_size(self, value: int) -> None:
        self.canvas.brush_size = value

    def _mirror_size(self, size: int) -> None:
        with QSignalBlocker(self.size_slider):
            self.size_slider.setValue(size)
        self.size_label.setText(f"{size} px")

    def _show_size(self, size: int) -> None:
        """The canvas changed its brush: mirror it, and remember it when the user chose it
        (slider, [ ] keys), not when it followed the image."""
        self._mirror_size(size)
        if not self._applying_default and self.settings.brush_size != size:
            self.settings.brush_size = size
            self.changed.emit()

    def _on_hardness(self, value: int) -> None:
        self.canvas.brush_hardness = value / 100
        self.settings.brush_hardness = value / 100
        self.hardness_label.setText(f"{value}%")
        self.changed.emit()

    def _on_opacity(self, value: int) -> None:
        self.canvas.mask_opacity = value / 100
        self.settings.mask_opacity = value / 100
        self.opacity_label.setText(f"{value}%")
        self.changed.emit()
