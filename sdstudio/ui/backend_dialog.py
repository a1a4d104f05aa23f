"""Settings > Backend: generate on this computer, or on ComfyUI server(s) anywhere.

A user lists one or more server URLs (one per line) and, for a proxy or a cloud host, a bearer
token; Connect tries them all and says in one line what failed. Several servers share a batch.
The token is kept for this session only (or read from SDSTUDIO_BACKEND_TOKEN), never written to
the settings file.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

TOKEN_VARIABLE = "SDSTUDIO_BACKEND_TOKEN"


def parse_urls(text: str) -> list[str]:
    """One URL per line (commas and spaces also separate); http:// is assumed when no scheme is given."""
    urls = []
    for part in text.replace(",", " ").split():
        url = part if "://" in part else f"http://{part}"
        if url not in urls:
            urls.append(url.rstrip("/"))
    return urls


class BackendDialog(QDialog):
    connect_requested = Signal(list, str)  # urls, token
    local_requested = Signal()

    def __init__(self, urls: list[str], token: str = "", comfy_selected: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Backend")
        self.local = QRadioButton("This computer (the built-in engine)")
        self.comfy = QRadioButton("ComfyUI server(s)")
        group = QButtonGroup(self)
        group.addButton(self.local)
        group.addButton(self.comfy)
        (self.comfy if comfy_selected else self.local).setChecked(True)
        self.urls = QPlainTextEdit("\n".join(urls))
        self.urls.setPlaceholderText("http://127.0.0.1:8188\nhttp://gpu-box.local:8188")
        self.urls.setMaximumHeight(80)
        self.urls.setToolTip("One server per line; a batch is spread over all of them")
        self.token = QLineEdit(token or os.environ.get(TOKEN_VARIABLE, ""))
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("optional: Authorization: Bearer token")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("dimLabel")
        self.connect_button = QPushButton("Connect")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.connect_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Servers", self.urls)
        form.addRow("Token", self.token)
        layout = QVBoxLayout(self)
        layout.addWidget(self.local)
        layout.addWidget(self.comfy)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.connect_button.clicked.connect(self.apply)
        self.comfy.toggled.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        comfy = self.comfy.isChecked()
        self.urls.setEnabled(comfy)
        self.token.setEnabled(comfy)
        self.connect_button.setText("Connect" if comfy else "Use this computer")

    def apply(self) -> None:
        if self.local.isChecked():
            self.local_requested.emit()
            return
        urls = parse_urls(self.urls.toPlainText())
        if not urls:
            self.say("List at least one server URL, e.g. http://127.0.0.1:8188")
            return
        self.say(f"Connecting to {len(urls)} server(s)...")
        self.connect_requested.emit(urls, self.token.text().strip())

    def say(self, text: str) -> None:
        self.status.setText(text)
