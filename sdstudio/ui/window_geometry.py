"""Where the main window opens and how big: always inside the screen it opens on.

A fixed 1400x900 window put the Generate button and the status bar below the edge of a
1366x768 laptop, and off a 1920x1080 screen at 150 % scaling (1280x720 logical px). So the
window opens at its preferred size shrunk to the screen's *available* geometry (minus the task
bar and, before the window manager has told us its frame, an allowance for the title bar), and a
saved geometry is restored only if it still fits a screen (a monitor may have gone, or the
scaling changed). The other half of fitting is the minimum size: panels that can grow tall or
wide go into `scrollable()` areas, so no dock can push the controls off-screen.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QMargins, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QMainWindow, QScrollArea, QWidget

from sdstudio.ui.startup import after_first_paint

PREFERRED_SIZE = QSize(1400, 900)
# The frame a window manager adds around the client area (title bar on top), unknown until shown;
# `keep_on_screen` corrects the guess once the real frame is known.
FRAME_ALLOWANCE = QMargins(6, 36, 6, 6)
DOCK_MINIMUM_WIDTH = 220  # a docked panel scrolls below this instead of widening the window


def opening_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE,
                     frame: QMargins = FRAME_ALLOWANCE) -> QRect:
    """The client rectangle for a first start: `preferred`, shrunk to fit `available` with its
    frame, centred there."""
    room = available.marginsRemoved(frame)
    size = preferred.boundedTo(room.size())
    left = room.x() + (room.width() - size.width()) // 2
    top = room.y() + (room.height() - size.height()) // 2
    return QRect(left, top, size.width(), size.height())


def fits(client: QRect, available: QRect, frame: QMargins = FRAME_ALLOWANCE) -> bool:
    """Whether a window with this client rectangle (and a frame around it) is wholly on `available`."""
    return available.contains(client.marginsAdded(frame))


def _available_screens() -> list[QRect]:
    return [screen.availableGeometry() for screen in QGuiApplication.screens()]


def place_window(window: QMainWindow, saved: str = "") -> bool:
    """Restore `saved` (base64 of `saveGeometry()`) if it still fits a screen and is not smaller than
    the window's minimum; otherwise open at `opening_geometry` on the primary screen. Call after the
    window's widgets are built (its minimum size is known). Returns True when `saved` was used."""
    if saved and window.restoreGeometry(QByteArray.fromBase64(saved.encode("ascii"))):
        if window.isMaximized() or window.isFullScreen():
            return True
        client, minimum = window.geometry(), window.minimumSizeHint()
        big_enough = client.width() >= minimum.width() and client.height() >= minimum.height()
        if big_enough and any(fits(client, available) for available in _available_screens()):
            return True
        window.setWindowState(Qt.WindowState.WindowNoState)
    screen = window.screen() or QGuiApplication.primaryScreen()
    window.setGeometry(opening_geometry(screen.availableGeometry()))
    after_first_paint(window, lambda: keep_on_screen(window))
    return False


def keep_on_screen(window: QMainWindow) -> None:
    """Once shown, the window manager's real frame is known: if it pushes the window past the
    available screen (a thicker title bar than allowed for), shrink the window to fit."""
    if window.isMaximized() or window.isFullScreen():
        return
    available = (window.screen() or QGuiApplication.primaryScreen()).availableGeometry()
    frame, client = window.frameGeometry(), window.geometry()
    if available.contains(frame):
        return
    margins = QMargins(client.left() - frame.left(), client.top() - frame.top(),
                       frame.right() - client.right(), frame.bottom() - client.bottom())
    window.setGeometry(opening_geometry(available, client.size(), margins))


def scrollable(widget: QWidget, horizontal: bool = True, name: str = "") -> QScrollArea:
    """`widget` in a frameless scroll area that follows its size until there is no room, then
    scrolls: its minimum size stops counting towards the window's."""
    area = QScrollArea()
    if name:
        area.setObjectName(name)
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    if not horizontal:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area
