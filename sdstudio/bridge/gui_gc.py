"""Python's cyclic garbage collection, moved onto the GUI thread while an engine thread runs.

The collector runs in whichever thread happens to allocate when a generation's threshold is
reached. With an engine thread busy allocating, that is usually the engine thread, and a cycle
holding a Qt object (a closed panel, a menu, a QTimer) is then destroyed there: Qt warns "Timers
cannot be stopped from another thread", and a widget deleted off the GUI thread can crash the
process. So while a worker exists, automatic collection is off and a GUI-thread timer collects
each generation when its threshold is passed (the pattern pyqtgraph uses). Reference counting,
which frees almost everything (tensors included), is untouched.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

CHECK_INTERVAL_MS = 250


class GuiThreadGarbageCollector(QObject):
    """Collects generation 0, 1, 2 from a GUI-thread timer, as their thresholds are reached."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):  # the oldest generation due also collects the younger ones
            if counts[generation] > self.threshold[generation]:
                gc.collect(generation)
                return


_collector: GuiThreadGarbageCollector | None = None


def collect_on_gui_thread() -> None:
    """Install the collector once per application; call from the GUI thread (EngineWorker.start does)."""
    global _collector
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return
    try:
        installed = _collector is not None and _collector.parent() is app
    except RuntimeError:  # its application was deleted (tests make a new one)
        installed = False
    if not installed:
        _collector = GuiThreadGarbageCollector(app)
