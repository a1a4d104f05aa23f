"""Interpolation between two images through their VAE latents."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image, ImageOps

from sdstudio.engine.engine import Engine
from sdstudio.engine.latents import decode, encode, interpolation_path


def fit_size(image: Image.Image, multiple: int = 8) -> tuple[int, int]:
    """The image's size rounded down to a multiple of 8 (what the VAE and UNet accept)."""
    width, height = image.size
    return max(multiple, width - width % multiple), max(multiple, height - height % multiple)


def fit_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to cover `size` and centre-crop the rest, so no image is distorted."""
    image = image.convert("RGB")
    if image.size == size:
        return image
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


def interpolate_images(
    engine: Engine,
    image_a: Image.Image,
    image_b: Image.Image,
    frames: int,
    mode: str = "slerp",
    model: str = "",
    size: tuple[int, int] | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> list[Image.Image]:
    """`frames` images from A to B; the first and last are the VAE reconstructions of A and B."""
    loaded = engine.load(model)
    size = size or fit_size(image_a)
    latent_a = encode(loaded.vae, fit_image(image_a, size))
    latent_b = encode(loaded.vae, fit_image(image_b, size))
    images = []
    for index, latent in enumerate(interpolation_path(latent_a, latent_b, frames, mode), start=1):
        with torch.inference_mode():
            images.extend(decode(loaded.vae, latent))
        if on_frame is not None:
            on_frame(index, frames)
    return images
