"""AUTOMATIC1111's prompt syntax, parsed without torch (the Qt prompt editor highlights with it).

Users' prompts and saved images are written in this syntax, so its meaning must be exactly
A1111's (`modules/prompt_parser.py: parse_prompt_attention`, `modules/extra_networks.py`):

- `(text)` multiplies the weight of text by 1.1, `[text]` divides it by 1.1, `(text:1.5)` sets a
  factor of 1.5; groups nest and multiply; an unclosed group still applies to the end.
- `\\(` `\\)` `\\[` `\\]` `\\\\` are literal characters; a `)`/`]` with nothing open is literal text.
- `BREAK` (upper case, a word on its own) starts a new 75-token chunk.
- `<lora:NAME:W>`, `<lora:NAME:TE_W:UNET_W>`, `te=`/`unet=` named forms, and any other
  `<kind:args>` extra-network tag are cut out of the text before it is encoded.
- Prompt editing `[a:b:5]` and alternation `[a|b]` are scheduled on the tag-free text
  (`prompt_schedule`); each text a prompt takes is then read as above. Here they are highlighted.

One deliberate difference: a weight that does not parse as a number (`(a:1.2.3)`) is kept as text
where A1111 raises; an editor highlighting half-typed prompts must never fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sdstudio.engine.prompt_schedule import editing_syntax
from sdstudio.errors import InputError

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
LORA_KINDS = ("lora", "lyco")  # A1111 registers "lyco" as an alias of its LoRA network

# A1111's tokens, in its order: escapes, openers, ":weight)" closers, closers, plain runs, ":".
_ATTENTION = re.compile(
    r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|
\(|\[|
:([+-]?[.\d]+)\)|
\)|]|
[^\\()\[\]:]+|
:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")


class SpanKind(StrEnum):
    TEXT = "text"  # characters that reach the text encoder, with their weight
    SYNTAX = "syntax"  # brackets and ":1.2)" weights
    BREAK = "break"
    LORA = "lora"  # a <lora:...> tag
    NETWORK = "network"  # another extra-network tag (<hypernet:...>): removed, not applied


@dataclass(frozen=True)
class Span:
    """A stretch of the prompt string for the editor: `prompt[start:end]` is of `kind`."""

    start: int
    end: int
    kind: SpanKind
    weight: float = 1.0  # TEXT: the attention weight A1111 gives these characters


@dataclass(frozen=True)
class LoraTag:
    """`<lora:name:te[:unet]>`: the multiplier of the text-encoder part and of the UNet part."""

    name: str
    te_weight: float = 1.0
    unet_weight: float = 1.0
    start: int = 0  # where the tag is in the prompt it came from
    end: int = 0

    @property
    def text(self) -> str:
        if self.te_weight == self.unet_weight:
            return f"<lora:{self.name}:{_number(self.te_weight)}>"
        return f"<lora:{self.name}:{_number(self.te_weight)}:{_number(self.unet_weight)}>"


@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt split the way A1111 uses it: the text CLIP sees, its weighted pieces, its LoRAs."""

    text: str  # the prompt without extra-network tags
    pieces: list[tuple[str, float]]  # parse_prompt_attention(text)
    loras: list[LoraTag]

    @property
    def has_syntax(self) -> bool:
        return bool(self.loras) or any(weight != 1.0 for _, weight in self.pieces)


@dataclass
class _Piece:
    text: str
    weight: float
    start: int
    end: int
    kind: SpanKind = SpanKind.TEXT


def _number(value: float) -> str:
    return f"{value:g}"


def _pieces(text: str, offset: int = 0) -> tuple[list[_Piece], list[Span]]:
    """A1111's attention parse, keeping where each piece came from; returns pieces and syntax spans."""
    pieces: list[_Piece] = []
    syntax: list[Span] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(begin: int, factor: float) -> None:
        for piece in pieces[begin:]:
            piece.weight *= factor

    for match in _ATTENTION.finditer(text):
        token, weight = match.group(0), match.group(1)
        start, end = match.start() + offset, match.end() + offset
        factor = _float_or_none(weight) if weight is not None else None
        if token.startswith("\\"):
            pieces.append(_Piece(token[1:], 1.0, start, end))
        elif token in "([":
            (round_open if token == "(" else square_open).append(len(pieces))
            syntax.append(Span(start, end, SpanKind.SYNTAX))
        elif factor is not None and round_open:
            multiply(round_open.pop(), factor)
            syntax.append(Span(start, end, SpanKind.SYNTAX))
        elif token == ")" and round_open:
            multiply(round_open.pop(), ROUND_MULTIPLIER)
            syntax.append(Span(start, end, SpanKind.SYNTAX))
        elif token == "]" and square_open:
            multiply(square_open.pop(), SQUARE_MULTIPLIER)
            syntax.append(Span(start, end, SpanKind.SYNTAX))
        else:
            position = 0
            for found in _BREAK.finditer(token):
                pieces.append(_Piece(token[position : found.start()], 1.0, start + position, start + found.start()))
                pieces.append(_Piece("BREAK", -1.0, start + found.start(), start + found.end(), SpanKind.BREAK))
                position = found.end()
            pieces.append(_Piece(token[position:], 1.0, start + position, end))
    for begin in round_open:
        multiply(begin, ROUND_MULTIPLIER)
    for begin in square_open:
        multiply(begin, SQUARE_MULTIPLIER)
    return pieces, syntax


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """(text, weight) runs exactly as A1111's `parse_prompt_attention`; `("BREAK", -1.0)` marks a BREAK.

    Adjacent runs of equal weight are merged, and an empty prompt is `[("", 1.0)]`, as there."""
    merged: list[list] = []
    for piece in _pieces(text)[0]:
        if merged and merged[-1][1] == piece.weight:
            merged[-1][0] += piece.text
        else:
            merged.append([piece.text, piece.weight])
    return [(run_text, weight) for run_text, weight in merged] or [("", 1.0)]


def split_extra_networks(prompt: str) -> tuple[str, list[tuple[str, list[str], int, int]]]:
    """The prompt without `<kind:a:b>` tags, and each tag as (kind, args, start, end)."""
    tags = [(m.group(1), m.group(2).split(":"), m.start(), m.end()) for m in _EXTRA_NETWORK.finditer(prompt)]
    return _EXTRA_NETWORK.sub("", prompt), tags


def lora_tag(args: list[str], start: int = 0, end: int = 0) -> LoraTag:
    """A1111's reading of `<lora:...>` arguments: name, te multiplier, unet multiplier (defaults to te),
    or named `te=`/`unet=`. Raises InputError for a tag without a name or with a non-number weight."""
    positional = [arg for arg in args if "=" not in arg]
    named = dict(arg.split("=", 1) for arg in args if "=" in arg)
    if not positional or not positional[0].strip():
        raise InputError("a <lora:...> tag needs a LoRA name, as in <lora:name:0.8>")
    name = positional[0]
    try:
        te = float(named.get("te", positional[1] if len(positional) > 1 else 1.0))
        unet = float(named.get("unet", positional[2] if len(positional) > 2 else te))
    except ValueError as error:
        raise InputError(f"<lora:{':'.join(args)}> has a weight that is not a number ({error})") from None
    return LoraTag(name, te, unet, start, end)


def parse_prompt(prompt: str) -> ParsedPrompt:
    """The whole prompt: LoRA tags out (other extra-network tags dropped, as A1111 does), then weights."""
    text, tags = split_extra_networks(prompt)
    loras = [lora_tag(args, start, end) for kind, args, start, end in tags if kind in LORA_KINDS]
    return ParsedPrompt(text, parse_prompt_attention(text), loras)


def prompt_spans(prompt: str) -> list[Span]:
    """Every stretch of the prompt, in order, for highlighting: text with its weight, brackets,
    BREAK, LoRA tags, and the brackets, `:`, `|` and `when` number of prompt editing and
    alternation (`prompt_schedule`). Never raises. Weights are those of the tag-free text, as A1111
    reads it, with every branch of an edit in place (`(a [b:c:5])` weights b and c alike)."""
    text, tags = split_extra_networks(prompt)
    text_in_prompt = _stretches(len(prompt), [(start, end) for _, _, start, end in tags])
    edits = editing_syntax(text)  # A1111 schedules the tag-free text
    shown_in_text = _stretches(len(text), edits)
    shown = "".join(text[start : start + length] for _, start, length in shown_in_text)
    pieces, syntax = _pieces(shown)
    spans = [
        in_prompt
        for span in syntax + [_piece_span(piece) for piece in pieces]
        if span.end > span.start
        for in_text in _to_prompt(span, shown_in_text)
        for in_prompt in _to_prompt(in_text, text_in_prompt)
    ]
    for start, end in edits:
        spans += _to_prompt(Span(start, end, SpanKind.SYNTAX), text_in_prompt)
    for kind, _, start, end in tags:
        spans.append(Span(start, end, SpanKind.LORA if kind in LORA_KINDS else SpanKind.NETWORK))
    return sorted(spans, key=lambda s: s.start)


def _stretches(length: int, removed: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(start in the shorter string, start in the longer, length) of each stretch between the
    sorted, disjoint `removed` ranges of a string of `length` characters."""
    stretches, short_at, long_at = [], 0, 0
    for start, end in removed:
        stretches.append((short_at, long_at, start - long_at))
        short_at, long_at = short_at + start - long_at, end
    stretches.append((short_at, long_at, length - long_at))
    return stretches


def _piece_span(piece: _Piece) -> Span:
    """A BREAK inside brackets has its -1 marker multiplied, so A1111 encodes it as the word "break"."""
    if piece.kind is SpanKind.BREAK:
        return (
            Span(piece.start, piece.end, SpanKind.BREAK)
            if piece.weight == -1.0
            else Span(piece.start, piece.end, SpanKind.TEXT, piece.weight)
        )
    return Span(piece.start, piece.end, piece.kind, piece.weight)


def _to_prompt(span: Span, stretches: list[tuple[int, int, int]]) -> list[Span]:
    """A span of a shorter string as spans of the longer one (split where something was cut out)."""
    out = []
    for text_start, prompt_start, length in stretches:
        begin, end = max(span.start, text_start), min(span.end, text_start + length)
        if end > begin:
            shift = prompt_start - text_start
            out.append(Span(begin + shift, end + shift, span.kind, span.weight))
    return out
