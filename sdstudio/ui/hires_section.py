"""The hires fix section of the side panel: a checkable box that folds away when off.

Folded, it costs one line, which keeps the panel within a 1366x768 screen; every control in it
is bound to the generation model, which turns the values into a `HiresFix` in the request.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGroupBox, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from sdstudio.engine.requests import Upscaler
from sdstudio.ui.model import MAX_STEPS, GenerationModel
from sdstudio.ui.properties import bind
from sdstudio.ui.widgets import SliderSpin, labelled

UPSCALERS = ((Upscaler.LATENT.value, "Latent (bicubic)"), (Upscaler.LANCZOS.value, "Lanczos (pixels)"))
FOLDED_STYLE = "QGroupBox { border-width: 1px 0 0 0; border-radius: 0; padding: 0; }"
TXT2IMG_ONLY = "Hires fix is a text-to-image pass; it is off while an image is the input"


class HiresSection(QGroupBox):
    """Enable, scale, steps, denoise and upscaler of A1111's hires fix, bound to `model`."""

    def __init__(self, model: GenerationModel, parent: QWidget | None = None) -> None:
        super().__init__("Hires fix", parent)
        self.setCheckable(True)
        self.setToolTip("Generate at the base size, upscale, then refine at the hires denoise")
        self.scale = SliderSpin(1.0, 4.0, 0.05, 2)
        self.scale.setToolTip("Final size = base size \u00d7 scale (floored to a multiple of 8)")
        self.steps = QSpinBox()
        self.steps.setRange(0, MAX_STEPS)
        self.steps.setSpecialValueText("Same as base")
        self.steps.setToolTip("Steps of the refining pass; 0 = as many as the base pass")
        self.denoise = SliderSpin(0.01, 1.0, 0.01, 2)
        self.denoise.setToolTip("How much the upscaled image is re-imagined")
        self.upscaler = QComboBox()
        for key, text in UPSCALERS:
            self.upscaler.addItem(text, key)
        self.upscaler.setToolTip("Latent: upscale the latents (fast, softer); Lanczos: upscale the decoded pixels")
        self.upscaler.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.upscaler.setMinimumContentsLength(8)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Same as the prompt")
        self.prompt.setClearButtonEnabled(True)
        self.prompt.setToolTip("The refining pass's own prompt (A1111's Hires prompt), e.g. more detail words; "
                               "empty = the prompt. Its <lora:...> tags apply to that pass")
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("Same as the negative prompt")
        self.negative.setClearButtonEnabled(True)
        self.negative.setToolTip("The refining pass's own negative prompt; empty = the negative prompt")

        self.body = QWidget()
        rows = QVBoxLayout(self.body)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(5)
        for text, widget in (("Scale", self.scale), ("Steps", self.steps), ("Denoise", self.denoise),
                             ("Upscaler", self.upscaler), ("Prompt", self.prompt), ("Negative", self.negative)):
            rows.addWidget(labelled(text, widget))
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(self.body)

        bind(model, "hires_enabled", self, "checked")
        bind(model, "hires_scale", self.scale, "value")
        bind(model, "hires_steps", self.steps, "value")
        bind(model, "hires_denoise", self.denoise, "value")
        bind(model, "hires_upscaler", self.upscaler, "currentData")
        bind(model, "hires_prompt", self.prompt, "text")
        bind(model, "hires_negative", self.negative, "text")
        self.toggled.connect(self._fold)
        self._fold(self.isChecked())

    def _fold(self, open_: bool) -> None:
        """Off: only the title over a rule shows (no empty frame); on: the rows in the usual box."""
        self.body.setVisible(open_)
        margins = (8, 10, 8, 8) if open_ else (8, 0, 8, 0)
        self._layout.setContentsMargins(*margins)
        self.setStyleSheet("" if open_ else FOLDED_STYLE)

    def set_available(self, available: bool) -> None:
        """Greyed out (and saying why) for img2img and inpaint; the user's choice is kept."""
        self.setEnabled(available)
        self.setToolTip("Generate at the base size, upscale, then refine at the hires denoise" if available
                        else TXT2IMG_ONLY)
