"""What the canvas shows and what that means: one typed view state, the mode, the caption, the buttons.

Mixed into MainWindow. The mode follows the canvas: no image is txt2img; an image is img2img; an
image with a painted mask is inpaint. A txt2img result is shown to be judged, not as an input.
Everything that changes what is shown goes through `set_view`, so the caption, the mode and the
buttons are derived from one value and cannot lag behind the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QImage

from sdstudio.engine.requests import Mode
from sdstudio.ui.gallery import GalleryEntry


class Shown(StrEnum):
    EMPTY = "empty"
    INPUT = "input"  # an opened/pasted image or a result made the input
    RESULT = "result"  # a txt2img result (or a gallery image): something to look at
    RESULT_OVER_INPUT = "result over input"  # an img2img/inpaint result drawn over its input


@dataclass(frozen=True)
class CanvasView:
    shown: Shown = Shown.EMPTY
    name: str = ""  # the input's name (INPUT, RESULT_OVER_INPUT) or the result's file name (RESULT)
    entry: GalleryEntry | None = None  # the gallery image shown (a result): its seed and parameters
    result: QImage | None = None  # RESULT_OVER_INPUT: the result drawn over the input
    source: QImage | None = None  # an INPUT opened from a file, before fitting (re-fit on policy change)


class CanvasViewing:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def set_view(self, view: CanvasView, image: QImage | None = None, keep_mask: bool = False) -> None:
        """The one place that changes what the canvas shows. `image` (when given) becomes the canvas
        image; a RESULT_OVER_INPUT draws `view.result` over the input that is there."""
        self.view = view
        if view.shown is Shown.EMPTY:
            self.canvas.set_image(None)
            self.canvas.set_canvas_size(*self.generation.size)
        elif image is not None:
            self.canvas.set_image(image, keep_mask=keep_mask)
        if view.shown is Shown.RESULT_OVER_INPUT and view.result is not None:
            self.canvas.show_preview(view.result)
        else:
            self.canvas.clear_preview()
        self._update_mode()

    def mode(self) -> Mode:
        if not self.canvas.has_image():
            return Mode.TXT2IMG
        if self.canvas.has_mask():
            return Mode.INPAINT
        return Mode.TXT2IMG if self.view.shown is Shown.RESULT else Mode.IMG2IMG

    def displayed_image(self) -> QImage | None:
        """What the user sees: a result shown over its input, else the canvas image."""
        return self.view.result if self.view.result is not None else self.canvas.image()

    def _update_mode(self) -> None:
        image = self.canvas.image()
        size = (image.width(), image.height()) if image is not None else None
        mode = self.mode()
        hint = None
        over_input = self.view.shown is Shown.RESULT_OVER_INPUT
        if self.view.shown is Shown.RESULT and mode is Mode.TXT2IMG and image is not None:
            hint = "Showing a result. Use it as input, or paint on it to inpaint."
        elif over_input:
            hint = "Showing the result over its input. Generate again to retry."
        self.controls.set_mode(mode, size, hint)
        shown_is_result = over_input or (self.view.shown is Shown.RESULT and image is not None)
        self.use_result_button.setVisible(shown_is_result)
        self.use_result_action.setEnabled(shown_is_result)
        self.back_to_input_button.setVisible(over_input)
        self.clear_canvas_button.setVisible(image is not None)
        self.clear_canvas_action.setEnabled(image is not None)
        has_image = self.displayed_image() is not None
        self.save_as_action.setEnabled(has_image)
        self.copy_action.setEnabled(has_image)
        self.canvas_info.setText(self._describe_canvas())
        masks = image is not None
        self.mask_tools.setEnabled(masks)
        self.export_mask_action.setEnabled(masks)
        self.load_mask_action.setEnabled(masks)

    def _describe_canvas(self) -> str:
        """One line under the canvas saying what is shown: an empty frame, a result, or an input."""
        image = self.canvas.image()
        if image is None:
            return f"Empty canvas \u00b7 generates {self.generation.width} \u00d7 {self.generation.height}"
        size = f"{image.width()} \u00d7 {image.height()}"
        view, entry = self.view, self.view.entry
        seed = f" \u00b7 seed {entry.seed}" if entry is not None and entry.seed is not None else ""
        result_name = entry.path.name if entry is not None else view.name or "result"
        if view.shown is Shown.RESULT_OVER_INPUT:
            return f"Result{seed} \u00b7 {result_name} \u00b7 shown over the input ({size})"
        if view.shown is Shown.RESULT:
            text = f"Result \u00b7 {result_name} \u00b7 {size}{seed}"
            return text + (" \u00b7 mask painted: inpaints this image" if self.canvas.has_mask() else "")
        mask = " \u00b7 mask painted" if self.canvas.has_mask() else ""
        return f"Input \u00b7 {view.name or 'image'} \u00b7 {size}{mask}"

    def _on_mask_changed(self) -> None:
        if self.canvas.has_mask() and self.view.shown is Shown.RESULT_OVER_INPUT and not self.controls.is_running():
            self.show_input()  # painting edits the input: show it rather than the result on top
        self._update_mode()

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def use_shown_as_input(self) -> None:
        """Make the image on screen (a result) the img2img/inpaint input; keeps the mask of an inpaint."""
        view = self.view
        if view.shown is Shown.RESULT_OVER_INPUT:
            image = view.result
        elif view.shown is Shown.RESULT and self.canvas.image() is not None:
            image = self.canvas.image()
        else:
            return
        name = view.entry.path.name if view.entry is not None else "result"
        self.set_view(CanvasView(Shown.INPUT, name), image, keep_mask=True)

    def show_input(self) -> None:
        """Hide a result shown over its input: the input, under its own name."""
        if self.view.shown is Shown.RESULT_OVER_INPUT:
            self.set_view(CanvasView(Shown.INPUT, self.view.name, source=self.view.source))

    def clear_canvas(self) -> None:
        self.set_view(CanvasView())

    def show_entry(self, entry: GalleryEntry) -> None:
        """Show a past image and restore the settings that made it."""
        image = QImage(str(entry.path))
        if image.isNull():
            self.show_message(f"Could not read {entry.path}; it may have been moved or deleted")
            return
        if entry.request is not None:
            self.controls.apply_request(entry.request, entry.model)
        self.set_view(CanvasView(Shown.RESULT, entry.path.name, entry), image)

    def use_entry_as_input(self, entry: GalleryEntry) -> None:
        self.open_image(entry.path, ask_restore=False)
