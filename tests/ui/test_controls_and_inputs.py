"""The side panel's bindings, the mode indicator, and getting images and masks in and out."""

from __future__ import annotations

import numpy as np
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest

from sdstudio.engine.requests import Mode
from sdstudio.ui.model_picker import native_size


def _save(path, size=(100, 75), parameters: str | None = None):
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    Image.new("RGB", size, (200, 40, 90)).save(path, pnginfo=info)
    return path


def test_sliders_and_spin_boxes_stay_in_step(make_window):
    window = make_window()
    c = window.controls
    c.steps.slider.setValue(42)
    assert c.steps.spin.value() == 42 and window.generation.steps == 42
    c.steps.spin.setValue(7)
    assert c.steps.slider.value() == 7 and window.generation.steps == 7
    c.cfg.slider.setValue(15)  # half-steps: 7.5
    assert c.cfg.spin.value() == 7.5 and window.generation.cfg_scale == 7.5
    c.cfg.spin.setValue(30.0)
    assert c.cfg.slider.value() == 60
    assert c.steps.spin.maximum() == 150 and c.cfg.spin.maximum() == 30


def test_mode_follows_the_canvas_and_denoise_is_enabled_only_with_an_image(make_window, tmp_path):
    window = make_window()
    c = window.controls
    assert window.mode() is Mode.TXT2IMG and c.mode_chip.text() == "txt2img"
    assert not c.strength_row.isEnabled() and c.size_row.isEnabled()
    assert window.open_image(_save(tmp_path / "in.png", (64, 48)))
    assert window.mode() is Mode.IMG2IMG and c.mode_chip.text() == "img2img"
    assert c.strength_row.isEnabled() and not c.size_row.isEnabled()
    assert "64 \u00d7 48" in c.size_note.text() or "64x48" in c.size_note.text()
    window.canvas.fill_mask()
    assert window.mode() is Mode.INPAINT and c.mode_chip.text() == "inpaint"
    window.canvas.undo()
    assert window.mode() is Mode.IMG2IMG
    window.clear_canvas()
    assert window.mode() is Mode.TXT2IMG and not c.strength_row.isEnabled()


def test_unlocked_seed_changes_every_job_and_locked_seed_stays(make_window):
    window = make_window(seed=1234, seed_locked=True)
    c = window.controls
    assert window.build_request().seed == 1234 and window.build_request().seed == 1234
    c.lock_button.setChecked(False)
    seeds = {window.build_request().seed for _ in range(3)}
    assert len(seeds) == 3
    assert c.seed.text() == str(window.generation.seed)  # the seed about to be used is shown
    c.random_button.click()
    assert c.seed.text() == str(window.generation.seed)


def test_size_presets_custom_sizes_and_the_model_default(make_window, tiny_model_dir):
    window = make_window()
    c = window.controls
    index = c.size_preset.findData("768x512")
    c.size_preset.setCurrentIndex(index)
    c.size_preset.activated.emit(index)
    assert (window.generation.width, window.generation.height) == (768, 512)
    assert window.canvas.canvas_size().width() == 768
    c.width_spin.setValue(300)  # not a multiple of 8: rounded down
    assert window.generation.width == 296 and c.size_preset.currentData() == "custom"
    c.size_preset.setCurrentIndex(0)
    c.size_preset.activated.emit(0)
    side = native_size(c.model_picker.current_info())
    assert (window.generation.width, window.generation.height) == (side, side)
    assert str(side) in c.size_preset.itemText(0)
    request = window.build_request()
    assert (request.width, request.height) == (side, side)


def test_open_image_fits_to_multiples_of_8_by_the_chosen_policy(make_window, tmp_path):
    window = make_window()
    window.controls.fit_policy.setCurrentIndex(window.controls.fit_policy.findData("scale"))
    path = _save(tmp_path / "odd.png", (100, 75))
    assert window.open_image(path)
    assert (window.canvas.image().width(), window.canvas.image().height()) == (104, 72)
    assert "104x72" in window.controls.size_note.text()
    window.controls.fit_policy.setCurrentIndex(window.controls.fit_policy.findData("crop"))
    assert (window.canvas.image().width(), window.canvas.image().height()) == (96, 72)
    assert window.generation.fit_policy == "crop"


def test_dropping_an_image_with_parameters_offers_to_restore_them(make_window, tmp_path, dialogs):
    window = make_window()
    text = "a blue bird\nNegative prompt: blur\nSteps: 17, Sampler: DDIM, CFG scale: 5.5, Seed: 99, Size: 64x64"
    path = _save(tmp_path / "with-params.png", (64, 64), text)
    dialogs.answers.append(True)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert len(dialogs.questions) == 1 and "a blue bird" in dialogs.questions[0]
    c = window.controls
    assert c.prompt.toPlainText() == "a blue bird" and c.negative.toPlainText() == "blur"
    assert c.steps.int_value() == 17 and c.sampler.currentText() == "DDIM" and c.cfg.value() == 5.5
    assert c.seed.text() == "99"
    assert window.mode() is Mode.IMG2IMG

    dialogs.answers.append(False)
    c.prompt.setPlainText("kept")
    window.open_image(path)
    assert c.prompt.toPlainText() == "kept"


def test_paste_puts_the_clipboard_image_on_the_canvas(make_window):
    window = make_window()
    image = QImage(40, 24, QImage.Format.Format_RGB32)
    image.fill(QColor(10, 200, 30))
    QGuiApplication.clipboard().setImage(image)
    assert window.paste()
    assert window.canvas.image().size().width() == 40 and window.mode() is Mode.IMG2IMG


def test_mask_tools_undo_and_masks_round_trip_through_files(make_window, tmp_path, dialogs):
    window = make_window()
    window.open_image(_save(tmp_path / "in.png", (64, 64)))
    canvas = window.canvas
    window.mask_tools.size_slider.setValue(12)
    assert canvas.brush_size == 12 and window.settings.brush_size == 12
    window.mask_tools.opacity_slider.setValue(80)
    assert canvas.mask_opacity == 0.8
    center = canvas.image_to_widget(QPointF(32, 32)).toPoint()
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    assert canvas.has_mask()
    window.mask_tools.undo_button.click()
    assert not canvas.has_mask()
    window.mask_tools.redo_button.click()
    assert canvas.has_mask()
    window.canvas.invert_mask_action.trigger()  # now everything but the dab is masked

    mask_path = tmp_path / "mask.png"
    dialogs.paths.append(str(mask_path))
    window.export_mask_action.trigger()
    with Image.open(mask_path) as saved:
        mask = np.asarray(saved.convert("L"))
    assert mask.shape == (64, 64) and mask[0, 0] == 255 and mask[32, 32] < 255

    window.mask_tools.clear_button.click()
    assert not canvas.has_mask()
    dialogs.paths.append(str(mask_path))
    window.mask_tools.load_action.trigger()
    assert canvas.has_mask() and window.mode() is Mode.INPAINT


def test_view_shortcuts_work_while_typing_a_prompt(make_window):
    window = make_window()
    window.controls.prompt.setFocus()
    QTest.keyClick(window.controls.prompt, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.zoom == 1.0
    assert window.zoom_label.text() == "100%"
    QTest.keyClick(window.controls.prompt, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.zoom > 1.0  # a 64 x 64 frame fitted to a large canvas is enlarged
    assert window.controls.prompt.toPlainText() == window.generation.prompt  # no stray characters typed
