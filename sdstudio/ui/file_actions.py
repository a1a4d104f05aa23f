"""Files in and out of the main window: open, paste, drop, restore settings, save, copy, masks, export.

Mixed into MainWindow. Bad files are one-line messages in the notice bar; nothing here blocks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
)

from sdstudio.bridge.qimage import mask_to_qimage, pil_to_qimage
from sdstudio.errors import SdStudioError
from sdstudio.io.images import load_image, load_mask, read_parameters
from sdstudio.io.metadata import ParsedParameters, format_parameters
from sdstudio.ui import export
from sdstudio.ui.canvas_view import CanvasView, Shown
from sdstudio.ui.gallery import GalleryEntry
from sdstudio.ui.image_fit import (
    describe_fit,
    far_larger_than_model,
    fit_to_multiple_of_8,
    limit_size,
    model_fit_size,
    resize_to,
)
from sdstudio.ui.network_wiring import restored_message

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_INPUT_SIDE = 2048


class FileActions:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def open_image(self, path: str | Path, ask_restore: bool = True) -> bool:
        """Open an image file as the canvas input; offer to restore the settings it carries."""
        try:
            pil = load_image(path)
        except SdStudioError as error:
            self.show_message(str(error))
            return False
        self.set_input_image(pil_to_qimage(pil), Path(path).name)
        if ask_restore:
            self._offer_restore(Path(path))
        self.image_opened.emit(str(path))
        return True

    def _offer_restore(self, path: Path) -> None:
        try:
            parsed = read_parameters(path)
        except SdStudioError:
            parsed = None
        if parsed is None or not (parsed.prompt or parsed.settings):
            return
        prompt = parsed.prompt if len(parsed.prompt) < 160 else parsed.prompt[:157] + "..."
        question = f"This image carries generation settings:\n\n{prompt}\n\nRestore its prompt and settings?"
        if self.dialogs.ask(self, "Restore settings?", question):
            self.restore_parameters(parsed)

    def restore_parameters(self, parsed: ParsedParameters) -> None:
        request = parsed.apply_to(self.generation.request())
        self.controls.apply_request(request, parsed.model)
        self.show_message(*restored_message(parsed, self.networks))  # names the LoRAs/embeddings/VAE not there

    def set_input_image(self, image: QImage, name: str = "image") -> None:
        """Fit an image to the model's needs (multiple of 8, not huge) and make it the input."""
        self._apply_fit(image, name)

    def _apply_fit(self, source: QImage, name: str) -> None:
        """Bring the image to a size the model takes, and say what was done (never silently).

        "auto" resizes an image far larger than the model's native size to about that size (a photo
        on the 64-px built-in model would otherwise be a 1368x768 job at ~30 s a step); "model"
        always does; "scale"/"crop" keep the size up to a multiple of 8."""
        policy = self.generation.fit_policy
        native = self.controls.model_size()
        limited = limit_size(source, MAX_INPUT_SIDE)
        to_model = policy == "model" or (policy == "auto" and far_larger_than_model(limited.size(), native))
        if to_model:
            size = model_fit_size(source.size(), native)
            fitted = resize_to(source, size)
            note = (f"{source.width()}x{source.height()} resized to {size[0]}x{size[1]}, about the model's "
                    f"{native} px (Image fit: choose 'Scale to a multiple of 8' to keep the full size)")
        else:
            multiple_policy = "scale" if policy in ("auto", "model") else policy
            fitted = fit_to_multiple_of_8(limited, multiple_policy)
            note = describe_fit(limited.size(), multiple_policy)
            if limited.size() != source.size():
                note = f"{source.width()}x{source.height()} scaled to {limited.width()}x{limited.height()}, then {note}"
        self.set_view(CanvasView(Shown.INPUT, name, source=source), fitted)
        self.controls.size_note.setText(f"Input {name}: {note}")
        self.statusBar().showMessage(f"Opened {name}: {note}", 8000)

    def _on_fit_policy(self, _policy: str) -> None:
        if self.view.shown is Shown.INPUT and self.view.source is not None:
            self._apply_fit(self.view.source, self.view.name)

    def open_image_dialog(self) -> None:
        path = self.dialogs.open_image(self)
        if path:
            self.open_image(path)

    def paste(self) -> bool:
        """Paste an image (or an image file copied in a file manager) as the input."""
        return self.open_mime(QGuiApplication.clipboard().mimeData(), "pasted image")

    def open_mime(self, mime: QMimeData | None, name: str) -> bool:
        if mime is None:
            return False
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES:
                return self.open_image(url.toLocalFile())
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.set_input_image(image.convertToFormat(QImage.Format.Format_RGB32), name)
                return True
        self.show_message("The clipboard has no image to paste", "warning")
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        files = [u for u in mime.urls() if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]
        if files or mime.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.open_mime(event.mimeData(), "dropped image"):
            event.acceptProposedAction()

    def export_entry_dialog(self, entry: GalleryEntry) -> None:
        target = self.dialogs.save_image(self, str(entry.path.with_suffix(".png").name))
        if target:
            try:
                export.export_file(entry.path, target)
            except SdStudioError as error:
                self.show_message(str(error))
                return
            self.show_message(f"Exported {Path(target).name}", "info")

    def delete_entry(self, entry: GalleryEntry) -> None:
        if not self.dialogs.ask(self, "Delete image?", f"Delete {entry.path.name} from disk? This cannot be undone."):
            return
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as error:
            self.show_message(f"Could not delete {entry.path}: {error.strerror or error}")
            return
        self.gallery.remove(entry.path)
        if self.view.entry is not None and self.view.entry.path == entry.path:
            self.view = replace(self.view, entry=None)
        self.statusBar().showMessage(f"Deleted {entry.path.name}", 5000)

    def shown_parameters(self) -> str | None:
        entry = self.view.entry
        if entry is None or entry.request is None:
            return None
        return entry.parameters or format_parameters(entry.request, entry.model or "")

    def save_as(self, path: str | Path) -> bool:
        image = self.displayed_image()
        if image is None:
            self.show_message("There is no image to save", "warning")
            return False
        try:
            export.save_qimage(image, path, self.shown_parameters())
        except (SdStudioError, OSError) as error:
            self.show_message(f"Could not save {path}: {error}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def save_as_dialog(self) -> None:
        entry = self.view.entry
        suggested = entry.path.name if entry is not None else "image.png"
        path = self.dialogs.save_image(self, suggested)
        if path:
            self.save_as(path)

    def copy_image(self) -> None:
        image = self.displayed_image()
        if image is not None:
            QGuiApplication.clipboard().setImage(image)
            self.statusBar().showMessage("Image copied", 3000)

    def export_mask(self, path: str | Path) -> bool:
        try:
            export.save_mask(self.canvas.mask(), path)
        except (SdStudioError, OSError) as error:
            self.show_message(f"Could not save the mask to {path}: {error}")
            return False
        self.statusBar().showMessage(f"Mask saved to {path}", 5000)
        return True

    def export_mask_dialog(self) -> None:
        path = self.dialogs.save_mask(self, "mask.png")
        if path:
            self.export_mask(path)

    def load_mask_file(self, path: str | Path) -> bool:
        if not self.canvas.has_image():
            self.show_message("Open an image before loading a mask", "warning")
            return False
        try:
            mask = load_mask(path)
        except SdStudioError as error:
            self.show_message(str(error))
            return False
        self.canvas.set_mask(mask_to_qimage(mask))
        return True

    def load_mask_dialog(self) -> None:
        path = self.dialogs.open_mask(self)
        if path:
            self.load_mask_file(path)

    def choose_output_dir(self) -> None:
        folder = self.dialogs.folder(self, "Output folder", self.settings.output_dir)
        if folder:
            self.set_output_dir(folder)

    def set_output_dir(self, folder: str | Path) -> None:
        self.settings.output_dir = str(folder)
        self.store.changed()
        self.gallery.clear()
        self.gallery.load_folder(self.output_dir(), self.settings.gallery_limit)
        self.statusBar().showMessage(f"Images will be saved to {folder}", 5000)
