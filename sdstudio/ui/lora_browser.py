"""The LoRA and embedding browser: find one by name, see what it was trained for, click to use it.

A1111's extra-networks cards taught users the gesture: a click puts `<lora:NAME:1>` (or an
embedding's word) into the prompt. The details say what a file's own metadata says (the base
model it was trained on, its trigger words, each of which is a click away too), because a LoRA
used without its trigger words or on the wrong model family is the commonest disappointment.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sdstudio.ui.network_catalog import NetworkCatalog, NetworkEntry, lora_tag

KIND_TITLES = {"lora": "LoRAs", "embedding": "Embeddings"}
ENTRY_ROLE = Qt.ItemDataRole.UserRole
MAX_WEIGHT = 4.0


class NetworkBrowser(QWidget):
    """LoRAs and embeddings from a `NetworkCatalog`; `insert_requested(text)` when one is clicked."""

    insert_requested = Signal(str)

    def __init__(self, catalog: NetworkCatalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name")
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Rescan")
        self.refresh_button.setToolTip("Look for new files in the LoRA and embedding folders")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-MAX_WEIGHT, MAX_WEIGHT)
        self.weight.setSingleStep(0.05)
        self.weight.setDecimals(2)
        self.weight.setValue(1.0)
        self.weight.setToolTip("The weight a clicked LoRA gets in its tag, <lora:name:weight>")
        weight_label = QLabel("LoRA weight")
        weight_label.setBuddy(self.weight)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Base model"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # names elide last, not first
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Click to insert into the prompt at the cursor")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumWidth(1)  # long words wrap instead of widening the dock

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        weight_row = QHBoxLayout()
        weight_row.addWidget(weight_label)
        weight_row.addWidget(self.weight)
        weight_row.addStretch(1)
        layout.addLayout(weight_row)
        layout.addWidget(self.tree, 3)
        layout.addWidget(self.details, 1)

        self.search.textChanged.connect(self._filter)
        self.refresh_button.clicked.connect(self._rescan)
        self.tree.itemClicked.connect(self._on_clicked)
        self.tree.installEventFilter(self)  # Enter inserts too; not itemActivated, which a double-click also sends
        self.tree.currentItemChanged.connect(self._on_current)
        self.details.linkActivated.connect(self._on_link)
        catalog.changed.connect(self.reload)
        catalog.described.connect(self._on_described)
        self.reload()

    # ---- contents ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Show the catalog's current lists (kept filtered by the search text)."""
        selected = self.current_entry()
        self.tree.clear()
        for kind, title in KIND_TITLES.items():
            entries = self.catalog.entries(kind)
            group = QTreeWidgetItem([f"{title} ({len(entries)})"])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)  # only once it is in the tree
            for entry in entries:
                item = QTreeWidgetItem([entry.name, entry.base_model])
                item.setData(0, ENTRY_ROLE, entry)
                item.setToolTip(0, entry.where)
                group.addChild(item)
                if selected is not None and entry.path == selected.path:
                    self.tree.setCurrentItem(item)
            group.setExpanded(True)
        self._filter(self.search.text())
        if self.current_entry() is None:
            self._show_summary()

    def entries_shown(self) -> list[NetworkEntry]:
        """The entries the search leaves visible, in order (what the user sees)."""
        shown = []
        for group in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(group)
            shown += [parent.child(i).data(0, ENTRY_ROLE) for i in range(parent.childCount())
                      if not parent.child(i).isHidden()]
        return shown

    def current_entry(self) -> NetworkEntry | None:
        item = self.tree.currentItem()
        return item.data(0, ENTRY_ROLE) if item is not None else None

    def _filter(self, text: str) -> None:
        """Name (or the trainer's alias) containing every word typed, in any case."""
        words = text.lower().split()
        for group in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(group)
            for i in range(parent.childCount()):
                entry: NetworkEntry = parent.child(i).data(0, ENTRY_ROLE)
                haystack = f"{entry.name} {entry.alias}".lower()
                parent.child(i).setHidden(not all(word in haystack for word in words))

    def _show_summary(self) -> None:
        """No selection: say what there is, or where to put files when there is nothing."""
        if self.catalog.error:
            self.details.setText(html.escape(self.catalog.error))
        elif self.catalog.scanning and not any(self.catalog.entries(kind) for kind in KIND_TITLES):
            self.details.setText("Looking for LoRAs and embeddings...")
        elif not any(self.catalog.entries(kind) for kind in KIND_TITLES) and self.catalog.server:
            self.details.setText(f"No LoRAs or embeddings on {html.escape(self.catalog.server)}. Put files in "
                                 "its models/loras and models/embeddings folders, then Rescan.")
        elif not any(self.catalog.entries(kind) for kind in KIND_TITLES):
            folders = [*self.catalog.folders("lora")[:2], *self.catalog.folders("embedding")[:2]]
            where = "".join(f"<br>{html.escape(str(folder))}" for folder in folders)
            self.details.setText(f"No LoRAs or embeddings found. Put .safetensors files in:{where}")
        else:
            self.details.setText("Click a LoRA or an embedding to insert it into the prompt at the cursor.")

    def _rescan(self) -> None:
        self.catalog.refresh()
        self._show_summary()

    # ---- details and insertion ----------------------------------------------------------------------

    def _on_current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None = None) -> None:
        entry = item.data(0, ENTRY_ROLE) if item is not None else None
        if entry is None:
            self._show_summary()
            return
        self.details.setText(details_html(entry))
        self.catalog.describe(entry)  # a server's file: its metadata is asked for now

    def _on_described(self, described: NetworkEntry) -> None:
        """A server's metadata came: the entry's row and, if it is selected, the details show it."""
        for group in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(group)
            for i in range(parent.childCount()):
                item = parent.child(i)
                entry: NetworkEntry = item.data(0, ENTRY_ROLE)
                if (entry.kind, entry.name) == (described.kind, described.name):
                    item.setData(0, ENTRY_ROLE, described)
                    item.setText(1, described.base_model)
                    if item is self.tree.currentItem():
                        self.details.setText(details_html(described))

    def _on_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        entry: NetworkEntry | None = item.data(0, ENTRY_ROLE)
        if entry is not None:
            self.insert_requested.emit(self.snippet(entry))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if (watched is self.tree and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):  # type: ignore[attr-defined]
            item = self.tree.currentItem()
            if item is not None:
                self._on_clicked(item)
                return True
        return super().eventFilter(watched, event)

    def snippet(self, entry: NetworkEntry) -> str:
        return lora_tag(entry.name, self.weight.value()) if entry.kind == "lora" else entry.snippet

    def _on_link(self, link: str) -> None:
        """A trigger word in the details was clicked: it goes into the prompt like a tag."""
        entry = self.current_entry()
        if entry is not None and link.startswith("word:"):
            index = int(link.removeprefix("word:"))
            if 0 <= index < len(entry.trigger_words):
                self.insert_requested.emit(entry.trigger_words[index])


def details_html(entry: NetworkEntry) -> str:
    """What the file says about itself; trigger words are links that insert them."""
    kind = "LoRA" if entry.kind == "lora" else "Embedding"
    lines = [f"<b>{html.escape(entry.name)}</b> &middot; {kind}"]
    if entry.alias:
        lines.append(f"Trained as: {html.escape(entry.alias)}")
    if not entry.described:
        lines.append("Asking the server what the file says of itself...")
    else:
        lines.append(f"Base model: {html.escape(entry.base_model) or 'not stated'}")
    if entry.trigger_words:
        words = ", ".join(f'<a href="word:{i}">{html.escape(word)}</a>' for i, word in enumerate(entry.trigger_words))
        lines.append(f"Trigger words (click to insert): {words}")
    elif entry.kind == "lora" and entry.described:
        lines.append("Trigger words: none in the file")
    if entry.problem:
        lines.append(f'<span style="color:#e55b5b">{html.escape(entry.problem)}</span>')
    lines.append(f'<span style="color:#8a8a92">{html.escape(entry.where)}</span>')
    return "<br>".join(lines)
