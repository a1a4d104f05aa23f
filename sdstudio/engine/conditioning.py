"""Text conditioning: prompt -> CLIP embeddings, the way each SD family was trained on them, read the
way AUTOMATIC1111 reads prompts.

SD 1.x/2.x use the last hidden state of one CLIP text encoder. SDXL concatenates the
penultimate hidden states of two encoders and adds the pooled embedding of the second plus
"micro-conditioning" time ids (original size, crop, target size; Podell et al. 2023, sec. 2.2).

On top, A1111's conventions (`modules/sd_hijack_clip.py`): the prompt is cut into 75-token chunks
(`prompt_chunks`), each encoded with its own BOS/EOS and concatenated; the negative and positive
get the same number of chunks (the shorter padded with empty-prompt chunks, A1111's "pad
cond/uncond"); attention weights multiply each token's output vector and the chunk's mean is
then restored (A1111's "Original" emphasis); clip skip N takes the N-th hidden state from the end
through the final layer norm. SDXL's pooled embedding comes from the first chunk. A prompt with
no syntax is one chunk with weights 1, i.e. exactly diffusers' encoding.

Prompt editing and alternation (`prompt_schedule`) make a pass's conditioning a `CondSchedule`:
each distinct text of the prompt's and the negative's schedules is encoded once, all padded to
the same number of chunks (A1111 encodes a schedule's texts as one batch, so they share a chunk
count, and pads cond/uncond to each other), and the sampler picks an entry per call.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.prompt_chunks import (
    EMBEDDING_SLOT,
    Chunk,
    EmbeddingIndex,
    EmbeddingWord,
    chunk_prompt,
    empty_chunk,
)
from sdstudio.engine.prompt_schedule import ScheduleEntry, first_not_ended
from sdstudio.engine.prompt_syntax import parse_prompt_attention, split_extra_networks
from sdstudio.errors import InputError

SDXL_LAYER = 2  # SDXL was trained on the penultimate hidden states of both encoders


@dataclass
class Conditioning:
    """Embeddings for one prompt pair; `None` fields are unused by the model family."""

    prompt: torch.Tensor  # (1, 77 * chunks, dim)
    negative: torch.Tensor
    pooled: torch.Tensor | None = None  # SDXL: (1, dim)
    negative_pooled: torch.Tensor | None = None
    embeddings: tuple[str, ...] = field(default=())  # textual-inversion words used (for `TI hashes`)

    def for_unet(self, guided: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embeddings in the batch order the loop uses: [negative, positive] when guided."""
        if not guided:
            return self.prompt, self.pooled
        embeds = torch.cat([self.negative, self.prompt])
        pooled = None if self.pooled is None else torch.cat([self.negative_pooled, self.pooled])
        return embeds, pooled


@dataclass(frozen=True)
class CondSchedule:
    """A sampling pass's conditioning per sampler call: the prompt's and the negative's A1111
    schedules merged into one list of (end_at_step, Conditioning); call i uses the first entry
    that has not ended. A prompt without edits is one entry, the same object for every call."""

    ends: tuple[int, ...]
    conds: tuple[Conditioning, ...]

    @classmethod
    def constant(cls, cond: Conditioning) -> CondSchedule:
        return cls((0,), (cond,))

    def at(self, step: int) -> Conditioning:
        """The conditioning of the 0-based sampler call `step` (the first entry past the end, as A1111)."""
        return self.conds[first_not_ended(self.ends, step)]


@dataclass(frozen=True)
class Encoded:
    """One text's embeddings at a chunk count: what the conditioning cache keeps."""

    hidden: torch.Tensor  # (1, 77 * chunks, dim)
    pooled: torch.Tensor | None  # SDXL: (1, dim)
    embeddings: tuple[str, ...]


class EmbeddingSource(Protocol):
    """Textual-inversion words for a model (`sdstudio.engine.embeddings.Embeddings`)."""

    def index_for(self, pieces: list[list[tuple[str, float]]]) -> EmbeddingIndex: ...

    def token_ids(self, word: EmbeddingWord, encoder: int) -> list[int]: ...


def prompt_pieces(prompt: str) -> list[tuple[str, float]]:
    """What CLIP is given for a prompt: its weighted pieces, extra-network tags cut out."""
    return parse_prompt_attention(split_extra_networks(prompt)[0])


def _chunks(model: LoadedModel, pieces: list[tuple[str, float]], index: EmbeddingIndex) -> list[Chunk]:
    tokenizer = model.tokenizers[0]
    comma = tokenizer.convert_tokens_to_ids(",</w>")  # not get_vocab(): that builds a 49,408-entry dict (~0.1 s)
    if comma == tokenizer.unk_token_id:
        comma = None

    def tokenize(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, truncation=False, add_special_tokens=False).input_ids

    return chunk_prompt(pieces, tokenize, tokenizer.bos_token_id, tokenizer.eos_token_id, comma, index)[0]


def _token_tensor(model: LoadedModel, encoder: int, chunks: list[Chunk], source: EmbeddingSource | None):
    """(chunks, 77) ids for one encoder: its own embedding ids, its own padding after the first EOS."""
    tokenizer = model.tokenizers[encoder]
    rows = []
    for chunk in chunks:
        ids = list(chunk.tokens)
        for offset, word in chunk.fixes:
            ids[offset : offset + word.vectors] = source.token_ids(word, encoder)
        if EMBEDDING_SLOT in ids:
            raise RuntimeError("an embedding slot was left unfilled")
        if tokenizer.pad_token_id != tokenizer.eos_token_id:
            first_end = ids.index(tokenizer.eos_token_id)
            ids[first_end + 1 :] = [tokenizer.pad_token_id] * (len(ids) - first_end - 1)
        rows.append(ids)
    return torch.tensor(rows, dtype=torch.long, device=model.device)


def _hidden(encoder, ids: torch.Tensor, layer: int, attention_mask=None, final_norm: bool = True):
    """The encoder's output at `layer` from the end (1 = last), and its projected pooled output if any."""
    need_hidden = layer > 1
    output = encoder(ids, attention_mask=attention_mask, output_hidden_states=need_hidden)
    pooled = output[0] if output[0].ndim == 2 else None  # CLIPTextModelWithProjection: text_embeds
    if not need_hidden:
        return output.last_hidden_state, pooled
    if layer > len(output.hidden_states):  # the embedding layer's output is the deepest skip there is
        raise InputError(f"clip skip {layer} is more than this text encoder's {len(output.hidden_states) - 1} layers")
    hidden = output.hidden_states[-layer]
    if final_norm:
        hidden = getattr(encoder, "text_model", encoder).final_layer_norm(hidden)
    return hidden, pooled


def _emphasis(z: torch.Tensor, chunks: list[Chunk]) -> torch.Tensor:
    """A1111's "Original" emphasis: scale each token's vector by its weight, then restore the mean."""
    if not any(chunk.weighted for chunk in chunks):
        return z
    weighted = []
    for row, chunk in zip(z, chunks, strict=True):
        if chunk.weighted:
            original_mean = row.mean()
            row = row * torch.tensor(chunk.multipliers, dtype=row.dtype, device=row.device)[:, None]
            row = row * (original_mean / row.mean())
        weighted.append(row)
    return torch.stack(weighted)


def _encode_single(model: LoadedModel, chunks: list[Chunk], clip_skip: int, source) -> torch.Tensor:
    tokenizer, encoder = model.tokenizers[0], model.text_encoders[0]
    ids = _token_tensor(model, 0, chunks, source)
    mask = None
    if getattr(encoder.config, "use_attention_mask", False):
        mask = (ids != tokenizer.pad_token_id).long()
    z, _ = _hidden(encoder, ids, clip_skip, mask)
    z = _emphasis(z, chunks)
    return z.reshape(1, -1, z.shape[-1]).to(model.dtype)


def _encode_sdxl(model: LoadedModel, chunks: list[Chunk], clip_skip: int, source) -> tuple[torch.Tensor, torch.Tensor]:
    """Both encoders' penultimate states, no final norm (SDXL's training). Clip skip above 2 moves the
    first (CLIP-L) encoder deeper, as A1111's "sdxl_clip_l_skip" does; 1 and 2 are SDXL's own default."""
    hidden, pooled = [], None
    for index, encoder in enumerate(model.text_encoders):
        layer = max(SDXL_LAYER, clip_skip) if index == 0 else SDXL_LAYER
        z, encoder_pooled = _hidden(encoder, _token_tensor(model, index, chunks, source), layer, final_norm=False)
        if encoder_pooled is not None:
            pooled = encoder_pooled[:1]  # A1111: the pooled embedding of the first chunk
        hidden.append(_emphasis(z, chunks).reshape(1, -1, z.shape[-1]))
    return torch.cat(hidden, dim=-1).to(model.dtype), pooled.to(model.dtype)


def encode_prompts(
    model: LoadedModel,
    prompt: str,
    negative: str,
    clip_skip: int = 1,
    embeddings: EmbeddingSource | None = None,
) -> Conditioning:
    """Both prompts' embeddings as written (no step schedule), with A1111's syntax, chunking, clip
    skip and embedding words."""
    texts = [ScheduleEntry(1, split_extra_networks(text)[0]) for text in (prompt, negative)]
    return encode_schedule(model, texts[:1], texts[1:], clip_skip, embeddings, zero_negative=not negative).at(0)


@torch.inference_mode()
def encode_schedule(
    model: LoadedModel,
    positive: Sequence[ScheduleEntry],
    negative: Sequence[ScheduleEntry],
    clip_skip: int = 1,
    embeddings: EmbeddingSource | None = None,
    zero_negative: bool = False,
    cache: MutableMapping[tuple, Encoded] | None = None,
    context: tuple = (),
) -> CondSchedule:
    """Both schedules' texts (tag-free) encoded once each, all padded to one chunk count, merged.

    `zero_negative`: the negative prompt is empty, and SDXL base was trained with zeroed
    conditioning for it (diffusers' force_zeros_for_empty_prompt); an encoded "" would be a
    different, worse negative. `cache` maps (text, chunks, clip skip, *context) to an `Encoded`;
    `context` holds what else the encoding depends on (LoRA weights, embedding files)."""
    if clip_skip < 1:
        raise InputError(f"clip skip must be 1 or more, not {clip_skip}")
    zero = zero_negative and model.is_sdxl and len(model.text_encoders) == 2
    texts = list(dict.fromkeys([entry.text for entry in positive] + ([] if zero else [e.text for e in negative])))
    pieces = {text: parse_prompt_attention(text) for text in texts}
    index = embeddings.index_for(list(pieces.values())) if embeddings is not None else EmbeddingIndex()
    chunks = {text: _chunks(model, text_pieces, index) for text, text_pieces in pieces.items()}
    count = max(len(text_chunks) for text_chunks in chunks.values())
    tokenizer = model.tokenizers[0]
    empty = empty_chunk(tokenizer.bos_token_id, tokenizer.eos_token_id)
    encoded: dict[str, Encoded] = {}
    for text in texts:
        key = (text, count, clip_skip, *context)
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _encode_text(model, chunks[text] + [empty] * (count - len(chunks[text])), clip_skip, embeddings)
            if cache is not None:
                cache[key] = found
        encoded[text] = found
    used = tuple(sorted({name for text in texts for name in encoded[text].embeddings}))
    zeros = None
    if zero:
        first = encoded[positive[0].text]
        zeros = Encoded(torch.zeros_like(first.hidden), torch.zeros_like(first.pooled), ())
    return _merged(positive, negative, encoded, zeros, used)


def _encode_text(model: LoadedModel, chunks: list[Chunk], clip_skip: int, source: EmbeddingSource | None) -> Encoded:
    used = tuple(sorted({word.name for chunk in chunks for _, word in chunk.fixes}))
    if not model.is_sdxl:
        return Encoded(_encode_single(model, chunks, clip_skip, source), None, used)
    return Encoded(*_encode_sdxl(model, chunks, clip_skip, source), used)


def _merged(
    positive: Sequence[ScheduleEntry],
    negative: Sequence[ScheduleEntry],
    encoded: dict[str, Encoded],
    zeros: Encoded | None,
    used: tuple[str, ...],
) -> CondSchedule:
    """One entry per end step of either schedule; a (prompt, negative) pair is one Conditioning."""
    positive_ends, negative_ends = ([entry.end_at_step for entry in entries] for entries in (positive, negative))
    ends = sorted(set(positive_ends) | set(negative_ends))
    pairs: dict[tuple[str, str], Conditioning] = {}
    conds = []
    for end in ends:
        pair = (positive[first_not_ended(positive_ends, end)].text, negative[first_not_ended(negative_ends, end)].text)
        if pair not in pairs:
            prompt, uncond = encoded[pair[0]], zeros or encoded[pair[1]]
            pairs[pair] = Conditioning(prompt.hidden, uncond.hidden, prompt.pooled, uncond.pooled, used)
        conds.append(pairs[pair])
    return CondSchedule(tuple(ends), tuple(conds))


def sdxl_time_ids(model: LoadedModel, width: int, height: int, guided: bool) -> torch.Tensor:
    """Micro-conditioning ids: (h, w, crop top, crop left, h, w); the refiner swaps the target
    size for an aesthetic score (6.0 positive, 2.5 negative). Count read off the UNet's config."""
    config = model.unet.config
    pooled_dim = model.text_encoders[-1].config.projection_dim
    count = (config.projection_class_embeddings_input_dim - pooled_dim) // config.addition_time_embed_dim
    if count == 5:
        positive, negative = [height, width, 0, 0, 6.0], [height, width, 0, 0, 2.5]
    else:
        positive = negative = [height, width, 0, 0, height, width]
    rows = [negative, positive] if guided else [positive]
    return torch.tensor(rows, dtype=model.dtype, device=model.device)
