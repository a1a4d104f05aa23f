"""What survives between sessions (settings, previous outputs) and what the history strip does."""

from __future__ import annotations

import json

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from sdstudio.ui.model import GenerationModel
from sdstudio.ui.settings import Settings
from tests.ui.conftest import GENERATION_TIMEOUT_MS


def _generate(qtbot, window):
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS) as blocker:
        window.start_generate()
    return blocker.args[0]


def test_settings_persist_across_two_windows(qtbot, make_window, isolated_dirs):
    first = make_window()
    c = first.controls
    c.prompt.setPlainText("a lighthouse at dusk")
    c.negative.setPlainText("fog")
    c.steps.slider.setValue(33)
    c.cfg.spin.setValue(9.5)
    c.sampler.setCurrentText("DPM++ 2M Karras")
    c.lock_button.setChecked(True)
    c.seed.setText("424242")
    c.seed.textEdited.emit("424242")
    first.mask_tools.hardness_slider.setValue(40)
    first.close()

    saved = json.loads((isolated_dirs["config"] / "settings.json").read_text())
    assert saved["prompt"] == "a lighthouse at dusk" and saved["steps"] == 33

    second = make_window(preset=False)
    c2 = second.controls
    assert c2.prompt.toPlainText() == "a lighthouse at dusk"
    assert c2.negative.toPlainText() == "fog"
    assert c2.steps.int_value() == 33 and c2.steps.slider.value() == 33
    assert c2.cfg.value() == 9.5
    assert c2.sampler.currentText() == "DPM++ 2M Karras"
    assert c2.lock_button.isChecked() and c2.seed.text() == "424242"
    assert second.canvas.brush_hardness == 0.4


def test_settings_are_saved_shortly_after_a_change(qtbot, make_window, isolated_dirs):
    window = make_window()
    window.controls.prompt.setPlainText("saved without closing")
    path = isolated_dirs["config"] / "settings.json"
    qtbot.waitUntil(lambda: path.is_file() and json.loads(path.read_text())["prompt"] == "saved without closing")


def test_corrupt_settings_file_gives_defaults_and_a_warning(qtbot, make_window, isolated_dirs):
    isolated_dirs["config"].mkdir(parents=True)
    (isolated_dirs["config"] / "settings.json").write_text("{ this is not json")
    window = make_window(preset=False)
    assert window.notice.level == "warning" and "settings" in window.notice.text().lower()
    assert window.controls.steps.int_value() == GenerationModel().steps


def test_settings_ignore_fields_of_the_wrong_type():
    settings = Settings.from_dict({"gallery_limit": "many", "mask_opacity": 1, "output_dir": 3,
                                   "explorer_visible": True, "x": 1})
    assert settings.gallery_limit == Settings().gallery_limit and settings.mask_opacity == 1.0
    assert settings.output_dir == Settings().output_dir and settings.explorer_visible is True


def test_gallery_click_shows_the_image_and_restores_its_settings(qtbot, make_window):
    window = make_window(steps=3, prompt="first prompt", seed=77, seed_locked=True, cfg_scale=4.5)
    first = _generate(qtbot, window)
    window.controls.prompt.setPlainText("second prompt")
    window.controls.steps.spin.setValue(5)
    window.controls.cfg.spin.setValue(12.0)
    window.controls.lock_button.setChecked(False)
    second = _generate(qtbot, window)
    assert second.images[0].seed != 77
    assert window.gallery.count() == 2
    assert window.gallery.entries()[0].path == second.images[0].path  # newest first

    item = window.gallery.list.item(1)
    rect = window.gallery.list.visualItemRect(item)
    QTest.mouseClick(window.gallery.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     rect.center())
    c = window.controls
    assert c.prompt.toPlainText() == "first prompt"
    assert c.steps.int_value() == 3 and c.cfg.value() == 4.5
    assert c.seed.text() == "77"
    assert window.canvas.image().size() == first.images[0].image.size()
    assert window.gallery.selected().path == first.images[0].path


def test_previous_outputs_load_at_start_up_with_their_settings(qtbot, make_window):
    window = make_window(prompt="from last session", seed=5, seed_locked=True)
    result = _generate(qtbot, window)
    window.close()

    again = make_window()
    qtbot.waitUntil(lambda: again.gallery.count() == 1)
    entry = again.gallery.entries()[0]
    assert entry.path == result.images[0].path
    assert entry.request.prompt == "from last session" and entry.request.seed == 5


def test_gallery_actions_use_as_input_interpolation_and_delete(qtbot, make_window, dialogs):
    window = make_window()
    result = _generate(qtbot, window)
    path = result.images[0].path
    window.gallery.select(path)

    with qtbot.waitSignal(window.gallery.interpolation_a_chosen) as a:
        window.gallery.a_button.click()
    with qtbot.waitSignal(window.gallery.interpolation_b_chosen) as b:
        window.gallery.b_button.click()
    assert a.args == [str(path)] and b.args == [str(path)]

    window.gallery.use_button.click()
    assert window.mode().value == "img2img"

    dialogs.answers.append(False)
    window.gallery.delete_button.click()
    assert path.exists() and window.gallery.count() == 1
    dialogs.answers.append(True)
    window.gallery.delete_button.click()
    assert not path.exists() and window.gallery.count() == 0
    assert len(dialogs.questions) == 2


def test_export_keeps_the_parameters_in_other_formats(qtbot, make_window, dialogs, tmp_path):
    window = make_window(prompt="exported")
    result = _generate(qtbot, window)
    window.gallery.select(result.images[0].path)
    target = tmp_path / "copy.jpg"
    dialogs.paths.append(str(target))
    window.gallery.export_button.click()
    from sdstudio.io.images import read_parameters

    with Image.open(target) as image:
        assert image.format == "JPEG"
    assert read_parameters(target).prompt == "exported"

    png = tmp_path / "shown.png"
    dialogs.paths.append(str(png))
    window.save_as_action.trigger()
    assert read_parameters(png).prompt == "exported"


def test_add_model_folder_lists_its_models_and_remembers_the_folder(make_window, dialogs, tiny_model_dir):
    window = make_window(preset=False)
    picker = window.controls.model_picker
    assert all(info.path != tiny_model_dir for info in picker.infos())
    dialogs.paths.append(str(tiny_model_dir.parent))
    window.add_models_action.trigger()
    assert any(info.path == tiny_model_dir for info in picker.infos())
    assert str(tiny_model_dir.parent) in window.settings.extra_model_dirs
    assert picker.select(str(tiny_model_dir)) and window.generation.model == str(tiny_model_dir)


def test_set_output_folder_saves_there_and_shows_that_folder(qtbot, make_window, dialogs, tmp_path):
    window = make_window()
    folder = tmp_path / "elsewhere"
    dialogs.paths.append(str(folder))
    window.output_dir_action.trigger()
    result = _generate(qtbot, window)
    assert result.images[0].path.parent == folder
    assert window.settings.output_dir == str(folder)
