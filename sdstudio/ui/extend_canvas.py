"""Image > Extend canvas: choose how far to outpaint on each side, see the new area, get a masked input.

An outpaint is an inpaint of a larger canvas (`sdstudio.engine.outpaint`, torch-free): the new
strips are filled with the image's edge colours and noise, and the mask covers them plus a
small overlap into the picture so the seam is repainted. The dialog previews exactly that mask
over the image, and accepting puts the same canvas and mask on the app's canvas: the next
Generate is the outpaint, and the user can still adjust the mask before it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.qimage import mask_to_qimage, pil_to_qimage, qimage_to_pil
from sdstudio.engine.outpaint import DEFAULT_OVERLAP, DEFAULT_STRENGTH, Extension, canvas_size, extend_canvas, mask
from sdstudio.errors import InputError

MAX_EXTEND = 1024  # per side; more is better done in steps, each outpaint seeing the last
MAX_CANVAS_SIDE = 4096  # the controls' largest side
SIDES = ("left", "top", "right", "bottom")
NEW_AREA = QColor(255, 40, 110, 110)  # the canvas's mask tint, so the preview reads as "this is repainted"
BACKDROP = QColor(0x24, 0x24, 0x24)
OUTLINE = QColor(0xE6, 0xE6, 0xE6)
OUTPAINT_STRENGTH = DEFAULT_STRENGTH  # at least this denoise, or a normal model keeps the blurred fill


def extended_input(image: QImage, extension: Extension, seed: int = 0) -> tuple[QImage, QImage]:
    """The canvas to inpaint (picture + filled strips) and its mask, as the engine's outpaint makes them."""
    canvas, canvas_mask = extend_canvas(qimage_to_pil(image), extension, seed)
    return pil_to_qimage(canvas), mask_to_qimage(canvas_mask)


def mask_overlay(image_size: tuple[int, int], extension: Extension) -> QImage:
    """The repaint mask of this extension as a tinted, transparent overlay (the preview's new area)."""
    alpha = np.asarray(mask(image_size, extension, DEFAULT_OVERLAP), dtype=np.uint8)
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = NEW_AREA.red(), NEW_AREA.green(), NEW_AREA.blue()
    rgba[..., 3] = (alpha.astype(np.uint16) * NEW_AREA.alpha() // 255).astype(np.uint8)
    height, width = alpha.shape
    return QImage(rgba.tobytes(), width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


class ExtendPreview(QWidget):
    """The extended canvas scaled to fit: the picture where it stays, the area to repaint tinted."""

    def __init__(self, image: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = image
        self._extension = Extension()
        self._overlay: QImage | None = None
        self.setMinimumSize(220, 160)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(360, 280)

    def set_extension(self, extension: Extension) -> None:
        self._extension = extension
        size = (self._image.width(), self._image.height())
        self._overlay = mask_overlay(size, extension) if any(extension.sides) else None
        self.update()

    def canvas_rect(self) -> QRectF:
        """Where the whole extended canvas is drawn in the widget."""
        width, height = canvas_size((self._image.width(), self._image.height()), self._extension)
        scale = min((self.width() - 8) / width, (self.height() - 8) / height)
        shown = QSize(max(1, round(width * scale)), max(1, round(height * scale)))
        return QRectF((self.width() - shown.width()) / 2, (self.height() - shown.height()) / 2,
                      shown.width(), shown.height())

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKDROP)
        target = self.canvas_rect()
        width, _height = canvas_size((self._image.width(), self._image.height()), self._extension)
        scale = target.width() / width
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        picture = QRectF(target.left() + self._extension.left * scale, target.top() + self._extension.top * scale,
                         self._image.width() * scale, self._image.height() * scale)
        painter.drawImage(picture, self._image)
        if self._overlay is not None:
            painter.drawImage(target, self._overlay)
        painter.setPen(QPen(OUTLINE, 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(target.adjusted(0.5, 0.5, -0.5, -0.5))
        painter.end()


class ExtendCanvasDialog(QDialog):
    """Left/top/right/bottom in multiples of 8, the new size, and the preview; `extension()` when accepted."""

    extension_changed = Signal(object)  # Extension

    def __init__(self, image: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Extend canvas")
        self._image = image
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        for side in SIDES:
            spin = QSpinBox()
            spin.setRange(0, MAX_EXTEND)
            spin.setSingleStep(8)
            spin.setSuffix(" px")
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._on_value)
            self.spins[side] = spin
            form.addRow(side.capitalize(), spin)
        self.size_label = QLabel()
        self.note = QLabel(
            f"The tinted area is repainted: the new strips and {DEFAULT_OVERLAP} px of the picture beside them, "
            "so the seam blends. Generate then outpaints; you can still edit the mask first."
        )
        self.note.setObjectName("dimLabel")
        self.note.setWordWrap(True)
        self.preview = ExtendPreview(image)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Extend")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.size_label)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self._on_value()

    def set_sides(self, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> None:
        for side, value in zip(SIDES, (left, top, right, bottom), strict=True):
            self.spins[side].setValue(value)

    def extension(self) -> Extension:
        """The sides as shown (each a multiple of 8); it may add nothing (then Extend is disabled)."""
        return Extension(*(self.spins[side].value() for side in SIDES))

    def _on_value(self, _value: int = 0) -> None:
        """Typed values snap to the nearest multiple of 8 (the VAE works in 8-pixel cells)."""
        for spin in self.spins.values():
            if spin.value() % 8:
                spin.setValue(round(spin.value() / 8) * 8)  # re-enters once with the snapped value
                return
        extension = self.extension()
        size = (self._image.width(), self._image.height())
        new_size = canvas_size(size, extension)
        problem = self._problem(extension, new_size)
        self.size_label.setText(f"{size[0]} \u00d7 {size[1]} \u2192 {new_size[0]} \u00d7 {new_size[1]} px"
                                + (f"  ({problem})" if problem else ""))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        self.preview.set_extension(extension)
        self.extension_changed.emit(extension)

    @staticmethod
    def _problem(extension: Extension, new_size: tuple[int, int]) -> str:
        if max(new_size) > MAX_CANVAS_SIDE:
            return f"larger than {MAX_CANVAS_SIDE} px"
        try:
            extension.checked()
        except InputError:
            return "extend at least one side"
        return ""


def ask_extension(parent: QWidget | None, image: QImage) -> Extension | None:
    """Run the dialog; the extension chosen, or None when cancelled."""
    dialog = ExtendCanvasDialog(image, parent)
    return dialog.extension() if dialog.exec() == QDialog.DialogCode.Accepted else None
