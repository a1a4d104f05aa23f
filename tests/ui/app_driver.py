"""Drive the real `sdstudio` app in its own process, for tests and benchmarks that need a fresh one.

    python -m tests.ui.app_driver SCENARIO

It runs the GUI entry point (`sdstudio.app.main`: the same window, engine thread and process
exit as `sdstudio`) with a hook that plays one scenario and prints one JSON object per line
(`{"event": ..., "t": epoch seconds, ...}`), so the parent can time the process from outside:

- `probe`: window geometry as opened, with the latent explorer docked, with the LoRA browser tabbed
  beside it, then with a mask painted.
- `quit-idle`: close the window once the model is ready and nothing runs.
- `quit-generating`: close it at the first step of a generation.
- `quit-after-image`: close it as soon as the first image of a batch is saved.
- `first-paint`: report the first paint (and what was imported by then), close once the status
  bar says the model is loading.
- `cold-start`: report the first paint and each model-loading message, close when the model is ready.

Settings come from $SDSTUDIO_CONFIG_DIR as usual; the parent writes them (model, steps, dock).
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QDockWidget, QMainWindow, QPushButton, QWidget

SCENARIOS = ("probe", "quit-idle", "quit-generating", "quit-after-image", "first-paint", "cold-start")


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def _rect(rect: QRect) -> list[int]:
    return [rect.x(), rect.y(), rect.width(), rect.height()]


def _in_scroll_viewport(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    return isinstance(parent, QAbstractScrollArea) and parent.viewport() is widget


def _behind_a_tab(window: QMainWindow, widget: QWidget) -> bool:
    """A dock that is not the current tab of its group (or a widget in one): Qt keeps it "visible"
    and parks it wholly outside the window, where no user sees it; it is not cut off."""
    while widget is not None and widget is not window:
        if isinstance(widget, QDockWidget) and window.tabifiedDockWidgets(widget):
            return not QRect(widget.mapTo(window, QPoint(0, 0)), widget.size()).intersects(window.rect())
        widget = widget.parentWidget()
    return False


def clipped_widgets(window: QMainWindow) -> list[str]:
    """Visible widgets not wholly inside every ancestor up to the window. Clipping by a scroll
    area's viewport is fine (the user scrolls to it); any other clipping hides part of a control."""
    found = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or widget.width() <= 0 or widget.height() <= 0:
            continue
        if _behind_a_tab(window, widget):
            continue
        rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        ancestor = widget.parentWidget()
        while ancestor is not None and ancestor is not window:
            if _in_scroll_viewport(ancestor):
                break
            if not QRect(ancestor.mapTo(window, QPoint(0, 0)), ancestor.size()).contains(rect):
                found.append(f"{type(widget).__name__}({widget.objectName()}) outside {type(ancestor).__name__}")
                break
            ancestor = ancestor.parentWidget()
        else:
            if not window.rect().contains(rect):
                found.append(f"{type(widget).__name__}({widget.objectName()}) outside the window")
    return found


def geometry_report(window: QMainWindow) -> dict:
    QApplication.processEvents()
    screen = window.screen() or QGuiApplication.primaryScreen()
    generate = window.findChild(QPushButton, "generateButton")
    generate_rect = QRect(generate.mapToGlobal(QPoint(0, 0)), generate.size())
    return {
        "available": _rect(screen.availableGeometry()),
        "frame": _rect(window.frameGeometry()),
        "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
        "generate": _rect(generate_rect),
        "generate_visible": generate.isVisible(),
        "clipped": clipped_widgets(window),
    }


def paint_mask(window) -> None:
    """An input image with a painted region, as a user makes one before inpainting."""
    image = QImage(512, 512, QImage.Format.Format_RGB32)
    image.fill(0x808080)
    window.set_input_image(image, "probe.png")
    mask = QImage(512, 512, QImage.Format.Format_Grayscale8)
    mask.fill(0)
    painter = QPainter(mask)
    painter.fillRect(100, 100, 200, 160, Qt.GlobalColor.white)
    painter.end()
    window.canvas.set_mask(mask)


def probe(window) -> None:
    try:
        emit("geometry", state="opened", **geometry_report(window))
        window.show_explorer()
        emit("geometry", state="explorer", **geometry_report(window))
        window.show_network_browser()  # tabbed with the explorer
        emit("geometry", state="networks", **geometry_report(window))
        paint_mask(window)
        emit("geometry", state="mask", **geometry_report(window))
    finally:
        window.close()  # also after a failure: the parent reads the events it got


class FirstPaint(QObject):
    """Reports the first paint of any widget of the window: when the user first sees it."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window, self.seen = window, False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if not self.seen and event.type() == QEvent.Type.Paint and isinstance(watched, QWidget) \
                and watched.window() is self.window:
            self.seen = True
            modules = sys.modules
            emit("first-paint", torch_imported="torch" in modules, diffusers_imported="diffusers" in modules,
                 gui_cpu=time.thread_time(), process_cpu=time.process_time(),
                 status=self.window.statusBar().currentMessage())
        return False


def close(window) -> None:
    emit("close")
    window.close()


def play(scenario: str, window) -> None:
    emit("shown", torch_imported="torch" in sys.modules, gui_cpu=time.thread_time())
    if scenario == "probe":
        QTimer.singleShot(0, lambda: probe(window))
        return
    ready = window.backend.model_ready  # (name, device) once the model is loaded
    if scenario in ("cold-start", "first-paint"):
        painter = FirstPaint(window)
        QApplication.instance().installEventFilter(painter)

        def on_status(text: str) -> None:
            if text:
                emit("status", text=text)
            if scenario == "first-paint" and painter.seen and "Loading model" in text and window.isVisible():
                close(window)  # the window was seen, then said that the model loads

        window.statusBar().messageChanged.connect(on_status)
        ready.connect(lambda name, device: (emit("model-ready", model=name), close(window)))
    elif scenario == "quit-after-image":
        def on_saved(_handle, saved) -> None:
            if window.isVisible():
                emit("saved", path=str(saved.path))
                close(window)

        window.jobs.image_saved.connect(on_saved)
        ready.connect(lambda *_: window.start_generate())
    elif scenario == "quit-idle":
        ready.connect(lambda *_: QTimer.singleShot(100, lambda: close(window)))
    elif scenario == "quit-generating":
        def on_progress(progress) -> None:
            if window.isVisible():
                emit("step", text=str(progress))
                close(window)

        window.jobs.progress.connect(on_progress)
        ready.connect(lambda *_: window.start_generate())


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0] not in SCENARIOS:
        raise SystemExit(f"usage: python -m tests.ui.app_driver {{{','.join(SCENARIOS)}}}")
    emit("start")
    from sdstudio.app import main as app_main

    app_main(["sdstudio"], on_window=lambda window: play(argv[0], window))


if __name__ == "__main__":
    main(sys.argv[1:])


def launch(scenario: str, env: dict[str, str], timeout: float = 600.0) -> tuple[list[dict], float, float, int]:
    """Run one scenario in a fresh process: its events, the epoch times it was started and ended
    (as seen from here), and its exit code."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "tests.ui.app_driver", scenario], cwd=root,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)
    ended = time.time()
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        events.append({"event": "stderr", "t": ended, "text": done.stderr[-4000:]})
    return events, started, ended, done.returncode


def first(events: list[dict], name: str) -> dict | None:
    return next((event for event in events if event["event"] == name), None)
