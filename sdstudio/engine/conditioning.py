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
"""

from __future__ import annotations

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


@torch.inference_mode()
def encode_prompts(
    model: LoadedModel,
    prompt: str,
    negative: str,
    clip_skip: int = 1,
    embeddings: EmbeddingSource | None = None,
) -> Conditioning:
    """Both prompts' embeddings, with A1111's syntax, chunking, clip skip and embedding words."""
    if clip_skip < 1:
        raise InputError(f"clip skip must be 1 or more, not {clip_skip}")
    pieces = [prompt_pieces(prompt), prompt_pieces(negative)]
    index = embeddings.index_for(pieces) if embeddings is not None else EmbeddingIndex()
    positive_chunks, negative_chunks = (_chunks(model, p, index) for p in pieces)
    tokenizer = model.tokenizers[0]
    count = max(len(positive_chunks), len(negative_chunks))
    for chunks in (positive_chunks, negative_chunks):
        chunks += [empty_chunk(tokenizer.bos_token_id, tokenizer.eos_token_id) for _ in range(count - len(chunks))]
    used = tuple(sorted({word.name for chunk in positive_chunks + negative_chunks for _, word in chunk.fixes}))
    if not model.is_sdxl:
        return Conditioning(
            _encode_single(model, positive_chunks, clip_skip, embeddings),
            _encode_single(model, negative_chunks, clip_skip, embeddings),
            embeddings=used,
        )
    embeds, pooled = _encode_sdxl(model, positive_chunks, clip_skip, embeddings)
    if not negative and len(model.text_encoders) == 2:
        # SDXL base was trained with zeroed conditioning for empty prompts (diffusers'
        # force_zeros_for_empty_prompt); an encoded "" would be a different, worse negative.
        return Conditioning(embeds, torch.zeros_like(embeds), pooled, torch.zeros_like(pooled), used)
    negative_embeds, negative_pooled = _encode_sdxl(model, negative_chunks, clip_skip, embeddings)
    return Conditioning(embeds, negative_embeds, pooled, negative_pooled, used)


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
