"""Fixtures for driving the real main window: isolated settings/output folders, a qasync loop,
scripted dialogs, and a guard that fails any test leaving an engine thread running."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdstudio.bridge.local.engine_thread import EngineThread
from sdstudio.ui.dialogs import Dialogs

GENERATION_TIMEOUT_MS = 120_000
# The offscreen platform plugin (only) warns whenever a top-level window's size constraints
# change; it is the test platform talking, not the app, so that one message is ignored.
OFFSCREEN_NOISE = r"^This plugin does not support propagateSizeHints\(\)$"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "make_window" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


class ScriptedDialogs(Dialogs):
    """Answers every dialog from lists the test fills in; records the questions asked."""

    def __init__(self) -> None:
        self.answers: list[bool] = []
        self.paths: list[str | None] = []
        self.questions: list[str] = []

    def ask(self, parent, title: str, text: str) -> bool:
        self.questions.append(text)
        return self.answers.pop(0) if self.answers else False

    def _path(self) -> str | None:
        return self.paths.pop(0) if self.paths else None

    def open_image(self, parent, start: str = "") -> str | None:
        return self._path()

    def save_image(self, parent, suggested: str) -> str | None:
        return self._path()

    def open_mask(self, parent, start: str = "") -> str | None:
        return self._path()

    def save_mask(self, parent, suggested: str) -> str | None:
        return self._path()

    def folder(self, parent, title: str, start: str = "") -> str | None:
        return self._path()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Settings and outputs in the test's tmp dir, never the user's."""
    config, output = tmp_path / "config", tmp_path / "outputs"
    monkeypatch.setenv("SDSTUDIO_CONFIG_DIR", str(config))
    monkeypatch.setenv("SDSTUDIO_OUTPUT_DIR", str(output))
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", "")
    return {"config": config, "output": output}


@pytest.fixture(autouse=True)
def no_thread_left(monkeypatch: pytest.MonkeyPatch):
    """Fail a test that leaves an engine thread running (and stop it, so the next test is clean)."""
    started: list[EngineThread] = []
    original = EngineThread.start

    def start(self: EngineThread, *args) -> None:
        started.append(self)
        original(self, *args)

    monkeypatch.setattr(EngineThread, "start", start)
    yield started
    running = [thread for thread in started if thread.isRunning()]
    for thread in running:
        thread.stop(60_000)
    assert not running, f"{len(running)} engine thread(s) still running after the test"




@pytest.fixture
def dialogs() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def make_window(qtbot, event_loop, dialogs, tiny_model_dir):
    """Build a MainWindow on the tiny model with fast settings; every window is closed at the end."""
    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.model import GenerationModel
    from sdstudio.ui.settings import SettingsStore

    windows = []

    def make(preset: bool = True, **values):
        """`values` set generation-model properties, or else app settings, before the window opens."""
        store = SettingsStore()
        generation = store.attach(GenerationModel())
        if preset:
            store.settings.model_paths = [str(tiny_model_dir)]
            generation.model = str(tiny_model_dir)
            generation.steps, generation.sampler = 4, "Euler"
            generation.set_size(64, 64)
            for key, value in values.items():
                target = generation if key in GenerationModel.properties() else store.settings
                setattr(target, key, value)
        window = MainWindow(store=store, generation=generation, dialogs=dialogs)
        qtbot.addWidget(window)
        window.resize(1100, 760)
        with qtbot.waitExposed(window):
            window.show()
        with qtbot.waitActive(window):  # window shortcuts (Ctrl+Enter, Esc) need the active window
            window.activateWindow()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
