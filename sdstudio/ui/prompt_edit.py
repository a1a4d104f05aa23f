"""The prompt editors: A1111 syntax highlighted while typing, and Ctrl+Up/Down to change a weight.

Users read their prompts by their syntax: which words are weighted, where a LoRA tag or a BREAK
is, which word is an embedding. The highlighter colours the spans of the engine's own parser
(`sdstudio.engine.prompt_syntax.prompt_spans`), so what is shown is what will be encoded.

The weight keys are a port of A1111's `javascript/edit-attention.js`, because users' fingers know
it: Ctrl+Up on `cat` gives `(cat:1.1)`, again `(cat:1.2)`; back down to 1.0 unwraps to `cat`;
inside `<lora:x:1>` the weight moves by 0.05; old-style `((cat))` becomes `(cat:1.2)` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QHelpEvent,
    QKeyEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QPlainTextEdit, QToolTip

from sdstudio.engine.prompt_schedule import editing_syntax, prompt_schedule, step_ranges
from sdstudio.engine.prompt_syntax import Span, SpanKind, lora_tag, prompt_spans, split_extra_networks
from sdstudio.errors import InputError

ATTENTION_STEP = 0.1  # A1111's keyedit_precision_attention
EXTRA_NETWORK_STEP = 0.05  # A1111's keyedit_precision_extra (inside <lora:...>)
# A1111's keyedit_delimiters plus its default whitespace delimiters (tab, CR, LF).
WORD_DELIMITERS = ".,\\/!?%^*;:{}=`~() \t\r\n"
_NUMBER_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

LORA_COLOR = QColor(0xE0, 0x9A, 0x4C)
NETWORK_COLOR = QColor(0x9A, 0x8A, 0x70)
SYNTAX_COLOR = QColor(0x7F, 0x9C, 0xD0)
BREAK_COLOR = QColor(0xC0, 0x7A, 0xE0)
STRONGER_COLOR = QColor(0xF0, 0xD0, 0x70)
WEAKER_COLOR = QColor(0x8E, 0x9A, 0xAA)
EMBEDDING_COLOR = QColor(0x7C, 0xD0, 0x8C)
MISSING_COLOR = QColor(0xE5, 0x5B, 0x5B)  # a LoRA tag naming no installed file
DEFAULT_STEPS = 20  # until the window says the job's
SCHEDULE_LINES = 8  # a tooltip lists this many stretches of a prompt edit at most
SHORT_TEXT = 70


# ---- weight editing (pure text) -------------------------------------------------------------------


def _parse_float_prefix(text: str) -> float | None:
    """JavaScript's parseFloat: the number a string starts with, or None (NaN)."""
    match = _NUMBER_PREFIX.match(text)
    return float(match.group(0)) if match else None


def _js_number(value: float) -> str:
    """How JavaScript prints a number (1.1 -> "1.1", 2.0 -> "2"), so the text matches A1111's."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _enclosing_block(text: str, start: int, opener: str, closer: str) -> tuple[int, int] | None:
    """A1111's selectCurrentParenthesisBlock: the inside of the `opener...closer` around the cursor,
    without its `:weight`, or None when the cursor is not inside one."""
    before, after = text[:start], text[start:]
    open_at = before.rfind(opener)
    if open_at == -1 or before.rfind(closer) > open_at:
        return None
    close_at = after.find(closer)
    if close_at == -1 or -1 < after.find(opener) < close_at:
        return None
    content = text[open_at + 1 : start + close_at]
    begin = open_at + 1
    if re.match(r".*:-?[\d.]+", content, re.S):
        return begin, begin + content.rfind(":")
    return begin, begin + len(content)


def _current_word(text: str, start: int, end: int) -> tuple[int, int]:
    """A1111's selectCurrentWord: out to the nearest delimiters, without surrounding spaces."""
    while start > 0 and text[start - 1] not in WORD_DELIMITERS:
        start -= 1
    while end < len(text) and text[end] not in WORD_DELIMITERS:
        end += 1
    while start < end and text[start] == " ":
        start += 1
    while end > start and text[end - 1] == " ":
        end -= 1
    return start, end


def edit_attention(
    text: str, start: int, end: int, up: bool, step: float = ATTENTION_STEP, extra_step: float = EXTRA_NETWORK_STEP
) -> tuple[str, int, int] | None:
    """A1111's Ctrl+Up/Down on `text[start:end]` (the word or group around the cursor when empty).

    Returns the new text and the selection to show (the weighted words), or None when there is
    nothing to weight. Faithful to edit-attention.js, including its number formatting."""
    if start == end:
        block = (
            _enclosing_block(text, start, "<", ">")
            or _enclosing_block(text, start, "(", ")")
            or _enclosing_block(text, start, "[", "]")
        )
        start, end = block if block is not None else _current_word(text, start, end)
    close, delta = ")", step
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if before == "<":
        close, delta = ">", extra_step
    elif (before, after) in (("(", ")"), ("[", "]")):
        depth = 0
        while start - depth - 1 >= 0 and end + depth < len(text) and (
            text[start - depth - 1] == before and text[end + depth] == after
        ):
            depth += 1
        weight = (1.1 if before == "(" else 1 / 1.1) ** depth
        weight = round(weight / step) * step
        text = f"{text[: start - depth]}({text[start:end]}:{_js_number(weight)}){text[end + depth :]}"
        start, end = start - depth + 1, end - depth + 1
    elif before != "(":
        while end > start and text[end - 1] == " ":
            end -= 1
        if start == end:
            return None
        text = f"{text[:start]}({text[start:end]}:1.0){text[end:]}"
        start, end = start + 1, end + 1
    if end >= len(text) or text[end] != ":":
        return None
    weight_length = text[end + 1 :].find(close) + 1
    weight = _parse_float_prefix(text[end + 1 : end + weight_length])
    if weight is None:
        return None
    weight = float(f"{weight + (delta if up else -delta):.12g}")
    if close == ")" and weight == 1:
        paren = text[end:].find(")")
        return text[: start - 1] + text[start:end] + text[end + paren + 1 :], start - 1, end - 1
    shown = f"{int(weight)}.0" if weight.is_integer() else repr(weight)
    return text[: end + 1] + shown + text[end + weight_length :], start, end


# ---- Qt positions ----------------------------------------------------------------------------------


def _qt_position(text: str, index: int) -> int:
    """A QTextDocument position (UTF-16 units) for a Python index: emoji count twice there."""
    return index if text.isascii() else len(text[:index].encode("utf-16-le")) // 2


def _py_index(text: str, position: int) -> int:
    if text.isascii():
        return position
    units = 0
    for index, char in enumerate(text):
        if units >= position:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)


# ---- highlighting ---------------------------------------------------------------------------------


def _short(text: str) -> str:
    text = " ".join(text.split()) or "(nothing)"
    return text if len(text) <= SHORT_TEXT else text[: SHORT_TEXT - 1] + "\u2026"


def _format(color: QColor, bold: bool = False, underline: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(color)
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontUnderline(underline)
    return fmt


class PromptHighlighter(QSyntaxHighlighter):
    """Colours the parser's spans: LoRA tags, brackets and weights, BREAK, weighted words, embeddings.

    A weight depends on brackets anywhere in the prompt (an unclosed `(` reaches to the end), so
    each block is coloured from a parse of the whole document, and an edit re-colours every block."""

    FORMATS = {
        SpanKind.LORA: _format(LORA_COLOR, bold=True),
        SpanKind.NETWORK: _format(NETWORK_COLOR),
        SpanKind.SYNTAX: _format(SYNTAX_COLOR),
        SpanKind.BREAK: _format(BREAK_COLOR, bold=True),
    }
    STRONGER = _format(STRONGER_COLOR)
    WEAKER = _format(WEAKER_COLOR)
    EMBEDDING = _format(EMBEDDING_COLOR, underline=True)
    MISSING = _format(MISSING_COLOR, bold=True, underline=True)

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._embeddings: re.Pattern[str] | None = None
        self._loras: set[str] | None = None  # installed LoRA names and aliases, lower case; None = not known
        self._parsed: tuple[str, list[tuple[int, int, QTextCharFormat]]] | None = None
        self._recolouring = False
        self.steps = DEFAULT_STEPS  # the job's steps, for saying when a prompt edit switches
        document.contentsChanged.connect(self._recolour_other_blocks)

    def set_embedding_names(self, names: Iterable[str]) -> None:
        """The installed embeddings: a prompt word equal to one (any case, as A1111) is marked."""
        names = sorted({name for name in names if name}, key=len, reverse=True)
        self._embeddings = (
            re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, names))})(?![\w-])", re.IGNORECASE) if names else None
        )
        self._parsed = None
        self.rehighlight()

    def set_lora_names(self, names: Iterable[str]) -> None:
        """The installed LoRAs (names and trainers' aliases): a tag naming another is shown in red."""
        self._loras = {name.lower() for name in names if name}
        self._parsed = None
        self.rehighlight()

    def describe_at(self, text: str, index: int) -> str:
        """What the character at `index` of the prompt means, for a hover tooltip ("" for plain text):
        nested brackets multiply, so the weight a word really gets is not always obvious."""
        if any(start <= index < end for start, end in editing_syntax(text)):
            return self._describe_schedule(text)
        for span in prompt_spans(text):
            if not span.start <= index < span.end:
                continue
            if span.kind is SpanKind.LORA:
                return self._describe_lora(text[span.start : span.end])
            if span.kind is SpanKind.NETWORK:
                return "An extra-network tag sdstudio does not use: it is removed from the prompt"
            if span.kind is SpanKind.BREAK:
                return "BREAK: the text after it starts a new 75-token chunk"
            if span.kind is SpanKind.TEXT:
                words = []
                if self._embeddings is not None:
                    words = [m for m in self._embeddings.finditer(text, span.start, span.end)
                             if m.start() <= index < m.end()]
                embedding = f"Embedding {words[0].group(0)}" if words else ""
                weight = f"Weight {span.weight:.3g}" if span.weight != 1.0 else ""
                return " \u00b7 ".join(part for part in (embedding, weight) if part)
        return ""

    def _describe_schedule(self, text: str) -> str:
        """Which text the prompt is at which steps (A1111's prompt editing and alternation)."""
        ranges = step_ranges(prompt_schedule(split_extra_networks(text)[0], self.steps), self.steps)
        lines = [f"{f'Steps {first}-{last}' if last > first else f'Step {first}'}: {_short(part)}"
                 for first, last, part in ranges[:SCHEDULE_LINES]]
        if len(ranges) > SCHEDULE_LINES:
            lines.append(f"... and {len(ranges) - SCHEDULE_LINES} more")
        return f"Prompt editing over {self.steps} steps:\n" + "\n".join(lines)

    def _describe_lora(self, tag: str) -> str:
        try:
            lora = lora_tag(tag.strip("<>").split(":")[1:])
        except InputError as error:
            return str(error)
        weights = (f"weight {lora.te_weight:g}" if lora.te_weight == lora.unet_weight
                   else f"text encoder {lora.te_weight:g}, UNet {lora.unet_weight:g}")
        missing = self._loras is not None and lora.name.strip().lower() not in self._loras
        return f"LoRA {lora.name}, {weights}" + (": not installed here" if missing else "")

    def ranges(self, text: str) -> list[tuple[int, int, QTextCharFormat]]:
        """(start, end, format) in document positions for the whole prompt `text`, cached."""
        if self._parsed is None or self._parsed[0] != text:
            self._parsed = (text, self._compute(text))
        return self._parsed[1]

    def _compute(self, text: str) -> list[tuple[int, int, QTextCharFormat]]:
        found: list[tuple[int, int, QTextCharFormat]] = []
        spans = prompt_spans(text)
        for span in spans:
            fmt = self._span_format(span, text)
            if fmt is not None:
                found.append((_qt_position(text, span.start), _qt_position(text, span.end), fmt))
        if self._embeddings is not None:
            for span in spans:
                if span.kind is SpanKind.TEXT:
                    for match in self._embeddings.finditer(text, span.start, span.end):
                        found.append((_qt_position(text, match.start()), _qt_position(text, match.end()),
                                      self.EMBEDDING))
        return found

    def _span_format(self, span: Span, text: str) -> QTextCharFormat | None:
        if span.kind is SpanKind.TEXT:
            if span.weight > 1.0:
                return self.STRONGER
            return self.WEAKER if span.weight < 1.0 else None
        if span.kind is SpanKind.LORA and self._loras is not None:
            name = text[span.start : span.end].strip("<>").split(":")[1:2]
            if not name or name[0].strip().lower() not in self._loras:
                return self.MISSING
        return self.FORMATS[span.kind]

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt's name)
        full = self.document().toPlainText()
        begin = self.currentBlock().position()
        end = begin + len(text.encode("utf-16-le")) // 2
        for start, stop, fmt in self.ranges(full):
            low, high = max(start, begin), min(stop, end)
            if high > low:
                self.setFormat(low - begin, high - low, fmt)

    def _recolour_other_blocks(self) -> None:
        """Qt re-colours only the edited block; brackets reach across lines, so colour them all."""
        if self._recolouring or self.document().blockCount() < 2:
            return
        self._recolouring = True  # re-colouring marks the document changed: once is enough
        try:
            self.rehighlight()
        finally:
            self._recolouring = False


# ---- the editor behaviour -------------------------------------------------------------------------


def _is_weight_key(event: QKeyEvent) -> bool | None:
    """True for Ctrl+Up, False for Ctrl+Down (Cmd on macOS is Qt's Ctrl), None for other keys."""
    modifiers = event.modifiers()
    if not modifiers & Qt.KeyboardModifier.ControlModifier or modifiers & Qt.KeyboardModifier.AltModifier:
        return None
    return {Qt.Key.Key_Up: True, Qt.Key.Key_Down: False}.get(Qt.Key(event.key()))


class PromptEditor(QObject):
    """Gives a QPlainTextEdit the prompt behaviour: highlighting, weight keys, tag insertion.

    An event filter rather than a subclass, so that the controls keep their plain widgets and
    their bindings; it lives (and dies) with the edit."""

    def __init__(self, edit: QPlainTextEdit) -> None:
        super().__init__(edit)
        self.edit = edit
        self.highlighter = PromptHighlighter(edit.document())
        self._viewport = edit.viewport()  # kept: asking the edit for it while it is being destroyed crashes
        edit.installEventFilter(self)
        self._viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.edit and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            up = _is_weight_key(event)  # type: ignore[arg-type]
            if up is not None:
                if event.type() == QEvent.Type.KeyPress:
                    self.change_weight(up)
                event.accept()  # a window shortcut on Ctrl+Up must not take the key from the prompt
                return True
        if event.type() == QEvent.Type.ToolTip and watched is self._viewport:
            self._show_tooltip(event)  # type: ignore[arg-type]
            return True
        return super().eventFilter(watched, event)

    def tooltip_at(self, position: QPoint) -> str:
        """The explanation for the character under a viewport position."""
        text = self.edit.toPlainText()
        cursor = self.edit.cursorForPosition(position)
        rect = self.edit.cursorRect(cursor)
        index = _py_index(text, cursor.position())
        if position.x() < rect.left() and index > 0:  # the cursor lands after the character hovered
            index -= 1
        return self.highlighter.describe_at(text, index) if index < len(text) else ""

    def _show_tooltip(self, event: QHelpEvent) -> None:
        tip = self.tooltip_at(event.pos())
        if tip:
            QToolTip.showText(event.globalPos(), tip, self.edit.viewport())
        else:
            QToolTip.hideText()

    def change_weight(self, up: bool) -> bool:
        """Ctrl+Up/Down on the selection or the word at the cursor; one undo step. False: nothing to weight."""
        cursor = self.edit.textCursor()
        text = self.edit.toPlainText()
        start, end = _py_index(text, cursor.selectionStart()), _py_index(text, cursor.selectionEnd())
        edited = edit_attention(text, start, end, up)
        if edited is None:
            return False
        new_text, new_start, new_end = edited
        self._replace(text, new_text)
        cursor = self.edit.textCursor()
        cursor.setPosition(_qt_position(new_text, new_start))
        cursor.setPosition(_qt_position(new_text, new_end), QTextCursor.MoveMode.KeepAnchor)
        self.edit.setTextCursor(cursor)
        return True

    def _replace(self, old: str, new: str) -> None:
        """Replace only the changed middle, so undo, scrolling and the rest of the text stay."""
        prefix = 0
        while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
            suffix += 1
        cursor = self.edit.textCursor()
        cursor.beginEditBlock()
        cursor.setPosition(_qt_position(old, prefix))
        cursor.setPosition(_qt_position(old, len(old) - suffix), QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(new[prefix : len(new) - suffix])
        cursor.endEditBlock()

    def insert(self, snippet: str) -> None:
        """Insert `snippet` (a LoRA tag, an embedding word) at the cursor, spaced from its neighbours."""
        cursor = self.edit.textCursor()
        text = self.edit.toPlainText()
        start, end = _py_index(text, cursor.selectionStart()), _py_index(text, cursor.selectionEnd())
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        lead = " " if before and not before.isspace() else ""
        trail = " " if after and not after.isspace() and after != "," else ""
        cursor.insertText(f"{lead}{snippet}{trail}")
        self.edit.setTextCursor(cursor)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def set_embedding_names(self, names: Iterable[str]) -> None:
        self.highlighter.set_embedding_names(names)

    def set_lora_names(self, names: Iterable[str]) -> None:
        self.highlighter.set_lora_names(names)

    def set_steps(self, steps: int) -> None:
        self.highlighter.steps = max(1, int(steps))
