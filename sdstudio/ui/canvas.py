"""The image canvas: the base image (or an empty output frame), live previews and the inpainting mask.

A plain QWidget with its own paintEvent rather than a QGraphicsView: it draws three layers and
must repaint cheaply many times a second while previews stream in. The mask itself lives in
`MaskLayer` (numpy, no Qt); this module converts at the edges and maps widget <-> image points.

Shortcuts are QActions with WidgetWithChildrenShortcut context, listed by `actions()`. A window
that wants them in its menus should add these actions rather than define its own with the same
keys: two enabled actions with one shortcut in scope make Qt report an ambiguous shortcut.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QBrush,
    QColor,
    QFocusEvent,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from sdstudio.ui.mask_layer import Box, MaskLayer

TOOLS = ("brush", "eraser")
MIN_ZOOM = 1 / 32
MAX_ZOOM = 64.0
NEAREST_ZOOM = 2.0
"""At or above this zoom image pixels are drawn as crisp squares; below it, smoothly filtered."""
WHEEL_ZOOM_STEP = 1.2
"""Zoom factor per wheel notch (120 units of angleDelta), and per zoom-in/out shortcut."""
FIT_MARGIN = 12
KEEP_VISIBLE = 48
"""Panning stops while this many screen pixels of the image are still in view."""
MIN_BRUSH, MAX_BRUSH = 1, 512
DEFAULT_CANVAS_SIZE = QSize(512, 512)

BACKGROUND = QColor(0x24, 0x24, 0x24)
CHECKER_LIGHT = QColor(0x3A, 0x3A, 0x3A)
CHECKER_DARK = QColor(0x32, 0x32, 0x32)
CHECKER_CELL = 12
FRAME = QColor(0x5A, 0x5A, 0x5A)
IMAGE_OUTLINE = QColor(0x14, 0x14, 0x14)
LABEL = QColor(0x8A, 0x8A, 0x8A)
MASK_TINT = QColor(255, 40, 110)
PREVIEW_MASK_DIM = 0.35
"""While a preview streams in, the mask overlay is dimmed so the repainted region stays visible."""

# Byte order of one ARGB32 pixel in memory: B, G, R, A on little-endian machines.
_B, _G, _R, _A = (0, 1, 2, 3) if sys.byteorder == "little" else (3, 2, 1, 0)


def qimage_to_gray(image: QImage) -> np.ndarray:
    """A Grayscale8 QImage as an H x W uint8 array (copied, row padding dropped)."""
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return rows[:, :w].copy()


def gray_to_qimage(array: np.ndarray) -> QImage:
    """An H x W uint8 array as an owned Grayscale8 QImage."""
    array = np.ascontiguousarray(array, np.uint8)
    h, w = array.shape
    return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def _checker_brush() -> QBrush:
    """A subtle two-grey checkerboard: the conventional sign of 'no pixels here yet'."""
    tile = QPixmap(2 * CHECKER_CELL, 2 * CHECKER_CELL)
    tile.fill(CHECKER_DARK)
    painter = QPainter(tile)
    painter.fillRect(0, 0, CHECKER_CELL, CHECKER_CELL, CHECKER_LIGHT)
    painter.fillRect(CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_LIGHT)
    painter.end()
    return QBrush(tile)


class Canvas(QWidget):
    """Shows and edits one image: zoom/pan, per-step previews and a soft, undoable mask brush."""

    image_changed = Signal()
    mask_changed = Signal()
    zoom_changed = Signal(float)
    tool_changed = Signal(str)
    brush_size_changed = Signal(int)
    history_changed = Signal()
    """Undo/redo availability may have changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(False)  # the main window handles drops; let them through to it
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(64, 64)

        self._image: QImage | None = None
        self._pixmap: QPixmap | None = None
        self._scaled: tuple[float, QPixmap] | None = None
        self._preview: QPixmap | None = None
        self._canvas_size = QSize(DEFAULT_CANVAS_SIZE)
        self._layer = MaskLayer(self._canvas_size.width(), self._canvas_size.height())
        self._overlay = np.zeros((self._layer.height, self._layer.width, 4), np.uint8)
        self._has_mask = False

        self._zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self._fit_mode = True
        self._tool = "brush"
        self._brush_size = 32
        self._brush_hardness = 0.8
        self._mask_opacity = 0.5
        self._mask_visible = True

        self._cursor_pos: QPointF | None = None
        self._space_held = False
        self._pan_button: Qt.MouseButton | None = None
        self._pan_anchor = QPointF()
        self._pan_start = QPointF()
        self._checker = _checker_brush()

        self._make_actions()
        self._update_cursor()

    # ---- actions -----------------------------------------------------------------------------

    def _action(self, text: str, keys: list[QKeySequence | str], slot, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.fit_action = self._action("Fit to Window", ["Ctrl+0"], self.fit_to_window)
        self.zoom_100_action = self._action("Actual Size (100%)", ["Ctrl+1"], self.zoom_100)
        self.zoom_in_action = self._action("Zoom In", ["Ctrl++", "Ctrl+="], self.zoom_in)
        self.zoom_out_action = self._action("Zoom Out", ["Ctrl+-"], self.zoom_out)
        self.undo_action = self._action("Undo Mask Edit", [QKeySequence.StandardKey.Undo], self.undo)
        self.redo_action = self._action("Redo Mask Edit", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redo)
        self.brush_action = self._action("Brush", ["B"], self._use_brush, checkable=True)
        self.eraser_action = self._action("Eraser", ["E"], self._use_eraser, checkable=True)
        self.grow_brush_action = self._action("Larger Brush", ["]"], self.grow_brush)
        self.shrink_brush_action = self._action("Smaller Brush", ["["], self.shrink_brush)
        self.show_mask_action = self._action("Show Mask", ["H"], self.set_mask_visible, checkable=True)
        self.clear_mask_action = self._action("Clear Mask", ["Delete"], self.clear_mask)
        self.fill_mask_action = self._action("Fill Mask", [], self.fill_mask)
        self.invert_mask_action = self._action("Invert Mask", ["Ctrl+I"], self.invert_mask)
        group = QActionGroup(self)
        group.addAction(self.brush_action)
        group.addAction(self.eraser_action)
        self.brush_action.setChecked(True)
        self.show_mask_action.setChecked(True)
        self._sync_history()

    def _use_brush(self) -> None:
        self.set_tool("brush")

    def _use_eraser(self) -> None:
        self.set_tool("eraser")

    # ---- image, preview, canvas size -------------------------------------------------------

    def set_image(self, image: QImage | None, keep_mask: bool = False) -> None:
        """Show a new base image; the mask is reset unless `keep_mask` and the size is unchanged."""
        self._cancel_interaction()
        old_size = self.content_size()
        self._preview = None
        if image is None or image.isNull():
            self._image = self._pixmap = None
            self._scaled = None
        else:
            self._scaled = None
            self._image = QImage(image)
            self._pixmap = QPixmap.fromImage(image)
        new_size = self.content_size()
        same_size = (self._layer.width, self._layer.height) == (new_size.width(), new_size.height())
        if not (keep_mask and self._image is not None and same_size):
            self._reset_mask(new_size)
        if self._fit_mode or new_size != old_size:
            self.fit_to_window()
        self._update_cursor()
        self.update()
        self.image_changed.emit()

    def image(self) -> QImage | None:
        return self._image

    def has_image(self) -> bool:
        return self._image is not None

    def show_preview(self, image: QImage) -> None:
        """Draw a (usually latent-sized) step preview over the image rect, replacing the last one."""
        if image.isNull():
            self.clear_preview()
            return
        self._preview = QPixmap.fromImage(image)
        self.update(self._content_widget_rect().toAlignedRect())

    def clear_preview(self) -> None:
        if self._preview is not None:
            self._preview = None
            self.update()

    def has_preview(self) -> bool:
        return self._preview is not None

    def set_canvas_size(self, width: int, height: int) -> None:
        """The output size of a text-to-image job, framed on the empty canvas."""
        size = QSize(max(1, int(width)), max(1, int(height)))
        if size == self._canvas_size:
            return
        self._canvas_size = size
        if self._image is None:
            self._reset_mask(size)
            self.fit_to_window()
            self.update()

    def canvas_size(self) -> QSize:
        return QSize(self._canvas_size)

    def content_size(self) -> QSize:
        """What is drawn: the image's size, or the empty canvas's when there is no image."""
        return self._image.size() if self._image is not None else QSize(self._canvas_size)

    # ---- mask ----------------------------------------------------------------------------------

    def has_mask(self) -> bool:
        return self._has_mask

    def mask(self) -> QImage:
        """The mask as Grayscale8 at image size; white (255) = repaint."""
        return gray_to_qimage(self._layer.array)

    def mask_array(self) -> np.ndarray:
        """The mask as an H x W uint8 copy, for code that wants numpy rather than a QImage."""
        return self._layer.array.copy()

    def set_mask(self, mask: QImage) -> None:
        """Replace the mask (undoably), scaling it to the image size if it differs."""
        if mask.isNull():
            raise ValueError("set_mask needs a non-null image")
        self._cancel_interaction()
        size = QSize(self._layer.width, self._layer.height)
        if mask.size() != size:
            mask = mask.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self._edited(self._layer.replace(qimage_to_gray(mask)))

    def clear_mask(self) -> None:
        self._cancel_interaction()
        self._edited(self._layer.clear())

    def fill_mask(self) -> None:
        self._cancel_interaction()
        self._edited(self._layer.fill())

    def invert_mask(self) -> None:
        self._cancel_interaction()
        self._edited(self._layer.invert())

    def undo(self) -> None:
        self._cancel_interaction()
        box = self._layer.undo()
        if box is not None:
            self._edited(box)

    def redo(self) -> None:
        self._cancel_interaction()
        box = self._layer.redo()
        if box is not None:
            self._edited(box)

    def can_undo(self) -> bool:
        return self._layer.can_undo()

    def can_redo(self) -> bool:
        return self._layer.can_redo()

    def save_mask(self, path: str | Path) -> None:
        """Write the mask as a grayscale PNG (white = repaint), the format other tools read."""
        if not self.mask().save(str(path), "PNG"):
            raise OSError(f"could not write mask to {path}")

    def load_mask(self, path: str | Path) -> None:
        """Read a mask image (white = repaint), scaled to the image size; undoable."""
        image = QImage(str(path))
        if image.isNull():
            raise OSError(f"could not read a mask image from {path}")
        self.set_mask(image)

    def _reset_mask(self, size: QSize) -> None:
        had_mask = self._has_mask or (self._layer.width, self._layer.height) != (size.width(), size.height())
        self._layer.reset(size.width(), size.height())
        self._overlay = np.zeros((self._layer.height, self._layer.width, 4), np.uint8)
        self._has_mask = False
        self._sync_history()
        if had_mask:
            self.mask_changed.emit()

    def _edited(self, box: Box | None) -> None:
        """After an edit (or an attempted one): refresh the view and tell listeners."""
        if box is not None:
            self._refresh_overlay(box)
            self._has_mask = not self._layer.is_empty()
        self._sync_history()
        self.mask_changed.emit()

    def _refresh_overlay(self, box: Box) -> None:
        """Recolour the tinted overlay in `box` (premultiplied ARGB) and schedule its repaint."""
        x0, y0, x1, y1 = box
        m = self._layer.array[y0:y1, x0:x1].astype(np.uint16)
        region = self._overlay[y0:y1, x0:x1]
        for channel, value in ((_R, MASK_TINT.red()), (_G, MASK_TINT.green()), (_B, MASK_TINT.blue())):
            region[..., channel] = (m * value + 127) // 255
        region[..., _A] = m
        origin, z = self._origin(), self._zoom
        rect = QRectF(origin.x() + x0 * z, origin.y() + y0 * z, (x1 - x0) * z, (y1 - y0) * z)
        self.update(rect.toAlignedRect().adjusted(-2, -2, 2, 2))

    def _overlay_image(self) -> QImage:
        h, w = self._overlay.shape[:2]
        return QImage(self._overlay.data, w, h, w * 4, QImage.Format.Format_ARGB32_Premultiplied)

    def _sync_history(self) -> None:
        self.undo_action.setEnabled(self._layer.can_undo())
        self.redo_action.setEnabled(self._layer.can_redo())
        self.history_changed.emit()

    # ---- brush settings ----------------------------------------------------------------------

    @property
    def tool(self) -> str:
        return self._tool

    @tool.setter
    def tool(self, tool: str) -> None:
        self.set_tool(tool)

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        (self.brush_action if tool == "brush" else self.eraser_action).setChecked(True)
        if tool != self._tool:
            self._tool = tool
            self.tool_changed.emit(tool)

    @property
    def brush_size(self) -> int:
        """Brush diameter in image pixels, so a stroke covers the same pixels at any zoom."""
        return self._brush_size

    @brush_size.setter
    def brush_size(self, size: int) -> None:
        self.set_brush_size(size)

    def set_brush_size(self, size: int) -> None:
        size = min(MAX_BRUSH, max(MIN_BRUSH, int(round(size))))
        if size != self._brush_size:
            self._update_brush_cursor()
            self._brush_size = size
            self._update_brush_cursor()
            self.brush_size_changed.emit(size)

    def grow_brush(self) -> None:
        """About 20% larger, at least one pixel: even steps at small and large sizes alike."""
        self.set_brush_size(max(self._brush_size + 1, self._brush_size * 1.2))

    def shrink_brush(self) -> None:
        self.set_brush_size(min(self._brush_size - 1, self._brush_size / 1.2))

    @property
    def brush_hardness(self) -> float:
        """1 = hard edge; lower values feather the edge over the outer (1 - hardness) of the radius."""
        return self._brush_hardness

    @brush_hardness.setter
    def brush_hardness(self, hardness: float) -> None:
        self.set_brush_hardness(hardness)

    def set_brush_hardness(self, hardness: float) -> None:
        self._brush_hardness = min(1.0, max(0.0, float(hardness)))
        self._update_brush_cursor()

    @property
    def mask_opacity(self) -> float:
        return self._mask_opacity

    @mask_opacity.setter
    def mask_opacity(self, opacity: float) -> None:
        self.set_mask_opacity(opacity)

    def set_mask_opacity(self, opacity: float) -> None:
        self._mask_opacity = min(1.0, max(0.0, float(opacity)))
        self.update()

    @property
    def mask_visible(self) -> bool:
        return self._mask_visible

    @mask_visible.setter
    def mask_visible(self, visible: bool) -> None:
        self.set_mask_visible(visible)

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = bool(visible)
        self.show_mask_action.setChecked(self._mask_visible)
        self.update()

    # ---- zoom and pan --------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self._zoom

    @zoom.setter
    def zoom(self, zoom: float) -> None:
        self.set_zoom(zoom)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under `anchor` (default: the widget centre) in place."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        image_point = (anchor - self._exact_origin()) / self._zoom
        content = self.content_size()
        self._zoom, old_zoom = zoom, self._zoom
        self._set_pan(
            anchor
            - image_point * zoom
            - QPointF(self.width() / 2, self.height() / 2)
            + QPointF(content.width(), content.height()) * (zoom / 2)
        )
        self._zoom = old_zoom
        self._apply_zoom(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * WHEEL_ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / WHEEL_ZOOM_STEP)

    def zoom_100(self) -> None:
        self.set_zoom(1.0)

    def fit_to_window(self) -> None:
        """Fit the whole image, scaling small ones up (to a whole zoom, so pixels stay square)."""
        self._fit_mode = True
        self._pan = QPointF(0.0, 0.0)
        self._apply_zoom(self._fit_zoom())

    def pan(self) -> QPointF:
        """Offset of the image centre from the widget centre, in screen pixels."""
        return QPointF(self._pan)

    def pan_by(self, dx: float, dy: float) -> None:
        self._set_pan(self._pan + QPointF(dx, dy))

    def _set_pan(self, pan: QPointF) -> None:
        """Move the image, but never so far that it is lost off-screen."""
        content = self.content_size()
        limit_x = max(0.0, (content.width() * self._zoom + self.width()) / 2 - KEEP_VISIBLE)
        limit_y = max(0.0, (content.height() * self._zoom + self.height()) / 2 - KEEP_VISIBLE)
        self._pan = QPointF(min(limit_x, max(-limit_x, pan.x())), min(limit_y, max(-limit_y, pan.y())))
        self._fit_mode = False
        self.update()

    def widget_to_image(self, point: QPointF) -> QPointF:
        return (QPointF(point) - self._origin()) / self._zoom

    def image_to_widget(self, point: QPointF) -> QPointF:
        return QPointF(point) * self._zoom + self._origin()

    def _fit_zoom(self) -> float:
        content = self.content_size()
        avail_w = max(1, self.width() - 2 * FIT_MARGIN)
        avail_h = max(1, self.height() - 2 * FIT_MARGIN)
        zoom = min(avail_w / content.width(), avail_h / content.height())
        if zoom >= NEAREST_ZOOM:
            zoom = math.floor(zoom)
        return min(MAX_ZOOM, max(MIN_ZOOM, zoom))

    def _apply_zoom(self, zoom: float) -> None:
        changed = zoom != self._zoom
        self._zoom = zoom
        self.update()
        if changed:
            self.zoom_changed.emit(zoom)

    def _exact_origin(self) -> QPointF:
        content = self.content_size()
        return (
            QPointF(self.width() / 2, self.height() / 2)
            + self._pan
            - QPointF(content.width(), content.height()) * (self._zoom / 2)
        )

    def _origin(self) -> QPointF:
        """Top-left of the image on screen, on whole pixels so nearest-neighbour cells are even."""
        exact = self._exact_origin()
        return QPointF(round(exact.x()), round(exact.y()))

    def _content_widget_rect(self) -> QRectF:
        content = self.content_size()
        return QRectF(self._origin(), QSizeF(content.width() * self._zoom, content.height() * self._zoom))

    # ---- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), BACKGROUND)
        target = self._content_widget_rect()
        if self._pixmap is None or self._pixmap.hasAlphaChannel():
            painter.setBrushOrigin(target.topLeft())
            painter.fillRect(target, self._checker)
        if self._image is None:
            self._paint_empty_frame(painter, target)
        else:
            painter.setPen(QPen(IMAGE_OUTLINE, 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        downscaled = self._downscaled_pixmap()
        if downscaled is not None:
            painter.drawPixmap(self._origin(), downscaled)

        content = self.content_size()
        image_rect = QRectF(0, 0, content.width(), content.height())
        painter.save()
        painter.translate(self._origin())
        painter.scale(self._zoom, self._zoom)
        smooth = self._zoom < NEAREST_ZOOM
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if self._pixmap is not None and downscaled is None:
            painter.drawPixmap(0, 0, self._pixmap)
        if self._preview is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawPixmap(image_rect, self._preview, QRectF(self._preview.rect()))
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if self._mask_visible and self._has_mask:
            dim = PREVIEW_MASK_DIM if self._preview is not None else 1.0
            painter.setOpacity(self._mask_opacity * dim)
            painter.drawImage(image_rect, self._overlay_image())
        painter.restore()
        self._paint_brush_cursor(painter)
        painter.end()

    def _downscaled_pixmap(self) -> QPixmap | None:
        """Below 100%, the image pre-scaled with area averaging (cached per zoom).

        Bilinear filtering at draw time samples only 4 pixels, so a photo at 20% shimmers and
        aliases; QImage.scaled with SmoothTransformation averages every source pixel.
        """
        if self._image is None or self._zoom >= 1.0:
            return None
        if self._scaled is None or self._scaled[0] != self._zoom:
            size = QSize(
                max(1, round(self._image.width() * self._zoom)), max(1, round(self._image.height() * self._zoom))
            )
            scaled = self._image.scaled(
                size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self._scaled = (self._zoom, QPixmap.fromImage(scaled))
        return self._scaled[1]

    def _paint_empty_frame(self, painter: QPainter, target: QRectF) -> None:
        """Outline the output size and label it, so an empty canvas still says what will be made."""
        painter.setPen(QPen(FRAME, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        if self._preview is None:
            painter.setPen(LABEL)
            text = f"{self._canvas_size.width()} \u00d7 {self._canvas_size.height()}"
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, text)

    def _brush_cursor_rect(self) -> QRect | None:
        if self._cursor_pos is None:
            return None
        r = self._brush_radius_on_screen() + 3
        return QRectF(self._cursor_pos - QPointF(r, r), QSizeF(2 * r, 2 * r)).toAlignedRect()

    def _brush_radius_on_screen(self) -> float:
        return max(1.5, self._brush_size / 2 * self._zoom)

    def _show_brush_cursor(self) -> bool:
        return (
            self._cursor_pos is not None
            and self._image is not None
            and self._pan_button is None
            and not self._space_held
        )

    def _paint_brush_cursor(self, painter: QPainter) -> None:
        """A black-and-white ring (visible on any image) of the brush's size; dashed inner ring = hard core."""
        if not self._show_brush_cursor():
            return
        assert self._cursor_pos is not None
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        r = self._brush_radius_on_screen()
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawEllipse(self._cursor_pos, r, r)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1))
        painter.drawEllipse(self._cursor_pos, r, r)
        inner = r * self._brush_hardness
        if self._brush_hardness < 1.0 and inner > 3:
            painter.setPen(QPen(QColor(255, 255, 255, 140), 1, Qt.PenStyle.DashLine))
            painter.drawEllipse(self._cursor_pos, inner, inner)

    def _update_brush_cursor(self) -> None:
        rect = self._brush_cursor_rect()
        if rect is not None:
            self.update(rect)

    def _update_cursor(self) -> None:
        if self._pan_button is not None:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space_held:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._image is not None:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.unsetCursor()

    # ---- input -------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        pos = event.position()
        if self._pan_button is None and (
            button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held)
        ):
            self._pan_button = button
            self._pan_anchor, self._pan_start = QPointF(pos), QPointF(self._pan)
            self._update_brush_cursor()
            self._update_cursor()
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._image is not None and not self._layer.stroking:
            point = self.widget_to_image(pos)
            radius = self._brush_size / 2
            erase = self._tool == "eraser"
            box = self._layer.begin_stroke(point.x(), point.y(), radius, self._brush_hardness, erase=erase)
            if box is not None:
                self._refresh_overlay(box)
                self._has_mask = self._has_mask or not erase
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._update_brush_cursor()
        self._cursor_pos = QPointF(pos)
        if self._pan_button is not None:
            self._set_pan(self._pan_start + (pos - self._pan_anchor))
        elif self._layer.stroking:
            point = self.widget_to_image(pos)
            box = self._layer.stroke_to(point.x(), point.y())
            if box is not None:
                self._refresh_overlay(box)
                self._has_mask = self._has_mask or self._tool == "brush"
        self._update_brush_cursor()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._pan_button is not None and button == self._pan_button:
            self._pan_button = None
            self._update_cursor()
            self._update_brush_cursor()
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._layer.stroking:
            self._finish_stroke()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _finish_stroke(self) -> None:
        self._edited(self._layer.end_stroke())
        self._has_mask = not self._layer.is_empty()

    def _cancel_interaction(self) -> None:
        """Before a programmatic edit: a stroke in progress is committed; a pan just ends."""
        if self._layer.stroking:
            self._finish_stroke()
        if self._pan_button is not None:
            self._pan_button = None
            self._update_cursor()

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Wheel zooms around the cursor, so the point under it stays put (as in image editors)."""
        steps = event.angleDelta().y() / 120
        if steps == 0:
            event.ignore()
            return
        self.set_zoom(self._zoom * WHEEL_ZOOM_STEP**steps, anchor=event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self._update_cursor()
                self._update_brush_cursor()
            event.accept()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._update_cursor()
            self._update_brush_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        """Losing focus loses the space key's release: forget it, or the next drag would pan."""
        self._space_held = False
        self._update_cursor()
        super().focusOutEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._update_brush_cursor()
        self._cursor_pos = None
        super().leaveEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fit_mode:
            self.fit_to_window()
        super().resizeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        if self._fit_mode:
            self.fit_to_window()
        super().showEvent(event)
