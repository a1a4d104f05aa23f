"""The A/B slider as a user drives it: the ends are A and B, a drag never queues stale frames and
ends on the frame under the hand, and walks export files that open."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QImage

from sdstudio.bridge.qimage import pil_to_qimage
from sdstudio.io.images import save_image
from sdstudio.io.metadata import format_parameters
from sdstudio.ui.exploration.interpolation_tab import InterpolationTab
from tests.ui.exploration.helpers import animation_frames, flat_image, noise_image, pixels, reconstruction

TIMEOUT = 60000


@pytest.fixture
def tab(qtbot, worker, request_provider):
    canvas = {"image": flat_image((200, 120, 40))}
    widget = InterpolationTab(worker, canvas_image_provider=lambda: canvas["image"], request_provider=request_provider)
    widget.canvas = canvas  # the test's stand-in canvas
    qtbot.addWidget(widget)
    widget.resize(520, 760)  # never shown: the offscreen platform warns about size hints of shown windows
    return widget


def idle(tab: InterpolationTab) -> bool:
    return not tab.blends.busy and not tab._encoder.busy


def chosen(qtbot, tab: InterpolationTab, a: QImage, b: QImage) -> None:
    """Choose A and B and wait until the view shows the settled frame."""
    tab.set_image_a(a)
    tab.set_image_b(b)
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None, timeout=TIMEOUT)


def settled(qtbot, tab: InterpolationTab, t: float, quality: str = "full") -> np.ndarray:
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None and tab.last_frame.t == pytest.approx(t)
                    and tab.last_frame.quality == quality, timeout=TIMEOUT)
    return pixels(tab.view.image())


@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_the_ends_of_the_slider_are_the_reconstructions_of_a_and_b(qtbot, tab, shared_engine, mode):
    a, b = noise_image(1), flat_image((30, 90, 200))
    tab.mode.setCurrentText(mode)
    chosen(qtbot, tab, a, b)
    tab.set_t(0.0)
    start = settled(qtbot, tab, 0.0)
    tab.set_t(1.0)
    end = settled(qtbot, tab, 1.0)
    tab.set_t(0.5)
    middle = settled(qtbot, tab, 0.5)
    assert np.array_equal(start, reconstruction(shared_engine, a))
    assert np.array_equal(end, reconstruction(shared_engine, b))
    assert not np.array_equal(middle, start) and not np.array_equal(middle, end)
    assert tab.mode.toolTip().startswith("slerp (default)")


def test_a_drag_coalesces_and_ends_on_the_frame_under_the_hand(qtbot, tab, shared_engine):
    chosen(qtbot, tab, noise_image(2), noise_image(3))
    tab.live_full_decode_seconds = 0.0  # as with a big model: cheap previews while dragging
    first = tab.blends.submitted
    tab.slider.setSliderDown(True)
    qualities = []
    tab.blends.result.connect(lambda frame: qualities.append(frame.quality))
    for value in range(0, 1001, 10):  # 101 valueChanged, faster than the engine answers
        tab.slider.setValue(value)
        if value % 250 == 0:
            QCoreApplication.processEvents()  # let the results that arrived so far in, mid-drag
    tab.slider.setValue(730)
    tab.slider.setSliderDown(False)  # sliderReleased: settle now
    end = settled(qtbot, tab, 0.73)
    jobs = tab.blends.submitted - first
    assert 2 <= jobs <= 12, f"{jobs} blend jobs for 102 slider values"
    assert "cheap" in qualities and qualities[-1] == "full"
    tab.set_t(0.73)  # the same frame again is not recomputed
    assert tab.blends.submitted - first == jobs
    assert end.shape == (64, 64, 3)


def test_the_view_settles_to_a_full_decode_after_a_pause(qtbot, tab):
    chosen(qtbot, tab, noise_image(4), flat_image((10, 200, 60)))
    tab.live_full_decode_seconds = 0.0
    frames = []
    tab.blends.result.connect(frames.append)
    tab.slider.setValue(400)  # a keyboard or wheel step: no release follows
    settled(qtbot, tab, 0.4, "full")  # the 150 ms timer brought the full decode
    assert [(f.quality, f.image.width()) for f in frames] == [("cheap", 32), ("full", 64)]  # tiny VAE: 2x


def test_a_b_of_another_size_is_fitted_and_the_tab_says_how(qtbot, tab, shared_engine):
    b = flat_image((200, 40, 40), (96, 80))
    chosen(qtbot, tab, noise_image(5), b)
    assert "B: 96x80 -> 64x64 (scaled, cropped)" in tab.fit_note.text()
    assert "96x80" in tab.slot_b.detail.text()
    tab.set_t(1.0)
    assert np.array_equal(settled(qtbot, tab, 1.0), reconstruction(shared_engine, b))


def test_images_come_from_a_file_the_canvas_and_the_gallery(qtbot, tab, tmp_path, base_request):
    path = tmp_path / "from-file.png"
    save_image(qimage_to_pil_image(noise_image(6)), path, format_parameters(replace(base_request, seed=77), "tiny"))
    tab.slot_a.open_path = lambda: path
    tab.slot_a.file_button.click()
    tab.slot_b.canvas_button.click()
    assert tab.slot_a.path == path and "from-file.png" in tab.slot_a.detail.text()
    assert np.array_equal(pixels(tab.slot_b.image), pixels(tab.canvas["image"]))
    assert tab.walk.seed_a.text() == "77"  # the stored parameters prefill the seed walk
    qtbot.waitUntil(lambda: idle(tab) and tab.last_frame is not None, timeout=TIMEOUT)
    tab.canvas["image"] = None
    tab.slot_b.canvas_button.click()
    assert "canvas is empty" in tab.slot_b.detail.text()
    tab.set_image_b(str(path))  # what the gallery's interpolation_b_chosen(path) sends
    assert tab.slot_b.path == path


def qimage_to_pil_image(image: QImage):
    from sdstudio.bridge.qimage import qimage_to_pil

    return qimage_to_pil(image)


def test_send_to_canvas_emits_the_frame_on_view(qtbot, tab):
    chosen(qtbot, tab, noise_image(7), noise_image(8))
    tab.set_t(0.25)
    shown = settled(qtbot, tab, 0.25)
    with qtbot.waitSignal(tab.image_for_canvas, timeout=1000) as blocker:
        tab.send_button.click()
    assert np.array_equal(pixels(blocker.args[0]), shown)


def test_a_refined_frame_is_an_image_not_the_crossfade(qtbot, tab):
    chosen(qtbot, tab, noise_image(9), flat_image((30, 90, 200)))
    tab.set_t(0.5)
    crossfade = settled(qtbot, tab, 0.5)
    tab.prompt.setText("a red rocket")
    tab.strength.setValue(0.6)
    refined = settled(qtbot, tab, 0.5, "refined")
    assert refined.shape == crossfade.shape and not np.array_equal(refined, crossfade)


@pytest.mark.parametrize("export_format", ["gif", "webp", "mp4", "png"])
def test_a_walk_exports_the_frames_asked_for_and_the_file_opens(qtbot, tab, tmp_path, export_format):
    chosen(qtbot, tab, noise_image(10), flat_image((220, 220, 40)))
    tab.walk.frames.setValue(6)
    target = tmp_path / ("frames" if export_format == "png" else f"walk.{export_format}")
    tab.walk.choose_path = lambda _format: target
    tab.walk.format.setCurrentIndex(tab.walk.format.findData(export_format))
    with qtbot.waitSignal(tab.walk.exported, timeout=TIMEOUT) as exported, \
            qtbot.waitSignal(tab.walk.frames_ready, timeout=TIMEOUT) as frames:
        tab.walk.export_button.click()
    assert exported.args[0] == target and len(frames.args[0]) == 6
    assert tab.walk.progress.value() == tab.walk.progress.maximum() == 6
    if export_format == "png":
        assert len(list(target.glob("frame_*.png"))) == 6
    else:
        assert animation_frames(target) == 6
    assert target.name in tab.walk.status.text() and not tab.walk.running


def test_a_seed_prompt_walk_renders_between_two_generations(qtbot, tab, tmp_path):
    tab.walk.set_kind("seed_prompt")
    assert tab.walk.ends.isVisibleTo(tab)
    tab.walk.prompt_b.setText("a dog")
    tab.walk.frames.setValue(3)
    with qtbot.waitSignal(tab.walk.frames_ready, timeout=TIMEOUT) as frames:
        tab.walk.export_to(tmp_path / "seeds.gif")
    assert len(frames.args[0]) == 3 and animation_frames(tmp_path / "seeds.gif") == 3


def test_a_walk_says_what_is_missing(qtbot, tab, tmp_path):
    assert tab.walk.export_to(tmp_path / "walk.gif") is None
    assert "choose images A and B" in tab.walk.status.text()
    chosen(qtbot, tab, noise_image(11), noise_image(12))
    tab.walk.set_kind("refined")
    assert tab.walk.export_to(tmp_path / "walk.gif") is None
    assert "strength" in tab.walk.status.text()


def test_cancel_stops_a_walk_and_writes_nothing(qtbot, tab, worker, tmp_path):
    tab.walk.set_kind("seed_prompt")
    tab.walk.frames.setValue(200)
    target = tmp_path / "long.gif"
    job = tab.walk.export_to(target)
    with qtbot.waitSignal(job.progress, timeout=TIMEOUT):
        pass
    assert tab.walk.cancel_button.isEnabled()
    with qtbot.waitSignal(job.ended, timeout=TIMEOUT):
        tab.walk.cancel_button.click()
    assert job.state.value == "cancelled"
    assert not target.exists() and not tab.walk.running
    assert "Cancelled" in tab.walk.status.text() and tab.walk.export_button.isEnabled()


def test_a_qimage_sent_to_the_slot_is_copied(tab):
    image = pil_to_qimage(qimage_to_pil_image(flat_image((1, 2, 3))))
    tab.set_image_a(image)
    image.fill(0)
    assert pixels(tab.slot_a.image)[0, 0].tolist() == [1, 2, 3]
