"""Small composite widgets the panels share: a slider bound two-way to a spin box, a section box."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


class SliderSpin(QWidget):
    """A slider for quick dragging plus a spin box for exact typing, always showing the same value.

    The slider counts in `step` units (position = value / step), so CFG 0..30 in 0.5 steps is 0..60.
    """

    value_changed = Signal(float)

    def __init__(
        self,
        minimum: float,
        maximum: float,
        step: float = 1.0,
        decimals: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._step, self._decimals = step, decimals
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(minimum / step), round(maximum / step))
        self.slider.setPageStep(max(1, (self.slider.maximum() - self.slider.minimum()) // 10))
        if decimals:
            spin = QDoubleSpinBox()
            spin.setDecimals(decimals)
            spin.setRange(minimum, maximum)
            spin.setSingleStep(step)
            self.spin: QSpinBox | QDoubleSpinBox = spin
        else:
            self.spin = QSpinBox()
            self.spin.setRange(int(minimum), int(maximum))
            self.spin.setSingleStep(max(1, int(step)))
        self.spin.setKeyboardTracking(False)
        self.spin.setObjectName("sliderValue")  # the theme hides its arrows (see dark.qss)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.spin.setFixedWidth(58)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return float(self.spin.value())

    def int_value(self) -> int:
        return int(round(self.spin.value()))

    def set_value(self, value: float) -> None:
        """Set without emitting `value_changed` (for loading settings into the widget)."""
        self.blockSignals(True)
        try:
            self.spin.setValue(value if self._decimals else int(round(value)))  # type: ignore[arg-type]
        finally:
            self.blockSignals(False)

    def _from_slider(self, position: int) -> None:
        value = position * self._step
        self.spin.setValue(round(value, self._decimals) if self._decimals else int(round(value)))  # type: ignore[arg-type]

    def _from_spin(self, value: float) -> None:
        position = round(value / self._step)
        if position != self.slider.value():
            self.slider.blockSignals(True)
            self.slider.setValue(position)
            self.slider.blockSignals(False)
        self.value_changed.emit(float(value))


def section(title: str, *rows: QWidget, spacing: int = 5) -> QGroupBox:
    """A titled group box holding `rows` top to bottom."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(8, 10, 8, 8)
    layout.setSpacing(spacing)
    for row in rows:
        layout.addWidget(row)
    return box


def labelled(text: str, widget: QWidget, label_width: int = 74) -> QWidget:
    """`text` on the left at a fixed width, `widget` filling the rest: aligned rows in a column."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(8)
    label = QLabel(text)
    label.setFixedWidth(label_width)
    label.setBuddy(widget)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    row.label = label  # type: ignore[attr-defined]
    return row


def hbox(*widgets: QWidget | int, spacing: int = 6) -> QWidget:
    """Widgets side by side; an int is a stretch factor for the slot that follows it."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(spacing)
    stretch = 0
    for item in widgets:
        if isinstance(item, int):
            stretch = item
            continue
        layout.addWidget(item, stretch)
        stretch = 0
    return row
