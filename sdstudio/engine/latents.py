"""VAE encode/decode and paths between latents (slerp, lerp).

Slerp keeps a vector on its sphere: interpolating two Gaussian noises with lerp shrinks the
norm (to ~0.71x at t=0.5), which a diffusion model reads as "less noise" and renders as a
washed-out blur; slerp keeps ||x|| ~ sqrt(d). Clean VAE latents of two images are not on a
shell, though, and lerp between them is the honest cross-fade. Both are offered.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> (1, 3, H, W) in [-1, 1], the VAE's input range."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def tensor_to_images(tensor: torch.Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [-1, 1] -> PIL images, rounded the way diffusers' image processor rounds."""
    array = (tensor.detach().float().cpu() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray((frame * 255).round().astype(np.uint8)) for frame in array]


def _scale_and_shift(vae: AutoencoderKL) -> tuple[float, float]:
    shift = vae.config.get("shift_factor") or 0.0
    return float(vae.config.scaling_factor), float(shift)


@torch.inference_mode()
def encode_tensor(vae: AutoencoderKL, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (1, 3, H, W) in [-1, 1] -> scaled latent (1, C, H/f, W/f): the posterior mean, so
    the same image always maps to the same latent (a posterior sample would add noise)."""
    scale, shift = _scale_and_shift(vae)
    return (vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() - shift) * scale


def encode(vae: AutoencoderKL, image: Image.Image) -> torch.Tensor:
    """Image -> scaled latent."""
    return encode_tensor(vae, image_to_tensor(image))


@torch.inference_mode()
def decode(vae: AutoencoderKL, latents: torch.Tensor) -> list[Image.Image]:
    """Scaled latents -> PIL images."""
    scale, shift = _scale_and_shift(vae)
    pixels = vae.decode(latents.to(vae.device, vae.dtype) / scale + shift).sample
    return tensor_to_images(pixels)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) over the whole tensor, falling back to lerp when
    a and b are nearly parallel. The norm is interpolated linearly, so endpoints are exact."""
    a32, b32 = a.float().flatten(), b.float().flatten()
    norm_a, norm_b = a32.norm(), b32.norm()
    dot = torch.dot(a32 / norm_a, b32 / norm_b).clamp(-1.0, 1.0)
    if t <= 0.0:
        return a.clone()
    if t >= 1.0:
        return b.clone()
    if dot.abs() > dot_threshold:
        return lerp(a, b, t)
    theta = torch.arccos(dot)
    sin_theta = torch.sin(theta)
    direction = (torch.sin((1 - t) * theta) / sin_theta) * (a32 / norm_a) + (torch.sin(t * theta) / sin_theta) * (
        b32 / norm_b
    )
    norm = (1 - t) * norm_a + t * norm_b
    return (direction / direction.norm() * norm).reshape(a.shape).to(a.dtype)
