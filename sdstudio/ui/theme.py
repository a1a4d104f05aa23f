"""The dark theme: Fusion with a dark palette, plus a short stylesheet for grouping and emphasis.

A palette (not only a stylesheet) so that every widget, dialog and native-looking control follows
it; the stylesheet in resources/theme/ adds what a palette cannot say (section headers, the
accent button, the gallery strip).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from sdstudio import RESOURCES_DIR

STYLESHEET = RESOURCES_DIR / "theme" / "dark.qss"

WINDOW = QColor(0x2B, 0x2B, 0x2E)
BASE = QColor(0x1F, 0x1F, 0x22)
ALTERNATE = QColor(0x33, 0x33, 0x37)
TEXT = QColor(0xE6, 0xE6, 0xE6)
DIM_TEXT = QColor(0x80, 0x80, 0x86)
BUTTON = QColor(0x3A, 0x3A, 0x3F)
ACCENT = QColor(0x4C, 0x8B, 0xF5)
ERROR = QColor(0xE5, 0x5B, 0x5B)


def dark_palette() -> QPalette:
    palette = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for r, color in (
        (role.Window, WINDOW), (role.WindowText, TEXT), (role.Base, BASE), (role.AlternateBase, ALTERNATE),
        (role.ToolTipBase, ALTERNATE), (role.ToolTipText, TEXT), (role.PlaceholderText, DIM_TEXT),
        (role.Text, TEXT), (role.Button, BUTTON), (role.ButtonText, TEXT), (role.BrightText, ERROR),
        (role.Link, ACCENT), (role.Highlight, ACCENT), (role.HighlightedText, QColor(255, 255, 255)),
        (role.Light, QColor(0x4A, 0x4A, 0x50)), (role.Midlight, QColor(0x40, 0x40, 0x46)),
        (role.Mid, QColor(0x30, 0x30, 0x34)), (role.Dark, QColor(0x1A, 0x1A, 0x1C)), (role.Shadow, QColor(0, 0, 0)),
    ):
        palette.setColor(r, color)
    for r in (role.WindowText, role.Text, role.ButtonText, role.HighlightedText):
        palette.setColor(group.Disabled, r, DIM_TEXT)
    palette.setColor(group.Disabled, role.Highlight, QColor(0x44, 0x44, 0x4A))
    return palette


def stylesheet() -> str:
    try:
        return STYLESHEET.read_text(encoding="utf-8")
    except OSError:
        return ""


def apply_theme(app: QApplication) -> None:
    """Fusion + dark palette + stylesheet, on the whole application."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
