"""First use (issue 12, points 3 and 8): restoring from the gallery, the seed box, the size preset,
and brush and feather defaults that fit a small image; plus the hires/VAE/clip-skip controls."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from sdstudio.engine.inpaint import feathered_mask
from sdstudio.engine.requests import HiresFix, Mode, Upscaler
from sdstudio.ui.model import MAX_SEED
from tests.ui.conftest import GENERATION_TIMEOUT_MS


def _generate(qtbot, window):
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS) as blocker:
        window.start_generate()
    return blocker.args[0].images[0]


def _click_thumbnail(window, row: int) -> None:
    rect = window.gallery.list.visualItemRect(window.gallery.list.item(row))
    QTest.mouseClick(window.gallery.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     rect.center())


def test_clicking_a_thumbnail_shows_its_seed_and_leaves_the_lock_alone(qtbot, make_window, isolated_dirs):
    window = make_window(seed_locked=False)
    first = _generate(qtbot, window)
    _click_thumbnail(window, 0)
    c = window.controls
    assert c.seed.text() == str(first.seed)
    assert not c.lock_button.isChecked() and not window.generation.seed_locked
    window.store.save()
    assert json.loads((isolated_dirs["config"] / "settings.json").read_text())["seed_locked"] is False

    second = _generate(qtbot, window)  # Generate after a restore makes a new image
    assert second.seed != first.seed
    assert second.path.read_bytes() != first.path.read_bytes()


def test_a_locked_seed_stays_locked_after_a_restore(qtbot, make_window):
    window = make_window(seed=31, seed_locked=True)
    first = _generate(qtbot, window)
    window.controls.seed.setText("32")
    _click_thumbnail(window, 0)
    assert window.controls.lock_button.isChecked() and window.controls.seed.text() == str(first.seed)
    assert _generate(qtbot, window).seed == first.seed


def test_the_seed_box_shows_the_whole_seed(make_window):
    window = make_window()
    box = window.controls.seed
    for seed in (777344673, MAX_SEED):
        window.generation.seed = seed
        assert box.text() == str(seed)
        assert box.fontMetrics().horizontalAdvance(box.text()) <= box.contentsRect().width() - 8


def test_restoring_a_64px_image_names_its_size_preset(qtbot, make_window):
    window = make_window()
    _generate(qtbot, window)  # 64 x 64 (the window fixture's size)
    c = window.controls
    index = c.size_preset.findData("768x512")
    c.size_preset.setCurrentIndex(index)
    c.size_preset.activated.emit(index)
    _click_thumbnail(window, 0)
    assert window.generation.size == (64, 64)
    assert c.size_preset.currentData() == "64x64" and c.size_preset.currentText() == "64 \u00d7 64"


def _open(window, tmp_path, side: int) -> None:
    path = tmp_path / f"in{side}.png"
    Image.new("RGB", (side, side), (90, 120, 30)).save(path)
    assert window.open_image(path, ask_restore=False)


def test_the_default_brush_follows_the_image_until_the_user_picks_one(make_window, tmp_path):
    window = make_window(fit_policy="scale")  # keep the 512 px image at 512 on the tiny model
    assert window.settings.brush_size == 0  # never chosen
    _open(window, tmp_path, 64)
    assert window.canvas.brush_size == 4 and window.mask_tools.size_label.text() == "4 px"
    _open(window, tmp_path, 512)
    assert window.canvas.brush_size == 32
    assert window.settings.brush_size == 0
    window.mask_tools.size_slider.setValue(12)
    _open(window, tmp_path, 64)
    assert window.canvas.brush_size == 12 and window.settings.brush_size == 12


def test_the_inpaint_feather_stays_close_to_the_mask_on_a_small_image(make_window, tmp_path, dialogs):
    window = make_window()
    _open(window, tmp_path, 64)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))  # a 16 x 16 square
    mask.save(tmp_path / "mask.png")
    dialogs.paths.append(str(tmp_path / "mask.png"))
    window.load_mask_dialog()
    request = window.build_request()
    assert request.mode is Mode.INPAINT and request.mask_feather <= 2
    soft = np.asarray(feathered_mask(request.mask_image, request.mask_feather))
    touched = np.argwhere(soft > 0)
    assert touched.min() >= 24 - 3 and touched.max() < 40 + 3  # was 12-14 px past the mask with 8 px


def test_hires_vae_and_clip_skip_controls_reach_the_request(qtbot, make_window, tmp_path):
    window = make_window()
    c = window.controls
    assert not c.hires.body.isVisible()  # folded while off: one line of the panel
    c.hires.setChecked(True)
    assert c.hires.body.isVisible() and window.generation.hires_enabled
    c.hires.scale.spin.setValue(1.5)
    c.hires.steps.setValue(3)
    c.hires.denoise.spin.setValue(0.4)
    c.hires.upscaler.setCurrentIndex(c.hires.upscaler.findData("lanczos"))
    c.set_vae_options(["/vaes/a.safetensors", "/vaes/b.safetensors"])
    c.vae.setCurrentIndex(c.vae.findData("/vaes/b.safetensors"))
    c.clip_skip.setValue(2)
    request = window.build_request()
    assert request.hires == HiresFix(scale=1.5, steps=3, denoise=0.4, upscaler=Upscaler.LANCZOS)
    qtbot.keyClicks(c.hires.prompt, "a cat, sharp")  # A1111's Hires prompt; empty = the prompt
    assert window.build_request().hires.prompt == "a cat, sharp" and window.build_request().hires.negative_prompt == ""
    window.controls.apply_request(replace(request, hires=replace(request.hires, negative_prompt="ugly")))
    assert c.hires.prompt.text() == "" and c.hires.negative.text() == "ugly"  # a restored image's own
    assert request.vae == "/vaes/b.safetensors" and request.clip_skip == 2
    assert c.vae.currentText() == "b.safetensors"

    _open(window, tmp_path, 64)  # img2img: hires is greyed out and left out of the request
    assert not c.hires.isEnabled() and window.build_request().hires is None
    assert window.generation.hires_enabled  # the user's choice is kept for the next txt2img


def test_vae_options_keep_a_saved_choice_that_discovery_has_not_listed(make_window):
    window = make_window(vae="/elsewhere/mine.safetensors")
    c = window.controls
    assert c.vae.currentData() == "/elsewhere/mine.safetensors"
    c.set_vae_options(["/vaes/a.safetensors"])
    assert c.vae.currentData() == "/elsewhere/mine.safetensors" and c.vae.count() == 3
    c.vae.setCurrentIndex(0)
    assert window.generation.vae == "" and c.vae.currentText() == "Model's own"
