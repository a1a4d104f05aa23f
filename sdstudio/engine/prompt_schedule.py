"""AUTOMATIC1111's prompt editing and alternation, without torch: which text a prompt is at each step.

Users write, and their saved images carry (`modules/prompt_parser.py`,
`get_learned_conditioning_prompt_schedules` and its lark grammar):

- `[from:to:when]`: `from` until step `when`, then `to`; `[to:when]` adds `to` after `when`,
  `[from::when]` removes `from` after it. They nest, and may hold weights: `[(a:1.2):b:5]`.
- `[a|b|c]`: a, b, c, a, ... one per step; an empty option (`[fe|]male`) is nothing.

A prompt becomes a list of `(end_at_step, text)` entries (`prompt_schedule`); the sampler uses,
at its 0-based call i, the first entry whose end is >= i (`entry_at`, A1111's
`reconstruct_cond_batch`). A `when` with a decimal point is a fraction of the steps
(`int(when * steps)`), one without is a step number (A1111's default "new" timelines; the "old"
ones, where any `when` < 1 is a fraction, are `old_scheduling=True`). A hires-fix second pass
continues the timeline: fractions 1.0-2.0 and step numbers past the first pass's fall in it.

The engine counts as A1111 does (`Engine._job_conditioning`): steps are sampler calls (Heun's
two per step count twice); img2img is scheduled over the full step count but counted from the
first step it runs; hires fix's second pass counts its own calls from 0.

Where the grammar does not match, the whole prompt stays as written, as in A1111: a `|` outside
an alternation, or a backslash at the end or before a line break. A stray `[`, `]`, `(`, `)` or `:` is text.

Deliberate differences, all where A1111 has no single answer:
- A construct followed at once by a stray bracket or colon (`[a:b:1]]`) is ambiguous in A1111's
  grammar; its Earley parser then picks by Python's per-process hash seed, so the same prompt
  gives different images on different launches. We always take the construct.
- A `when` too large for an integer (`1e999`) makes A1111 raise; here it is "never".
- Brackets nested more than `MAX_DEPTH` deep keep the whole prompt as written.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

MAX_DEPTH = 100  # nested brackets; deeper keeps the prompt as written (and the parser off Python's stack limit)

# lark's SIGNED_NUMBER: ASCII digits, an optional sign, decimal point and exponent
_NUMBER = r"[+-]?(?:[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+)"
_WHEN = re.compile(rf"\s*({_NUMBER})\s*]")  # `[WHITESPACE] NUMBER [WHITESPACE] "]"`
_ENDS_PROMPT = frozenset("]):|")


@dataclass(frozen=True)
class ScheduleEntry:
    """The prompt's text for the sampler's calls up to and including `end_at_step`."""

    end_at_step: int
    text: str


@dataclass(frozen=True)
class _Edit:
    """`[before:after:when]`; `before` is None for `[after:when]`. `syntax`: (start, end) of its
    brackets, colons and number, for the editor."""

    before: tuple[_Node, ...] | None
    after: tuple[_Node, ...]
    when: str
    syntax: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Alternation:
    options: tuple[tuple[_Node, ...], ...]
    syntax: tuple[tuple[int, int], ...]


_Node = str | _Edit | _Alternation


class _TooDeep(Exception):
    pass


class _Parser:
    """A1111's grammar by recursive descent. Inside a construct everything must match (`prompt`);
    at the top level a bracket that starts no construct is a stray character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._constructs: dict[int, tuple[list[_Node], int] | None] = {}  # position -> result (pure, so memoised)

    def parse(self) -> list[_Node] | None:
        text, nodes, i = self.text, [], 0
        try:
            while i < len(text):
                char = text[i]
                if char == "\\":
                    if not self._escapes(i):
                        return None
                    nodes.append(text[i : i + 2])
                    i += 2
                elif char == "|":
                    return None
                elif char in "[(" and (found := self._construct(i, 0)) is not None:
                    nodes.extend(found[0])
                    i = found[1]
                else:
                    nodes.append(char)
                    i += 1
        except _TooDeep:
            return None
        return nodes

    def _escapes(self, i: int) -> bool:
        """`\\.` in A1111's `plain`: a backslash takes the next character, but not a line end."""
        return i + 1 < len(self.text) and self.text[i + 1] != "\n"

    def _prompt(self, i: int, depth: int) -> tuple[list[_Node], int] | None:
        """A1111's `prompt`: text, escapes and constructs up to one of `] ) : |` (or the end)."""
        text, nodes = self.text, []
        while i < len(text) and text[i] not in _ENDS_PROMPT:
            char = text[i]
            if char == "\\":
                if not self._escapes(i):
                    return None
                nodes.append(text[i : i + 2])
                i += 2
            elif char in "[(":
                found = self._construct(i, depth)
                if found is None:
                    return None
                nodes.extend(found[0])
                i = found[1]
            else:
                nodes.append(char)
                i += 1
        return nodes, i

    def _construct(self, i: int, depth: int) -> tuple[list[_Node], int] | None:
        if depth >= MAX_DEPTH:
            raise _TooDeep
        if i not in self._constructs:
            opener = self._round if self.text[i] == "(" else self._square
            self._constructs[i] = opener(i, depth + 1)
        return self._constructs[i]

    def _at(self, i: int) -> str:
        return self.text[i : i + 1]

    def _round(self, i: int, depth: int) -> tuple[list[_Node], int] | None:
        """`(prompt)` or `(prompt:prompt)`: emphasis, kept as written for the attention parser."""
        first = self._prompt(i + 1, depth)
        if first is None:
            return None
        nodes, j = first
        if self._at(j) == ")":
            return ["(", *nodes, ")"], j + 1
        if self._at(j) != ":" or (second := self._prompt(j + 1, depth)) is None or self._at(second[1]) != ")":
            return None
        return ["(", *nodes, ":", *second[0], ")"], second[1] + 1

    def _square(self, i: int, depth: int) -> tuple[list[_Node], int] | None:
        """`[prompt]` (emphasis, kept as written), an alternation or an edit."""
        first = self._prompt(i + 1, depth)
        if first is None:
            return None
        nodes, j = first
        if self._at(j) == "]":
            return ["[", *nodes, "]"], j + 1
        if self._at(j) == "|":
            return self._alternation(i, nodes, j, depth)
        if self._at(j) != ":":
            return None
        if (when := _WHEN.match(self.text, j + 1)) is not None:  # [to:when]
            return [_edit(None, nodes, when, (i, j))], when.end()
        second = self._prompt(j + 1, depth)
        if second is None or self._at(second[1]) != ":":
            return None
        after, k = second
        if (when := _WHEN.match(self.text, k + 1)) is None:
            return None
        return [_edit(nodes, after, when, (i, j, k))], when.end()

    def _alternation(self, i: int, first: list[_Node], j: int, depth: int) -> tuple[list[_Node], int] | None:
        options, bars = [tuple(first)], []
        while self._at(j) == "|":
            bars.append(j)
            option = self._prompt(j + 1, depth)
            if option is None:
                return None
            options.append(tuple(option[0]))
            j = option[1]
        if self._at(j) != "]":
            return None
        syntax = tuple((at, at + 1) for at in (i, *bars, j))
        return [_Alternation(tuple(options), syntax)], j + 1


def _edit(before: list[_Node] | None, after: list[_Node], when: re.Match, marks: tuple[int, ...]) -> _Edit:
    """marks: the `[` and each `:`; the number's span takes in the spaces around it."""
    close = when.end() - 1
    syntax = tuple((at, at + 1) for at in marks) + ((when.start(), close), (close, when.end()))
    return _Edit(None if before is None else tuple(before), tuple(after), when.group(1), syntax)


@dataclass(frozen=True)
class _Timeline:
    """A1111's `collect_steps` arithmetic for one sampling pass."""

    steps: int
    int_offset: int = 0
    fraction_offset: float = 0.0
    old: bool = False

    def end_of(self, number: str) -> int:
        value = float(number)
        if self.old:
            value = value * self.steps if value < 1 else value
        elif "." in number:
            value = (value - self.fraction_offset) * self.steps
        else:
            value = value - self.int_offset
        return int(min(max(value, -1.0), self.steps))  # A1111: min(steps, int(value)); clamped so 1e999 cannot raise


def _walk(nodes: tuple[_Node, ...] | list[_Node]):
    """Every edit and alternation, nested ones included (A1111's Visitor)."""
    for node in nodes:
        if isinstance(node, _Edit):
            yield node
            yield from _walk(node.before or ())
            yield from _walk(node.after)
        elif isinstance(node, _Alternation):
            yield node
            for option in node.options:
                yield from _walk(option)


def _text_at(nodes: tuple[_Node, ...] | list[_Node], step: int, timeline: _Timeline) -> str:
    """A1111's `AtStep`: the text of the prompt at `step` (1-based, as its schedule is)."""
    parts = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Edit):
            branch = (node.before or ()) if step <= timeline.end_of(node.when) else node.after
            parts.append(_text_at(branch, step, timeline))
        else:
            parts.append(_text_at(node.options[(step - 1) % len(node.options)], step, timeline))
    return "".join(parts)


def prompt_schedule(
    prompt: str, steps: int, hires_steps: int | None = None, old_scheduling: bool = False
) -> list[ScheduleEntry]:
    """A1111's `get_learned_conditioning_prompt_schedules([prompt], steps, hires_steps, old_scheduling)[0]`.

    `steps`: the first pass's sampler calls; `hires_steps`: the second pass's, when this schedule
    is for hires fix's second pass. Never raises."""
    timeline = _Timeline(steps)
    if hires_steps is not None and not old_scheduling:
        timeline = _Timeline(hires_steps, steps, 1.0)
    elif old_scheduling:
        timeline = _Timeline(steps, old=True)
    nodes = _Parser(prompt).parse()
    if nodes is None:
        return [ScheduleEntry(timeline.steps, prompt)]
    ends = {timeline.steps}
    for node in _walk(nodes):
        if isinstance(node, _Alternation):
            ends.update(range(1, timeline.steps + 1))
        elif (end := timeline.end_of(node.when)) >= 1:
            ends.add(end)
    return [ScheduleEntry(end, _text_at(nodes, end, timeline)) for end in sorted(ends)]


def entry_at(schedule: Sequence[ScheduleEntry], step: int) -> int:
    """Index of the entry the sampler's 0-based call `step` uses: the first that has not ended
    (A1111's `reconstruct_cond_batch`, which falls back to the first entry past the end)."""
    return first_not_ended([entry.end_at_step for entry in schedule], step)


def first_not_ended(ends: Sequence[int], step: int) -> int:
    """`entry_at` over the sorted end steps alone (a loop asks once per call: a bisection)."""
    index = bisect_left(ends, step)
    return index if index < len(ends) else 0


def step_ranges(schedule: Sequence[ScheduleEntry], steps: int) -> list[tuple[int, int, str]]:
    """(first, last, text) in 1-based steps as a user counts them: entry k is used from the call
    after entry k-1 ends up to its own end (so `[cat:dog:0.5]` over 4 steps is cat for 1-3)."""
    ranges, first = [], 1
    for entry in schedule:
        last = min(entry.end_at_step + 1, steps)
        if last >= first:
            ranges.append((first, last, entry.text))
        first = last + 1
        if first > steps:
            break
    return ranges


def editing_syntax(prompt: str) -> list[tuple[int, int]]:
    """(start, end) of every bracket, colon, bar and `when` number of the prompt's edits and
    alternations, in order: what the editor marks as syntax. Empty where A1111 would keep the
    prompt as written."""
    nodes = _Parser(prompt).parse()
    if nodes is None:
        return []
    return sorted(span for node in _walk(nodes) for span in node.syntax)
