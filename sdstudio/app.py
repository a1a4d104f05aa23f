"""`sdstudio` with no arguments: the desktop app on a qasync event loop.

Before Qt is touched we check that a window can be shown at all: with no display, or without the
xcb libraries Qt's Linux plugin needs, Qt would abort with a long plugin dump. We print one line
that says what to do instead (install these packages, or use the CLI) and return 2.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys

NO_DISPLAY_EXIT = 2
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


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run until it closes; the engine thread is stopped on the way out."""
    argv = list(sys.argv if argv is None else argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return NO_DISPLAY_EXIT

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
    window.show()
    try:
        with loop:
            loop.run_forever()
    finally:
        if not window.jobs.worker.isFinished():
            window.jobs.shutdown()
        asyncio.set_event_loop(None)
    return 0
