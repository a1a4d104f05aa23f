"""Cyclic garbage is collected on the GUI thread while an engine thread runs, never on it."""

from __future__ import annotations

import gc
import threading

from sdstudio.bridge.gui_gc import GuiThreadGarbageCollector


class Cycle:
    """Part of a reference cycle; records the thread that finally destroys it."""

    destroyed_in: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.destroyed_in.append(threading.current_thread().name)


def test_cycles_are_collected_by_the_gui_timer_not_by_a_busy_thread(qtbot):
    was_enabled = gc.isenabled()
    collector = GuiThreadGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()
        collector.threshold = (0, 10**9, 10**9)  # collect generation 0 at every tick
        Cycle.destroyed_in.clear()

        def allocate() -> None:
            Cycle()
            for _ in range(50_000):  # far past the default thresholds: no automatic collection here
                [object(), object()]

        worker = threading.Thread(target=allocate, name="engine")
        worker.start()
        worker.join()
        assert Cycle.destroyed_in == []
        qtbot.waitUntil(lambda: bool(Cycle.destroyed_in), timeout=5000)
        assert Cycle.destroyed_in == [threading.main_thread().name]
    finally:
        collector.timer.stop()
        if was_enabled:
            gc.enable()
