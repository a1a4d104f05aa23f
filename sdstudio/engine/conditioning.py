"""Text conditioning: prompt -> CLIP embeddings, the way each SD family was trained on them.

SD 1.x/2.x use the last hidden state of one CLIP text encoder. SDXL concatenates the
penultimate hidden states of two encoders and adds the pooled embedding of the second plus
"micro-conditioning" time ids (original size, crop, target size; Podell et al. 2023, sec. 2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sdstudio.engine.components import LoadedModel


@dataclass
class Conditioning:
    """Embeddings for one prompt pair; `None` fields are unused by the model family."""

    prompt: torch.Tensor  # (1, tokens, dim)
    negative: torch.Tensor
    pooled: torch.Tensor | None = None  # SDXL: (1, dim)
    negative_pooled: torch.Tensor | None = None

    def for_unet(self, guided: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embeddings in the batch order the loop uses: [negative, positive] when guided."""
        if not guided:
            return self.prompt, self.pooled
        embeds = torch.cat([self.negative, self.prompt])
        pooled = None if self.pooled is None else torch.cat([self.negative_pooled, self.pooled])
        return embeds, pooled


def _token_ids(tokenizer, text: str) -> torch.Tensor:
    return tokenizer(
        text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


def _encode_single(model: LoadedModel, text: str) -> torch.Tensor:
    tokenizer, encoder = model.tokenizers[0], model.text_encoders[0]
    ids = _token_ids(tokenizer, text).to(model.device)
    mask = None
    if getattr(encoder.config, "use_attention_mask", False):
        mask = (ids != tokenizer.pad_token_id).long()
    return encoder(ids, attention_mask=mask)[0].to(model.dtype)


def _encode_sdxl(model: LoadedModel, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    hidden, pooled = [], None
    for tokenizer, encoder in zip(model.tokenizers, model.text_encoders, strict=True):
        output = encoder(_token_ids(tokenizer, text).to(model.device), output_hidden_states=True)
        if output[0].ndim == 2:  # CLIPTextModelWithProjection: text_embeds is the pooled output
            pooled = output[0]
        hidden.append(output.hidden_states[-2])
    return torch.cat(hidden, dim=-1).to(model.dtype), pooled.to(model.dtype)


@torch.inference_mode()
def encode_prompts(model: LoadedModel, prompt: str, negative: str) -> Conditioning:
    if not model.is_sdxl:
        return Conditioning(_encode_single(model, prompt), _encode_single(model, negative))
    embeds, pooled = _encode_sdxl(model, prompt)
    if not negative and len(model.text_encoders) == 2:
        # SDXL base was trained with zeroed conditioning for empty prompts (diffusers'
        # force_zeros_for_empty_prompt); an encoded "" would be a different, worse negative.
        return Conditioning(embeds, torch.zeros_like(embeds), pooled, torch.zeros_like(pooled))
    negative_embeds, negative_pooled = _encode_sdxl(model, negative)
    return Conditioning(embeds, negative_embeds, pooled, negative_pooled)


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
