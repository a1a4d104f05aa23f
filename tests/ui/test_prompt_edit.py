"""The prompt editor: A1111's Ctrl+Up/Down weight keys and the syntax colours users read prompts by."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QTextCursor
from PySide6.QtWidgets import QMainWindow, QPlainTextEdit

from sdstudio.ui.model import GenerationModel
from sdstudio.ui.prompt_edit import (
    BREAK_COLOR,
    EMBEDDING_COLOR,
    LORA_COLOR,
    MISSING_COLOR,
    STRONGER_COLOR,
    SYNTAX_COLOR,
    WEAKER_COLOR,
    PromptEditor,
    edit_attention,
)
from sdstudio.ui.properties import bind
from tests.ui.conftest import OFFSCREEN_NOISE


@pytest.mark.parametrize(
    ("text", "start", "end", "up", "expected"),
    [
        ("a cat, dog", 3, 3, True, ("a (cat:1.1), dog", 3, 6)),  # the word at the cursor
        ("a (cat:1.1), dog", 4, 4, True, ("a (cat:1.2), dog", 3, 6)),
        ("a (cat:1.1), dog", 4, 4, False, ("a cat, dog", 2, 5)),  # back at 1.0: unwrapped
        ("a (cat:0.1)", 4, 4, False, ("a (cat:0.0)", 3, 6)),
        ("red car, sky", 0, 7, True, ("(red car:1.1), sky", 1, 8)),  # a selection of two words
        ("red car , sky", 0, 8, True, ("(red car:1.1) , sky", 1, 8)),  # trailing space left outside
        ("((cat))", 3, 3, True, ("(cat:1.3)", 1, 4)),  # old style: 1.1^2 rounded to 1.2, then up
        ("[cat]", 2, 2, True, ("cat", 0, 3)),  # 1/1.1 rounds to 0.9; up gives 1.0
        ("x <lora:ink:1> y", 5, 5, True, ("x <lora:ink:1.05> y", 3, 11)),  # LoRA weights move by 0.05
        ("x <lora:ink:1> y", 5, 5, False, ("x <lora:ink:0.95> y", 3, 11)),
        ("x <lora:ink:0.05> y", 5, 5, False, ("x <lora:ink:0.0> y", 3, 11)),  # never unwrapped
        ("", 0, 0, True, None),
        ("cat, ", 5, 5, True, None),
    ],
)
def test_weight_keys_edit_the_text_as_a1111_does(text, start, end, up, expected):
    assert edit_attention(text, start, end, up) == expected


def _editor(qtbot, text: str = "") -> tuple[QPlainTextEdit, PromptEditor]:
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    editor = PromptEditor(edit)
    edit.setPlainText(text)
    return edit, editor


def _place(edit: QPlainTextEdit, start: int, end: int | None = None) -> None:
    cursor = edit.textCursor()
    cursor.setPosition(start)
    if end is not None:
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    edit.setTextCursor(cursor)


def test_ctrl_up_and_down_weight_the_word_at_the_cursor_and_the_model_follows(qtbot):
    model = GenerationModel()
    edit, _ = _editor(qtbot)
    bind(model, "prompt", edit, "plainText")
    edit.setPlainText("a castle, fog")
    _place(edit, 4)
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert model.prompt == "a (castle:1.1), fog"
    assert edit.textCursor().selectedText() == "castle"  # the weighted words stay selected
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert model.prompt == "a (castle:1.2), fog"
    qtbot.keyClick(edit, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(edit, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert model.prompt == "a castle, fog"
    edit.undo()
    assert model.prompt == "a (castle:1.1), fog"  # each key press is one undo step


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_a_window_shortcut_on_ctrl_up_does_not_take_the_key_from_the_prompt(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    triggered = []
    action = QAction("Elsewhere", window)
    action.setShortcut("Ctrl+Up")
    action.triggered.connect(lambda: triggered.append(True))
    window.addAction(action)
    edit = QPlainTextEdit("blue sky")
    PromptEditor(edit)
    window.setCentralWidget(edit)
    with qtbot.waitExposed(window):
        window.show()
    edit.setFocus()
    _place(edit, 1)
    qtbot.keyClick(edit, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert edit.toPlainText() == "(blue:1.1) sky" and not triggered


def test_positions_stay_right_after_an_emoji(qtbot):
    edit, editor = _editor(qtbot, "\U0001f642 cat")
    _place(edit, 4)  # inside "cat": the emoji is two UTF-16 units
    assert editor.change_weight(up=True)
    assert edit.toPlainText() == "\U0001f642 (cat:1.1)"
    assert edit.textCursor().selectedText() == "cat"


def test_a_tag_is_inserted_at_the_cursor_with_spaces_around_it(qtbot):
    edit, editor = _editor(qtbot, "a castle,fog")
    _place(edit, 8)
    editor.insert("<lora:ink:1>")
    assert edit.toPlainText() == "a castle <lora:ink:1>,fog"
    _place(edit, len(edit.toPlainText()))
    editor.insert("EasyNegative")
    assert edit.toPlainText() == "a castle <lora:ink:1>,fog EasyNegative"


def _colour_at(edit: QPlainTextEdit, position: int):
    """The foreground colour the highlighter gave the character at `position` (None: plain text)."""
    block = edit.document().findBlock(position)
    offset = position - block.position()
    for fmt in block.layout().formats():
        if fmt.start <= offset < fmt.start + fmt.length:
            return fmt.format.foreground().color(), fmt.format.fontUnderline()
    return None


def test_tags_groups_break_and_embeddings_are_coloured(qtbot):
    text = "a (red:1.3) car <lora:ink:0.8> BREAK [fog] easynegative"
    edit, editor = _editor(qtbot, text)
    assert _colour_at(edit, text.index("red")) == (STRONGER_COLOR, False)
    assert _colour_at(edit, text.index(":1.3)")) == (SYNTAX_COLOR, False)
    assert _colour_at(edit, text.index("<lora")) == (LORA_COLOR, False)
    assert _colour_at(edit, text.index("BREAK")) == (BREAK_COLOR, False)
    assert _colour_at(edit, text.index("fog")) == (WEAKER_COLOR, False)
    assert _colour_at(edit, text.index("car")) is None
    assert _colour_at(edit, text.index("easynegative")) is None  # not installed: a plain word
    editor.set_embedding_names(["EasyNegative"])
    assert _colour_at(edit, text.index("easynegative")) == (EMBEDDING_COLOR, True)
    assert _colour_at(edit, text.index("ink")) == (LORA_COLOR, False)  # a name inside a tag stays a tag


def test_a_bracket_on_one_line_recolours_the_next_lines(qtbot):
    edit, _ = _editor(qtbot, "(castle\nfog\nsky")
    fog = edit.toPlainText().index("fog")
    assert _colour_at(edit, fog) == (STRONGER_COLOR, False)  # an unclosed ( reaches to the end
    cursor = edit.textCursor()
    cursor.setPosition(len("(castle"))
    cursor.insertText(":0.5)")  # closed on the first line now: the later lines are plain
    assert _colour_at(edit, edit.toPlainText().index("fog")) is None
    assert _colour_at(edit, edit.toPlainText().index("castle")) == (WEAKER_COLOR, False)


def test_a_lora_tag_naming_no_installed_file_is_red(qtbot):
    text = "a <lora:ink:0.8> b <lora:Jinx:1> c <lora:InkStyle_v2:1>"
    edit, editor = _editor(qtbot, text)
    assert _colour_at(edit, text.index("Jinx")) == (LORA_COLOR, False)  # nothing known yet: no verdict
    editor.set_lora_names(["ink", "InkStyle_v2"])  # a name and a trainer's alias
    assert _colour_at(edit, text.index("<lora:ink")) == (LORA_COLOR, False)
    assert _colour_at(edit, text.index("Jinx")) == (MISSING_COLOR, True)
    assert _colour_at(edit, text.index("InkStyle")) == (LORA_COLOR, False)


def test_hovering_says_what_weight_a_word_really_gets(qtbot):
    text = "((red:1.5) car) <lora:ink:0.8:0.5> <lora:jinx:1> BREAK EasyNegative, sky"
    edit, editor = _editor(qtbot, text)
    editor.set_lora_names(["ink"])
    editor.set_embedding_names(["easynegative"])
    describe = editor.highlighter.describe_at
    assert describe(text, text.index("red")) == "Weight 1.65"  # 1.5 inside a (...) group: x 1.1
    assert describe(text, text.index("car")) == "Weight 1.1"
    assert describe(text, text.index("ink")) == "LoRA ink, text encoder 0.8, UNet 0.5"
    assert describe(text, text.index("jinx")) == "LoRA jinx, weight 1: not installed here"
    assert describe(text, text.index("BREAK")).startswith("BREAK: the text after it starts a new 75-token chunk")
    assert describe(text, text.index("Negative")) == "Embedding EasyNegative"
    assert describe(text, text.index("sky")) == ""
    edit.resize(900, 80)
    cursor = edit.textCursor()
    cursor.setPosition(text.index("car") + 1)
    assert editor.tooltip_at(edit.cursorRect(cursor).center()) == "Weight 1.1"  # what the mouse is over


def test_hovering_a_prompt_edit_says_which_text_runs_at_which_steps(qtbot, make_window):
    window = make_window(steps=4)
    text = "a [cat:dog:0.5] <lora:ink:1> in a [red|blue] hat"
    window.controls.prompt.setPlainText(text)
    describe = window.prompt_editor.highlighter.describe_at
    # A1111 counts calls from 0: "dog" from the call after step 2 (of 0..3), i.e. the 4th step
    assert describe(text, text.index("[cat")) == (
        "Prompt editing over 4 steps:\n"
        "Steps 1-2: a cat in a red hat\nStep 3: a cat in a blue hat\nStep 4: a dog in a red hat")
    assert describe(text, text.index("|")) == describe(text, text.index(":0.5"))
    window.generation.steps = 8  # the tooltip follows the job's steps
    assert describe(text, text.index("[cat")).startswith("Prompt editing over 8 steps:\nSteps 1-2: a cat in a red hat")
    assert describe(text, text.index("cat")) == ""  # the words themselves are plain text


def test_schedule_step_ranges_count_as_a1111_does() -> None:
    from sdstudio.engine.prompt_schedule import prompt_schedule, step_ranges

    assert step_ranges(prompt_schedule("[cat:dog:0.5]", 4), 4) == [(1, 3, "cat"), (4, 4, "dog")]
    assert step_ranges(prompt_schedule("[a|b]", 4), 4) == [(1, 2, "a"), (3, 3, "b"), (4, 4, "a")]
    assert step_ranges(prompt_schedule("plain", 10), 10) == [(1, 10, "plain")]
