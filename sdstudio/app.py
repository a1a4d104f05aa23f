"""`sdstudio` with no arguments: the desktop app on a qasync event loop.

Before Qt is touched we check that a window can be shown at all: with no display, or without the
xcb libraries Qt's Linux plugin needs, Qt would abort with a long plugin dump. We print one line
that says what to do instead (install these packages, or use the CLI) and return 2.

Quitting ends the process at once: the window saves its settings and stops the engine thread (a
running job stops at its next step), then `end_process` skips the interpreter's teardown, which
after torch and diffusers are loaded spends 2-3 s destroying modules nobody will use again. An
image being written is finished first; a thread still loading a model is simply ended.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from sdstudio.ui.main_window import MainWindow

NO_DISPLAY_EXIT = 2
# How long quitting waits for the engine thread to end before the process exit ends it. It only
# buys a tidy thread end: a finished image being written is waited for regardless (hold_saves).
QUIT_WAIT_MS = 500
ENGINE_WAIT_S = 60.0  # callers that go on living wait for the engine thread as long as this
# Libraries the xcb platform plugin loads beyond libxcb itself, and the Debian package of each.
XCB_LIBRARIES = {
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-cursor": "libxcb-cursor0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-shape": "libxcb-shape0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-image": "libxcb-image0",
}
NON_DISPLAY_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "wayland", "vkkhrdisplay")


def _library_present(name: str) -> bool:
    found = ctypes.util.find_library(name)
    if found is None:
        return False
    try:
        ctypes.CDLL(found)
    except OSError:
        return False
    return True


def missing_xcb_packages() -> list[str]:
    """Debian packages whose libraries the xcb plugin needs but cannot load here."""
    return [package for library, package in XCB_LIBRARIES.items() if not _library_present(library)]


def display_problem(environ: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """One line saying why no window can open here, or None when one can (or we cannot tell)."""
    environ = dict(os.environ if environ is None else environ)
    platform = platform or sys.platform
    requested = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if not platform.startswith("linux") or (requested and requested != "xcb"):
        return None  # Windows/macOS always have a display; an explicit platform plugin knows its business
    cli = "use the command line instead: `sdstudio generate \"a prompt\"` (see `sdstudio --help`)"
    if not environ.get("DISPLAY") and not (environ.get("WAYLAND_DISPLAY") and not requested):
        return f"sdstudio: no display found (DISPLAY is not set), so the app window cannot open; {cli}"
    if not environ.get("DISPLAY"):
        return None  # Wayland only: Qt picks its wayland plugin
    missing = missing_xcb_packages()
    if missing:
        return (f"sdstudio: Qt's X11 (xcb) plugin needs system libraries that are missing; "
                f"install them with: sudo apt-get install -y {' '.join(missing)} - or {cli}")
    return None


def run_app(argv: list[str] | None = None, on_window: Callable[[MainWindow], None] | None = None,
            quit_wait_ms: int | None = None) -> int:
    """Open the main window and run until it closes.

    `on_window(window)` runs once the window is shown (tests and benchmarks drive the real app
    through it). With `quit_wait_ms` None the engine thread is waited for however long it takes
    (callers that go on living: tests); otherwise closing waits at most that long, and a thread
    still running after it (loading a model, inside a long step) is left to `end_process`: the
    backend's close() returns only once no finished image is being written."""
    return _run(argv, on_window, quit_wait_ms)[0]


def _run(argv: list[str] | None, on_window: Callable[[MainWindow], None] | None,
         quit_wait_ms: int | None) -> tuple[int, bool]:
    """run_app's body; also says whether the engine thread has ended."""
    argv = list(sys.argv if argv is None else argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return NO_DISPLAY_EXIT, True

    import qasync
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.theme import apply_theme

    if QApplication.instance() is None:
        # Fractional scale factors (125%, 150%) as the desktop sets them, not rounded to 1x/2x.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("sdstudio")
    app.setOrganizationName("sdstudio")
    app.setApplicationDisplayName("sdstudio")
    apply_theme(app)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    if quit_wait_ms is not None:
        window.stop_timeout_ms = quit_wait_ms
    window.show()
    if on_window is not None:
        on_window(window)
    try:
        with loop:
            loop.run_forever()
    finally:
        # Closing the window closed the backend already; close() again only says whether it has ended.
        ended = window.backend.close(0.0)
        if not ended and quit_wait_ms is None:
            ended = window.backend.close(ENGINE_WAIT_S)
        asyncio.set_event_loop(None)
    return 0, ended


def end_process(code: int, clean: bool = True) -> NoReturn:
    """End the process now, without the interpreter's teardown of every module (2-3 s once torch
    is in). `clean`: run the atexit handlers first (flush logs, remove temp folders); skipped when
    an engine thread may still be inside an import, where a handler could wait on it forever."""
    if clean:
        atexit._run_exitfuncs()
    else:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or replaced streams
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None, on_window: Callable[[MainWindow], None] | None = None) -> NoReturn:
    """The `sdstudio` GUI entry: the app, then a process exit that does not linger."""
    code, engine_ended = _run(argv, on_window, QUIT_WAIT_MS)
    end_process(code, clean=engine_ended)
