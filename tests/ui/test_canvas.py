"""The canvas as a user drives it: strokes land on the right image pixels at any zoom and pan,
edits undo exactly, and previews never touch the mask."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

from sdstudio.ui.canvas import Canvas, gray_to_qimage, qimage_to_gray
from sdstudio.ui.mask_layer import MaskLayer, brush_alpha

LEFT = Qt.MouseButton.LeftButton
MIDDLE = Qt.MouseButton.MiddleButton
NO_MOD = Qt.KeyboardModifier.NoModifier

# The canvas is 400x300; a 64x64 image at 100% has its top-left at ((400-64)/2, (300-64)/2).
WIDGET_W, WIDGET_H = 400, 300
ORIGIN_100 = (168, 118)


def _image(width: int = 64, height: int = 64, color: QColor | None = None) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(color or QColor(40, 90, 160))
    return image


def _mask(canvas: Canvas) -> np.ndarray:
    return qimage_to_gray(canvas.mask())


def _stroke(canvas: Canvas, points: list[tuple[int, int]], button=LEFT) -> None:
    """Press at the first widget point, move through the rest, release at the last."""
    first, *rest = [QPoint(x, y) for x, y in points]
    QTest.mousePress(canvas, button, NO_MOD, first)
    for point in rest:
        QTest.mouseMove(canvas, point)
    QTest.mouseRelease(canvas, button, NO_MOD, rest[-1] if rest else first)


def _at(canvas: Canvas, x: float, y: float) -> tuple[int, int]:
    """The widget point over image point (x, y), from the 100% layout the test knows."""
    origin, zoom = ORIGIN_100, canvas.zoom
    assert zoom == 1.0
    return round(origin[0] + x), round(origin[1] + y)


@pytest.fixture
def canvas(qtbot) -> Canvas:
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.resize(WIDGET_W, WIDGET_H)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_image(_image())
    widget.zoom_100()
    widget.brush_size = 10
    widget.brush_hardness = 1.0
    return widget


def test_hard_stroke_paints_inside_and_nothing_far_away(canvas: Canvas, qtbot) -> None:
    with qtbot.waitSignal(canvas.mask_changed):
        _stroke(canvas, [_at(canvas, 10, 32), _at(canvas, 30, 32), _at(canvas, 50, 32)])
    mask = _mask(canvas)
    assert mask.shape == (64, 64)
    assert (mask[30:34, 10:50] == 255).all()  # the whole line, including between mouse events
    assert (mask[:20] == 0).all() and (mask[45:] == 0).all()
    assert mask[32, 58] == 0  # beyond the end cap
    assert canvas.has_mask()
    assert set(np.unique(mask)) <= {0, 255} | set(range(1, 255))  # uint8 grayscale, white = repaint


def test_a_fast_stroke_is_continuous(canvas: Canvas) -> None:
    """Only two mouse positions 50 px apart: the segment between them is painted too."""
    canvas.brush_size = 4
    _stroke(canvas, [_at(canvas, 5, 10), _at(canvas, 55, 60)])
    mask = _mask(canvas)
    for t in np.linspace(0.0, 1.0, 26):
        x, y = 5 + 50 * t, 10 + 50 * t
        assert mask[int(y), int(x)] > 0, (x, y)


def test_soft_brush_has_a_grey_feathered_edge(canvas: Canvas) -> None:
    canvas.brush_size = 40
    canvas.brush_hardness = 0.3
    _stroke(canvas, [_at(canvas, 32, 32)])  # a click: one round dab of radius 20
    mask = _mask(canvas)
    assert mask[32, 32] == 255  # the hard core
    edge = mask[32, 32 + 14]  # 14.5 px from the centre: in the feather
    assert 0 < edge < 255
    assert mask[32, 32 + 8] > edge  # coverage falls off outward
    assert mask[0, 0] == 0


def test_eraser_removes_only_where_it_goes(canvas: Canvas) -> None:
    canvas.fill_mask()
    canvas.tool = "eraser"
    _stroke(canvas, [_at(canvas, 32, 5), _at(canvas, 32, 60)])
    mask = _mask(canvas)
    assert (mask[5:60, 30:34] == 0).all()
    assert (mask[:, :20] == 255).all()


def test_painting_without_an_image_does_nothing(qtbot) -> None:
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(WIDGET_W, WIDGET_H)
    canvas.set_canvas_size(64, 64)
    canvas.zoom_100()
    _stroke(canvas, [_at(canvas, 10, 10), _at(canvas, 50, 50)])
    assert not canvas.has_mask()
    assert not canvas.can_undo()
    assert canvas.mask().size() == QSize(64, 64)


def test_undo_and_redo_restore_the_exact_mask(canvas: Canvas, qtbot) -> None:
    canvas.brush_hardness = 0.5
    _stroke(canvas, [_at(canvas, 10, 10), _at(canvas, 40, 20)])
    first = _mask(canvas)
    _stroke(canvas, [_at(canvas, 20, 50), _at(canvas, 50, 30), _at(canvas, 10, 40)])
    second = _mask(canvas)
    assert not np.array_equal(first, second)

    with qtbot.waitSignal(canvas.mask_changed):
        canvas.undo()
    assert np.array_equal(_mask(canvas), first)
    canvas.undo()
    assert not _mask(canvas).any()
    assert not canvas.can_undo() and canvas.can_redo()
    canvas.redo()
    assert np.array_equal(_mask(canvas), first)
    canvas.redo()
    assert np.array_equal(_mask(canvas), second)
    assert not canvas.can_redo()


def test_invert_fill_clear_are_undoable(canvas: Canvas) -> None:
    _stroke(canvas, [_at(canvas, 20, 20)])
    painted = _mask(canvas)
    canvas.invert_mask()
    assert np.array_equal(_mask(canvas), 255 - painted)
    canvas.fill_mask()
    assert (_mask(canvas) == 255).all()
    canvas.clear_mask()
    assert not canvas.has_mask() and not _mask(canvas).any()
    canvas.undo()
    assert (_mask(canvas) == 255).all()
    canvas.undo()
    assert np.array_equal(_mask(canvas), 255 - painted)
    canvas.undo()
    assert np.array_equal(_mask(canvas), painted)


def test_every_mask_edit_emits_mask_changed(canvas: Canvas, qtbot) -> None:
    edits = [canvas.fill_mask, canvas.invert_mask, canvas.clear_mask, canvas.undo, canvas.redo]
    for edit in edits:
        with qtbot.waitSignal(canvas.mask_changed, timeout=500):
            edit()
    with qtbot.waitSignal(canvas.mask_changed, timeout=500):
        canvas.set_mask(_image(8, 8, QColor("white")))


def test_undo_memory_is_bounded() -> None:
    layer = MaskLayer(32, 32, max_steps=5)
    for _ in range(12):
        layer.invert()
    assert layer.undo_steps == 5


def test_undo_history_keeps_only_changed_pixels() -> None:
    """A small dab on a big mask must not store the whole mask (50 steps would be gigabytes)."""
    layer = MaskLayer(2048, 2048)
    layer.begin_stroke(100, 100, radius=5, hardness=1.0)
    layer.end_stroke()
    assert layer._undo[0].nbytes < 2 * 16 * 16


def test_brush_size_keys(canvas: Canvas, qtbot) -> None:
    canvas.brush_size = 20
    with qtbot.waitSignal(canvas.brush_size_changed):
        QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    bigger = canvas.brush_size
    assert bigger > 20
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size < 20
    canvas.brush_size = 1
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 1
    QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == 2  # small brushes still grow
    canvas.brush_size = 10_000
    assert canvas.brush_size == 512


def test_fit_scales_a_small_image_up_to_whole_pixels(canvas: Canvas, qtbot) -> None:
    with qtbot.waitSignal(canvas.zoom_changed):
        canvas.fit_to_window()
    assert canvas.zoom == 4.0  # (300 - margins) / 64 = 4.3, floored so pixels stay square
    with qtbot.waitSignal(canvas.zoom_changed):
        canvas.zoom_100()
    assert canvas.zoom == 1.0


def test_painting_maps_to_image_pixels_after_zoom_and_pan(canvas: Canvas) -> None:
    canvas.fit_to_window()  # zoom 4, image centred: top-left at (200 - 128, 150 - 128)
    _stroke(canvas, [(60, 150), (200, 150), (300, 150)], button=MIDDLE)  # pan right by 240
    assert canvas.pan() == QPointF(240, 0)
    canvas.brush_size = 1
    top_left = (72 + 240, 22)
    # image pixel (10, 20) has its centre at top-left + (10.5, 20.5) * 4
    _stroke(canvas, [(top_left[0] + 42, top_left[1] + 82)])
    mask = _mask(canvas)
    assert mask[20, 10] == 255
    assert np.count_nonzero(mask) == 1


def test_space_drag_pans_instead_of_painting(canvas: Canvas) -> None:
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    _stroke(canvas, [_at(canvas, 10, 10), _at(canvas, 30, 15)])
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.pan() == QPointF(20, 5)
    assert not canvas.has_mask()


def test_wheel_zooms_around_the_cursor(canvas: Canvas) -> None:
    canvas.fit_to_window()
    cursor = QPointF(100, 60)
    before = canvas.widget_to_image(cursor)
    canvas.set_zoom(8.0, anchor=cursor)
    after = canvas.widget_to_image(cursor)
    assert canvas.zoom == 8.0
    assert abs(before.x() - after.x()) < 0.1 and abs(before.y() - after.y()) < 0.1


def test_shortcuts_fit_zoom_and_undo(canvas: Canvas, qtbot) -> None:
    canvas.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus)
    QTest.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 4.0
    QTest.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0
    _stroke(canvas, [_at(canvas, 20, 20)])
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not canvas.has_mask()
    QTest.keyClick(canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert canvas.has_mask()
    texts = {action.text() for action in canvas.actions()}
    assert {"Fit to Window", "Actual Size (100%)", "Undo Mask Edit", "Redo Mask Edit"} <= texts


def test_preview_changes_neither_mask_nor_image(canvas: Canvas) -> None:
    _stroke(canvas, [_at(canvas, 20, 20)])
    mask, image = _mask(canvas), canvas.image()
    preview = _image(8, 8, QColor("orange"))
    for _ in range(3):
        canvas.show_preview(preview)
    assert canvas.has_preview()
    assert np.array_equal(_mask(canvas), mask)
    assert canvas.image() == image
    assert not canvas.can_redo()
    canvas.clear_preview()
    assert not canvas.has_preview()


def test_preview_is_drawn_over_the_image_rect(canvas: Canvas) -> None:
    canvas.show_preview(_image(8, 8, QColor(255, 128, 0)))
    shot = canvas.grab().toImage()
    assert shot.pixelColor(ORIGIN_100[0] + 32, ORIGIN_100[1] + 32) == QColor(255, 128, 0)
    assert shot.pixelColor(5, 5) != QColor(255, 128, 0)


def test_mask_overlay_is_tinted_and_follows_opacity(canvas: Canvas) -> None:
    canvas.fill_mask()
    centre = QPoint(ORIGIN_100[0] + 32, ORIGIN_100[1] + 32)
    canvas.mask_opacity = 0.5
    tinted = canvas.grab().toImage().pixelColor(centre)
    assert tinted.red() > 120 and tinted != QColor(40, 90, 160)
    canvas.mask_visible = False
    assert canvas.grab().toImage().pixelColor(centre) == QColor(40, 90, 160)


def test_new_image_resets_the_mask_unless_kept(canvas: Canvas, qtbot) -> None:
    canvas.fill_mask()
    canvas.set_image(_image(), keep_mask=True)
    assert canvas.has_mask()
    canvas.show_preview(_image(8, 8))
    canvas.set_image(_image(64, 64), keep_mask=False)
    assert not canvas.has_mask() and not canvas.can_undo()
    assert not canvas.has_preview()
    canvas.fill_mask()
    with qtbot.waitSignal(canvas.mask_changed):
        canvas.set_image(_image(32, 48), keep_mask=True)  # a different size cannot keep it
    assert canvas.mask().size() == QSize(32, 48)
    assert not canvas.has_mask()


def test_set_mask_scales_to_the_image(canvas: Canvas) -> None:
    half = np.zeros((16, 16), np.uint8)
    half[:, :8] = 255
    canvas.set_mask(gray_to_qimage(half))
    mask = _mask(canvas)
    assert mask.shape == (64, 64)
    assert (mask[:, :28] == 255).all() and (mask[:, 36:] == 0).all()
    canvas.undo()
    assert not canvas.has_mask()


def test_save_and_load_mask_round_trip(canvas: Canvas, tmp_path) -> None:
    canvas.brush_hardness = 0.4
    _stroke(canvas, [_at(canvas, 10, 10), _at(canvas, 50, 40)])
    painted = _mask(canvas)
    path = tmp_path / "mask.png"
    canvas.save_mask(path)
    saved = QImage(str(path))
    assert saved.size() == QSize(64, 64) and saved.isGrayscale()
    canvas.clear_mask()
    canvas.load_mask(path)
    assert np.array_equal(_mask(canvas), painted)


def test_load_mask_of_another_size_is_scaled(canvas: Canvas, tmp_path) -> None:
    path = tmp_path / "big.png"
    _image(256, 256, QColor("white")).save(str(path))
    canvas.load_mask(path)
    assert (_mask(canvas) == 255).all()
    with pytest.raises(OSError):
        canvas.load_mask(tmp_path / "missing.png")


def test_empty_canvas_frames_the_output_size(qtbot) -> None:
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(WIDGET_W, WIDGET_H)
    canvas.set_canvas_size(768, 512)
    assert canvas.content_size() == QSize(768, 512)
    assert canvas.mask().size() == QSize(768, 512)
    canvas.fit_to_window()
    assert canvas.zoom == pytest.approx((WIDGET_W - 24) / 768)
    canvas.show_preview(_image(96, 64, QColor(0, 200, 0)))  # latent-sized, drawn at output size
    shot = canvas.grab().toImage()
    assert shot.pixelColor(WIDGET_W // 2, WIDGET_H // 2) == QColor(0, 200, 0)


def test_drops_reach_the_window(canvas: Canvas) -> None:
    assert not canvas.acceptDrops()


@pytest.mark.parametrize("hardness", [0.0, 0.5, 1.0])
def test_brush_alpha_is_full_at_the_centre_and_zero_outside(hardness: float) -> None:
    d = np.array([0.0, 10.6, 50.0])
    alpha = brush_alpha(d, radius=10, hardness=hardness)
    assert alpha[0] == 1.0 and alpha[1] == 0.0 and alpha[2] == 0.0


def test_panning_cannot_lose_the_image(canvas: Canvas) -> None:
    _stroke(canvas, [(200, 150), (5000, 150)], button=MIDDLE)
    rect = canvas.image_to_widget(QPointF(0, 0))
    assert rect.x() <= WIDGET_W - 48  # some of the image is still on screen


def test_a_large_image_is_drawn_downscaled_where_it_belongs(qtbot) -> None:
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(WIDGET_W, WIDGET_H)
    image = _image(1600, 1200, QColor(200, 30, 30))
    canvas.set_image(image)
    assert canvas.zoom < 1.0
    shot = canvas.grab().toImage()
    centre = canvas.image_to_widget(QPointF(800, 600)).toPoint()
    assert shot.pixelColor(centre) == QColor(200, 30, 30)
    assert shot.pixelColor(2, 2) != QColor(200, 30, 30)
    canvas.fill_mask()
    assert canvas.mask_array().shape == (1200, 1600)
    assert canvas.grab().toImage().pixelColor(centre) != QColor(200, 30, 30)  # tinted
