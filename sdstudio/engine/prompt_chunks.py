"""Weighted prompt pieces -> 77-token chunks, A1111's way (`sd_hijack_clip.tokenize_line`), without torch.

CLIP sees 77 tokens: BOS, 75 prompt tokens, EOS. A longer prompt is cut into chunks of 75, each
encoded on its own and concatenated, so nothing past token 75 is lost. BREAK ends a chunk early.
When a chunk fills up within `COMMA_BACKTRACK` tokens of a comma, the words after that comma move
to the next chunk (A1111's default "prompt word wrap length limit" of 20), so a phrase is not torn
in half. A textual-inversion word is replaced by its vectors and never split across chunks (and,
unlike A1111, its vectors move with the words when a comma wrap moves them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CHUNK_LENGTH = 75
COMMA_BACKTRACK = 20
EMBEDDING_SLOT = -1  # placeholder id where an embedding's vectors go; each encoder fills its own ids


@dataclass(frozen=True)
class EmbeddingWord:
    """A textual-inversion embedding as the prompt spells it: the token ids of its name."""

    name: str
    ids: tuple[int, ...]
    vectors: int


@dataclass
class Chunk:
    """77 token ids and their weights; `fixes` says where an embedding's vectors start."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, EmbeddingWord]] = field(default_factory=list)

    @property
    def weighted(self) -> bool:
        return any(m != 1.0 for m in self.multipliers)


class EmbeddingIndex:
    """Finds embedding names in a token sequence, longest name first (as A1111's `ids_lookup`)."""

    def __init__(self, words: Sequence[EmbeddingWord] = ()) -> None:
        self._by_first: dict[int, list[EmbeddingWord]] = {}
        for word in words:
            if word.ids:
                self._by_first.setdefault(word.ids[0], []).append(word)
        for candidates in self._by_first.values():
            candidates.sort(key=lambda w: len(w.ids), reverse=True)

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def at(self, tokens: Sequence[int], position: int) -> EmbeddingWord | None:
        for word in self._by_first.get(tokens[position], ()):
            if tuple(tokens[position : position + len(word.ids)]) == word.ids:
                return word
        return None


def chunk_prompt(
    pieces: Sequence[tuple[str, float]],
    tokenize: Callable[[list[str]], list[list[int]]],
    bos: int,
    eos: int,
    comma: int | None,
    embeddings: EmbeddingIndex | None = None,
) -> tuple[list[Chunk], int]:
    """Chunks for `parse_prompt_attention` pieces, and the prompt's token count (for a counter)."""
    embeddings = embeddings or EmbeddingIndex()
    chunks: list[Chunk] = []
    chunk = Chunk()
    token_count = 0
    last_comma = -1

    def next_chunk(is_last: bool = False) -> None:
        nonlocal chunk, token_count, last_comma
        token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        missing = CHUNK_LENGTH - len(chunk.tokens)
        chunk.tokens = [bos] + chunk.tokens + [eos] * missing + [eos]
        chunk.multipliers = [1.0] + chunk.multipliers + [1.0] * missing + [1.0]
        chunk.fixes = [(offset + 1, word) for offset, word in chunk.fixes]
        chunks.append(chunk)
        chunk, last_comma = Chunk(), -1

    for tokens, (text, weight) in zip(tokenize([text for text, _ in pieces]), pieces, strict=True):
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == comma:
                last_comma = len(chunk.tokens)
            elif (
                COMMA_BACKTRACK
                and len(chunk.tokens) == CHUNK_LENGTH
                and last_comma != -1
                and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK
            ):
                cut = last_comma + 1
                moved = chunk.tokens[cut:], chunk.multipliers[cut:], [(o - cut, w) for o, w in chunk.fixes if o >= cut]
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                chunk.fixes = [(o, w) for o, w in chunk.fixes if o < cut]
                next_chunk()
                chunk.tokens, chunk.multipliers, chunk.fixes = list(moved[0]), list(moved[1]), moved[2]
            if len(chunk.tokens) == CHUNK_LENGTH:
                next_chunk()
            word = embeddings.at(tokens, position) if embeddings else None
            if word is None:
                chunk.tokens.append(token)
                chunk.multipliers.append(weight)
                position += 1
                continue
            if len(chunk.tokens) + word.vectors > CHUNK_LENGTH:
                next_chunk()
            chunk.fixes.append((len(chunk.tokens), word))
            chunk.tokens += [EMBEDDING_SLOT] * word.vectors
            chunk.multipliers += [weight] * word.vectors
            position += len(word.ids)
    if chunk.tokens or not chunks:
        next_chunk(is_last=True)
    return chunks, token_count


def empty_chunk(bos: int, eos: int) -> Chunk:
    """What A1111 pads the shorter of cond/uncond with: the encoding of an empty prompt."""
    return Chunk([bos] + [eos] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2))
