"""The app's one typed settings object, persisted as JSON (atomically) between sessions.

The file holds the app's `Settings` (folders, brush, window) and, under the same flat keys, the
persisted properties of the models attached to the store (the `GenerationModel`). The window
saves on close and, debounced, after each change, so a crash loses at most the last second of
edits. A corrupt or foreign file never stops the app: it starts from defaults and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from sdstudio.io.atomic import atomic_write_text
from sdstudio.ui.properties import ObservableObject

CONFIG_DIR_VARIABLE = "SDSTUDIO_CONFIG_DIR"
OUTPUT_DIR_VARIABLE = "SDSTUDIO_OUTPUT_DIR"
SAVE_DELAY_MS = 1000
M = TypeVar("M", bound=ObservableObject)


def config_path() -> Path:
    """`$SDSTUDIO_CONFIG_DIR/settings.json`, else `$XDG_CONFIG_HOME` or `~/.config`/sdstudio."""
    folder = os.environ.get(CONFIG_DIR_VARIABLE)
    if folder:
        return Path(folder).expanduser() / "settings.json"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "sdstudio" / "settings.json"


def default_output_dir() -> str:
    return str(Path(os.environ.get(OUTPUT_DIR_VARIABLE) or Path.home() / "Pictures" / "sdstudio").expanduser())


SETTINGS_VERSION = 2
"""1 (no key): one flat dataclass; 2: generation parameters belong to `GenerationModel` (same keys),
and brush_size 0 means "follow the image"."""
OLD_DEFAULT_BRUSH = 32
"""Version 1 saved the brush size on every run, so its old default means "never chosen"."""


@dataclass
class Settings:
    """The app's own state: folders, brush and window. Generation parameters live in the
    `GenerationModel`, which the store saves into the same file."""

    output_dir: str = field(default_factory=default_output_dir)
    extra_model_dirs: list[str] = field(default_factory=list)
    model_paths: list[str] = field(default_factory=list)  # single models the user added directly
    brush_size: int = 0  # 0 = scaled to the image (see mask_tools.default_brush_size)
    brush_hardness: float = 0.8
    mask_opacity: float = 0.5
    window_geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""  # base64 of the panel splitter's saveState()
    explorer_visible: bool = False  # the latent explorer dock
    networks_visible: bool = False  # the LoRA/embedding browser dock
    gallery_limit: int = 60
    backend: str = "local"  # "local" (this computer) or "comfyui"
    comfy_urls: list[str] = field(default_factory=list)  # the ComfyUI servers (the token is never saved)

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


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 file read as version 2: the same keys, but its brush size of 32 was the
    old fixed default (too big for a 64-px image), so it becomes "follow the image"; and its seed
    lock was switched on silently by every gallery click, so it cannot be trusted and is off."""
    data = dict(data)
    if not isinstance(data.get("version"), int):
        if data.get("brush_size") == OLD_DEFAULT_BRUSH:
            data["brush_size"] = 0
        data["seed_locked"] = False
        data["version"] = SETTINGS_VERSION
    return data


def read_settings_file(path: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The saved key/values (migrated) and a one-line warning when the file could not be used."""
    path = path or config_path()
    if not path.exists():
        return {"version": SETTINGS_VERSION}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return {"version": SETTINGS_VERSION}, f"Settings file {path} could not be read ({reason}); using defaults"
    return migrate(data), None


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """The saved app settings and a one-line warning when the file could not be used."""
    data, warning = read_settings_file(path)
    return Settings.from_dict(data), warning


def save_settings(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or config_path()
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


class SettingsStore(QObject):
    """Owns the Settings object and saves it with every attached model's persisted properties;
    `changed()` schedules a save a second later (one write per burst)."""

    save_failed = Signal(str)

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path or config_path()
        self._data, self.load_warning = read_settings_file(self.path)
        self.settings = Settings.from_dict(self._data)
        self._models: list[ObservableObject] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save)

    def attach(self, model: M) -> M:
        """Load `model`'s persisted properties from the file and save them after each change
        (attaching twice is harmless)."""
        if model not in self._models:
            model.load_dict(self._data)
            self._models.append(model)
            for signal in model.changed_signals():
                signal.connect(self.changed)
        return model

    def to_dict(self) -> dict[str, Any]:
        """What the file will hold: keys it had that nothing here knows (a newer version's) kept."""
        data = dict(self._data)
        data.update(self.settings.to_dict())
        for model in self._models:
            data.update(model.to_dict())
        data["version"] = SETTINGS_VERSION
        return data

    def changed(self, *_args: object) -> None:
        self._timer.start()

    def save(self) -> bool:
        self._timer.stop()
        try:
            save_settings(self.to_dict(), self.path)
        except OSError as error:
            self.save_failed.emit(f"Could not save settings to {self.path}: {error.strerror or error}")
            return False
        return True
