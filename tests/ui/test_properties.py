"""Observable properties and two-way binding: what a control shows is what the model holds."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox

from sdstudio.ui.properties import ObservableObject, Property, bind
from sdstudio.ui.settings import SettingsStore
from sdstudio.ui.widgets import SliderSpin


class Sample(ObservableObject):
    text = Property("")
    count = Property(3)
    ratio = Property(0.5)
    flag = Property(False)
    choice = Property("b")
    seed = Property(0)
    scratch = Property("", persist=False)


def test_a_property_emits_its_signal_once_per_real_change(qtbot):
    sample = Sample()
    seen: list[object] = []
    sample.count_changed.connect(seen.append)
    sample.count = 5
    sample.count = 5
    sample.ratio = 1  # an int is a valid float, stored as a float
    assert seen == [5] and sample.count == 5
    assert sample.ratio == 1.0 and isinstance(sample.ratio, float)
    assert Sample().count == 3  # per instance, not per class


def test_a_property_refuses_a_value_of_another_type():
    sample = Sample()
    with pytest.raises(TypeError):
        sample.count = "many"
    with pytest.raises(TypeError):
        sample.count = True  # a bool is not a count
    assert sample.count == 3


def test_a_seed_above_32_bits_travels_through_the_signal_intact(qtbot):
    sample = Sample()
    with qtbot.waitSignal(sample.seed_changed) as blocker:
        sample.seed = 2**63 - 1
    assert blocker.args == [2**63 - 1]


def test_spin_box_binding_works_both_ways(qtbot):
    sample = Sample()
    spin, double = QSpinBox(), QDoubleSpinBox()
    qtbot.addWidget(spin)
    qtbot.addWidget(double)
    bind(sample, "count", spin, "value")
    bind(sample, "ratio", double, "value")
    assert spin.value() == 3 and double.value() == 0.5  # the widget starts from the model
    spin.setValue(9)
    double.setValue(0.25)
    assert sample.count == 9 and sample.ratio == 0.25
    sample.count = 4
    assert spin.value() == 4


def test_line_edit_binding_converts_and_skips_an_empty_box(qtbot):
    sample = Sample()
    edit = QLineEdit()
    qtbot.addWidget(edit)
    bind(sample, "seed", edit, "text", to_widget=str, to_model=int)
    sample.seed = 777344673
    assert edit.text() == "777344673"
    edit.clear()  # int("") raises ValueError: the model keeps its value while the user types
    assert sample.seed == 777344673
    qtbot.keyClicks(edit, "42")
    assert sample.seed == 42


def test_a_value_the_model_normalises_is_shown_as_kept(qtbot):
    sample = Sample()
    edit = QLineEdit()
    qtbot.addWidget(edit)
    bind(sample, "seed", edit, "text", to_widget=str, to_model=lambda text: min(2**63 - 1, int(text)))
    qtbot.keyClicks(edit, "9" * 19)
    assert sample.seed == 2**63 - 1 and edit.text() == str(2**63 - 1)


def test_typing_in_a_bound_text_edit_keeps_the_cursor(qtbot):
    """The echo from model to widget is suppressed, so setPlainText never resets the cursor."""
    sample = Sample()
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    bind(sample, "text", edit, "plainText")
    qtbot.keyClicks(edit, "a cat")
    edit.moveCursor(QTextCursor.MoveOperation.Start)
    qtbot.keyClicks(edit, "big ")
    assert sample.text == "big a cat" and edit.toPlainText() == "big a cat"
    sample.text = "a dog"
    assert edit.toPlainText() == "a dog"


def test_combo_binding_by_text_and_by_data(qtbot):
    sample = Sample()
    by_text, by_data = QComboBox(), QComboBox()
    for combo in (by_text, by_data):
        qtbot.addWidget(combo)
    by_text.addItems(["a", "b", "c"])
    for key in ("a", "b", "c"):
        by_data.addItem(f"Choice {key.upper()}", key)
    bind(sample, "choice", by_text, "currentText")
    bind(sample, "choice", by_data, "currentData")
    assert by_text.currentText() == "b" and by_data.currentText() == "Choice B"
    by_data.setCurrentIndex(2)
    assert sample.choice == "c" and by_text.currentText() == "c"  # the other widget follows
    by_text.setCurrentText("a")
    assert by_data.currentData() == "a"


def test_check_box_and_slider_spin_bindings(qtbot):
    sample = Sample()
    box, slider = QCheckBox(), SliderSpin(1, 150)
    qtbot.addWidget(box)
    qtbot.addWidget(slider)
    bind(sample, "flag", box, "checked")
    bind(sample, "count", slider, "value", to_model=round)
    box.click()
    assert sample.flag is True
    sample.flag = False
    assert not box.isChecked()
    slider.slider.setValue(42)
    assert sample.count == 42 and isinstance(sample.count, int)
    sample.count = 7
    assert slider.int_value() == 7 and slider.slider.value() == 7


def test_a_binding_ends_with_its_widget(qtbot):
    sample = Sample()
    spin = QSpinBox()
    bind(sample, "count", spin, "value")
    with qtbot.waitSignal(spin.destroyed):
        spin.deleteLater()
    sample.count = 8  # no binding left to touch the deleted widget
    assert sample.count == 8


def test_persisted_properties_round_trip_through_the_settings_file(qtbot, tmp_path):
    path = tmp_path / "settings.json"
    first = SettingsStore(path)
    sample = first.attach(Sample())
    sample.text, sample.count, sample.ratio, sample.flag, sample.seed = "x", 11, 0.75, True, 2**40
    sample.scratch = "not saved"
    first.settings.gallery_limit = 12
    assert first.save()
    saved = json.loads(path.read_text())
    assert "scratch" not in saved and saved["count"] == 11

    second = SettingsStore(path)
    again = second.attach(Sample())
    assert (again.text, again.count, again.ratio, again.flag, again.seed) == ("x", 11, 0.75, True, 2**40)
    assert again.scratch == "" and second.settings.gallery_limit == 12


def test_a_change_schedules_a_save(qtbot, tmp_path):
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    sample = store.attach(Sample())
    sample.choice = "c"
    qtbot.waitUntil(lambda: path.is_file() and json.loads(path.read_text())["choice"] == "c")


def test_loading_ignores_values_of_the_wrong_type():
    sample = Sample()
    sample.load_dict({"count": "many", "ratio": 2, "text": 3, "flag": True, "unknown": 1})
    assert sample.count == 3 and sample.ratio == 2.0 and sample.text == "" and sample.flag is True
