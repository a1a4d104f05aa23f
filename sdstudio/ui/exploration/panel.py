"""The latent exploration panel the main window embeds: Interpolate (A/B slider and walks),
Plane (3-4 corner images on a pad) and Trajectory (scrub the denoising, branch from a step).

Everything heavy runs as typed jobs on the window's backend (sdstudio.bridge), each with its own
handle and cancel.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTabWidget, QWidget

from sdstudio.bridge.protocol import Backend
from sdstudio.ui.exploration.common import CanvasProvider, ImageSource, RequestProvider
from sdstudio.ui.exploration.interpolation_tab import InterpolationTab
from sdstudio.ui.exploration.plane_tab import PlaneTab
from sdstudio.ui.exploration.trajectory_tab import TrajectoryTab


class ExplorationPanel(QTabWidget):
    """Tabs of the latent exploration tools, wired to one backend.

    canvas_image_provider: returns the canvas image (or None) for the "Canvas" buttons.
    request_provider: returns the window's request for a new generation (a trajectory run: a new
        seed unless locked, as Generate gives).
    settings_provider: returns the window's settings as shown (model, VAE, sampler, steps, CFG,
        seed, size, prompt), without side effects, that blends, refines and walks start from; it is
        asked on every frame of a drag (default: request_provider)."""

    image_for_canvas = Signal(QImage)  # "Send to canvas" in any tab
    image_saved = Signal(object)  # Path: a trajectory run or branch saved to the output folder
    walk_exported = Signal(object)  # Path: an exported walk (file, or folder of PNG frames)

    def __init__(self, backend: Backend, canvas_image_provider: CanvasProvider | None = None,
                 request_provider: RequestProvider | None = None, settings_provider: RequestProvider | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        settings_provider = settings_provider or request_provider
        self.interpolation = InterpolationTab(backend, canvas_image_provider, settings_provider)
        self.plane = PlaneTab(backend, canvas_image_provider, settings_provider)
        self.trajectory = TrajectoryTab(backend, request_provider)
        self.addTab(self.interpolation, "Interpolate")
        self.addTab(self.plane, "Plane")
        self.addTab(self.trajectory, "Trajectory")
        self.setDocumentMode(True)
        for tab in (self.interpolation, self.plane, self.trajectory):
            tab.image_for_canvas.connect(self.image_for_canvas)
        self.trajectory.image_saved.connect(self.image_saved)
        self.interpolation.walk.exported.connect(self.walk_exported)

    # --- slots for the gallery ---

    def set_image_a(self, source: ImageSource) -> None:
        """Connect to the gallery's interpolation_a_chosen(path); also takes a QImage."""
        self.interpolation.set_image_a(source)
        self.setCurrentWidget(self.interpolation)

    def set_image_b(self, source: ImageSource) -> None:
        """Connect to the gallery's interpolation_b_chosen(path); also takes a QImage."""
        self.interpolation.set_image_b(source)
        self.setCurrentWidget(self.interpolation)

    def set_plane_corner(self, index: int, source: ImageSource) -> None:
        """Corner 0..3 (top-left, top-right, bottom-left, bottom-right) of the latent plane."""
        self.plane.set_corner(index, source)
        self.setCurrentWidget(self.plane)

    def run_trajectory(self) -> int | None:
        """Re-run the window's current request with the trajectory kept, and show the Trajectory tab."""
        self.setCurrentWidget(self.trajectory)
        return self.trajectory.run_trajectory()
