"""The latent explorer as the main window embeds it: gallery picks open it on A and B, its frames
reach the canvas as an input image, a trajectory run lands in the gallery, and it remembers
whether it was open."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sdstudio.engine.requests import Mode
from sdstudio.ui.settings import SettingsStore

TIMEOUT = 120_000


def _noise_png(path, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def test_gallery_a_and_b_open_the_explorer_and_a_frame_becomes_the_input(qtbot, make_window, tmp_path):
    window = make_window()
    assert not window.explorer_dock.isVisible()
    window.gallery.interpolation_a_chosen.emit(_noise_png(tmp_path / "a.png", 1))
    assert window.explorer_dock.isVisible()
    window.gallery.interpolation_b_chosen.emit(_noise_png(tmp_path / "b.png", 2))
    tab = window.explorer.interpolation
    assert tab.slot_a.path == tmp_path / "a.png" and tab.slot_b.path == tmp_path / "b.png"
    qtbot.waitUntil(lambda: tab.last_frame is not None and not tab.blends.busy, timeout=TIMEOUT)

    tab.send_button.click()
    assert window.canvas.has_image() and window.mode() is Mode.IMG2IMG
    assert (window.canvas.image().width(), window.canvas.image().height()) == (64, 64)


def test_dragging_a_blend_keeps_the_seed_and_the_chosen_vae(qtbot, make_window, tmp_path):
    """Blends, refines and walks read the settings as shown: an unlocked seed is not redrawn on
    every frame of a drag (a refined blend would flicker between seeds), and they carry the VAE."""
    window = make_window()
    window.generation.seed_locked = False
    window.generation.vae = "ft-mse.safetensors"
    seed = window.generation.seed
    tab = window.explorer.interpolation
    tab.strength.setValue(0.4)
    for _ in range(3):
        source, refine = tab._source(), tab._refine_request()
    assert window.generation.seed == seed and refine.seed == seed
    assert source["vae"] == refine.vae == "ft-mse.safetensors"
    assert window.build_request().seed != seed  # Generate draws a new one


def test_generate_with_trajectory_saves_into_the_gallery(qtbot, make_window):
    window = make_window(steps=3)
    window.controls.prompt.setPlainText("a green leaf")
    with qtbot.waitSignal(window.explorer.image_saved, timeout=TIMEOUT) as saved:
        window.trajectory_action.trigger()
    path = saved.args[0]
    assert path.is_file() and path.parent == window.output_dir()
    assert window.explorer.currentWidget() is window.explorer.trajectory
    assert any(entry.path == path for entry in window.gallery.entries())


def test_the_explorer_stays_open_across_restarts(qtbot, make_window):
    window = make_window()
    window.explorer_action.trigger()
    assert window.explorer_dock.isVisible()
    window.close()
    assert SettingsStore().settings.explorer_visible
    reopened = make_window()
    assert reopened.explorer_dock.isVisible()
