"""A short text-to-image loop over diffusers components, for sample grids during training and export checks.

Classifier-free guidance (Ho & Salimans 2022): eps = eps_uncond + cfg * (eps_text - eps_uncond), with
the empty prompt as the unconditional branch, exactly as the model was trained (caption dropout).
"""

from __future__ import annotations

import numpy as np
import torch

from sdstudio.train.common import to_uint8
from sdstudio.train.models import MAX_TOKENS

FIXED_PROMPTS = (
    "cat face",
    "red apple",
    "rocket",
    "smiling face with sunglasses",
    "flag of France",
    "grinning face",
    "red heart",
    "thumbs up",
)


def tokenize(tokenizer, prompts: list[str]) -> torch.Tensor:
    """Token ids padded to 77 the way Stable Diffusion pipelines do."""
    return tokenizer(
        list(prompts), padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
    ).input_ids


@torch.no_grad()
def generate(
    unet,
    text_encoder,
    tokenizer,
    vae,
    scheduler,
    prompts: list[str],
    steps: int = 20,
    cfg: float = 5.0,
    seed: int = 0,
    size: int = 64,
) -> np.ndarray:
    """Images (N,H,W,3) uint8 for `prompts`, one seed per image (seed, seed+1, ...)."""
    device, dtype = unet.device, unet.dtype
    ids = tokenize(tokenizer, list(prompts) + [""] * len(prompts)).to(device)
    context = text_encoder(ids)[0].to(dtype)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    shape = (unet.config.in_channels, size // factor, size // factor)
    noise = [torch.randn(shape, generator=torch.Generator().manual_seed(seed + i)) for i in range(len(prompts))]
    scheduler.set_timesteps(steps)
    latents = (torch.stack(noise) * scheduler.init_noise_sigma).to(device, dtype)
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        eps_text, eps_uncond = unet(x, t, encoder_hidden_states=context).sample.chunk(2)
        eps = eps_uncond + cfg * (eps_text - eps_uncond)
        latents = scheduler.step(eps, t, latents).prev_sample
    images = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    return to_uint8(images)
