"""Tiny random Stable Diffusion components, built locally (never fetched), for fast tests.

Shapes follow diffusers' own tests: a few channels, two blocks, real CLIP tokenizer.
Every builder is seeded, so the same call gives the same weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sdstudio import RESOURCES_DIR

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
    timestep_spacing="leading",
)


def tiny_tokenizer(pad_excl: bool = False) -> CLIPTokenizer:
    folder = "clip-pad-excl" if pad_excl else "clip"
    return CLIPTokenizer.from_pretrained(RESOURCES_DIR / "tokenizers" / folder)


def tiny_text_encoder(seed: int = 0, with_projection: bool = False, hidden: int = 32):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
        hidden_size=hidden,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=49408,
        projection_dim=hidden,
        hidden_act="gelu",
    )
    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return model_class(config).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(4, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
    ).eval()


def tiny_unet(seed: int = 0, in_channels: int = 4, cross_attention_dim: int = 32, **extra) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=2,
        norm_num_groups=2,
        **extra,
    ).eval()


def tiny_sd_pipeline(seed: int = 0, inpainting: bool = False) -> StableDiffusionPipeline:
    """An SD 1.x-shaped pipeline (4- or 9-channel UNet)."""
    return StableDiffusionPipeline(
        vae=tiny_vae(seed),
        text_encoder=tiny_text_encoder(seed),
        tokenizer=tiny_tokenizer(),
        unet=tiny_unet(seed, in_channels=9 if inpainting else 4),
        scheduler=EulerDiscreteScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def tiny_sdxl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """An SDXL-shaped pipeline: two text encoders, pooled embeddings and time ids."""
    return StableDiffusionXLPipeline(
        vae=tiny_vae(seed),
        text_encoder=tiny_text_encoder(seed),
        # a different width than the first encoder, as in real SDXL (768 vs 1280): single-file
        # conversion tells the two encoders apart by it
        text_encoder_2=tiny_text_encoder(seed + 1, with_projection=True, hidden=48),
        tokenizer=tiny_tokenizer(),
        tokenizer_2=tiny_tokenizer(pad_excl=True),
        unet=tiny_unet(
            seed,
            cross_attention_dim=32 + 48,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 48,
            transformer_layers_per_block=1,
        ),
        scheduler=EulerDiscreteScheduler(**SCHEDULER_CONFIG),
    )


def save_tiny_sd(folder: Path, seed: int = 0, inpainting: bool = False) -> Path:
    tiny_sd_pipeline(seed, inpainting).save_pretrained(folder)
    return folder


def save_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    tiny_sdxl_pipeline(seed).save_pretrained(folder)
    return folder


def loaded_model(pipe, name: str = "tiny", family: str = "sd1"):
    """A LoadedModel over a pipeline's components (what models.load_model returns for a folder)."""
    from sdstudio.engine.components import SD_PREVIEW_FACTORS, SDXL_PREVIEW_FACTORS, LoadedModel

    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if getattr(pipe, "text_encoder_2", None) else [])
    tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if getattr(pipe, "tokenizer_2", None) else [])
    return LoadedModel(
        name=name,
        family=family,
        unet=pipe.unet,
        vae=pipe.vae,
        text_encoders=encoders,
        tokenizers=tokenizers,
        scheduler_config=dict(pipe.scheduler.config),
        device=torch.device("cpu"),
        dtype=torch.float32,
        preview_factors=SDXL_PREVIEW_FACTORS if family == "sdxl" else SD_PREVIEW_FACTORS,
        default_size=64,
    )


def write_vae(path, seed: int = 5, prefix: str = ""):
    """A tiny VAE file in the original LDM key layout: standalone (as the ft-MSE file) or with a
    checkpoint's prefix."""
    from safetensors.torch import save_file

    from tests.ldm_layout import vae_to_ldm

    vae = tiny_vae(seed)
    state = {prefix + key.removeprefix("first_stage_model."): value.contiguous()
             for key, value in vae_to_ldm(vae.state_dict(), vae.config).items()}
    save_file(state, path)
    return path
