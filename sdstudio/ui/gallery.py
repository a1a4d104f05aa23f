"""The history strip: thumbnails of generated images, newest first, with what made each one.

Entries come from finished jobs (with their exact request) and, at start-up, from the output
folder (with the request rebuilt from each file's parameters). Previous outputs are loaded a few
per event-loop turn, so a large folder never freezes the window while it opens.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError
from sdstudio.io.images import read_parameters

THUMB = 96
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LOADS_PER_TICK = 4
ENTRY_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class GalleryEntry:
    """One image in the history: its file, and the request that made it (None when unknown)."""

    path: Path
    request: GenerationRequest | None
    model: str | None = None
    parameters: str | None = None
    unreadable: tuple[str, ...] = ()  # settings the file states but that could not be read (`Steps: inf`)

    @property
    def seed(self) -> int | None:
        return self.request.seed if self.request is not None else None


def entry_from_file(path: Path) -> GalleryEntry:
    """An entry for an image on disk, with the settings its metadata states (if any)."""
    try:
        parsed = read_parameters(path)
    except InputError:
        parsed = None
    if parsed is None:
        return GalleryEntry(path, None)
    return GalleryEntry(path, parsed.apply_to(GenerationRequest(prompt="")), parsed.model,
                        unreadable=parsed.unreadable)


def thumbnail(source: QImage | Path, side: int = THUMB) -> QPixmap:
    """A square-bounded thumbnail; a file is decoded at reduced size where the format allows."""
    if isinstance(source, Path):
        reader = QImageReader(str(source))
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > side * 2:
            reader.setScaledSize(size.scaled(side * 2, side * 2, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
    else:
        image = source
    if image.isNull():
        return QPixmap()
    scaled = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(scaled)


def recent_images(folder: Path, limit: int) -> list[Path]:
    """The newest `limit` images in `folder` (by modification time), newest first."""
    try:
        files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    except OSError:
        return []
    files.sort(key=lambda p: p.stat().st_mtime if p.exists() else 0.0, reverse=True)
    return files[:limit]


class Gallery(QWidget):
    """Thumbnails plus the actions on the selected one; the window does what the signals ask."""

    entry_clicked = Signal(object)  # GalleryEntry: show it and restore its settings
    use_as_input = Signal(object)  # GalleryEntry: make it the canvas image (img2img / inpaint)
    interpolation_a_chosen = Signal(str)
    interpolation_b_chosen = Signal(str)
    export_requested = Signal(object)
    delete_requested = Signal(object)
    loaded = Signal()  # the start-up scan of the output folder is done

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("gallery")
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setFixedHeight(THUMB + 30)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self.list.currentItemChanged.connect(self._sync_buttons)
        self.list.customContextMenuRequested.connect(self._context_menu)

        self.use_button = self._button("Use as input", "Put this image on the canvas for img2img / inpainting",
                                       self._emit_use)
        self.a_button = self._button("Set A", "Use as interpolation start (A)", self._emit_a)
        self.b_button = self._button("Set B", "Use as interpolation end (B)", self._emit_b)
        self.export_button = self._button("Export...", "Save a copy as PNG, JPEG or WebP", self._emit_export)
        self.delete_button = self._button("Delete", "Delete this image from disk", self._emit_delete)
        buttons = QVBoxLayout()
        buttons.setContentsMargins(0, 4, 6, 4)
        buttons.setSpacing(3)
        for button in (self.use_button, self.a_button, self.b_button, self.export_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.placeholder = QLabel("Generated images appear here, newest first. Click one to see it again "
                                  "with its settings.")
        self.placeholder.setObjectName("galleryPlaceholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)  # one long line would set the window's minimum width
        self.placeholder.setFixedHeight(THUMB + 30)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.list)
        self.stack.setFixedHeight(THUMB + 30)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

        self._pending: deque[Path] = deque()
        self._loader = QTimer(self)
        self._loader.setInterval(0)
        self._loader.timeout.connect(self._load_some)
        self._sync_buttons()

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumWidth(96)
        button.clicked.connect(slot)
        return button

    # ---- contents ----------------------------------------------------------------------------

    def count(self) -> int:
        return self.list.count()

    def entries(self) -> list[GalleryEntry]:
        """Newest first."""
        return [self.list.item(i).data(ENTRY_ROLE) for i in range(self.list.count())]

    def add(self, entry: GalleryEntry, image: QImage | None = None, newest: bool = True) -> QListWidgetItem:
        """Add an entry (at the front when newest), replacing one with the same path."""
        self._remove_item(entry.path)
        item = QListWidgetItem()
        pixmap = thumbnail(image if image is not None else entry.path)
        icon = QIcon(pixmap)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the frame marks selection; keep the colours true
        item.setIcon(icon)
        item.setData(ENTRY_ROLE, entry)
        item.setToolTip(self._tooltip(entry))
        item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
        if newest:
            self.list.insertItem(0, item)
        else:
            self.list.addItem(item)
        self._sync_buttons()
        return item

    def clear(self) -> None:
        self._pending.clear()
        self._loader.stop()
        self.list.clear()
        self._sync_buttons()

    def remove(self, path: Path) -> None:
        self._remove_item(path)
        self._sync_buttons()

    def _remove_item(self, path: Path) -> None:
        for index in range(self.list.count()):
            if self.list.item(index).data(ENTRY_ROLE).path == path:
                self.list.takeItem(index)
                return

    def select(self, path: Path) -> None:
        for index in range(self.list.count()):
            if self.list.item(index).data(ENTRY_ROLE).path == path:
                self.list.setCurrentRow(index)
                return

    def selected(self) -> GalleryEntry | None:
        item = self.list.currentItem()
        return item.data(ENTRY_ROLE) if item is not None else None

    def _tooltip(self, entry: GalleryEntry) -> str:
        lines = [entry.path.name]
        if entry.request is not None:
            r = entry.request
            prompt = r.prompt if len(r.prompt) < 120 else r.prompt[:117] + "..."
            lines += [prompt, f"{r.sampler}, {r.steps} steps, CFG {r.cfg_scale:g}, seed {r.seed}, {r.width}x{r.height}"]
        if entry.unreadable:
            lines.append(f"unreadable (not restored): {', '.join(entry.unreadable)}")
        return "\n".join(lines)

    def load_folder(self, folder: Path, limit: int) -> None:
        """Show the newest `limit` images of `folder` (oldest of them added first, so newest lands in front)."""
        self._pending = deque(reversed(recent_images(folder, limit)))
        if self._pending:
            self._loader.start()
        else:
            self.loaded.emit()

    def _load_some(self) -> None:
        for _ in range(LOADS_PER_TICK):
            if not self._pending:
                self._loader.stop()
                self.loaded.emit()
                return
            path = self._pending.popleft()
            if path.exists() and all(entry.path != path for entry in self.entries()):
                self.add(entry_from_file(path))

    def loading(self) -> bool:
        return self._loader.isActive()

    # ---- actions ----------------------------------------------------------------------------

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.entry_clicked.emit(item.data(ENTRY_ROLE))

    def _sync_buttons(self, *_args) -> None:
        self.stack.setCurrentWidget(self.list if self.list.count() else self.placeholder)
        has = self.list.currentItem() is not None
        for button in (self.use_button, self.a_button, self.b_button, self.export_button, self.delete_button):
            button.setEnabled(has)

    def _emit_use(self) -> None:
        if entry := self.selected():
            self.use_as_input.emit(entry)

    def _emit_a(self) -> None:
        if entry := self.selected():
            self.interpolation_a_chosen.emit(str(entry.path))

    def _emit_b(self) -> None:
        if entry := self.selected():
            self.interpolation_b_chosen.emit(str(entry.path))

    def _emit_export(self) -> None:
        if entry := self.selected():
            self.export_requested.emit(entry)

    def _emit_delete(self) -> None:
        if entry := self.selected():
            self.delete_requested.emit(entry)

    def context_menu(self, entry: GalleryEntry) -> QMenu:
        """The right-click menu for `entry` (built separately so tests can trigger its actions)."""
        menu = QMenu(self)
        menu.addAction("Show and restore settings", lambda: self.entry_clicked.emit(entry))
        menu.addAction("Use as img2img / inpaint input", lambda: self.use_as_input.emit(entry))
        menu.addSeparator()
        menu.addAction("Set as interpolation A", lambda: self.interpolation_a_chosen.emit(str(entry.path)))
        menu.addAction("Set as interpolation B", lambda: self.interpolation_b_chosen.emit(str(entry.path)))
        menu.addSeparator()
        menu.addAction("Export...", lambda: self.export_requested.emit(entry))
        menu.addAction("Delete from disk...", lambda: self.delete_requested.emit(entry))
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = self.context_menu(item.data(ENTRY_ROLE))
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()
