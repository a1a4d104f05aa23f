"""A non-blocking message strip above the canvas: errors stay until dismissed, info fades out.

Modal message boxes stop the user (and tests); a strip tells them what went wrong and lets them
carry on, which is what an app that "keeps working" after a bad file or a failed job needs.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

INFO_TIMEOUT_MS = 6000
LEVELS = ("info", "warning", "error")


class NoticeBar(QFrame):
    """Shows one message at a time with its level; `shown` is for tests and the status bar."""

    shown = Signal(str, str)  # level, text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("\u2715")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown notice level {level!r}")
        self.level = level
        self.label.setText(text)
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()
        if level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()
        self.shown.emit(level, text)

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def dismiss(self) -> None:
        self._timer.stop()
        self.level = ""
        self.hide()
