"""The visible queue: a status-bar button "Queue: N" whose menu lists the waiting jobs.

Each entry cancels that one job; "Clear queue" cancels every waiting one. The running job is
shown but is cancelled with Esc or the Cancel button, never by clearing the queue.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.queue import JobQueue


class QueueButton(QToolButton):
    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.setObjectName("queueButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self.menu_.aboutToShow.connect(self._fill_menu)
        queue.changed.connect(self._update)
        self._update()

    def _update(self) -> None:
        pending, running = len(self.queue.pending), len(self.queue.running)
        self.setText(f"Queue: {pending}" if pending else ("Running" if running else "Queue: empty"))
        self.setToolTip("Jobs waiting to run; click to cancel one or clear the queue")
        self.setEnabled(bool(pending or running))

    def _fill_menu(self) -> None:
        self.menu_.clear()
        for handle in self.queue.running:
            action = self.menu_.addAction(f"Running: {handle.describe()}")
            action.setEnabled(False)
        for index, handle in enumerate(self.queue.pending, start=1):
            action = self.menu_.addAction(f"Cancel {index}. {handle.describe()}")
            action.setData(handle.job_id)
            action.triggered.connect(self._cancel_from_action)
        if self.queue.pending:
            self.menu_.addSeparator()
            self.menu_.addAction("Clear queue", self.queue.clear)

    def _cancel_from_action(self) -> None:
        action = self.sender()
        job_id = action.data() if action is not None else None
        for handle in self.queue.pending:
            if handle.job_id == job_id:
                self.cancel(handle)

    def cancel(self, handle: JobHandle) -> None:
        self.queue.cancel(handle)
