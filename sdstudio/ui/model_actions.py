"""Model handling in the main window: choosing, preloading, folders, load progress in the status bar.

Mixed into MainWindow; the model picker lives in the controls, loading happens on the backend.
"""

from __future__ import annotations

from pathlib import Path

from sdstudio.bridge.protocol import Capability
from sdstudio.engine.discovery import ModelInfo, describe
from sdstudio.engine.requests import LoadEvent
from sdstudio.errors import SdStudioError
from sdstudio.ui.model_picker import model_reference


class ModelActions:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def _preload(self, info: ModelInfo) -> None:
        self.model_label.setText(f"Model: {info.name} (loading...)")
        self.statusBar().showMessage(f"Loading model {info.name}... 0 %")  # until ready (or failed)
        self.jobs.preload(model_reference(info))

    def _on_model_changed(self, info: ModelInfo) -> None:
        self._on_size_changed(*self.generation.size)
        self._preload(info)

    def _on_model_loading(self, event: LoadEvent) -> None:
        self.statusBar().showMessage(f"Loading model {event.model}... {event.fraction * 100:.0f} % ({event.stage})")
        if self.controls.is_running():
            self.controls.show_busy(f"Loading model: {event.stage}")

    def _on_model_ready(self, name: str, device: str) -> None:
        self.model_label.setText(f"Model: {name}")
        self.device_label.setText(device)
        self.statusBar().showMessage(f"Model {name} ready on {device}", 5000)

    def _on_load_failed(self, message: str) -> None:
        self.model_label.setText("Model: not loaded")
        self.show_message(message)

    def _on_size_changed(self, width: int, height: int) -> None:
        self.canvas.set_canvas_size(width, height)
        self.canvas_info.setText(self._describe_canvas())

    def select_model(self, path: str | Path) -> ModelInfo:
        """Use the model at `path` (a diffusers folder or a checkpoint file), listing it if needed."""
        info = describe(Path(path))
        if info is None:
            raise SdStudioError(f"'{path}' is not a model: expected a diffusers folder or a .safetensors/.ckpt file")
        if str(info.path) not in self.settings.model_paths and not self.controls.model_picker.select(str(info.path)):
            self.settings.model_paths.append(str(info.path))
        self.controls.model_picker.add_model(info)
        self.store.changed()
        return info

    def add_model_folder(self, folder: str | Path) -> None:
        """A folder of models joins the search path; a model folder itself is listed directly."""
        folder = Path(folder)
        if describe(folder) is not None:
            self.select_model(folder)
            return
        if str(folder) not in self.settings.extra_model_dirs:
            self.settings.extra_model_dirs.append(str(folder))
            self.store.changed()
        before = len(self.controls.model_picker.infos())
        self.rescan_models()
        found = len(self.controls.model_picker.infos()) - before
        self.show_message(f"Added {folder}: {found} new model(s) found", "info" if found else "warning")

    def add_model_folder_dialog(self) -> None:
        folder = self.dialogs.folder(self, "Add model folder")
        if folder:
            self.add_model_folder(folder)

    def rescan_backend(self) -> None:
        """File > Rescan Models: this computer's folders, or what the servers have, read anew."""
        if self.backend.capabilities.has(Capability.MODEL_FOLDERS):
            self.rescan_models()
        else:
            self.backend.refresh()  # then models_changed: rescan_models lists what it found

    def rescan_models(self) -> None:
        """Re-read the model folders (or the servers' checkpoints), keeping the chosen model (or
        adopting the first one found)."""
        picker = self.controls.model_picker
        if not self.backend.capabilities.has(Capability.MODEL_FOLDERS):
            models = self.backend.models()
            picker.set_remote([(entry.name, entry.location) for entry in models], self.generation.model)
            if (chosen := picker.current_info()) is not None:
                self.controls.model_selected(chosen)
            self._show_backend_networks(", ".join(dict.fromkeys(entry.location for entry in models)))
            return
        self.networks.show_local()
        current = picker.current_info()
        picker.refresh(self.settings.extra_model_dirs, self.settings.model_paths,
                       str(current.path) if current else self.generation.model)
        chosen = picker.current_info()
        if chosen is not None and (current is None or chosen.path != current.path):
            self.controls.model_selected(chosen)
        self.refresh_networks()  # an A1111/ComfyUI install brings its LoRAs, embeddings and VAEs
