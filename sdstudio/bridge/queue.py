"""`JobQueue`: every job the window submitted, in order, until it ends: what the queue view shows.

It only observes handles (their own state decides); cancelling through the queue is cancelling
the handle, so one job's cancel never reaches another.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.messages import JobState


class JobQueue(QObject):
    changed = Signal()  # a job was added, started or ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handles: list[JobHandle] = []

    def add(self, handle: JobHandle) -> JobHandle:
        self._handles.append(handle)
        handle.state_changed.connect(self._on_state)
        self.changed.emit()
        if handle.state.ended:  # a backend may refuse a job at once
            self._on_state(handle.state)
        return handle

    @property
    def handles(self) -> list[JobHandle]:
        """Jobs not yet ended, oldest first (the running one, then the queued ones)."""
        return list(self._handles)

    @property
    def pending(self) -> list[JobHandle]:
        return [handle for handle in self._handles if handle.state is JobState.QUEUED]

    @property
    def running(self) -> list[JobHandle]:
        return [handle for handle in self._handles if handle.state is JobState.RUNNING]

    def __len__(self) -> int:
        return len(self._handles)

    def cancel(self, handle: JobHandle) -> None:
        handle.cancel()

    def clear(self) -> None:
        """Cancel the jobs that wait; the running one goes on (Esc stops that)."""
        for handle in self.pending:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in list(self._handles):
            handle.cancel()

    def _on_state(self, _state: JobState) -> None:
        before = len(self._handles)
        self._handles = [handle for handle in self._handles if not handle.state.ended]
        if len(self._handles) != before or _state is JobState.RUNNING:
            self.changed.emit()
