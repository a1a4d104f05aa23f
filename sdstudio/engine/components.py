"""A loaded model: the diffusers components the sampling loop needs, and what we know about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

# Published latent -> RGB factors (4x3 plus bias), as used for previews by ComfyUI and A1111.
SD_PREVIEW_FACTORS = (
    ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)),
    (0.0, 0.0, 0.0),
)
SDXL_PREVIEW_FACTORS = (
    ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
    (0.1084, -0.0175, -0.0011),
)


@dataclass
class LoadedModel:
    """Everything needed to sample from one model. The engine thread owns it (not thread-safe)."""

    name: str
    family: str  # "sd1", "sd2", "sdxl", or "custom" (e.g. the built-in model)
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoders: list[CLIPTextModel | CLIPTextModelWithProjection]
    tokenizers: list[CLIPTokenizer]
    scheduler_config: dict[str, Any]
    device: torch.device
    dtype: torch.dtype
    source: str = ""  # path it came from
    preview_factors: tuple = field(default=SD_PREVIEW_FACTORS)
    default_size: int = 512  # the resolution it was trained at

    @property
    def is_inpainting(self) -> bool:
        """9-channel UNets (SD inpainting models) take the mask and masked image as extra input."""
        return self.unet.config.in_channels == 9

    @property
    def is_sdxl(self) -> bool:
        return self.unet.config.get("addition_embed_type") == "text_time"

    @property
    def prediction_type(self) -> str:
        return self.scheduler_config.get("prediction_type", "epsilon")

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels
