"""The model picker: every model discovery finds, plus ones the user pointed at directly.

Items carry the model's path, and requests name models by path, so a model from a folder the
engine does not search (one the user added) loads all the same. The size a model was trained at
is read from its config files here, without torch, to offer it as the "model default" size.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from sdstudio.engine.discovery import ModelInfo, describe, discover_models

NO_MODEL = "No model found - add a model folder"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def native_size(info: ModelInfo | None) -> int:
    """The square side the model was trained at: sdstudio.json's default_size, the family's
    (SD 1.x 512, SDXL 1024), else the UNet's sample size times the VAE's downscale."""
    if info is None:
        return 512
    if info.kind != "diffusers":
        return 1024 if "xl" in info.name.lower() else 512
    extra = _read_json(info.path / "sdstudio.json")
    if isinstance(extra.get("default_size"), int):
        return extra["default_size"]
    unet = _read_json(info.path / "unet" / "config.json")
    vae = _read_json(info.path / "vae" / "config.json")
    if unet.get("addition_embed_type") == "text_time" or (info.path / "text_encoder_2").is_dir():
        return 1024
    if unet.get("cross_attention_dim") == 768:
        return 512
    sample = unet.get("sample_size", 64)
    sample = sample[0] if isinstance(sample, list) and sample else sample
    scale = 2 ** (len(vae.get("block_out_channels", [0, 0, 0, 0])) - 1)
    side = int(sample) * scale if isinstance(sample, int) else 512
    return max(8, side // 8 * 8)


REMOTE_KIND = "comfyui"


def model_reference(info: ModelInfo) -> str:
    """What a request's `model` field takes: a path here, or a server's checkpoint name."""
    return info.name if info.kind == REMOTE_KIND else str(info.path)


class ModelPicker(QComboBox):
    """A combo of models; `current_info()` is the chosen one (None when there are none)."""

    model_chosen = Signal(object)  # ModelInfo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._infos: list[ModelInfo] = []
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.currentIndexChanged.connect(self._on_index)

    def refresh(self, extra_dirs: list[str], model_paths: list[str], selected: str = "") -> None:
        """Re-scan the model folders and re-select `selected` (a path or name), else the default."""
        infos = discover_models([Path(d) for d in extra_dirs])
        known = {info.path.resolve() for info in infos}
        for text in model_paths:
            info = describe(Path(text))
            if info is not None and info.path.resolve() not in known:
                infos.append(info)
                known.add(info.path.resolve())
        self.blockSignals(True)
        try:
            self.clear()
            self._infos = infos
            for info in infos:
                label = f"{info.name}  (built-in)" if info.builtin else info.name
                self.addItem(label, str(info.path))
                self.setItemData(self.count() - 1, str(info.path), Qt.ItemDataRole.ToolTipRole)
            if not infos:
                self.addItem(NO_MODEL, "")
            self.setEnabled(bool(infos))
            self.setCurrentIndex(max(0, self._index_of(selected)))
        finally:
            self.blockSignals(False)

    def set_remote(self, names: list[tuple[str, str]], selected: str = "") -> None:
        """List a server's checkpoints instead of the local models: (name, server URL) pairs."""
        self.blockSignals(True)
        try:
            self.clear()
            self._infos = [ModelInfo(name, REMOTE_KIND, Path(name)) for name, _url in names]
            for name, url in names:
                self.addItem(name, name)
                self.setItemData(self.count() - 1, f"{name} on {url}", Qt.ItemDataRole.ToolTipRole)
            if not names:
                self.addItem("The server has no checkpoints", "")
            self.setEnabled(bool(names))
            index = next((i for i, (name, _url) in enumerate(names) if name == selected), 0)
            self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)

    def _index_of(self, text: str) -> int:
        if not text:
            return 0
        path = Path(text).expanduser()
        for index, info in enumerate(self._infos):
            if path.exists() and info.path.resolve() == path.resolve():
                return index
        for index, info in enumerate(self._infos):
            if info.name == text:
                return index
        return -1

    def select(self, text: str) -> bool:
        """Choose the model with this path or name; False if it is not listed."""
        index = self._index_of(text)
        if index < 0:
            return False
        self.setCurrentIndex(index)
        return True

    def add_model(self, info: ModelInfo) -> None:
        """List a model that is not in any scanned folder (and choose it)."""
        if self._index_of(str(info.path)) < 0:
            if not self._infos:
                self.clear()
                self.setEnabled(True)
            self._infos.append(info)
            self.addItem(info.name, str(info.path))
        self.select(str(info.path))

    def current_info(self) -> ModelInfo | None:
        index = self.currentIndex()
        return self._infos[index] if 0 <= index < len(self._infos) else None

    def infos(self) -> list[ModelInfo]:
        return list(self._infos)

    def _on_index(self, index: int) -> None:
        if 0 <= index < len(self._infos):
            self.model_chosen.emit(self._infos[index])
