"""Start heavy work (the model preload: importing torch and diffusers) after the window is seen.

The engine thread's first act is `import torch`, a few seconds of Python that holds the GIL in
turns with the GUI thread. Started while the window is still being laid out and painted, it
roughly doubles the time to the first frame. Waiting for the first paint costs the load nothing
(the user cannot press Generate before they see the button) and shows the window at once.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

FALLBACK_MS = 1000  # a window that is never painted (hidden, minimised at start) starts it anyway


class AfterFirstPaint(QObject):
    """Calls `callback` once, on the first paint of any widget of `window` (or after
    FALLBACK_MS); never after the window was closed."""

    def __init__(self, window: QWidget, callback: Callable[[], None], fallback_ms: int = FALLBACK_MS) -> None:
        super().__init__(window)
        self._window, self._callback = window, callback
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._timer.start(fallback_ms)
        QCoreApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind == QEvent.Type.Paint and isinstance(watched, QWidget) and watched.window() is self._window:
            QTimer.singleShot(0, self._fire)  # after this frame is on screen, not inside its paint
            self._stop_watching()
        elif kind == QEvent.Type.Close and watched is self._window:
            self._callback = None
            self._stop_watching()
        return False

    def _stop_watching(self) -> None:
        self._timer.stop()
        QCoreApplication.instance().removeEventFilter(self)

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        self._stop_watching()
        if callback is not None:
            callback()


def after_first_paint(window: QWidget, callback: Callable[[], None], fallback_ms: int = FALLBACK_MS) -> None:
    AfterFirstPaint(window, callback, fallback_ms)
