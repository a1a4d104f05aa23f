"""The window fits the screen it opens on: at 1366x768, 1280x800 and 1920x1080 at 150 % scaling,
with the latent explorer docked and a mask painted, every control and the Generate button are on
screen and the minimum width stays at most 1000 logical px.

The screen size of the offscreen platform is fixed when QApplication starts, so each screen is a
fresh process running the real app (`tests.ui.app_driver probe`) under an offscreen screen of that
size; the placement rules themselves are checked here directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMargins, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from sdstudio.ui.window_geometry import FRAME_ALLOWANCE, PREFERRED_SIZE, fits, opening_geometry, place_window
from tests.ui.conftest import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

ROOT = Path(__file__).resolve().parents[2]
MAX_MINIMUM_WIDTH = 1000
PROBE_TIMEOUT_S = 240


def test_opening_geometry_keeps_the_preferred_size_on_a_big_screen() -> None:
    available = QRect(0, 0, 2560, 1440)
    rect = opening_geometry(available)
    assert rect.size() == PREFERRED_SIZE
    assert fits(rect, available) and abs(rect.center().x() - available.center().x()) <= 2


@pytest.mark.parametrize("available", [QRect(0, 0, 1366, 740), QRect(0, 27, 1280, 773), QRect(40, 0, 1240, 720)])
def test_opening_geometry_shrinks_to_the_available_screen_with_its_frame(available: QRect) -> None:
    rect = opening_geometry(available)
    assert fits(rect, available)
    assert rect.width() == available.width() - FRAME_ALLOWANCE.left() - FRAME_ALLOWANCE.right()
    assert rect.height() == available.height() - FRAME_ALLOWANCE.top() - FRAME_ALLOWANCE.bottom()


def test_fits_counts_the_title_bar() -> None:
    available = QRect(0, 0, 1280, 800)
    assert fits(QRect(10, 40, 1200, 700), available)
    assert not fits(QRect(10, 0, 1200, 700), available)  # its title bar would be above the screen
    assert not fits(QRect(0, 40, 1280, 700), available, QMargins(4, 32, 4, 4))


def test_a_saved_geometry_that_fits_is_restored(qtbot) -> None:
    screen = QGuiApplication.primaryScreen().availableGeometry()
    first = QMainWindow()
    qtbot.addWidget(first)
    wanted = QRect(screen.x() + 20, screen.y() + 50, screen.width() // 2, screen.height() // 2)
    first.setGeometry(wanted)
    saved = bytes(first.saveGeometry().toBase64().data()).decode("ascii")
    second = QMainWindow()
    qtbot.addWidget(second)
    assert place_window(second, saved)
    assert second.geometry() == wanted


def test_a_saved_geometry_bigger_than_the_screen_is_not_restored(qtbot) -> None:
    screen = QGuiApplication.primaryScreen().availableGeometry()
    first = QMainWindow()
    qtbot.addWidget(first)
    first.setGeometry(QRect(0, 0, screen.width() + 400, screen.height() + 300))
    saved = bytes(first.saveGeometry().toBase64().data()).decode("ascii")
    second = QMainWindow()
    qtbot.addWidget(second)
    place_window(second, saved)
    assert fits(second.geometry(), screen)


def test_a_saved_geometry_smaller_than_the_window_minimum_is_not_restored(qtbot) -> None:
    first = QMainWindow()
    qtbot.addWidget(first)
    first.setGeometry(QRect(30, 60, 300, 200))
    saved = bytes(first.saveGeometry().toBase64().data()).decode("ascii")
    second = QMainWindow()
    qtbot.addWidget(second)
    panel = QWidget()
    panel.setMinimumSize(QSize(500, 300))  # as the window's panels set it: through the layout
    second.setCentralWidget(panel)
    assert not place_window(second, saved)
    assert second.width() >= 500 and fits(second.geometry(), second.screen().availableGeometry())


def probe(tmp_path: Path, width: int, height: int, scale: float = 1.0) -> dict[str, dict]:
    """Run the real app under an offscreen screen of this size; its geometry report per state."""
    screen = {"name": "probe", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96,
              "logicalBaseDpi": 96, "dpr": 1}
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [screen]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", QT_SCALE_FACTOR=str(scale),
               SDSTUDIO_CONFIG_DIR=str(tmp_path / "config"), SDSTUDIO_OUTPUT_DIR=str(tmp_path / "outputs"))
    done = subprocess.run([sys.executable, "-m", "tests.ui.app_driver", "probe"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {event["state"]: event for event in events if event["event"] == "geometry"}


def contains(outer: list[int], inner: list[int]) -> bool:
    return QRect(*outer).contains(QRect(*inner))


@pytest.mark.parametrize(("width", "height", "scale"), [(1280, 800, 1.0), (1920, 1080, 1.5), (1366, 768, 1.0)])
def test_the_window_and_its_controls_fit_the_screen(tmp_path: Path, width: int, height: int, scale: float) -> None:
    states = probe(tmp_path, width, height, scale)
    assert set(states) == {"opened", "explorer", "networks", "mask"}
    logical = (round(width / scale), round(height / scale))
    for state, report in states.items():
        available = report["available"]
        assert tuple(available[2:]) == logical, state
        assert contains(available, report["frame"]), f"{state}: window {report['frame']} is off the screen"
        assert report["generate_visible"] and contains(available, report["generate"]), state
        assert contains(report["frame"], report["generate"]), state
        assert report["clipped"] == [], f"{state}: cut off: {report['clipped']}"
        assert report["minimum"][0] <= MAX_MINIMUM_WIDTH, f"{state}: minimum width {report['minimum'][0]}"
        assert report["minimum"][1] <= available[3], state


def test_a_long_caption_is_elided_instead_of_widening_the_window(qtbot) -> None:
    from PySide6.QtWidgets import QHBoxLayout, QPushButton

    from sdstudio.ui.elided_label import ElidedLabel

    text = "Result · 00001-3103910609.png · 64 × 64 · seed 3103910609 · mask painted: inpaints this image"
    bar = QWidget()
    qtbot.addWidget(bar)
    row = QHBoxLayout(bar)
    label = ElidedLabel(text)
    row.addWidget(label, 1)
    row.addWidget(QPushButton("Use as input"))
    assert bar.minimumSizeHint().width() < label.fontMetrics().horizontalAdvance(text) // 3
    bar.resize(bar.minimumSizeHint())
    bar.show()
    QApplication.processEvents()
    assert label.width() >= label.minimumSizeHint().width() > 0  # squeezed, never to nothing
    assert label.text() == text and label.toolTip() == text


def test_the_flow_layout_wraps_instead_of_asking_for_its_whole_row(qtbot) -> None:
    from PySide6.QtWidgets import QPushButton

    from sdstudio.ui.flow_layout import FlowLayout

    bar = QWidget()
    qtbot.addWidget(bar)
    layout = FlowLayout(bar, spacing=6)
    layout.setContentsMargins(0, 0, 0, 0)
    buttons = [QPushButton(f"Button number {i}") for i in range(6)]
    for button in buttons:
        layout.addWidget(button)
    widest = max(button.sizeHint().width() for button in buttons)
    one_row = layout.sizeHint()
    assert bar.minimumSizeHint().width() == widest < one_row.width()
    assert layout.heightForWidth(one_row.width()) == one_row.height()
    assert layout.heightForWidth(widest + 20) > 5 * one_row.height()  # one button per row


def test_a_window_that_ends_up_past_the_screen_edge_is_brought_back(qtbot) -> None:
    from sdstudio.ui.window_geometry import keep_on_screen

    screen = QGuiApplication.primaryScreen().availableGeometry()
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setGeometry(QRect(screen.x() + 40, screen.y() + 60, screen.width(), screen.height()))
    window.show()
    keep_on_screen(window)  # as after the first paint, when the real frame is known
    assert screen.contains(window.frameGeometry())


def test_the_mask_toolbar_wraps_instead_of_setting_the_window_width(qtbot) -> None:
    from sdstudio.ui.canvas import Canvas
    from sdstudio.ui.mask_tools import MaskToolbar
    from sdstudio.ui.settings import Settings

    toolbar = MaskToolbar(Canvas(), Settings())
    qtbot.addWidget(toolbar)
    one_row = toolbar.sizeHint()
    assert toolbar.minimumSizeHint().width() < 300 < one_row.width()  # it asked for 981 px in one row
    assert toolbar.heightForWidth(one_row.width()) == one_row.height()  # room enough: one row
    assert toolbar.heightForWidth(300) > 2 * one_row.height()
