"""Heavy start-up work waits for the window's first paint, and never runs for a closed window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from sdstudio.ui.startup import after_first_paint
from tests.ui.conftest import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


class Calls(QObject):
    called = Signal(bool)  # whether the window was visible at the call

    def __init__(self, window: QMainWindow) -> None:
        super().__init__()
        self.window, self.seen = window, []
        self.called.connect(self.seen.append)

    def __call__(self) -> None:
        self.called.emit(self.window.isVisible())


def test_the_callback_runs_after_the_first_paint_not_before(qtbot) -> None:
    window = QMainWindow()
    window.setCentralWidget(QLabel("hello"))
    qtbot.addWidget(window)
    calls = Calls(window)
    after_first_paint(window, calls, fallback_ms=60_000)
    QApplication.processEvents()
    assert calls.seen == []  # not shown, so not painted: nothing yet
    with qtbot.waitSignal(calls.called, timeout=5000) as blocker:
        window.show()
    assert blocker.args == [True]


def test_a_window_closed_before_it_was_painted_never_runs_it(qtbot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    calls = Calls(window)
    after_first_paint(window, calls, fallback_ms=50)
    window.close()
    later = QTimer()
    later.setSingleShot(True)
    with qtbot.waitSignal(later.timeout, timeout=2000):
        later.start(200)  # well past the fallback
    assert calls.seen == []


def test_a_window_never_painted_runs_it_after_the_fallback(qtbot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    calls = Calls(window)
    with qtbot.waitSignal(calls.called, timeout=2000) as blocker:
        after_first_paint(window, calls, fallback_ms=50)
    assert blocker.args == [False]
