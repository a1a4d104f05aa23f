"""The panel the main window embeds: its slots take gallery picks, its signals reach the window."""

from __future__ import annotations

import pytest

from sdstudio.ui.exploration.panel import ExplorationPanel
from tests.ui.exploration.helpers import flat_image, noise_image

TIMEOUT = 60000


@pytest.fixture
def panel(qtbot, worker, request_provider):
    widget = ExplorationPanel(worker, canvas_image_provider=lambda: None, request_provider=request_provider)
    qtbot.addWidget(widget)
    return widget


def test_gallery_picks_land_in_the_right_tab(qtbot, panel, tmp_path):
    path = tmp_path / "pick.png"
    assert noise_image(1).save(str(path))
    panel.setCurrentIndex(2)
    panel.set_image_a(str(path))
    assert panel.currentWidget() is panel.interpolation and panel.interpolation.slot_a.path == path
    panel.set_plane_corner(3, flat_image((1, 2, 3)))
    assert panel.currentWidget() is panel.plane and panel.plane.slots[3].has_image()
    assert [panel.tabText(i) for i in range(panel.count())] == ["Interpolate", "Plane", "Trajectory"]


def test_send_to_canvas_and_saved_images_reach_the_window(qtbot, panel):
    panel.set_image_a(noise_image(2))
    panel.set_image_b(noise_image(3))
    qtbot.waitUntil(lambda: panel.interpolation.last_frame is not None and not panel.interpolation.blends.busy,
                    timeout=TIMEOUT)
    with qtbot.waitSignal(panel.image_for_canvas, timeout=1000):
        panel.interpolation.send_button.click()
    with qtbot.waitSignal(panel.image_saved, timeout=TIMEOUT) as saved:
        panel.run_trajectory()
    assert saved.args[0].exists() and panel.currentWidget() is panel.trajectory
