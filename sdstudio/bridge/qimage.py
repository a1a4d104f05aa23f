"""QImage <-> PIL conversions (no torch), shared by the worker and the widgets: requests carry PIL,
widgets show QImage. Every QImage made here owns its pixels, so it may cross threads."""

from __future__ import annotations

from PIL import Image
from PySide6.QtGui import QImage


def qimage_to_pil(image: QImage) -> Image.Image:
    """An RGB PIL copy of `image` (alpha is dropped: the engine works on RGB)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    data = bytes(rgb.constBits())[: stride * height]
    return Image.frombuffer("RGB", (width, height), data, "raw", "RGB", stride, 1).copy()


def qimage_to_mask(image: QImage) -> Image.Image:
    """A Grayscale8 (or any) QImage as a PIL "L" mask; white = repaint."""
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height, stride = gray.width(), gray.height(), gray.bytesPerLine()
    data = bytes(gray.constBits())[: stride * height]
    return Image.frombuffer("L", (width, height), data, "raw", "L", stride, 1).copy()


def pil_to_qimage(image: Image.Image) -> QImage:
    """A QImage that owns its pixels (copied), so the PIL buffer may go away."""
    rgb = image.convert("RGB")
    return QImage(rgb.tobytes(), rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def mask_to_qimage(mask: Image.Image) -> QImage:
    """A PIL mask as an owned Grayscale8 QImage (white = repaint), the canvas's mask format."""
    gray = mask.convert("L")
    return QImage(gray.tobytes(), gray.width, gray.height, gray.width, QImage.Format.Format_Grayscale8).copy()
