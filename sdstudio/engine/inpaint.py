"""Inpainting helpers: masks at latent resolution, the 9-channel model's extra input, paste-back.

Two ways to inpaint (both ours, following ComfyUI's and diffusers' published approach):
- a normal 4-channel model: at every step the known region is replaced by the original latent
  noised to the current level, so only the masked region is invented (see sampling.denoise);
- a 9-channel inpainting model: the mask and the VAE latent of the masked image are extra UNet
  input channels, and the model fills the hole itself.
Either way, after decoding, the original pixels are pasted back outside a feathered mask, so
every pixel the user did not paint is bit-identical to the input (sdstudio.engine.paste_back, torch-free).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sdstudio.engine.latents import image_to_tensor
from sdstudio.engine.paste_back import feathered_mask, paste_back

__all__ = ["feathered_mask", "latent_mask", "mask_to_tensor", "masked_image", "paste_back"]


def mask_to_tensor(mask: Image.Image) -> torch.Tensor:
    """Mask image (white = repaint) -> (1, 1, H, W) float in [0, 1]."""
    array = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None, None]


def latent_mask(mask: Image.Image, latent_size: tuple[int, int]) -> torch.Tensor:
    """(1, 1, h, w) binary mask at latent resolution. A latent cell is repainted if any pixel of
    it is, so that small strokes are never lost to downsampling; paste-back restores the rest."""
    pixels = mask_to_tensor(mask)
    pooled = F.adaptive_max_pool2d(pixels, latent_size)
    return (pooled > 0.5 / 255.0).float()


def masked_image(image: Image.Image, mask: Image.Image) -> torch.Tensor:
    """The 9-channel models' conditioning image: the input with the repaint region set to 0 (grey)."""
    keep = (mask_to_tensor(mask) < 0.5).float()
    return image_to_tensor(image) * keep
