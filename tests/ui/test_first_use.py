"""First-use fixes a new user would hit: a big photo on a small model, shortcuts that follow focus."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from sdstudio.engine.requests import Mode


def _photo(path, size=(1366, 768)):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_a_photo_far_larger_than_the_model_is_resized_to_its_size_and_the_user_is_told(make_window, tmp_path):
    window = make_window()
    _photo(tmp_path / "photo.png")
    assert window.open_image(tmp_path / "photo.png", ask_restore=False)
    image = window.canvas.image()
    native = window.controls.model_size()
    assert window.mode() is Mode.IMG2IMG and image.width() * image.height() <= 2 * native * native
    assert image.width() % 8 == 0 and image.height() % 8 == 0
    note = window.controls.size_note.text()
    assert "resized to" in note and "Scale to a multiple of 8" in note
    # the greyed size says what the job will be, not the txt2img size
    assert (window.controls.width_spin.value(), window.controls.height_spin.value()) == (image.width(), image.height())
    request = window.build_request()
    assert (request.width, request.height) == (image.width(), image.height())


def test_keeping_the_full_size_is_one_choice_away(make_window, tmp_path):
    window = make_window()
    _photo(tmp_path / "photo.png")
    window.open_image(tmp_path / "photo.png", ask_restore=False)
    window.controls.fit_policy.setCurrentIndex(window.controls.fit_policy.findData("scale"))
    image = window.canvas.image()
    assert (image.width(), image.height()) == (1368, 768)


def test_brush_keys_work_after_clicking_a_thumbnail_and_text_fields_keep_their_letters(qtbot, make_window, tmp_path):
    window = make_window()
    _photo(tmp_path / "small.png", (64, 64))
    window.open_image(tmp_path / "small.png", ask_restore=False)
    window.gallery.setFocus()
    window.canvas.set_tool("brush")
    QTest.keyClick(window.gallery, Qt.Key.Key_E)
    assert window.canvas.eraser_action.isChecked()
    size = window.canvas.brush_size
    QTest.keyClick(window.gallery, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size > size
    window.controls.prompt.setFocus()
    window.controls.prompt.clear()
    QTest.keyClicks(window.controls.prompt, "be")
    assert window.controls.prompt.toPlainText() == "be" and window.canvas.eraser_action.isChecked()


def test_undo_follows_focus_and_the_menu_says_what_it_undoes(qtbot, make_window, tmp_path):
    window = make_window()
    undo = window.canvas.undo_action
    window.controls.prompt.setFocus()
    qtbot.waitUntil(lambda: window.controls.prompt.hasFocus())
    window.refresh_edit_actions()
    assert undo.text() == "Undo Typing"
    window.controls.prompt.clear()
    QTest.keyClicks(window.controls.prompt, "a cat")
    undo.trigger()  # Edit > Undo with the prompt focused undoes the typing
    assert window.controls.prompt.toPlainText() != "a cat"
    window.canvas.setFocus()
    qtbot.waitUntil(lambda: window.canvas.hasFocus())
    window.refresh_edit_actions()
    assert undo.text() == "Undo Mask Edit"


def test_an_unreadable_image_is_one_plain_line(qtbot, make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with qtbot.waitSignal(window.error_shown) as blocker:
        assert not window.open_image(bad)
    message = blocker.args[0]
    assert "holiday.png" in message and "not an image that can be read" in message
    assert "Pillow" not in message and "\n" not in message


def test_a_trajectory_run_streams_its_steps_to_the_canvas_and_reports_its_speed(qtbot, make_window):
    window = make_window(steps=5)
    steps = []
    window.preview_shown.connect(lambda frame: steps.append(frame.step))
    with qtbot.waitSignal(window.explorer.trajectory.image_saved, timeout=120_000):
        window.trajectory_action.trigger()  # Ctrl+T
    qtbot.waitUntil(lambda: "trajectory" in window.timing_label.text(), timeout=10_000)
    assert steps and steps == sorted(steps) and steps[-1] >= 4
    assert "s/step" in window.timing_label.text()


def test_the_walk_export_dialog_opens_in_the_output_folder(make_window):
    window = make_window()
    assert window.explorer.interpolation.walk.start_dir() == window.output_dir()


def test_a_job_that_will_take_very_long_is_announced_while_it_runs(qtbot, make_window, monkeypatch):
    from sdstudio.engine.engine import Engine

    monkeypatch.setattr(Engine, "long_job_seconds", 0.0)  # any job is "very long" on this device
    window = make_window(steps=3)
    with qtbot.waitSignal(window.generation_finished, timeout=120_000):
        window.start_generate()
    assert window.notice.level == "warning" and "Esc stops it" in window.notice.text()
