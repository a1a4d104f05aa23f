"""The desktop window on the ComfyUI backend (pytest-qt): the server's previews appear on the
canvas and the result lands in the gallery, saved with its metadata."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from sdstudio.bridge.comfy.backend import ComfyBackend
from sdstudio.bridge.messages import JobState
from tests.comfy.networks import EMBEDDING_NAMES, LORA_NAME, VAE_NAME

TIMEOUT_MS = 180_000
OFFSCREEN_NOISE = r"^This plugin does not support propagateSizeHints\(\)$"  # the offscreen platform's, not ours




@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_window_generates_on_the_server(qtbot, event_loop, comfy_server, checkpoint_name, tmp_path, monkeypatch):
    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.model import GenerationModel
    from sdstudio.ui.settings import SettingsStore

    monkeypatch.setenv("SDSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SDSTUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", "")
    connecting = asyncio.ensure_future(ComfyBackend.connect([comfy_server.url], lambda: tmp_path / "outputs"))
    qtbot.waitUntil(connecting.done, timeout=30_000)
    backend = connecting.result()

    store = SettingsStore()
    generation = store.attach(GenerationModel())
    generation.model, generation.steps, generation.sampler = checkpoint_name, 4, "Euler"
    generation.set_size(64, 64)
    window = MainWindow(store=store, generation=generation, backend=backend)
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    generation.model = checkpoint_name
    window.controls.prompt.setFocus()
    qtbot.keyClicks(window.controls.prompt, "a red apple")
    previews = []
    window.preview_shown.connect(lambda frame: previews.append((frame.step, window.canvas.has_preview())))

    with qtbot.waitSignal(window.jobs.ended, timeout=TIMEOUT_MS) as ended:
        QTest.keyClick(window.controls.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    handle = ended.args[0]
    assert (handle.state, handle.error) == (JobState.DONE, "")
    result = handle.outcome

    steps = [step for step, _ in previews]
    # every step's preview is shown on the canvas as it comes; the last may land after the result
    # has replaced it (the window then shows the image, not a stale preview)
    assert steps[:3] == [1, 2, 3] and steps == sorted(steps) and all(shown for _, shown in previews)
    saved = result.images[0]
    assert window.gallery.count() == 1 and window.gallery.entries()[0].path == saved.path
    with Image.open(saved.path) as image:
        assert f"Model: {checkpoint_name}" in image.text["parameters"] and "prompt" in image.text
    window.close()
    qtbot.waitUntil(lambda: all(connection.client.session.closed for connection in backend.connections),
                    timeout=10_000)


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_the_window_connects_lists_the_servers_checkpoints_and_greys_out_what_it_cannot_do(
    qtbot, event_loop, comfy_server, checkpoint_name, tmp_path, monkeypatch
):
    from sdstudio.ui.main_window import MainWindow

    monkeypatch.setenv("SDSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SDSTUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", "")
    window = MainWindow(preload=False)
    qtbot.addWidget(window)
    assert window.backend is window.local_backend and window.controls.vae.isEnabled()

    refused = asyncio.ensure_future(window.connect_comfy(["http://127.0.0.1:9"]))
    qtbot.waitUntil(refused.done, timeout=30_000)
    assert refused.result() is False and window.backend is window.local_backend
    assert window.notice.level == "error" and "\n" not in window.notice.text()

    connecting = asyncio.ensure_future(window.connect_comfy([comfy_server.url]))
    qtbot.waitUntil(connecting.done, timeout=30_000)
    assert connecting.result() is True
    picker = window.controls.model_picker
    assert [info.name for info in picker.infos()] == [checkpoint_name]
    assert not window.add_models_action.isEnabled() and window.rescan_action.isEnabled()
    # the LoRA browser, the prompts' embedding colours and the VAE choices offer the server's files
    browser, vae = window.network_browser, window.controls.vae
    assert browser.isEnabled() and vae.isEnabled()
    listed = [(entry.kind, entry.name, entry.location) for entry in browser.entries_shown()]
    assert listed == [("lora", LORA_NAME, comfy_server.url)] + [("embedding", name, comfy_server.url)
                                                                for name in EMBEDDING_NAMES]
    assert browser.snippet(browser.entries_shown()[0]) == f"<lora:{LORA_NAME}:1>"
    browser.tree.setCurrentItem(browser.tree.topLevelItem(0).child(0))  # the server is asked what it says
    qtbot.waitUntil(lambda: "ink style" in browser.details.text(), timeout=30_000)
    assert "Base model: sd_v1" in browser.details.text() and "Trained as: inkstyle" in browser.details.text()
    assert browser.tree.topLevelItem(0).child(0).text(1) == "sd_v1"
    assert [vae.itemData(i) for i in range(vae.count())] == ["", VAE_NAME.removesuffix(".safetensors")]
    with qtbot.waitSignal(window.backend.models_changed, timeout=30_000):
        window.rescan_action.trigger()  # File > Rescan Models reads the server's lists again
    assert len(browser.entries_shown()) == 3
    assert window.settings.backend == "comfyui" and window.settings.comfy_urls == [comfy_server.url]
    assert window.explorer.interpolation is not None and window.local_backend is not window.backend

    comfy = window.backend
    window.use_local_backend()
    assert window.backend is window.local_backend and window.controls.vae.isEnabled()
    assert all(entry.location == "" for entry in window.network_browser.entries_shown())
    qtbot.waitUntil(lambda: all(connection.client.session.closed for connection in comfy.connections),
                    timeout=10_000)  # switching away closed the server connections
    assert all(info.kind != "comfyui" for info in picker.infos())
    window.close()
