"""The latent plane: the corners are the corner images, and a drag over the pad is coalesced and
ends on the point under the hand."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from sdstudio.ui.exploration.plane_tab import PlaneTab, corner_points
from tests.ui.exploration.helpers import flat_image, noise_image, pixels, reconstruction

TIMEOUT = 60000
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]


@pytest.fixture
def tab(qtbot, worker, request_provider):
    widget = PlaneTab(worker, canvas_image_provider=lambda: noise_image(9), request_provider=request_provider)
    qtbot.addWidget(widget)
    widget.pad.resize(300, 300)  # never shown (offscreen size-hint warnings): give the pad its size
    return widget


def idle(tab: PlaneTab) -> bool:
    return not tab.blends.busy and not tab._encoder.busy


def settled(qtbot, tab: PlaneTab, x: float, y: float) -> np.ndarray:
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None and tab.last_frame.quality == "full"
                    and (tab.last_frame.x, tab.last_frame.y) == pytest.approx((x, y), abs=1e-3), timeout=TIMEOUT)
    return pixels(tab.view.image())


@pytest.mark.parametrize("count", [3, 4])
def test_the_corners_of_the_pad_are_the_corner_images(qtbot, tab, shared_engine, count):
    corners = [flat_image(color) for color in COLORS[:count]]
    for index, image in enumerate(corners):
        tab.set_corner(index, image)
    assert tab.corner_count == count
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None, timeout=TIMEOUT)
    shown = []
    for x, y in corner_points(count):
        tab.set_point(x, y)
        shown.append(settled(qtbot, tab, x, y))
    for image, frame in zip(corners, shown, strict=True):
        assert np.array_equal(frame, reconstruction(shared_engine, image))
    tab.set_point(0.5, 0.5)
    settled(qtbot, tab, 0.5, 0.5)
    assert sum(tab.last_frame.weights) == pytest.approx(1) and len(tab.last_frame.weights) == count


def test_two_corners_are_not_a_plane(tab):
    tab.set_corner(0, flat_image(COLORS[0]))
    tab.set_corner(3, flat_image(COLORS[1]))
    assert "2 of 3 or 4" in tab.note.text() and tab.blends.submitted == 0


def test_a_drag_on_the_pad_coalesces_and_ends_under_the_hand(qtbot, tab):
    for index in range(4):
        tab.set_corner(index, noise_image(20 + index))
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None, timeout=TIMEOUT)
    first = tab.blends.submitted
    pad = tab.pad
    start, end = pad.to_widget(0.1, 0.1), pad.to_widget(0.8, 0.3)
    QTest.mousePress(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start.toPoint())
    for i in range(1, 41):
        point = start + (end - start) * (i / 40)
        QTest.mouseMove(pad, QPoint(round(point.x()), round(point.y())))
    QTest.mouseRelease(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end.toPoint())
    x, y = pad.point
    assert (x, y) == pytest.approx((0.8, 0.3), abs=0.01)
    settled(qtbot, tab, round(x, 4), round(y, 4))
    jobs = tab.blends.submitted - first
    assert 1 <= jobs <= 12, f"{jobs} plane jobs for 42 mouse events"


def test_the_pad_draws_corners_and_the_point(qtbot, tab):
    for index in range(3):
        tab.set_corner(index, flat_image(COLORS[index]))
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None, timeout=TIMEOUT)
    image = tab.pad.grab().toImage()
    top_left = tab.pad.to_widget(0, 0).toPoint()
    assert image.pixelColor(top_left).red() > 120  # the red corner's thumbnail
    point = tab.pad.to_widget(*tab.pad.point).toPoint()
    assert image.pixelColor(point).blue() > 200  # the point's accent dot
