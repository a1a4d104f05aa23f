"""The latent plane: 3 or 4 images at the corners of a pad; every point of the pad is a convex
blend of their latents (bilinear for 4 corners, barycentric for 3), decoded while the point moves
with the same latest-only coalescing as the A/B slider."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from sdstudio.bridge.jobs import PLANE_SET, EncodeJob, PlaneJob
from sdstudio.bridge.messages import EncodedSet, PlaneFrame
from sdstudio.bridge.protocol import Backend
from sdstudio.ui.exploration.common import (
    CanvasProvider,
    ImageSlot,
    ImageSource,
    ImageView,
    LatestOnly,
    RequestProvider,
    default_request,
)
from sdstudio.ui.exploration.interpolation_tab import LIVE_FULL_DECODE_SECONDS, SETTLE_MS

CORNER_NAMES = ("Top left", "Top right", "Bottom left", "Bottom right")
THUMB_FRACTION, THUMB_MIN, THUMB_MAX = 0.2, 32, 80  # corner thumbnails: a fifth of the pad


def corner_points(count: int) -> list[tuple[float, float]]:
    """Where the images sit on the unit pad: the square's corners, or a triangle for 3 images
    (top-left, top-right, bottom-centre), matching the engine's plane weights."""
    return [(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)] if count == 3 else [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]


class PlanePad(QWidget):
    """A square pad with the corner thumbnails and the current point; click or drag to move it."""

    point_moved = Signal(float, float)  # while the button is down
    point_released = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._images: list[QImage] = []
        self._thumbs: list[QPixmap] = []  # scaled to `_thumb_side`, remade when the pad resizes
        self._thumb_side = 0
        self._point = (0.5, 0.5)
        self._weights: tuple[float, ...] = ()
        self._dragging = False
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(300, 300)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        return width

    @property
    def point(self) -> tuple[float, float]:
        return self._point

    def set_corners(self, images: list[QImage]) -> None:
        self._images = list(images)
        self._thumb_side = 0
        self.update()

    def thumb_side(self) -> int:
        return int(min(max(min(self.width(), self.height()) * THUMB_FRACTION, THUMB_MIN), THUMB_MAX))

    def _scaled_thumbs(self) -> list[QPixmap]:
        side = self.thumb_side()
        if side != self._thumb_side or len(self._thumbs) != len(self._images):
            mode, smooth = Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
            self._thumbs = [QPixmap.fromImage(image).scaled(side, side, mode, smooth) for image in self._images]
            self._thumb_side = side
        return self._thumbs

    def set_point(self, x: float, y: float) -> None:
        """Move the point, kept inside the shape: the triangle of 3 corners clamps x to
        [y/2, 1 - y/2] as the engine's barycentric weights do, so the dot shows what is decoded."""
        x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
        if len(self._images) == 3:
            x = min(max(x, y / 2), 1 - y / 2)
        self._point = (x, y)
        self.update()

    def set_weights(self, weights: tuple[float, ...]) -> None:
        self._weights = weights
        self.update()

    def area(self) -> QRectF:
        """The unit square in widget pixels: a centred square, inset so the thumbnails fit."""
        side = min(self.width(), self.height()) - self.thumb_side() - 8
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_widget(self, x: float, y: float) -> QPointF:
        area = self.area()
        return QPointF(area.left() + x * area.width(), area.top() + y * area.height())

    def to_unit(self, position: QPointF) -> tuple[float, float]:
        area = self.area()
        x = (position.x() - area.left()) / max(area.width(), 1.0)
        y = (position.y() - area.top()) / max(area.height(), 1.0)
        return min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._move_to(event.position(), released=False)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self._dragging:
            self._move_to(event.position(), released=False)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self._move_to(event.position(), released=True)

    def _move_to(self, position: QPointF, released: bool) -> None:
        self.set_point(*self.to_unit(position))
        (self.point_released if released else self.point_moved).emit(*self._point)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(0x1C, 0x1C, 0x1F))
        count = len(self._images)
        points = [self.to_widget(x, y) for x, y in corner_points(count if count == 3 else 4)]
        outline = QPainterPath()
        order = points if len(points) == 3 else [points[0], points[1], points[3], points[2]]
        outline.moveTo(order[0])
        for point in order[1:]:
            outline.lineTo(point)
        outline.closeSubpath()
        painter.fillPath(outline, QColor(0x26, 0x2A, 0x33))
        painter.setPen(QPen(QColor(0x4A, 0x4A, 0x52), 1, Qt.PenStyle.DashLine))
        painter.drawPath(outline)
        area = self.area()
        painter.save()
        painter.setClipPath(outline)
        painter.setPen(QPen(QColor(0x33, 0x33, 0x3A), 1))
        for i in range(1, 4):  # a light grid: where a quarter of the way is
            painter.drawLine(self.to_widget(i / 4, 0), self.to_widget(i / 4, 1))
            painter.drawLine(self.to_widget(0, i / 4), self.to_widget(1, i / 4))
        painter.restore()
        if count < 3:
            painter.setPen(QColor(0x80, 0x80, 0x86))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Place 3 or 4 images at the corners,\nthen click or drag here")
        self._paint_thumbs(painter, points)
        if count >= 3:
            self._paint_point(painter)

    def _paint_thumbs(self, painter: QPainter, points: list[QPointF]) -> None:
        side = self.thumb_side()
        for index, (thumb, centre) in enumerate(zip(self._scaled_thumbs(), points, strict=False)):
            target = QRectF(centre.x() - side / 2, centre.y() - side / 2, side, side)
            painter.drawPixmap(target, thumb, QRectF(thumb.rect()))
            weight = self._weights[index] if index < len(self._weights) else 0.0
            painter.setPen(QPen(QColor(0x4C, 0x8B, 0xF5) if weight > 0.5 else QColor(0x55, 0x55, 0x5C), 2))
            painter.drawRoundedRect(target.adjusted(-1, -1, 1, 1), 4, 4)
            if self._weights:
                label = QRectF(target.left(), target.bottom() - 16, side, 16)
                painter.fillRect(label, QColor(0, 0, 0, 150))
                painter.setPen(QColor(0xE6, 0xE6, 0xE6))
                painter.drawText(label, Qt.AlignmentFlag.AlignCenter, f"{weight:.0%}")

    def _paint_point(self, painter: QPainter) -> None:
        centre = self.to_widget(*self._point)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
        painter.drawEllipse(centre, 8, 8)
        painter.setPen(QPen(QColor(0xFF, 0xFF, 0xFF), 2))
        painter.drawEllipse(centre, 8, 8)
        painter.setBrush(QColor(0x4C, 0x8B, 0xF5))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(centre, 3, 3)


class _SideBySide(QWidget):
    """Two square widgets in a row: as tall as half the width, so a tall dock leaves no gaps."""

    def __init__(self, left: QWidget, right: QWidget) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(left, 1)
        layout.addWidget(right, 1)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        return max(220, (width - 8) // 2)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(608, 300)


class PlaneTab(QWidget):
    """Corner images, the pad, and the blend at the pad's point."""

    image_for_canvas = Signal(QImage)

    def __init__(self, backend: Backend, canvas_image_provider: CanvasProvider | None = None,
                 request_provider: RequestProvider | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._request_provider = request_provider or default_request
        self._encoded = False
        self._decode_seconds: float | None = None
        self.live_full_decode_seconds = LIVE_FULL_DECODE_SECONDS
        self.last_frame: PlaneFrame | None = None

        self.slots = [ImageSlot(name, canvas_image_provider, thumb=48) for name in CORNER_NAMES]
        self.pad = PlanePad()
        self.view = ImageView("The blend at the pad's point shows here.")
        self.note = QLabel("")
        self.note.setObjectName("dimLabel")
        self.note.setWordWrap(True)
        self.caption = QLabel("")
        self.caption.setObjectName("dimLabel")
        self.caption.setWordWrap(True)
        self.send_button = QPushButton("Send to canvas")
        self.send_button.setEnabled(False)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._encoder = LatestOnly(backend, EncodeJob, self)
        self.blends = LatestOnly(backend, PlaneJob, self)

        corners = QGridLayout()
        corners.setHorizontalSpacing(12)
        corners.setVerticalSpacing(8)
        for index, slot in enumerate(self.slots):
            corners.addWidget(slot, index // 2, index % 2)
        views = _SideBySide(self.pad, self.view)
        bottom = QHBoxLayout()
        bottom.addWidget(self.caption, 1)
        bottom.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(corners)
        layout.addWidget(self.note)
        layout.addWidget(views)
        layout.addLayout(bottom)
        layout.addStretch(1)

        for slot in self.slots:
            slot.changed.connect(self._inputs_changed)
        self.pad.point_moved.connect(self._moved)
        self.pad.point_released.connect(self._released)
        self._settle_timer.timeout.connect(self._settle)
        self.send_button.clicked.connect(self._send_to_canvas)
        self._encoder.result.connect(self._on_encoded)
        self._encoder.error.connect(self.note.setText)
        self.blends.result.connect(self._on_frame)
        self.blends.error.connect(self.note.setText)
        self._inputs_changed()

    # --- public ---

    def set_corner(self, index: int, source: ImageSource) -> None:
        """Corner 0..3 (top-left, top-right, bottom-left, bottom-right) from a gallery path or a QImage."""
        self.slots[index].set_source(source)

    def set_point(self, x: float, y: float) -> None:
        """Move the point (as a click would) and decode it fully."""
        self.pad.set_point(x, y)
        self._settle()

    @property
    def corner_count(self) -> int:
        return sum(slot.has_image() for slot in self.slots)

    @property
    def live_quality(self) -> str:
        fast = self._decode_seconds is not None and self._decode_seconds <= self.live_full_decode_seconds
        return "full" if fast else "cheap"

    # --- internals ---

    def _source(self) -> dict[str, str]:
        """The model and VAE the window's controls choose: the corners are encoded and decoded with them."""
        request = self._request_provider()
        return {"model": request.model, "vae": request.vae}

    def _images(self) -> list[QImage]:
        return [slot.image for slot in self.slots if slot.has_image()]

    def _inputs_changed(self) -> None:
        self._encoded = False
        self.blends.forget()
        images = self._images()
        self.pad.set_corners(images)
        self.pad.set_weights(())
        if len(images) < 3:
            self.note.setText(f"{len(images)} of 3 or 4 corners placed.")
            return
        shape = "triangle: the third image sits at the bottom centre" if len(images) == 3 else "square"
        self.note.setText(f"Encoding {len(images)} corners ({shape})…")
        self._encoder.request(key=PLANE_SET, images=tuple(images), **self._source())
        self._encoded = True

    def _request(self, quality: str) -> None:
        if not self._encoded:
            return
        x, y = self.pad.point
        payload: dict[str, Any] = {"key": PLANE_SET, "x": round(x, 4), "y": round(y, 4), "quality": quality,
                                   **self._source()}
        self.blends.request(**payload)

    def _moved(self, _x: float, _y: float) -> None:
        self._request(self.live_quality)
        self._settle_timer.start()

    def _released(self, _x: float, _y: float) -> None:
        self._settle()

    def _settle(self) -> None:
        self._settle_timer.stop()
        self._request("full")

    def _on_encoded(self, result: object) -> None:
        if not isinstance(result, EncodedSet) or self._encoder.busy:
            return  # a newer set of images is being encoded: this one is stale
        self._decode_seconds = result.decode_seconds
        names = [slot.title for slot in self.slots if slot.has_image()]
        notes = [f"{name}: {note}" for name, note in zip(names, result.notes, strict=True) if note]
        self.note.setText(" · ".join(notes) if notes else f"{len(names)} corners, {result.size[0]}x{result.size[1]}.")
        self.blends.forget()
        self._settle()

    def _on_frame(self, frame: object) -> None:
        if not isinstance(frame, PlaneFrame):
            return
        self.last_frame = frame
        self.view.set_image(frame.image)
        self.pad.set_weights(frame.weights)
        self.send_button.setEnabled(True)
        weights = " ".join(f"{w:.2f}" for w in frame.weights)
        what = "preview" if frame.quality == "cheap" else "VAE decode"
        self.caption.setText(f"({frame.x:.2f}, {frame.y:.2f}) · weights {weights} · {what} · "
                             f"{frame.elapsed * 1000:.0f} ms")

    def _send_to_canvas(self) -> None:
        if not self.view.image().isNull():
            self.image_for_canvas.emit(self.view.image())
