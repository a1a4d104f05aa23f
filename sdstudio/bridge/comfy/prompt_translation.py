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
  is what BREAK does: a new 75-token chunk.
One difference stays: ComfyUI weights a token by moving it away from the empty prompt's encoding,
A1111 scales it and restores the mean, so a weighted prompt gives a similar, not the same, image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sdstudio.bridge.comfy.server_info import file_stem
from sdstudio.engine.prompt_syntax import LoraTag, parse_prompt
from sdstudio.errors import InputError

BREAK_WEIGHT = -1.0  # parse_prompt_attention's marker for a BREAK
EMBEDDING_PREFIX = "embedding:"


@dataclass(frozen=True)
class ComfyPrompt:
    """One prompt for the server: its chunks (one CLIPTextEncode each) and its LoRA tags."""

    chunks: tuple[str, ...]
    loras: tuple[LoraTag, ...]


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
    embedding, names = _embedding_pattern(embeddings)
    chunks: list[list[str]] = [[]]
    for text, weight in parsed.pieces:
        if weight == BREAK_WEIGHT:
            chunks.append([])
        else:
            chunks[-1].append(_weighted(text, weight, embedding, names))
    return ComfyPrompt(tuple("".join(chunk) for chunk in chunks), tuple(parsed.loras))


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
