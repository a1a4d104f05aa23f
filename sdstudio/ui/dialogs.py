"""Every question and file chooser the window shows, behind one object that tests replace.

Modal dialogs cannot be clicked through in an offscreen test; a test gives the window a
`Dialogs` subclass with scripted answers instead, and the code paths stay the real ones.
"""

from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from sdstudio.engine.outpaint import Extension
from sdstudio.ui.extend_canvas import ask_extension

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;All files (*)"
SAVE_FILTERS = "PNG with metadata (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp)"
MASK_FILTER = "Mask images (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)"


class Dialogs:
    """Real dialogs; each returns None (or False) when the user cancels."""

    def ask(self, parent: QWidget | None, title: str, text: str) -> bool:
        buttons = QMessageBox.StandardButton
        return QMessageBox.question(parent, title, text, buttons.Yes | buttons.No) == buttons.Yes

    def open_image(self, parent: QWidget | None, start: str = "") -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Open image", start, IMAGE_FILTER)
        return path or None

    def save_image(self, parent: QWidget | None, suggested: str) -> str | None:
        path, chosen = QFileDialog.getSaveFileName(parent, "Save image as", suggested, SAVE_FILTERS)
        if not path:
            return None
        if "." not in path.rsplit("/", 1)[-1]:
            path += ".jpg" if chosen.startswith("JPEG") else ".webp" if chosen.startswith("WebP") else ".png"
        return path

    def open_mask(self, parent: QWidget | None, start: str = "") -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Load mask", start, MASK_FILTER)
        return path or None

    def save_mask(self, parent: QWidget | None, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, "Export mask", suggested, "PNG (*.png)")
        if path and not path.lower().endswith(".png"):
            path += ".png"
        return path or None

    def folder(self, parent: QWidget | None, title: str, start: str = "") -> str | None:
        path = QFileDialog.getExistingDirectory(parent, title, start)
        return path or None

    def extend_canvas(self, parent: QWidget | None, image: QImage) -> Extension | None:
        """Image > Extend canvas: the pixels to add on each side, or None."""
        return ask_extension(parent, image)
