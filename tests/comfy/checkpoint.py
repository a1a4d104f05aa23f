"""A random-weight checkpoint that ComfyUI detects as SD 1.5, small enough to run on a CPU in tests.

ComfyUI picks the model family from the UNet's shapes (model_channels 320, context_dim 768, conv
`proj_in`), so one down/up block is enough; the VAE has the real SD1 shape and the text encoder is
the real CLIP-L width with all 12 layers (ComfyUI always builds 12: a shorter file would leave the
rest uninitialised). Written in LDM layout by tests/ldm_layout.py, as users' files are.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

CHECKPOINT_NAME = "sdstudio-test-sd15.safetensors"


def sd15_shaped_components(seed: int = 0) -> SimpleNamespace:
    """UNet, VAE and text encoder with SD 1.5's detected shapes and random weights (seeded)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(320,),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",),
        cross_attention_dim=768,
        attention_head_dim=8,
        sample_size=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu", projection_dim=768,
    ))
    return SimpleNamespace(unet=unet.eval(), vae=vae.eval(), text_encoder=text_encoder.eval())


def write_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the checkpoint once; an existing complete file is kept (it is ~450 MB and seeded)."""
    if path.is_file():
        return path
    from tests.ldm_layout import save_ldm_checkpoint

    temp = path.with_name(f".{path.name}.partial")
    save_ldm_checkpoint(sd15_shaped_components(seed), temp)
    temp.replace(path)
    return path
