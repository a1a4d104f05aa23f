"""Image > Extend canvas: the dialog's sides and size, its preview of the area to repaint, and the
masked input it produces (the engine's own outpaint canvas, so the next Generate outpaints)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDialogButtonBox

from sdstudio.bridge.qimage import pil_to_qimage, qimage_to_mask, qimage_to_pil
from sdstudio.engine.outpaint import DEFAULT_OVERLAP, Extension, extend_canvas
from sdstudio.ui.extend_canvas import ExtendCanvasDialog, extended_input
from tests.ui.conftest import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
BLUE = (20, 60, 220)


def _picture(width: int = 64, height: int = 48) -> QImage:
    rng = np.random.default_rng(3)
    return pil_to_qimage(Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)))


def test_the_input_is_the_engines_outpaint_canvas_and_mask(qtbot):
    image = _picture()
    extension = Extension(left=16, top=0, right=8, bottom=24)
    canvas, mask = extended_input(image, extension, seed=7)
    assert (canvas.width(), canvas.height()) == (64 + 24, 48 + 24)
    engine_canvas, engine_mask = extend_canvas(qimage_to_pil(image), extension, seed=7)
    assert np.array_equal(np.asarray(qimage_to_pil(canvas)), np.asarray(engine_canvas))
    assert np.array_equal(np.asarray(qimage_to_mask(mask)), np.asarray(engine_mask))
    pixels, original = np.asarray(qimage_to_pil(canvas)), np.asarray(qimage_to_pil(image))
    assert np.array_equal(pixels[0:48, 16:80], original)  # the picture itself is untouched
    repaint = np.asarray(qimage_to_mask(mask))
    assert repaint[:, :16].min() == 255 and repaint[48:, :].min() == 255  # the new strips
    assert repaint[:, 16 : 16 + DEFAULT_OVERLAP].min() == 255  # and the overlap into the picture
    assert repaint[0:48 - DEFAULT_OVERLAP, 16 + DEFAULT_OVERLAP : 80 - DEFAULT_OVERLAP].max() == 0


def _dialog(qtbot, image: QImage) -> ExtendCanvasDialog:
    dialog = ExtendCanvasDialog(image)
    qtbot.addWidget(dialog)
    return dialog


def test_the_dialog_shows_the_new_size_and_keeps_sides_in_multiples_of_8(qtbot):
    dialog = _dialog(qtbot, _picture(512, 512))
    extend = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not extend.isEnabled()  # nothing to extend yet
    dialog.set_sides(left=64, right=32)
    assert dialog.size_label.text().startswith("512 \u00d7 512 \u2192 608 \u00d7 512")
    assert extend.isEnabled() and dialog.extension() == Extension(64, 0, 32, 0)
    dialog.spins["top"].setValue(30)  # typed: snapped to the nearest multiple of 8
    assert dialog.spins["top"].value() == 32 and dialog.extension().top == 32
    dialog.spins["bottom"].setValue(1020)
    assert dialog.spins["bottom"].value() == 1024


def test_a_canvas_past_the_largest_side_is_refused(qtbot):
    dialog = _dialog(qtbot, _picture(3584, 8))
    dialog.set_sides(left=512, right=8)
    assert "larger than 4096" in dialog.size_label.text()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def _color(image: QImage, x: float, y: float) -> tuple[int, int, int]:
    color = QColor(image.pixel(round(x), round(y)))
    return color.red(), color.green(), color.blue()


def test_the_preview_tints_the_new_area_over_the_picture(qtbot):
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor(*BLUE))
    dialog = _dialog(qtbot, image)
    dialog.set_sides(left=64)
    preview = dialog.preview
    shot = preview.grab().toImage()
    target = preview.canvas_rect()
    scale = target.width() / 128  # the 128 x 64 canvas, fitted to the widget
    assert target.height() == pytest.approx(64 * scale, abs=1)
    y = target.center().y()
    new_area = _color(shot, target.left() + 32 * scale, y)
    overlap = _color(shot, target.left() + (64 + DEFAULT_OVERLAP / 2) * scale, y)
    kept = _color(shot, target.left() + 112 * scale, y)
    assert kept == BLUE
    assert new_area[0] > 100 > new_area[2]  # the tint over the empty backdrop
    assert overlap[0] > 80 and overlap[2] < BLUE[2]  # the seam is tinted too: it is repainted
