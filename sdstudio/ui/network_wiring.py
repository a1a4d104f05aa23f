"""LoRAs, embeddings and VAEs in the main window: the browser dock, the prompt editors, the VAE combo,
Image > Extend canvas, and what a restored image needs that is not installed.

Mixed into MainWindow. One `NetworkCatalog` feeds everything that names these files, so the
browser, the embedding colours in the prompts and the VAE choices always agree, and all of them
follow the model folders (a folder added, a file dropped in).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QPlainTextEdit, QWidget

from sdstudio.engine.outpaint import Extension
from sdstudio.io.metadata import ParsedParameters
from sdstudio.ui.canvas_view import CanvasView, Shown
from sdstudio.ui.extend_canvas import OUTPAINT_STRENGTH, extended_input
from sdstudio.ui.lora_browser import NetworkBrowser
from sdstudio.ui.network_catalog import NetworkCatalog
from sdstudio.ui.prompt_edit import PromptEditor
from sdstudio.ui.window_geometry import DOCK_MINIMUM_WIDTH, scrollable

RESTORED = "Restored the image's prompt and settings"


def restored_message(parsed: ParsedParameters, catalog: NetworkCatalog | None = None) -> tuple[str, str]:
    """The notice after a restore, and its level: a warning naming each LoRA, embedding or VAE the
    image used that is not installed here (with its hash, to find it online), else a short info.
    With a catalog listing a server's files, what is missing is what that server lacks."""
    if catalog is not None and catalog.server:
        listed = {kind: {name.lower() for name in catalog.names(kind)} for kind in ("lora", "embedding", "vae")}
        missing = parsed.missing_from(lambda kind, name: name.lower() in listed[kind])
        where = f"Not on {catalog.server}"
        remedy = "put the files in its models/loras, models/embeddings or models/vae folders, then Rescan"
    else:
        missing, where = parsed.missing, "Not installed here"
        remedy = "put the files in the LoRA, embedding or VAE folders to use them"
    if not missing:
        return RESTORED, "info"
    names = "; ".join(str(item) for item in missing)
    return f"{RESTORED}. {where}: {names}. Generate runs without them ({remedy}).", "warning"


class NetworkWiring:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def _build_networks(self) -> None:
        """The catalog, the prompt editors over the controls' text fields, and the browser dock
        tabbed with the explorer (a dock beside it would widen the window past small screens)."""
        self.networks = NetworkCatalog(self)
        self.prompt_editor = PromptEditor(self.controls.prompt)
        self.negative_editor = PromptEditor(self.controls.negative)
        for editor in (self.prompt_editor, self.negative_editor):  # tooltips say when a prompt edit switches
            editor.set_steps(self.generation.steps)
            self.generation.steps_changed.connect(editor.set_steps)
        self._last_prompt_edit: QPlainTextEdit = self.controls.prompt
        self.network_browser = NetworkBrowser(self.networks)
        self.network_dock = QDockWidget("LoRAs and embeddings", self)  # a title's "&" would be taken as a mnemonic
        self.network_dock.setObjectName("lora-browser")
        self.network_dock.setWidget(scrollable(self.network_browser, horizontal=False, name="networkScroll"))
        self.network_dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                                          | Qt.DockWidgetArea.RightDockWidgetArea
                                          | Qt.DockWidgetArea.BottomDockWidgetArea)
        self.network_dock.setMinimumWidth(DOCK_MINIMUM_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.network_dock)
        self.network_dock.setVisible(self.settings.networks_visible)
        for dock in (self.explorer_dock, self.network_dock):
            dock.visibilityChanged.connect(self._tab_docks_together)
        self.networks.changed.connect(self._on_networks_changed)
        self.network_browser.insert_requested.connect(self.insert_into_prompt)
        QApplication.instance().focusChanged.connect(self._remember_prompt_focus)
        self.networks.refresh(self.settings.extra_model_dirs)

    def _tab_docks_together(self, _visible: bool = True) -> None:
        """Once both docks are open they share one place as tabs. Tabified earlier, while hidden,
        Qt would keep an empty tab bar parked outside the window."""
        docks = (self.explorer_dock, self.network_dock)
        if not all(dock.isVisible() and not dock.isFloating() for dock in docks):
            return
        together = self.network_dock in self.tabifiedDockWidgets(self.explorer_dock)
        if not together and self.dockWidgetArea(self.explorer_dock) == self.dockWidgetArea(self.network_dock):
            self.tabifyDockWidget(self.explorer_dock, self.network_dock)
            self.network_dock.raise_()

    def show_network_browser(self) -> None:
        self.network_dock.show()
        self.network_dock.raise_()
        self.network_browser.search.setFocus()

    def _show_backend_networks(self, where: str) -> None:
        """A backend with files of its own (a ComfyUI server): list those; else this computer's."""
        names = {kind: self.backend.networks(kind) for kind in ("lora", "embedding", "vae")}
        if any(value is None for value in names.values()):
            self.networks.show_local()
            return
        self.networks.show_server(names, where or self.backend.name, self.backend.refresh,
                                  self.backend.network_metadata)

    def refresh_networks(self) -> None:
        """The model folders changed (added, rescanned): LoRAs, embeddings and VAEs too."""
        self.networks.refresh(self.settings.extra_model_dirs)

    def _on_networks_changed(self) -> None:
        self.controls.set_vae_options(self.networks.names("vae"))
        embeddings = self.networks.names("embedding")
        loras = [name for entry in self.networks.entries("lora") for name in (entry.name, entry.alias) if name]
        for editor in (self.prompt_editor, self.negative_editor):
            editor.set_embedding_names(embeddings)
            editor.set_lora_names(loras)

    def _remember_prompt_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        if new is self.controls.prompt or new is self.controls.negative:
            self._last_prompt_edit = new

    def insert_into_prompt(self, snippet: str) -> None:
        """A browser click: into the prompt last typed in (an embedding often goes to the negative)."""
        editor = self.negative_editor if self._last_prompt_edit is self.controls.negative else self.prompt_editor
        editor.insert(snippet)

    # ---- Image > Extend canvas ----------------------------------------------------------------

    def extend_canvas_dialog(self) -> None:
        image = self.displayed_image()
        if image is None:
            self.show_message("Open or generate an image first: Extend canvas adds to a picture", "warning")
            return
        extension = self.dialogs.extend_canvas(self, image)
        if extension is not None:
            self.extend_canvas(extension)

    def extend_canvas(self, extension: Extension) -> None:
        """The shown picture on a larger canvas with the new area masked: the next Generate outpaints.

        The mask is an ordinary (undoable, editable) canvas mask; denoise is raised to at least
        OUTPAINT_STRENGTH, since at img2img's usual 0.75 a normal model keeps the blurred fill."""
        image = self.displayed_image()
        if image is None:
            return
        canvas, mask = extended_input(image, extension.checked(), self.generation.seed)
        name = self.view.entry.path.name if self.view.entry is not None else self.view.name or "image"
        self.set_view(CanvasView(Shown.INPUT, f"{name} (extended)"), canvas)
        self.canvas.set_mask(mask)
        raised = self.generation.strength < OUTPAINT_STRENGTH
        if raised:
            self.generation.strength = OUTPAINT_STRENGTH
        note = f"; denoise raised to {OUTPAINT_STRENGTH:g}" if raised else ""
        self.show_message(f"Canvas extended to {canvas.width()} \u00d7 {canvas.height()}: Generate outpaints the "
                          f"masked area{note}", "info")
