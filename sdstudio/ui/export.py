"""Writing images and masks the user asks for: atomically, with their parameters where known.

The format follows the file name (PNG keeps parameters in a text chunk, JPEG/WebP in EXIF), so
an exported copy still restores its settings when dropped back onto the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from sdstudio.bridge.qimage import qimage_to_mask, qimage_to_pil
from sdstudio.io.images import load_image, read_parameters_text, save_image


def save_qimage(image: QImage, path: Path | str, parameters: str | None = None) -> Path:
    """Save what is on screen (PNG/JPEG/WebP by suffix), with `parameters` as metadata."""
    return save_image(qimage_to_pil(image), path, parameters)


def export_file(source: Path | str, destination: Path | str) -> Path:
    """A copy of an output file in the destination's format, keeping its parameters."""
    try:
        parameters = read_parameters_text(source)
    except Exception:  # noqa: BLE001 - metadata is a bonus; the pixels are what must be exported
        parameters = None
    return save_image(load_image(source), destination, parameters)


def save_mask(mask: QImage, path: Path | str) -> Path:
    """A grayscale PNG (white = repaint), the mask format other tools read."""
    return save_image(qimage_to_mask(mask), path)
