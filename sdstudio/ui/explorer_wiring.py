"""The latent explorer dock in the main window: building it and passing images between it and the canvas.

Mixed into MainWindow.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QImage,
)
from PySide6.QtWidgets import (
    QDockWidget,
)

from sdstudio.ui.exploration.panel import ExplorationPanel
from sdstudio.ui.gallery import entry_from_file
from sdstudio.ui.window_geometry import DOCK_MINIMUM_WIDTH, scrollable


class ExplorerWiring:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def _build_explorer(self) -> None:
        """The latent explorer (interpolate, plane, trajectory) in a dock left of the canvas."""
        self.explorer = ExplorationPanel(self.local_backend, self.displayed_image, self.build_request,
                                         self.current_settings)
        self.explorer.interpolation.walk.start_dir = self.output_dir
        self.explorer_dock = QDockWidget("Latent explorer", self)
        self.explorer_dock.setObjectName("latent-explorer")
        self.explorer_dock.setWidget(scrollable(self.explorer, name="explorerScroll"))
        self.explorer_dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                                           | Qt.DockWidgetArea.RightDockWidgetArea
                                           | Qt.DockWidgetArea.BottomDockWidgetArea)
        self.explorer_dock.setMinimumWidth(DOCK_MINIMUM_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.explorer_dock)
        self.explorer_dock.setVisible(self.settings.explorer_visible)

    def show_explorer(self) -> None:
        self.explorer_dock.show()
        self.explorer_dock.raise_()

    def _run_trajectory(self) -> None:
        self.show_explorer()
        self.explorer.run_trajectory()

    def _explore_a(self, path: str) -> None:
        self.show_explorer()
        self.explorer.set_image_a(path)

    def _explore_b(self, path: str) -> None:
        self.show_explorer()
        self.explorer.set_image_b(path)

    def _on_explored_image(self, image: QImage) -> None:
        """An explorer frame sent to the canvas becomes the input image (img2img / inpaint from it)."""
        self.set_input_image(image, "explored")

    def _on_explorer_saved(self, path: object) -> None:
        self.gallery.add(entry_from_file(Path(str(path))), newest=True)
        self.statusBar().showMessage(f"Saved {path}", 10000)

    def _on_walk_exported(self, path: object) -> None:
        self.show_message(f"Walk exported to {path}", "info")
