"""The side panel: prompt, model, sampler, sliders, size, seed, hires fix and the Generate button.

Every control is bound two ways (`properties.bind`) to a property of the `GenerationModel`; the
panel holds no parameter of its own, and the window reads the model, never the widgets. What is
not a plain binding lives here: the model picker (names -> paths, its native size), the size
presets ("Model default" follows the model) and the running state of the Generate button.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
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
from sdstudio.ui.hires_section import HiresSection
from sdstudio.ui.model import MAX_CLIP_SKIP, MAX_SEED, MAX_STEPS, GenerationModel, random_seed
from sdstudio.ui.model_picker import ModelPicker, model_reference, native_size
from sdstudio.ui.properties import bind
from sdstudio.ui.settings import Settings
from sdstudio.ui.widgets import SliderSpin, hbox, labelled, section

SIZE_PRESETS: tuple[tuple[int, int], ...] = (
    (512, 512), (768, 768), (1024, 1024), (512, 768), (768, 512), (640, 960), (960, 640), (832, 1216), (1216, 832),
)
MODEL_DEFAULT = "model"
CUSTOM = "custom"
MAX_SIDE = 4096
MODEL_VAE = "Model's own"
FIT_POLICIES = (
    ("auto", "Auto: model's size if far larger"),
    ("model", "Resize to the model's size"),
    ("scale", "Scale to a multiple of 8"),
    ("crop", "Crop to a multiple of 8"),
)
MODE_HINTS = {
    Mode.TXT2IMG: "Open, paste or drop an image to start from it.",
    Mode.IMG2IMG: "Starts from the image. Paint on it to inpaint.",
    Mode.INPAINT: "Only the painted region is repainted.",
}


def seed_from_text(text: str) -> int:
    """The seed a box shows; ValueError while it is empty, so the model keeps the last seed."""
    return min(MAX_SEED, int(text))


def vae_label(vae: str) -> str:
    return vae.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or vae


class ControlsPanel(QWidget):
    """Generation controls bound to `generation`; the window listens to the signals below."""

    changed = Signal()  # any persisted generation parameter changed
    generate_clicked = Signal()
    cancel_clicked = Signal()
    add_model_clicked = Signal()
    model_changed = Signal(object)  # ModelInfo | None
    size_changed = Signal(int, int)
    fit_policy_changed = Signal(str)

    def __init__(self, generation: GenerationModel, settings: Settings, parent: QWidget | None = None) -> None:
        """`settings` gives the model folders the picker lists; every parameter is in `generation`."""
        super().__init__(parent)
        self.generation, self.settings = generation, settings
        self._running = False
        self._mode = Mode.TXT2IMG
        self._image_size: tuple[int, int] | None = None
        self._hint: str | None = None
        self._restored_sizes: list[tuple[int, int]] = []  # sizes of restored images, offered as presets
        self._build()
        for combo in (self.sampler, self.size_preset, self.fit_policy, self.vae):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.vae.setMinimumContentsLength(5)  # it shares its row with clip skip
        self.refresh_models()
        self._bind()
        self._connect()
        self._show_size()
        self._sync_mode_widgets()

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
        self.vae = QComboBox()
        self.vae.setToolTip("The VAE that decodes latents to pixels; the model's own unless you pick another")
        self.set_vae_options([])
        self.clip_skip = QSpinBox()
        self.clip_skip.setRange(1, MAX_CLIP_SKIP)
        self.clip_skip.setToolTip("CLIP skip (A1111's meaning): 1 = last text-encoder layer, 2 = the one before")

        self.steps = SliderSpin(1, MAX_STEPS)
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
        # Wide enough for the largest seed (19 digits), so a restored seed is never cut short.
        self.seed.setMinimumWidth(self.seed.fontMetrics().horizontalAdvance(str(MAX_SEED)) + 16)
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
        self.hires = HiresSection(self.generation)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job at its next step (Esc); queued jobs go on")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.progress.setTextVisible(True)
        self.eta = QLabel(" ")
        self.eta.setObjectName("dimLabel")
        self._lay_out()

    def _lay_out(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addWidget(hbox(self.mode_chip, 1, self.mode_hint, spacing=8))
        negative_label = QLabel("Negative prompt")
        negative_label.setObjectName("dimLabel")
        layout.addWidget(section("Prompt", self.prompt, negative_label, self.negative))
        self.model_row = labelled("Model", hbox(1, self.model_picker, self.add_model_button))
        clip_label = QLabel("Clip skip")
        clip_label.setBuddy(self.clip_skip)
        self.vae_row = labelled("VAE", hbox(1, self.vae, clip_label, self.clip_skip))
        layout.addWidget(section("Model", self.model_row, labelled("Sampler", self.sampler), self.vae_row))
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
        layout.addWidget(self.hires)
        batch_label = QLabel("Batch count")
        batch_label.setBuddy(self.batch)
        layout.addWidget(
            section(
                "Seed",
                labelled("Seed", self.seed),
                hbox(self.random_button, self.lock_button, 1, QWidget(), batch_label, self.batch),
                self.last_seed,
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
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        run.addLayout(buttons)
        run.addWidget(self.progress)
        run.addWidget(self.eta)

    def _side_spin(self) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(8, MAX_SIDE)
        spin.setSingleStep(8)
        spin.setKeyboardTracking(False)
        spin.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin

    def _bind(self) -> None:
        """Each control shows one model property and writes it back (the size is compound: below)."""
        g = self.generation
        bind(g, "prompt", self.prompt, "plainText")
        bind(g, "negative_prompt", self.negative, "plainText")
        bind(g, "sampler", self.sampler, "currentText")
        bind(g, "vae", self.vae, "currentData")
        bind(g, "clip_skip", self.clip_skip, "value")
        bind(g, "steps", self.steps, "value", to_model=round)
        bind(g, "cfg_scale", self.cfg, "value")
        bind(g, "strength", self.strength, "value")
        bind(g, "fit_policy", self.fit_policy, "currentData")
        bind(g, "seed", self.seed, "text", to_widget=str, to_model=seed_from_text)
        bind(g, "seed_locked", self.lock_button, "checked")
        bind(g, "batch_count", self.batch, "value")

    def _connect(self) -> None:
        g = self.generation
        for signal in g.changed_signals():
            signal.connect(self.changed)
        g.model_changed.connect(self._follow_model)
        g.width_changed.connect(self._on_model_size)
        g.height_changed.connect(self._on_model_size)
        g.size_follows_model_changed.connect(self._show_size)
        g.fit_policy_changed.connect(self._on_fit_policy)
        g.seed_locked_changed.connect(self._update_lock_text)
        self.model_picker.model_chosen.connect(self.model_selected)
        self.add_model_button.clicked.connect(self.add_model_clicked)
        self.size_preset.activated.connect(self._on_preset)
        self.width_spin.valueChanged.connect(self._on_side)
        self.height_spin.valueChanged.connect(self._on_side)
        self.swap_button.clicked.connect(self._swap_size)
        self.random_button.clicked.connect(self.randomize_seed)
        self.generate_button.clicked.connect(self._on_generate_button)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self._update_lock_text()

    # ---- models ---------------------------------------------------------------------------------

    def refresh_models(self, selected: str | None = None) -> None:
        """Re-scan the model folders and choose `selected` (default: the model's current one)."""
        g = self.generation
        self.model_picker.refresh(self.settings.extra_model_dirs, self.settings.model_paths,
                                  g.model if selected is None else selected)
        info = self.model_picker.current_info()
        if info is not None:
            g.model = str(info.path)
        self._rebuild_presets()
        if g.size_follows_model:
            side = self.model_size()
            g.set_size(side, side, follows_model=True)
        self._show_size()

    def model_selected(self, info: ModelInfo) -> None:
        """A model was chosen (in the picker, or adopted after a rescan): remember it, follow its size."""
        self.generation.model = model_reference(info)
        self._rebuild_presets()
        if self.generation.size_follows_model:
            side = self.model_size()
            self.generation.set_size(side, side, follows_model=True)
        self._show_size()
        self.model_changed.emit(info)

    def _follow_model(self, path: str) -> None:
        """The model property changed elsewhere (a restore, a script): show it in the picker."""
        info = self.model_picker.current_info()
        if path and (info is None or str(info.path) != path):
            self.model_picker.select(path)

    def set_vae_options(self, vaes: list[str]) -> None:
        """The VAEs discovery found (paths or names); the model's current choice stays listed."""
        current = self.generation.vae
        with QSignalBlocker(self.vae):
            self.vae.clear()
            self.vae.addItem(MODEL_VAE, "")
            for vae in [*vaes, *([current] if current and current not in vaes else [])]:
                self.vae.addItem(vae_label(vae), vae)
                self.vae.setItemData(self.vae.count() - 1, vae, Qt.ItemDataRole.ToolTipRole)
            self.vae.setCurrentIndex(max(0, self.vae.findData(current)))

    def apply_request(self, request: GenerationRequest, model: str | None = None) -> None:
        """Restore the parameters a past image was made with (gallery or metadata) into the model;
        `model` is the name or path it names, chosen in the picker when it is listed."""
        self.generation.apply_request(request)
        if model:
            self.model_picker.select(model)
        size = self.generation.size
        if not self.generation.size_follows_model and self.size_preset.findData("{}x{}".format(*size)) < 0:
            self._restored_sizes.append(size)  # the preset names the image's size, not "Custom"
            self._rebuild_presets()
        self._show_size()

    # ---- size -------------------------------------------------------------------------------

    def model_size(self) -> int:
        return native_size(self.model_picker.current_info())

    def _rebuild_presets(self) -> None:
        """Model default first, then the common sizes, the model's own square and restored sizes among them."""
        side = self.model_size()
        presets = list(SIZE_PRESETS)
        for size in [(side, side), *self._restored_sizes]:
            if size not in presets:
                presets.insert(0, size)
        with QSignalBlocker(self.size_preset):
            self.size_preset.clear()
            self.size_preset.addItem(f"Model default ({side} \u00d7 {side})", MODEL_DEFAULT)
            for width, height in presets:
                self.size_preset.addItem(f"{width} \u00d7 {height}", f"{width}x{height}")
            self.size_preset.addItem("Custom", CUSTOM)

    def _on_fit_policy(self, policy: str) -> None:
        self.fit_policy_changed.emit(policy)

    def _on_model_size(self, _side: int) -> None:
        self._show_size()
        self.size_changed.emit(self.generation.width, self.generation.height)

    def _show_size(self, *_args: object) -> None:
        """Put the model's size into the spin boxes and pick the preset that names it."""
        g = self.generation
        with QSignalBlocker(self.width_spin), QSignalBlocker(self.height_spin):
            self.width_spin.setValue(g.width)
            self.height_spin.setValue(g.height)
        if g.size_follows_model:
            index = 0
        else:
            index = self.size_preset.findData(f"{g.width}x{g.height}")
            index = index if index >= 0 else self.size_preset.findData(CUSTOM)
        with QSignalBlocker(self.size_preset):
            self.size_preset.setCurrentIndex(index)
        self._update_size_note()

    def _on_preset(self, index: int) -> None:
        data = self.size_preset.itemData(index)
        if data == MODEL_DEFAULT:
            side = self.model_size()
            self.generation.set_size(side, side, follows_model=True)
        elif data != CUSTOM:
            width, height = (int(side) for side in str(data).split("x"))
            self.generation.set_size(width, height)
        else:
            self.generation.set_size(self.width_spin.value(), self.height_spin.value())
        self._show_size()

    def _on_side(self, _value: int) -> None:
        width = max(8, self.width_spin.value() // 8 * 8)
        height = max(8, self.height_spin.value() // 8 * 8)
        self.generation.set_size(width, height)
        self._show_size()

    def _swap_size(self) -> None:
        g = self.generation
        g.set_size(g.height, g.width)
        self._show_size()

    def _update_size_note(self) -> None:
        if self._mode is not Mode.TXT2IMG and self._image_size is not None:
            w, h = self._image_size
            self.size_note.setText(f"Output size follows the image: {w} \u00d7 {h}")
        else:
            self.size_note.setText(f"Output: {self.generation.width} \u00d7 {self.generation.height} px")

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
        if not txt2img and self._image_size is not None:  # greyed, but saying the size the job will have
            with QSignalBlocker(self.width_spin), QSignalBlocker(self.height_spin):
                self.width_spin.setValue(self._image_size[0])
                self.height_spin.setValue(self._image_size[1])
        elif txt2img:
            self._show_size()
        self.hires.set_available(txt2img)
        self._update_size_note()

    # ---- seed ---------------------------------------------------------------------------------

    def _update_lock_text(self, *_args: object) -> None:
        self.lock_button.setText("Locked" if self.generation.seed_locked else "Lock")

    def randomize_seed(self) -> int:
        self.generation.seed = random_seed()
        return self.generation.seed

    def seed_for_next_job(self) -> int:
        """Locked: the seed as shown. Unlocked: a fresh random seed, shown before the job runs."""
        return self.generation.next_seed()

    def show_used_seeds(self, seeds: list[int]) -> None:
        if not seeds:
            return
        text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]} \u2013 {seeds[-1]}"
        self.last_seed.setText(f"Last seed: {text}")
        self.last_seed.show()

    # ---- running state ------------------------------------------------------------------------

    def _on_generate_button(self) -> None:
        self.generate_clicked.emit()

    def set_running(self, running: bool) -> None:
        """While a job runs, Generate queues another and Cancel (Esc) stops the running one."""
        self._running = running
        self.cancel_button.setEnabled(running)

    def set_queue_count(self, queued: int) -> None:
        """The Generate button says how many jobs wait behind the running one."""
        self.generate_button.setText(f"Generate ({queued} queued)" if queued else "Generate")
        self.generate_button.setToolTip(f"Queue another generation (Ctrl+Enter); {queued} waiting"
                                        if queued else "Generate (Ctrl+Enter)")

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
