"""A one-line label that shortens its text with "..." instead of widening the window.

A QLabel's minimum width is its whole text, so a long caption (a file name, a model path) sets
the minimum width of every layout above it. This one asks for a few characters, draws as much
as fits, elided in the middle or at the end, and keeps the full text in its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MINIMUM_CHARACTERS = 6


class ElidedLabel(QLabel):
    """`text()` is the full text; only the drawing is shortened to the width it gets."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__(text, parent)
        self.setToolTip(text)
        self._mode = mode
        # Preferred: asks for the whole text, shrinks down to minimumSizeHint (Ignored would let a
        # layout squeeze it to nothing).
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("x" * MINIMUM_CHARACTERS), super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), self._mode, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment()) | Qt.TextFlag.TextSingleLine, text)
