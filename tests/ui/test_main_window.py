"""The main window as a user drives it, on the tiny model: generate with live previews, cancel,
close mid-job, inpaint a painted region, and keep working after errors."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest

from sdstudio.engine.requests import Mode
from tests.ui.conftest import GENERATION_TIMEOUT_MS

CTRL = Qt.KeyboardModifier.ControlModifier


def _type_prompt(qtbot, window, text: str) -> None:
    window.controls.prompt.setFocus()
    window.controls.prompt.clear()
    qtbot.keyClicks(window.controls.prompt, text)


def test_ctrl_enter_generates_with_previews_and_saves_with_metadata(qtbot, make_window):
    window = make_window(steps=5)
    _type_prompt(qtbot, window, "a red apple")
    steps_seen, previews = [], []
    window.jobs.progress.connect(lambda p: steps_seen.append(p.done))
    window.preview_shown.connect(lambda frame: previews.append(frame.step))

    cancel_while_running = []
    cancel_button = window.controls.cancel_button
    window.generation_started.connect(lambda _id: cancel_while_running.append(cancel_button.isEnabled()))

    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS) as blocker:
        QTest.keyClick(window.controls.prompt, Qt.Key.Key_Return, CTRL)
    result = blocker.args[0]

    assert cancel_while_running == [True]

    assert steps_seen == [1, 2, 3, 4, 5]
    assert previews and previews == sorted(previews) and previews[-1] == 5
    saved = result.images[0]
    assert saved.path.is_file() and saved.path.parent == window.output_dir()
    parameters = Image.open(saved.path).text["parameters"]
    assert parameters.startswith("a red apple\n") and "Steps: 5" in parameters and f"Seed: {saved.seed}" in parameters
    shown = window.canvas.image()
    assert shown is not None and shown.size() == saved.image.size()
    assert window.controls.generate_button.text() == "Generate" and not window.controls.cancel_button.isEnabled()
    assert window.gallery.count() == 1 and window.gallery.entries()[0].path == saved.path
    assert window.mode() is Mode.TXT2IMG  # a result is something to look at, not an input
    assert str(saved.seed) in window.controls.last_seed.text()


def test_event_loop_keeps_running_during_a_job(qtbot, make_window):
    window = make_window(steps=12)
    ticks = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(window.controls.is_running()))
    heartbeat.start()
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS):
        window.start_generate()
    heartbeat.stop()
    assert sum(ticks) >= 5  # the GUI thread ticked many times while the engine worked


def test_escape_on_the_first_preview_cancels_and_writes_nothing(qtbot, make_window, isolated_dirs):
    window = make_window(steps=150)

    def press_escape(_frame) -> None:
        window.preview_shown.disconnect(press_escape)
        QTest.keyClick(window, Qt.Key.Key_Escape)

    window.preview_shown.connect(press_escape)
    with qtbot.waitSignal(window.generation_cancelled, timeout=GENERATION_TIMEOUT_MS):
        window.start_generate()
    assert window.controls.generate_button.text() == "Generate"
    assert not window.canvas.has_preview() and window.canvas.image() is None
    output = isolated_dirs["output"]
    assert not output.exists() or not any(output.iterdir())
    assert window.gallery.count() == 0

    window.controls.steps.spin.setValue(3)
    assert window.generation.steps == 3
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS):
        window.controls.generate_button.click()


def test_closing_the_window_mid_job_stops_the_thread_cleanly(qtbot, make_window, isolated_dirs):
    window = make_window(steps=150)
    with qtbot.waitSignal(window.preview_shown, timeout=GENERATION_TIMEOUT_MS):
        window.start_generate()
    window.close()
    assert not window.backend.running
    output = isolated_dirs["output"]
    assert not output.exists() or not [p for p in output.iterdir() if p.name.startswith(".")]
    assert (isolated_dirs["config"] / "settings.json").is_file()  # settings were saved on close


def _pattern(path, size=64):
    """A test image with structure everywhere, so an unchanged pixel is a meaningful check."""
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def test_painted_mask_inpaints_only_the_painted_region(qtbot, make_window, tmp_path, dialogs):
    window = make_window(steps=4)
    original = _pattern(tmp_path / "input.png")
    dialogs.paths.append(str(tmp_path / "input.png"))
    window.open_action.trigger()
    assert window.mode() is Mode.IMG2IMG
    assert window.controls.strength_row.isEnabled()

    canvas = window.canvas
    canvas.brush_size = 8
    canvas.brush_hardness = 1.0
    start, end = canvas.image_to_widget(QPointF(26, 32)), canvas.image_to_widget(QPointF(38, 32))
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start.toPoint())
    QTest.mouseMove(canvas, end.toPoint())
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end.toPoint())
    assert canvas.has_mask()
    assert window.mode() is Mode.INPAINT and window.controls.mode_chip.text() == "inpaint"

    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS) as blocker:
        window.start_generate()
    result = np.asarray(Image.open(blocker.args[0].images[0].path).convert("RGB"))
    far = np.ones((64, 64), bool)
    far[8:56, 8:56] = False  # the stroke plus its feathered edge stay well inside this square
    assert np.array_equal(result[far], original[far])
    assert not np.array_equal(result[28:36, 28:36], original[28:36, 28:36])
    assert window.canvas.has_mask() and window.displayed_image() is not None  # another try keeps the mask
    assert "Mask blur" in Image.open(blocker.args[0].images[0].path).text["parameters"]


def test_bad_model_shows_an_error_and_the_next_job_works(qtbot, make_window, tmp_path, tiny_model_dir):
    window = make_window()
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    window.select_model(broken)
    with qtbot.waitSignal(window.generation_failed, timeout=GENERATION_TIMEOUT_MS) as blocker:
        window.start_generate()
    assert blocker.args[0] and "\n" not in blocker.args[0]
    assert window.notice.level == "error" and window.notice.text()
    assert window.controls.generate_button.text() == "Generate"

    window.select_model(tiny_model_dir)
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS):
        window.start_generate()
    assert window.notice.level != "error"


def test_unreadable_image_is_reported_and_the_canvas_is_kept(qtbot, make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with qtbot.waitSignal(window.error_shown) as blocker:
        assert not window.open_image(bad)
    assert "broken.png" in blocker.args[0]
    assert window.canvas.image() is None and window.mode() is Mode.TXT2IMG


def test_generate_while_running_queues_and_three_give_three_results_in_order(qtbot, make_window):
    window = make_window(steps=4)
    finished = []
    window.generation_finished.connect(finished.append)
    handles = [window.start_generate() for _ in range(3)]
    assert window.controls.generate_button.text() in ("Generate (2 queued)", "Generate (3 queued)")
    for handle in handles:
        if not handle.state.ended:
            with qtbot.waitSignal(handle.ended, timeout=GENERATION_TIMEOUT_MS):
                pass
    assert [result.job_id for result in finished] == [handle.job_id for handle in handles]
    assert window.gallery.count() == 3 and window.controls.generate_button.text() == "Generate"
    assert len({result.images[0].seed for result in finished}) == 3  # a new seed each (not locked)


def test_cancelling_a_queued_job_leaves_the_others_and_esc_stops_only_the_running_one(qtbot, make_window):
    window = make_window(steps=40)
    first, second, third = (window.start_generate() for _ in range(3))
    with qtbot.waitSignal(window.preview_shown, timeout=GENERATION_TIMEOUT_MS):
        pass  # the first one runs
    window.queue_button.cancel(second)
    assert second.state.value == "cancelled" and third.state.value == "queued"
    QTest.keyClick(window, Qt.Key.Key_Escape)  # stops the running first job only
    for handle in (first, third):
        if not handle.state.ended:
            with qtbot.waitSignal(handle.ended, timeout=GENERATION_TIMEOUT_MS):
                pass
    assert first.state.value == "cancelled" and third.state.value == "done"
    assert window.gallery.count() == 1


def test_generate_n_times_steps_the_seed(qtbot, make_window):
    window = make_window(steps=3)
    window.generation.seed_locked = True
    window.generation.seed = 500
    handles = window.generate_times(3, next_seed=True)
    for handle in handles:
        if not handle.state.ended:
            with qtbot.waitSignal(handle.ended, timeout=GENERATION_TIMEOUT_MS):
                pass
    assert [handle.job.request.seed for handle in handles] == [500, 501, 502]
    assert window.generation.seed_locked


def test_the_image_menu_queues_n_generations_with_random_seeds_when_asked(qtbot, make_window):
    window = make_window(steps=3)
    window.generation.seed_locked = False
    submitted = []
    window.jobs.queue.changed.connect(lambda: submitted.extend(h for h in window.jobs.queue.handles
                                                               if h not in submitted))
    window.repeat_random_action.setChecked(True)
    image_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Image")
    repeat = next(a.menu() for a in image_menu.actions() if a.menu() is not None)
    next(a for a in repeat.actions() if a.text() == "2 times").trigger()
    assert len(submitted) == 2
    for handle in submitted:
        if not handle.state.ended:
            with qtbot.waitSignal(handle.ended, timeout=GENERATION_TIMEOUT_MS):
                pass
    assert all(handle.state.value == "done" for handle in submitted)
    assert submitted[0].job.request.seed != submitted[1].job.request.seed


def test_the_caption_names_what_is_shown_after_each_click(qtbot, make_window, tmp_path):
    window = make_window(steps=3)
    for _ in range(3):
        with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS):
            window.start_generate()
    entries = window.gallery.entries()
    for entry in (entries[2], entries[0], entries[1]):
        window.show_entry(entry)
        assert entry.path.name in window.canvas_info.text() and window.canvas_info.text().startswith("Result")
        assert f"seed {entry.seed}" in window.canvas_info.text()
    _pattern(tmp_path / "photo.png")
    assert window.open_image(tmp_path / "photo.png", ask_restore=False)
    assert window.canvas_info.text().startswith("Input \u00b7 photo.png")
    with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS) as blocker:
        window.start_generate()  # img2img: the result over its input
    result = blocker.args[0].images[0].path.name
    assert window.canvas_info.text().startswith("Result") and result in window.canvas_info.text()
    window.show_input()
    assert window.canvas_info.text().startswith("Input \u00b7 photo.png") and result not in window.canvas_info.text()
