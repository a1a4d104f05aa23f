"""While the model loads, the status bar says so with a percentage, then that it is ready; a
Generate pressed before that says it is queued until the model is ready, and then runs.

The engine is the real one on the tiny model; only its `load` waits for the test's go, so the
window is reliably caught mid-load.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.ui.conftest import GENERATION_TIMEOUT_MS, OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


class GatedEngine:
    """The real engine, whose model load starts only once `go` is set."""

    def __init__(self, go: threading.Event) -> None:
        from sdstudio.engine.engine import Engine

        self._engine, self._go = Engine(), go

    def load(self, *args, **kwargs):
        self._go.wait(GENERATION_TIMEOUT_MS / 1000)
        return self._engine.load(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._engine, name)


def test_loading_is_shown_and_an_early_generate_is_queued_until_the_model_is_ready(
        qtbot, event_loop, dialogs, tiny_model_dir: Path, isolated_dirs) -> None:
    from sdstudio.bridge.local.backend import LocalBackend
    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.model import GenerationModel
    from sdstudio.ui.settings import SettingsStore

    store = SettingsStore()
    generation = store.attach(GenerationModel())
    store.settings.model_paths = [str(tiny_model_dir)]
    generation.model, generation.steps, generation.sampler = str(tiny_model_dir), 3, "Euler"
    generation.set_size(64, 64)
    go = threading.Event()
    backend = LocalBackend(output_dir=lambda: isolated_dirs["output"], engine_factory=lambda: GatedEngine(go))
    window = MainWindow(store=store, generation=generation, backend=backend, dialogs=dialogs)
    qtbot.addWidget(window)
    status = window.statusBar()
    messages: list[str] = []
    status.messageChanged.connect(messages.append)
    try:
        with qtbot.waitSignal(status.messageChanged, timeout=10_000,
                              check_params_cb=lambda text: text.startswith("Loading model tiny-sd")):
            window.show()  # the preload starts after the first paint
        assert status.currentMessage() == "Loading model tiny-sd... 0 %"

        window.start_generate()
        assert "Queued" in status.currentMessage() and "model" in status.currentMessage()

        with qtbot.waitSignal(window.generation_finished, timeout=GENERATION_TIMEOUT_MS):
            go.set()
        loading = [text for text in messages if text.startswith("Loading model tiny-sd")]
        assert any(text.endswith("% (ready)") for text in loading)
        assert any(text.startswith("Model tiny-sd ready") for text in messages)
        assert len(list(isolated_dirs["output"].glob("*.png"))) == 1
    finally:
        go.set()
        window.close()
