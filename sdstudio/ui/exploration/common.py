"""Pieces the exploration tabs share: a fitted image view, an image source slot, and the
latest-only job submitter that keeps a slider or a pad from queueing stale frames."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.messages import JobState
from sdstudio.bridge.protocol import Backend
from sdstudio.engine.requests import GenerationRequest

ImageSource = str | Path | QImage
CanvasProvider = Callable[[], QImage | None]
RequestProvider = Callable[[], GenerationRequest]
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"


def default_request() -> GenerationRequest:
    """What the tools use when the host window gives no request (standalone, tests)."""
    return GenerationRequest(prompt="", steps=20, sampler="Euler a")


def load_qimage(source: ImageSource) -> tuple[QImage, Path | None]:
    """A QImage from a path or a QImage, and the path it came from (for its stored parameters)."""
    if isinstance(source, QImage):
        return source.copy(), None
    path = Path(source)
    image = QImage(str(path))
    if image.isNull():
        raise ValueError(f"cannot read '{path.name}' as an image")
    return image, path


def ask_image_path(parent: QWidget | None, title: str) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(parent, title, "", IMAGE_FILTER)
    return Path(name) if name else None


class ImageView(QWidget):
    """An image scaled to fit (aspect kept, centred), with a hint while empty. The QPixmap is made
    here, on the GUI thread; `shown` fires once it is set, which is when the user can see it."""

    shown = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None, minimum: int = 160) -> None:
        super().__init__(parent)
        self._image = QImage()
        self._pixmap = QPixmap()
        self._placeholder = placeholder
        self._smooth = True
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: QImage | None, smooth: bool = True) -> None:
        self._image = QImage() if image is None else image
        self._pixmap = QPixmap() if image is None else QPixmap.fromImage(image)
        self._smooth = smooth
        self.update()
        self.shown.emit()

    def image(self) -> QImage:
        return self._image

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(320, 320)

    def image_rect(self) -> QRectF:
        """Where the image is drawn: the largest aspect-kept rectangle, centred."""
        if self._pixmap.isNull():
            return QRectF()
        scale = min(self.width() / self._pixmap.width(), self.height() / self._pixmap.height())
        width, height = self._pixmap.width() * scale, self._pixmap.height() * scale
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0x1C, 0x1C, 0x1F))
        if self._pixmap.isNull():
            painter.setPen(QColor(0x80, 0x80, 0x86))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect().adjusted(8, 8, -8, -8), flags, self._placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._smooth)
        painter.drawPixmap(self.image_rect(), self._pixmap, QRectF(self._pixmap.rect()))


class ImageSlot(QWidget):
    """One input image (A, B, a plane corner): a thumbnail, where it came from, and buttons to
    take it from a file or the canvas. Gallery picks arrive through `set_source`."""

    changed = Signal()

    def __init__(self, title: str, canvas_provider: CanvasProvider | None = None, thumb: int = 72,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._canvas_provider = canvas_provider
        self._image = QImage()
        self._path: Path | None = None
        self.open_path: Callable[[], Path | None] = lambda: ask_image_path(self, f"Image {title}")

        self.view = ImageView("", self, minimum=thumb)
        self.view.setFixedSize(thumb, thumb)
        self.caption = QLabel(title)
        self.caption.setStyleSheet("font-weight: 600;")
        self.detail = QLabel("empty")
        self.detail.setObjectName("dimLabel")
        self.detail.setWordWrap(True)
        self.file_button = QPushButton("File…")
        self.file_button.setToolTip(f"Open an image file as {title}")
        self.canvas_button = QPushButton("Canvas")
        self.canvas_button.setToolTip(f"Use the image on the canvas as {title}")
        self.canvas_button.setEnabled(canvas_provider is not None)
        self.file_button.clicked.connect(self._from_file)
        self.canvas_button.clicked.connect(self._from_canvas)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.file_button)
        buttons.addWidget(self.canvas_button)
        buttons.addStretch(1)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.caption)
        text.addWidget(self.detail)
        text.addStretch(1)
        text.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.view)
        layout.addLayout(text, 1)

    @property
    def image(self) -> QImage:
        return self._image

    @property
    def path(self) -> Path | None:
        return self._path

    def has_image(self) -> bool:
        return not self._image.isNull()

    def set_source(self, source: ImageSource, origin: str = "") -> None:
        """Take a gallery path, a file path or a QImage; an unreadable file says so in the slot."""
        try:
            image, path = load_qimage(source)
        except ValueError as error:
            self.detail.setText(str(error))
            return
        self._image, self._path = image, path
        self.view.set_image(image)
        where = origin or (path.name if path else "image")
        self.set_detail(f"{where} · {image.width()}x{image.height()}")
        self.changed.emit()

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)
        self.detail.setToolTip(text)

    def clear(self) -> None:
        self._image, self._path = QImage(), None
        self.view.set_image(None)
        self.set_detail("empty")
        self.changed.emit()

    def _from_file(self) -> None:
        path = self.open_path()
        if path is not None:
            self.set_source(path)

    def _from_canvas(self) -> None:
        image = self._canvas_provider() if self._canvas_provider is not None else None
        if image is None or image.isNull():
            self.set_detail("the canvas is empty")
            return
        self.set_source(image, "canvas")


class LatestOnly(QObject):
    """Submits one job type with at most one job in flight and only the newest request pending.

    A slider sends dozens of values a second; queueing them all would show frames from the past
    for seconds after the hand stopped. Here a new request replaces the pending one, and the
    pending one is submitted the moment the running one ends (success, failure or cancel).
    Identical consecutive requests are dropped."""

    result = Signal(object)  # the job's result
    error = Signal(str)  # a one-line message

    def __init__(self, backend: Backend, job_type: type, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._job_type = job_type
        self._in_flight: JobHandle | None = None
        self._pending: Any = None
        self._last: str | None = None
        self.submitted = 0  # how many jobs went to the backend (the coalescing is tested on it)

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or self._pending is not None

    @property
    def in_flight(self) -> JobHandle | None:
        return self._in_flight

    def request(self, **fields: Any) -> None:
        """Ask for a job of this type with these fields (the typed job's own fields)."""
        job = self._job_type(**fields)
        key = repr(job)
        if key == self._last:
            return
        self._last = key
        if self._in_flight is None:
            self._submit(job)
        else:
            self._pending = job

    def forget(self) -> None:
        """Drop the pending request and the memory of the last one (inputs changed)."""
        self._pending, self._last = None, None

    def cancel(self) -> None:
        self._pending = None
        if self._in_flight is not None:
            self._in_flight.cancel()

    def _submit(self, job: Any) -> None:
        handle = self._backend.submit(job)
        self._in_flight = handle
        handle.ended.connect(self._on_ended)
        self.submitted += 1

    def _next(self) -> None:
        self._in_flight = None
        if self._pending is not None:
            job, self._pending = self._pending, None
            self._submit(job)

    def _on_ended(self, handle: JobHandle) -> None:
        if handle is not self._in_flight:
            return
        if handle.state is not JobState.DONE:
            self._last = None
        self._next()  # the engine starts on the newest request while this frame is painted
        if handle.state is JobState.DONE:
            self.result.emit(handle.outcome)
        elif handle.state is JobState.FAILED:
            self.error.emit(handle.error)
