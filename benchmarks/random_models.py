"""Full-size SD 1.5 and SDXL pipelines with random weights, built from resources/configs/ (no hub).

Benchmarks need the real architectures (their speed is what users meet), not real weights: a
random UNet costs the same FLOPs. `small=True` keeps each architecture's shape (blocks, heads,
SDXL's two text encoders and time ids) at a fraction of the width, for dry runs on a CPU.
`sd15_checkpoint` writes the full SD 1.5 as a single-file LDM-layout `.safetensors`, the way
users' downloads look, so a benchmark also goes through our loader.
"""

from __future__ import annotations

import sys
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

from sdstudio.engine.checkpoint_format import CONFIGS_DIR

SMALL_TEXT = dict(num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
SMALL_VAE = dict(block_out_channels=[32, 32, 64, 64], layers_per_block=1, norm_num_groups=16)


def _unet(folder: Path, **changes) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"), **changes).eval()


def _vae(folder: Path, small: bool) -> AutoencoderKL:
    changes = SMALL_VAE if small else {}
    return AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"), **changes).eval()


def _text(folder: Path, part: str, model_class=CLIPTextModel, **changes):
    return model_class(CLIPTextConfig.from_pretrained(folder / part, **changes)).eval()


def _scheduler(folder: Path) -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler.from_config(EulerDiscreteScheduler.load_config(folder / "scheduler"))


def sd15_pipeline(seed: int = 0, small: bool = False) -> StableDiffusionPipeline:
    """SD 1.5's architecture with random weights."""
    folder = CONFIGS_DIR / "sd1"
    torch.manual_seed(seed)
    text = dict(SMALL_TEXT, hidden_size=64) if small else {}
    unet = dict(block_out_channels=[32, 64, 64, 64], layers_per_block=1, cross_attention_dim=64) if small else {}
    return StableDiffusionPipeline(
        unet=_unet(folder, **unet),
        vae=_vae(folder, small),
        text_encoder=_text(folder, "text_encoder", **text),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        scheduler=_scheduler(folder),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def sdxl_pipeline(seed: int = 0, small: bool = False) -> StableDiffusionXLPipeline:
    """SDXL base's architecture with random weights (its VAE config keeps `force_upcast`)."""
    folder = CONFIGS_DIR / "sdxl"
    torch.manual_seed(seed)
    text_1 = dict(SMALL_TEXT, hidden_size=64) if small else {}
    text_2 = dict(SMALL_TEXT, hidden_size=96, projection_dim=96) if small else {}
    unet = {}
    if small:  # the cross-attention and pooled widths follow the two encoders, as in the real model
        unet = dict(block_out_channels=[32, 64, 64], layers_per_block=1, transformer_layers_per_block=1,
                    attention_head_dim=[2, 4, 4], cross_attention_dim=64 + 96, addition_time_embed_dim=32,
                    projection_class_embeddings_input_dim=6 * 32 + 96)
    return StableDiffusionXLPipeline(
        unet=_unet(folder, **unet),
        vae=_vae(folder, small),
        text_encoder=_text(folder, "text_encoder", **text_1),
        text_encoder_2=_text(folder, "text_encoder_2", CLIPTextModelWithProjection, **text_2),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        tokenizer_2=CLIPTokenizer.from_pretrained(folder / "tokenizer_2"),
        scheduler=_scheduler(folder),
    )


def sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random full-size SD 1.5 as one fp16 LDM-layout `.safetensors` (built once, then reused)."""
    if path.is_file():
        return path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ldm_layout.py: the LDM key names
    from tests.ldm_layout import save_ldm_checkpoint

    partial = path.with_name(f".{path.name}.partial")
    save_ldm_checkpoint(sd15_pipeline(seed), partial, torch.float16)
    partial.replace(path)
    return path
