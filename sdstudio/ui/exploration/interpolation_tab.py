"""A/B interpolation: two images, one slider, and the blend of their VAE latents on screen while
the slider moves.

While dragging, each new t replaces the pending one (at most one blend job runs), and the frame is
decoded the cheap way (the 4x3 preview factors) unless a full VAE decode has been measured to be
fast enough; when the slider settles (released, or 150 ms still) the full decode, or the refined
frame, follows. At t=0 and t=1 the view shows exactly the VAE reconstructions of A and B.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sdstudio.bridge.jobs import INTERPOLATION_SET, BlendJob, EncodeJob
from sdstudio.bridge.messages import BlendFrame, EncodedSet
from sdstudio.bridge.protocol import Backend
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError
from sdstudio.ui.exploration.common import (
    CanvasProvider,
    ImageSlot,
    ImageSource,
    ImageView,
    LatestOnly,
    RequestProvider,
    default_request,
)
from sdstudio.ui.exploration.walk_export import WalkExportBox

TICKS = 1000
SETTLE_MS = 150
# A full decode this fast (measured on the first encode) is used while dragging too: it still fits
# the 50 ms a frame may take to feel attached to the hand, with room for the blend and the paint.
LIVE_FULL_DECODE_SECONDS = 0.03
MODE_TOOLTIP = (
    "slerp (default): interpolates the direction of the latent on a sphere and its length linearly.\n"
    "Two clean VAE latents of different images are nearly uncorrelated, so lerp's midpoint is about\n"
    "0.7x as long, which decodes as a washed-out, low-contrast ghost of both; slerp keeps the contrast.\n"
    "lerp: the honest straight-line cross-fade."
)


def parameters_request(path, base: GenerationRequest) -> GenerationRequest | None:
    """The request an image's stored parameters describe (over `base`), or None if it has none."""
    if path is None:
        return None
    from sdstudio.io.images import read_parameters

    try:
        parsed = read_parameters(path)
    except InputError:
        return None
    return parsed.apply_to(base) if parsed is not None else None


class InterpolationTab(QWidget):
    """Pick A and B (gallery, file, canvas), slide between them, export walks."""

    image_for_canvas = Signal(QImage)

    def __init__(self, backend: Backend, canvas_image_provider: CanvasProvider | None = None,
                 request_provider: RequestProvider | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._request_provider = request_provider or default_request
        self._decode_seconds: float | None = None
        self.live_full_decode_seconds = LIVE_FULL_DECODE_SECONDS
        self.last_frame: BlendFrame | None = None  # what the view shows (tests, the benchmark)
        self._encoded = False
        self._size: tuple[int, int] | None = None

        self.slot_a = ImageSlot("A", canvas_image_provider, thumb=60)
        self.slot_b = ImageSlot("B", canvas_image_provider, thumb=60)
        self.fit_note = QLabel("")
        self.fit_note.setObjectName("dimLabel")
        self.fit_note.setWordWrap(True)
        self.view = ImageView("Choose A and B from the gallery, a file or the canvas;\n"
                              "the slider then moves between their latents.")
        self.caption = QLabel("")
        self.caption.setObjectName("dimLabel")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, TICKS)
        self.slider.setPageStep(TICKS // 10)
        self.slider.setToolTip("t: 0 shows A, 1 shows B")
        self.t_label = QLabel("0.00")
        self.t_label.setObjectName("valueLabel")
        self.mode = QComboBox()
        self.mode.addItems(["slerp", "lerp"])
        self.mode.setToolTip(MODE_TOOLTIP)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.0, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setDecimals(2)
        self.strength.setSpecialValueText("off")
        self.strength.setToolTip("Refine: noise the in-between latent to this strength and denoise it with the\n"
                                 "prompt (img2img from the latent), so frames look like images, not cross-fades.\n"
                                 "Sampler, steps, CFG and seed come from the main controls. 0 = off.")
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("refine prompt (empty: canvas prompt)")
        self.send_button = QPushButton("Send to canvas")
        self.send_button.setEnabled(False)

        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._encoder = LatestOnly(backend, EncodeJob, self)
        self.blends = LatestOnly(backend, BlendJob, self)
        self.walk = WalkExportBox(backend, self.walk_payload, self._request_provider)
        self._build_layout()

        self.slot_a.changed.connect(self._inputs_changed)
        self.slot_b.changed.connect(self._inputs_changed)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(self._settle)
        self._settle_timer.timeout.connect(self._settle)
        self.mode.currentIndexChanged.connect(self._settle)
        self.strength.valueChanged.connect(self._refine_changed)
        self.prompt.editingFinished.connect(self._settle)
        self.send_button.clicked.connect(self._send_to_canvas)
        self._encoder.result.connect(self._on_encoded)
        self._encoder.error.connect(self._on_error)
        self.blends.result.connect(self._on_frame)
        self.blends.error.connect(self._on_error)

    def _build_layout(self) -> None:
        slots = QHBoxLayout()
        slots.setSpacing(12)
        slots.addWidget(self.slot_a, 1)
        slots.addWidget(self.slot_b, 1)
        slider_row = QHBoxLayout()
        slider_row.setSpacing(8)
        slider_row.addWidget(QLabel("A"))
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(QLabel("B"))
        slider_row.addWidget(self.t_label)
        options = QHBoxLayout()
        options.setSpacing(6)
        options.addWidget(QLabel("Mode"))
        options.addWidget(self.mode)
        options.addSpacing(8)
        options.addWidget(QLabel("Refine"))
        options.addWidget(self.strength)
        options.addWidget(self.prompt, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.caption, 1)
        bottom.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(slots)
        layout.addWidget(self.fit_note)
        layout.addWidget(self.view, 1)
        layout.addLayout(slider_row)
        layout.addLayout(options)
        layout.addLayout(bottom)
        layout.addWidget(self.walk)

    # --- public slots ---

    def set_image_a(self, source: ImageSource) -> None:
        """A from the gallery (a path; its stored parameters prefill the seed walk) or a QImage."""
        self.slot_a.set_source(source)

    def set_image_b(self, source: ImageSource) -> None:
        self.slot_b.set_source(source)

    @property
    def t(self) -> float:
        return self.slider.value() / TICKS

    def set_t(self, t: float) -> None:
        """Move the slider (as a user would, through valueChanged) and settle at once."""
        self.slider.setValue(round(min(max(t, 0.0), 1.0) * TICKS))
        self._settle()

    @property
    def full_decode_seconds(self) -> float | None:
        """One full VAE decode at the set's size, as measured on the engine thread at encode."""
        return self._decode_seconds

    @property
    def live_quality(self) -> str:
        fast = self._decode_seconds is not None and self._decode_seconds <= self.live_full_decode_seconds
        return "full" if fast else "cheap"

    def walk_payload(self, kind: str) -> dict[str, Any]:
        """What a latent or refined walk of A -> B needs (the walk box adds frames and path)."""
        if not self._encoded:
            raise InputError("choose images A and B first")
        payload: dict[str, Any] = {"key": INTERPOLATION_SET, "mode": self.mode.currentText(), **self._source()}
        if kind == "refined":
            if self.strength.value() <= 0:
                raise InputError("set a refine strength above 0 for a refined walk")
            payload["refine"] = self._refine_request()
        return payload

    # --- requests ---

    def _source(self) -> dict[str, str]:
        """The model and VAE the window's controls choose: the set is encoded and decoded with them."""
        request = self._request_provider()
        return {"model": request.model, "vae": request.vae}

    def _refine_request(self) -> GenerationRequest | None:
        if self.strength.value() <= 0:
            return None
        base = self._request_provider()
        return replace(base, prompt=self.prompt.text().strip() or base.prompt, strength=self.strength.value(),
                       init_image=None, mask_image=None, batch_count=1, previews=False)

    def _inputs_changed(self) -> None:
        self._encoded = False
        self.blends.forget()
        self._settle_timer.stop()
        both = self.slot_a.has_image() and self.slot_b.has_image()
        self.walk.set_ends(parameters_request(self.slot_a.path, self._request_provider()),
                           parameters_request(self.slot_b.path, self._request_provider()))
        if not both:
            self.fit_note.setText("Choose both A and B." if self.slot_a.has_image() or self.slot_b.has_image() else "")
            return
        self.fit_note.setText("Encoding A and B…")
        self._encoder.request(key=INTERPOLATION_SET, images=(self.slot_a.image, self.slot_b.image),
                              **self._source())
        self._encoded = True  # blends queue behind the encode on the one engine thread

    def _request_frame(self, quality: str) -> None:
        if not self._encoded:
            return
        payload: dict[str, Any] = {"t": self.t, "mode": self.mode.currentText(), "quality": quality,
                                   "key": INTERPOLATION_SET, **self._source()}
        if quality == "refined":
            payload["refine"] = self._refine_request()
        self.blends.request(**payload)

    def _slider_moved(self, _value: int) -> None:
        self.t_label.setText(f"{self.t:.2f}")
        self._request_frame(self.live_quality)
        self._settle_timer.start()

    def _settle(self) -> None:
        self._settle_timer.stop()
        self._request_frame("refined" if self.strength.value() > 0 else "full")

    def _refine_changed(self, _value: float) -> None:
        self._settle_timer.start()

    # --- results ---

    def _on_encoded(self, result: object) -> None:
        if not isinstance(result, EncodedSet) or self._encoder.busy:
            return  # a newer set of images is being encoded: this one is stale
        self._decode_seconds = result.decode_seconds
        self._size = result.size
        notes = [f"{name}: {note}" for name, note in zip("AB", result.notes, strict=True) if note]
        size = f"{result.size[0]}x{result.size[1]}"
        self.fit_note.setText(" · ".join(notes) if notes else f"Both {size}, encoded with the current model.")
        self.blends.forget()
        self._settle()

    def _on_frame(self, frame: object) -> None:
        if not isinstance(frame, BlendFrame):
            return
        self.last_frame = frame
        self.view.set_image(frame.image, smooth=True)
        self.send_button.setEnabled(True)
        what = {"cheap": "preview", "full": "VAE decode", "refined": "refined"}[frame.quality]
        self.caption.setText(f"t {frame.t:.3f} · {frame.mode} · {what} · {frame.elapsed * 1000:.0f} ms")

    def _on_error(self, message: str) -> None:
        self.fit_note.setText(message)

    def _send_to_canvas(self) -> None:
        if not self.view.image().isNull():
            self.image_for_canvas.emit(self.view.image())
