"""The side panel: prompt, model, sampler, sliders, size, seed, and the Generate button.

Every control is bound two ways to one field of `Settings`: loading settings sets the widgets,
and each edit writes the field back and emits `changed` (the window saves, debounced). A
`GenerationRequest` is built from the settings, never from scattered widget reads.
"""

from __future__ import annotations

import random
from dataclasses import replace

from PySide6.QtCore import QRegularExpression, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.engine.discovery import ModelInfo
from sdstudio.engine.requests import SAMPLER_NAMES, GenerationRequest, Mode
from sdstudio.ui.model_picker import ModelPicker, native_size
from sdstudio.ui.settings import Settings
from sdstudio.ui.widgets import SliderSpin, hbox, labelled, section

SIZE_PRESETS: tuple[tuple[int, int], ...] = (
    (512, 512), (768, 768), (1024, 1024), (512, 768), (768, 512), (640, 960), (960, 640), (832, 1216), (1216, 832),
)
MODEL_DEFAULT = "model"
CUSTOM = "custom"
MAX_SIDE = 4096
MAX_SEED = 2**63 - 1
FIT_POLICIES = (("scale", "Scale to a multiple of 8"), ("crop", "Crop to a multiple of 8"))
MODE_HINTS = {
    Mode.TXT2IMG: "Open, paste or drop an image to start from it.",
    Mode.IMG2IMG: "Starts from the image. Paint on it to inpaint.",
    Mode.INPAINT: "Only the painted region is repainted.",
}


def random_seed() -> int:
    """A 32-bit seed, as A1111 makes them: short enough to read out and type back."""
    return random.randrange(2**32)


class ControlsPanel(QWidget):
    """Generation controls bound to `settings`; the window listens to the signals below."""

    changed = Signal()
    generate_clicked = Signal()
    cancel_clicked = Signal()
    add_model_clicked = Signal()
    model_changed = Signal(object)  # ModelInfo | None
    size_changed = Signal(int, int)
    fit_policy_changed = Signal(str)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._running = False
        self._mode = Mode.TXT2IMG
        self._image_size: tuple[int, int] | None = None
        self._hint: str | None = None
        self._build()
        self._connect()
        for combo in (self.sampler, self.size_preset, self.fit_policy):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.load_settings()

    # ---- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        self.mode_chip = QLabel("txt2img")
        self.mode_chip.setObjectName("modeChip")
        self.mode_chip.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.mode_hint = QLabel(MODE_HINTS[Mode.TXT2IMG])
        self.mode_hint.setObjectName("dimLabel")
        self.mode_hint.setWordWrap(True)

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe the image: subject, style, lighting...")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setFixedHeight(84)
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText("What to avoid (negative prompt)")
        self.negative.setTabChangesFocus(True)
        self.negative.setFixedHeight(46)

        self.model_picker = ModelPicker()
        self.add_model_button = QToolButton()
        self.add_model_button.setText("Add...")
        self.add_model_button.setToolTip("Add a model folder (or a diffusers model folder itself)")
        self.sampler = QComboBox()
        self.sampler.addItems(SAMPLER_NAMES)
        self.sampler.setMaxVisibleItems(len(SAMPLER_NAMES))

        self.steps = SliderSpin(1, 150)
        self.steps.setToolTip("Denoising steps: more is slower and (up to a point) cleaner")
        self.cfg = SliderSpin(0, 30, 0.5, 1)
        self.cfg.setToolTip("Classifier-free guidance: how strongly to follow the prompt")
        self.strength = SliderSpin(0.01, 1.0, 0.01, 2)
        self.strength.setToolTip("Denoise: how much of the input image is re-imagined (img2img and inpaint)")

        self.size_preset = QComboBox()
        self.width_spin = self._side_spin()
        self.height_spin = self._side_spin()
        self.swap_button = QToolButton()
        self.swap_button.setText("\u21c4")
        self.swap_button.setToolTip("Swap width and height")
        times = QLabel("\u00d7")
        self.size_row = hbox(self.width_spin, times, self.height_spin, self.swap_button)
        self.size_note = QLabel()
        self.size_note.setObjectName("dimLabel")
        self.size_note.setWordWrap(True)
        self.fit_policy = QComboBox()
        for key, text in FIT_POLICIES:
            self.fit_policy.addItem(text, key)
        self.fit_policy.setToolTip("How an opened image is brought to a size the model can take")

        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,19}")))
        self.seed.setToolTip("Seed of the first image; a batch uses seed, seed+1, ...")
        self.random_button = QToolButton()
        self.random_button.setText("Random")
        self.random_button.setToolTip("Pick a new random seed")
        self.lock_button = QToolButton()
        self.lock_button.setCheckable(True)
        self.lock_button.setText("Lock")
        self.lock_button.setToolTip("Locked: keep this seed. Unlocked: a new random seed for every generation")
        self.last_seed = QLabel()
        self.last_seed.setObjectName("dimLabel")
        self.last_seed.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.last_seed.hide()  # until a job has used a seed
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setToolTip("Images per Generate, one after another (seeds seed, seed+1, ...)")

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.setProperty("running", False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.progress.setTextVisible(True)
        self.eta = QLabel(" ")
        self.eta.setObjectName("dimLabel")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addWidget(hbox(self.mode_chip, 1, self.mode_hint, spacing=8))
        negative_label = QLabel("Negative prompt")
        negative_label.setObjectName("dimLabel")
        layout.addWidget(section("Prompt", self.prompt, negative_label, self.negative))
        self.model_row = labelled("Model", hbox(1, self.model_picker, self.add_model_button))
        layout.addWidget(section("Model", self.model_row, labelled("Sampler", self.sampler)))
        self.steps_row = labelled("Steps", self.steps)
        self.cfg_row = labelled("CFG scale", self.cfg)
        self.strength_row = labelled("Denoise", self.strength)
        layout.addWidget(section("Sampling", self.steps_row, self.cfg_row, self.strength_row))
        layout.addWidget(
            section(
                "Size",
                labelled("Preset", self.size_preset),
                labelled("Width \u00d7 H", self.size_row),
                labelled("Image fit", self.fit_policy),
                self.size_note,
            )
        )
        layout.addWidget(
            section(
                "Seed",
                labelled("Seed", hbox(1, self.seed, self.random_button, self.lock_button)),
                self.last_seed,
                labelled("Batch count", self.batch),
            )
        )
        layout.addStretch(1)
        # Generate and progress live in their own box, which the window pins below the scrolling
        # panel: the button must never scroll out of sight.
        self.run_box = QWidget()
        self.run_box.setObjectName("runBox")
        run = QVBoxLayout(self.run_box)
        run.setContentsMargins(10, 8, 10, 6)
        run.setSpacing(5)
        run.addWidget(self.generate_button)
        run.addWidget(self.progress)
        run.addWidget(self.eta)

    def _side_spin(self) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(8, MAX_SIDE)
        spin.setSingleStep(8)
        spin.setKeyboardTracking(False)
        spin.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin

    def _connect(self) -> None:
        self.prompt.textChanged.connect(self._on_prompt)
        self.negative.textChanged.connect(self._on_negative)
        self.model_picker.model_chosen.connect(self.model_selected)
        self.add_model_button.clicked.connect(self.add_model_clicked)
        self.sampler.currentTextChanged.connect(self._on_sampler)
        self.steps.value_changed.connect(self._on_steps)
        self.cfg.value_changed.connect(self._on_cfg)
        self.strength.value_changed.connect(self._on_strength)
        self.size_preset.activated.connect(self._on_preset)
        self.width_spin.valueChanged.connect(self._on_side)
        self.height_spin.valueChanged.connect(self._on_side)
        self.swap_button.clicked.connect(self._swap_size)
        self.fit_policy.currentIndexChanged.connect(self._on_fit_policy)
        self.seed.textEdited.connect(self._on_seed)
        self.random_button.clicked.connect(self.randomize_seed)
        self.lock_button.toggled.connect(self._on_lock)
        self.batch.valueChanged.connect(self._on_batch)
        self.generate_button.clicked.connect(self._on_generate_button)

    # ---- settings <-> widgets ----------------------------------------------------------------

    def load_settings(self) -> None:
        """Show `self.settings` in the widgets (no `changed` is emitted for this)."""
        s = self.settings
        blockers = [QSignalBlocker(w) for w in (self.prompt, self.negative, self.sampler, self.seed, self.lock_button,
                                                 self.batch, self.fit_policy, self.width_spin, self.height_spin)]
        self.prompt.setPlainText(s.prompt)
        self.negative.setPlainText(s.negative_prompt)
        self.model_picker.refresh(s.extra_model_dirs, s.model_paths, s.model)
        self.sampler.setCurrentIndex(max(0, self.sampler.findText(s.sampler)))
        self.steps.set_value(s.steps)
        self.cfg.set_value(s.cfg_scale)
        self.strength.set_value(s.strength)
        self.seed.setText(str(s.seed))
        self.lock_button.setChecked(s.seed_locked)
        self.batch.setValue(s.batch_count)
        self.fit_policy.setCurrentIndex(max(0, self.fit_policy.findData(s.fit_policy)))
        for blocker in blockers:
            blocker.unblock()
        self._rebuild_presets()
        if s.size_follows_model:
            s.width = s.height = self.model_size()
        self._show_size(s.width, s.height)
        self._update_lock_text()
        self._sync_mode_widgets()

    def apply_request(self, request: GenerationRequest, model: str | None = None) -> None:
        """Restore the settings a past image was made with (from the gallery or its metadata)."""
        s = self.settings
        s.prompt, s.negative_prompt = request.prompt, request.negative_prompt
        if request.sampler in SAMPLER_NAMES:
            s.sampler = request.sampler
        s.steps = min(150, max(1, request.steps))
        s.cfg_scale = min(30.0, max(0.0, float(request.cfg_scale)))
        s.strength = min(1.0, max(0.01, float(request.strength)))
        s.seed = min(MAX_SEED, max(0, int(request.seed)))
        s.seed_locked = True  # restoring an image means "this seed", not a new random one
        if request.mode is Mode.TXT2IMG and request.width % 8 == 0 and request.height % 8 == 0:
            s.width, s.height = request.width, request.height
            s.size_follows_model = False
        if model and self.model_picker.select(model):
            info = self.model_picker.current_info()
            s.model = str(info.path) if info else s.model
        self.load_settings()
        if not s.size_follows_model:
            self._show_size(s.width, s.height)
        self.changed.emit()

    def _on_prompt(self) -> None:
        self.settings.prompt = self.prompt.toPlainText()
        self.changed.emit()

    def _on_negative(self) -> None:
        self.settings.negative_prompt = self.negative.toPlainText()
        self.changed.emit()

    def model_selected(self, info: ModelInfo) -> None:
        """A model was chosen (in the picker, or adopted after a rescan): remember it, follow its size."""
        self.settings.model = str(info.path)
        self._rebuild_presets()
        if self.settings.size_follows_model:
            side = self.model_size()
            self._set_size(side, side, follows_model=True)
        self.model_changed.emit(info)
        self.changed.emit()

    def _on_sampler(self, name: str) -> None:
        self.settings.sampler = name
        self.changed.emit()

    def _on_steps(self, value: float) -> None:
        self.settings.steps = int(round(value))
        self.changed.emit()

    def _on_cfg(self, value: float) -> None:
        self.settings.cfg_scale = float(value)
        self.changed.emit()

    def _on_strength(self, value: float) -> None:
        self.settings.strength = float(value)
        self.changed.emit()

    def _on_fit_policy(self, _index: int) -> None:
        self.settings.fit_policy = str(self.fit_policy.currentData())
        self.fit_policy_changed.emit(self.settings.fit_policy)
        self.changed.emit()

    def _on_seed(self, text: str) -> None:
        if text:
            self.settings.seed = min(MAX_SEED, int(text))
            self.changed.emit()

    def _on_lock(self, locked: bool) -> None:
        self.settings.seed_locked = locked
        self._update_lock_text()
        self.changed.emit()

    def _update_lock_text(self) -> None:
        self.lock_button.setText("Locked" if self.lock_button.isChecked() else "Lock")

    def _on_batch(self, value: int) -> None:
        self.settings.batch_count = value
        self.changed.emit()

    # ---- size -------------------------------------------------------------------------------

    def model_size(self) -> int:
        return native_size(self.model_picker.current_info())

    def _rebuild_presets(self) -> None:
        side = self.model_size()
        with QSignalBlocker(self.size_preset):
            self.size_preset.clear()
            self.size_preset.addItem(f"Model default ({side} \u00d7 {side})", MODEL_DEFAULT)
            for width, height in SIZE_PRESETS:
                self.size_preset.addItem(f"{width} \u00d7 {height}", f"{width}x{height}")
            self.size_preset.addItem("Custom", CUSTOM)

    def _show_size(self, width: int, height: int) -> None:
        """Put a size into the spin boxes and pick the preset that names it."""
        with QSignalBlocker(self.width_spin), QSignalBlocker(self.height_spin):
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
        if self.settings.size_follows_model:
            index = 0
        else:
            index = self.size_preset.findData(f"{width}x{height}")
            index = index if index >= 0 else self.size_preset.findData(CUSTOM)
        with QSignalBlocker(self.size_preset):
            self.size_preset.setCurrentIndex(index)
        self._update_size_note()

    def _set_size(self, width: int, height: int, follows_model: bool = False) -> None:
        s = self.settings
        s.width, s.height, s.size_follows_model = width, height, follows_model
        self._show_size(width, height)
        self.size_changed.emit(width, height)
        self.changed.emit()

    def _on_preset(self, index: int) -> None:
        data = self.size_preset.itemData(index)
        if data == MODEL_DEFAULT:
            side = self.model_size()
            self._set_size(side, side, follows_model=True)
        elif data != CUSTOM:
            width, height = (int(side) for side in str(data).split("x"))
            self._set_size(width, height)
        else:
            self._set_size(self.width_spin.value(), self.height_spin.value())

    def _on_side(self, _value: int) -> None:
        width = max(8, self.width_spin.value() // 8 * 8)
        height = max(8, self.height_spin.value() // 8 * 8)
        self._set_size(width, height)

    def _swap_size(self) -> None:
        self._set_size(self.settings.height, self.settings.width)

    def _update_size_note(self) -> None:
        if self._mode is not Mode.TXT2IMG and self._image_size is not None:
            w, h = self._image_size
            self.size_note.setText(f"Output size follows the image: {w} \u00d7 {h}")
        else:
            self.size_note.setText(f"Output: {self.settings.width} \u00d7 {self.settings.height} px")

    # ---- mode -------------------------------------------------------------------------------

    def set_mode(self, mode: Mode, image_size: tuple[int, int] | None = None, hint: str | None = None) -> None:
        """Follow the canvas: the chip, the denoise slider and the size controls depend on it."""
        self._mode, self._image_size, self._hint = mode, image_size, hint
        self._sync_mode_widgets()

    def mode(self) -> Mode:
        return self._mode

    def _sync_mode_widgets(self) -> None:
        mode = self._mode
        self.mode_chip.setText(mode.value)
        self.mode_chip.setProperty("mode", mode.value)
        self.mode_chip.style().unpolish(self.mode_chip)
        self.mode_chip.style().polish(self.mode_chip)
        self.mode_hint.setText(self._hint or MODE_HINTS[mode])
        self.strength_row.setEnabled(mode is not Mode.TXT2IMG)
        txt2img = mode is Mode.TXT2IMG
        self.size_preset.setEnabled(txt2img)
        self.size_row.setEnabled(txt2img)
        self._update_size_note()

    # ---- seed and request ----------------------------------------------------------------------

    def randomize_seed(self) -> int:
        seed = random_seed()
        self.settings.seed = seed
        self.seed.setText(str(seed))
        self.changed.emit()
        return seed

    def seed_for_next_job(self) -> int:
        """Locked: the seed as shown. Unlocked: a fresh random seed, shown before the job runs."""
        if not self.settings.seed_locked:
            return self.randomize_seed()
        if not self.seed.text():
            self.seed.setText(str(self.settings.seed))
        return self.settings.seed

    def show_used_seeds(self, seeds: list[int]) -> None:
        if not seeds:
            return
        text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]} \u2013 {seeds[-1]}"
        self.last_seed.setText(f"Last seed: {text}")
        self.last_seed.show()

    def request_template(self) -> GenerationRequest:
        """The settings as a request, seed as shown (nothing is randomised)."""
        s = self.settings
        return GenerationRequest(
            prompt=s.prompt.strip(),
            negative_prompt=s.negative_prompt.strip(),
            model=s.model,
            sampler=s.sampler,
            steps=s.steps,
            cfg_scale=s.cfg_scale,
            seed=s.seed,
            width=s.width,
            height=s.height,
            batch_count=s.batch_count,
            strength=s.strength,
        )

    def request(self, model: str) -> GenerationRequest:
        """The txt2img request for the next job: a new seed unless locked (the window adds image and mask)."""
        return replace(self.request_template(), model=model, seed=self.seed_for_next_job())

    # ---- running state ------------------------------------------------------------------------

    def _on_generate_button(self) -> None:
        (self.cancel_clicked if self._running else self.generate_clicked).emit()

    def set_running(self, running: bool) -> None:
        """The Generate button becomes Cancel while a job runs (Esc cancels too)."""
        self._running = running
        self.generate_button.setText("Cancel" if running else "Generate")
        self.generate_button.setToolTip("Cancel (Esc)" if running else "Generate (Ctrl+Enter)")
        self.generate_button.setProperty("running", running)
        self.generate_button.style().unpolish(self.generate_button)
        self.generate_button.style().polish(self.generate_button)

    def is_running(self) -> bool:
        return self._running

    def show_progress(self, done: int, total: int, text: str, eta: str = " ") -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, max(1, total)))
        self.progress.setFormat(text)
        self.eta.setText(eta)

    def show_busy(self, text: str) -> None:
        """An indeterminate bar (model loading, waiting for the first step)."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)

    def reset_progress(self, text: str = "Ready", eta: str = " ") -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(text)
        self.eta.setText(eta)
