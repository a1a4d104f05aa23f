"""An A1111 prompt in ComfyUI's words: the text for its CLIPTextEncode nodes and the LoRAs to load.

Users write one syntax whatever the backend, so the prompt is parsed as our engine parses it
(`engine.prompt_syntax`) and rewritten for a stock server:
- `<lora:NAME:TE:UNET>` tags come out; each becomes a LoraLoader (strength_clip TE, strength_model
  UNET), with NAME found among the server's LoRAs as A1111 finds it, by file name;
- weights are written as ComfyUI reads them, `(text:1.21)`: A1111's `[text]` (which ComfyUI would
  keep as brackets) becomes `(text:0.9091)`, and nested groups are multiplied out;
- literal parentheses are escaped `\\(`; A1111's `\\[` is a plain `[` there;
- a word naming one of the server's embeddings becomes `embedding:NAME` (A1111 needs only the word);
- BREAK splits the prompt into chunks, encoded one by one and joined with ConditioningConcat, which
  is what BREAK does: a new 75-token chunk;
- prompt editing `[a:b:when]` and alternation `[a|b]` (engine.prompt_schedule) become one text per
  stretch of A1111's schedule, each given its part of the sampling with ConditioningSetTimestepRange.
  ComfyUI's ranges are fractions of the noise schedule's timesteps, so the switch falls on A1111's
  step with the "normal" and "simple" schedulers and near it with Karras.
One difference stays: ComfyUI weights a token by moving it away from the empty prompt's encoding,
A1111 scales it and restores the mean, so a weighted prompt gives a similar, not the same, image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sdstudio.bridge.comfy.server_info import file_stem
from sdstudio.engine.prompt_schedule import prompt_schedule
from sdstudio.engine.prompt_syntax import LoraTag, parse_prompt, parse_prompt_attention
from sdstudio.errors import InputError

BREAK_WEIGHT = -1.0  # parse_prompt_attention's marker for a BREAK
EMBEDDING_PREFIX = "embedding:"


@dataclass(frozen=True)
class ComfyPrompt:
    """One prompt for the server: its text without LoRA tags, its LoRA tags, the server's embeddings."""

    text: str
    loras: tuple[LoraTag, ...]
    embeddings: tuple[str, ...] = ()

    @property
    def chunks(self) -> tuple[str, ...]:
        """The whole text as ComfyUI's chunks (for a prompt without editing)."""
        return text_chunks(self.text, self.embeddings)

    def timed(self, timing: PassTiming) -> list[TimedText]:
        """The text of each stretch of one sampler pass, as chunks, with its timestep range."""
        return [TimedText(start, end, text_chunks(text, self.embeddings)) for start, end, text in
                timed_texts(self.text, timing)]


@dataclass(frozen=True)
class PassTiming:
    """One sampler pass, for placing a schedule's switches: its steps, its denoise, whether it is
    img2img (A1111 runs steps x denoise of those, ComfyUI all of them on a shorter schedule) and,
    for hires fix's second pass, the first pass's steps (its timeline continues from them)."""

    steps: int
    denoise: float = 1.0
    img2img: bool = False
    first_pass_steps: int | None = None


@dataclass(frozen=True)
class TimedText:
    start: float  # ComfyUI's start_percent / end_percent: 0 is the start of sampling
    end: float
    chunks: tuple[str, ...]


def timed_texts(text: str, timing: PassTiming) -> list[tuple[float, float, str]]:
    """A1111's schedule of `text` for the pass, as (start, end, text) over fractions of sampling.

    A1111's entry k is used from the call after entry k-1 ends up to its own end step; the switch
    goes half-way between the two calls, so no step falls on a boundary. In a pass of denoise d,
    ComfyUI samples the last d of the schedule."""
    steps, denoise = max(1, timing.steps), min(max(timing.denoise, 0.0), 1.0)
    if timing.first_pass_steps is not None:
        schedule = prompt_schedule(text, timing.first_pass_steps, hires_steps=steps)
    else:
        schedule = prompt_schedule(text, steps)
    if len(schedule) == 1:
        return [(0.0, 1.0, schedule[0].text)]
    spread = 1.0 if timing.img2img else denoise  # img2img: A1111's call j is ComfyUI's call j / d
    timed, start = [], 0.0
    for index, entry in enumerate(schedule):
        last = index == len(schedule) - 1
        end = 1.0 if last else min(1.0, round(1.0 - denoise + spread * (entry.end_at_step + 0.5) / steps, 4))
        if end > start:
            timed.append((start, end, entry.text))
        start = end
        if start >= 1.0:
            break
    return timed


def _embedding_pattern(embeddings: Iterable[str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """A pattern for every embedding word (by file name, any case), and the server name of each."""
    names: dict[str, str] = {}
    for name in embeddings:
        names.setdefault(file_stem(name).lower(), name)
    if not names:
        return None, names
    words = "|".join(re.escape(word) for word in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w:])(?:{words})(?!\w)", re.IGNORECASE), names


def _weighted(text: str, weight: float, embedding: re.Pattern[str] | None, names: dict[str, str]) -> str:
    text = text.replace("(", "\\(").replace(")", "\\)")
    if text.endswith("\\"):
        text += " "  # else it would escape the parenthesis that closes a weight
    if embedding is not None:
        text = embedding.sub(lambda found: f" {EMBEDDING_PREFIX}{names[found.group(0).lower()]} ", text)
    if weight == 1.0 or not text.strip():
        return text
    return f"({text}:{round(weight, 4):g})"


def translate_prompt(prompt: str, embeddings: Iterable[str] = ()) -> ComfyPrompt:
    """`prompt` for a server that has the embeddings named (its /embeddings list)."""
    parsed = parse_prompt(prompt)
    return ComfyPrompt(parsed.text, tuple(parsed.loras), tuple(embeddings))


def text_chunks(text: str, embeddings: Iterable[str] = ()) -> tuple[str, ...]:
    """A tag-free text (one stretch of a schedule) in ComfyUI's syntax, one string per BREAK chunk."""
    embedding, names = _embedding_pattern(embeddings)
    chunks: list[list[str]] = [[]]
    for piece, weight in parse_prompt_attention(text):
        if weight == BREAK_WEIGHT:
            chunks.append([])
        else:
            chunks[-1].append(_weighted(piece, weight, embedding, names))
    return tuple("".join(chunk) for chunk in chunks)


def find_lora(name: str, loras: tuple[str, ...], server: str) -> str:
    """The server's LoRA file for a tag's name: its exact name, else its file name without folder and
    extension (the way A1111 names LoRAs), matched in case only if no exact-case one exists."""
    if name in loras:
        return name
    for case_matters in (True, False):
        for candidate in loras:
            stem = file_stem(candidate)
            if stem == name or (not case_matters and stem.lower() == name.lower()):
                return candidate
    listed = ", ".join(file_stem(candidate) for candidate in loras[:12]) + (", ..." if len(loras) > 12 else "")
    raise InputError(f"LoRA '{name}' is not on the ComfyUI server at {server}"
                     + (f" (it has: {listed})" if loras else " (its models/loras folder is empty)"))
