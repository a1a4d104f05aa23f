"""Fitting images to the sizes the VAE and UNet accept (multiples of 8), without distorting them."""

from __future__ import annotations

from PIL import Image, ImageOps


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
