"""The app's one typed settings object, persisted as JSON (atomically) between sessions.

Every control binds to a field here; the window saves the object on close and, debounced, after
each change, so a crash loses at most the last second of edits. A corrupt or foreign file never
stops the app: it starts from defaults and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from sdstudio.io.atomic import atomic_write_text

CONFIG_DIR_VARIABLE = "SDSTUDIO_CONFIG_DIR"
OUTPUT_DIR_VARIABLE = "SDSTUDIO_OUTPUT_DIR"
SAVE_DELAY_MS = 1000


def config_path() -> Path:
    """`$SDSTUDIO_CONFIG_DIR/settings.json`, else `$XDG_CONFIG_HOME` or `~/.config`/sdstudio."""
    folder = os.environ.get(CONFIG_DIR_VARIABLE)
    if folder:
        return Path(folder).expanduser() / "settings.json"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "sdstudio" / "settings.json"


def default_output_dir() -> str:
    return str(Path(os.environ.get(OUTPUT_DIR_VARIABLE) or Path.home() / "Pictures" / "sdstudio").expanduser())


@dataclass
class Settings:
    """What the user set up last time: generation parameters, folders, brush and window state."""

    prompt: str = ""
    negative_prompt: str = ""
    model: str = ""  # a model path (or name); "" = the built-in/default model
    sampler: str = "Euler a"
    steps: int = 20
    cfg_scale: float = 7.0
    strength: float = 0.75
    width: int = 512
    height: int = 512
    size_follows_model: bool = True  # the "Model default" size preset
    seed: int = 0
    seed_locked: bool = False
    batch_count: int = 1
    fit_policy: str = "scale"
    output_dir: str = field(default_factory=default_output_dir)
    extra_model_dirs: list[str] = field(default_factory=list)
    model_paths: list[str] = field(default_factory=list)  # single models the user added directly
    brush_size: int = 32
    brush_hardness: float = 0.8
    mask_opacity: float = 0.5
    window_geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""  # base64 of the panel splitter's saveState()
    explorer_visible: bool = False  # the latent explorer dock
    gallery_limit: int = 60

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Known fields of the right type are taken; anything else keeps its default."""
        settings = cls()
        for item in fields(cls):
            if item.name not in data:
                continue
            value, default = data[item.name], getattr(settings, item.name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = float(value) if ok else value
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, list):
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:
                ok = isinstance(value, str)
            if ok:
                setattr(settings, item.name, value)
        return settings

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """The saved settings and a one-line warning when the file could not be used."""
    path = path or config_path()
    if not path.exists():
        return Settings(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Settings(), f"Settings file {path} could not be read ({reason}); using defaults"
    return Settings.from_dict(data), None


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or config_path()
    return atomic_write_text(path, json.dumps(settings.to_dict(), indent=2, ensure_ascii=False) + "\n")


class SettingsStore(QObject):
    """Owns the Settings object; `changed()` schedules a save a second later (one write per burst)."""

    save_failed = Signal(str)

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path or config_path()
        self.settings, self.load_warning = load_settings(self.path)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save)

    def changed(self) -> None:
        self._timer.start()

    def save(self) -> bool:
        self._timer.stop()
        try:
            save_settings(self.settings, self.path)
        except OSError as error:
            self.save_failed.emit(f"Could not save settings to {self.path}: {error.strerror or error}")
            return False
        return True
